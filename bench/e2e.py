"""End to end: the four services and the gateway as OS processes, driven through the
gateway's HTTP API (or, ``via="nats"``, by NATS request/reply straight to intake).

A case = ``submit_suggestion`` then ``register_suggestion``; it is done when supervision has
opened its task and points has awarded the lead deputy (rows in each service's SQLite
``stored_events``). Latency per case runs from the register answer to the arrival of its
``duty.supervision.task_opened.v1`` message (a plain core-NATS subscriber also receives what
the relay publishes to JetStream); the *last effect* of a case is the later of that and its
``duty.points.points_awarded.v1``. After the closed-loop run, an open-loop driver offers cases
at fixed fractions of the sustained rate, and the gateway is loaded over HTTP (bench/http.py).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PG_CONNINFO, NatsServer
from bench.system import (GATEWAY_ONLY, SERVICES, Processes, copy_stores, cpu_seconds, free_port,
                          rmtree, service_env, wait_http)

OFFICE = {"username": "office", "role": "office"}
TASK_OPENED = "duty.supervision.task_opened.v1"
POINTS_AWARDED = "duty.points.points_awarded.v1"


def deputy(i: int) -> dict[str, str]:
    # the development users' deputies (config/users.yaml): a token of a user not in the
    # users' list is refused (services/gateway/auth.py)
    d = f"deputy-{i % 3 + 1}"
    return {"username": d, "role": "deputy", "deputy_id": d}


def count(db: Path, suffix: str | None = None) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            if suffix is None:
                return conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
            return conn.execute("SELECT COUNT(*) FROM stored_events WHERE topic LIKE ?",
                                (f"%{suffix}",)).fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


class Effects:
    """Counts of recorded events in the four SQLite stores under ``var``."""

    def __init__(self, var: Path) -> None:
        self.var = var

    def count(self, service: str, suffix: str | None = None) -> int:
        return count(self.var / f"{service}.sqlite", suffix)

    def opened(self) -> int:
        return self.count("supervision", "SupervisedTask.Opened")

    def awarded(self) -> int:
        return self.count("points", "DutyLedger.PointsAwarded")

    def all_events(self) -> dict[str, int]:
        return {s: self.count(s) for s in SERVICES}


class PostgresEffects(Effects):
    """The same counts in the services' PostgreSQL schemas (``<prefix><service>``), each
    holding one events table (the library names it after the application)."""

    def __init__(self, prefix: str) -> None:
        import psycopg

        self.prefix = prefix
        self.conn = psycopg.connect(PG_CONNINFO, autocommit=True, connect_timeout=5)
        self.tables: dict[str, Any] = {}

    def _table(self, service: str) -> Any:
        from psycopg import sql

        if service not in self.tables:
            row = self.conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name LIKE '%%events' ORDER BY table_name LIMIT 1",
                (f"{self.prefix}{service}",)).fetchone()
            if row is None:
                return None  # not created yet
            self.tables[service] = sql.Identifier(f"{self.prefix}{service}", row[0])
        return self.tables[service]

    def count(self, service: str, suffix: str | None = None) -> int:
        from psycopg import sql

        table = self._table(service)
        if table is None:
            return 0
        if suffix is None:
            return self.conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(table)).fetchone()[0]
        return self.conn.execute(sql.SQL("SELECT COUNT(*) FROM {} WHERE topic LIKE %s").format(table),
                                 (f"%{suffix}",)).fetchone()[0]

    def drop(self) -> None:
        from psycopg import sql

        for service in SERVICES:
            for schema in (f"{self.prefix}{service}", f"{self.prefix}{service}_views"):
                self.conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))
        self.conn.close()


async def request(nc: Any, service: str, command: str, payload: dict, actor: dict,
                  timeout: float = 30.0) -> dict:
    from shared.identity import signed_request

    msg = await nc.request(f"duty.rpc.{service}.{command}",
                           signed_request(service, payload, actor), timeout=timeout)
    return json.loads(msg.data)


async def wait_ready(nc: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(SERVICES)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            try:
                r = await request(nc, name, "health", {}, OFFICE, timeout=1)
                if r.get("result", {}).get("ready"):
                    pending.discard(name)
            except Exception:  # noqa: BLE001 - not up yet
                pass
        if pending:
            await asyncio.sleep(0.2)
    if pending:
        raise RuntimeError(f"services not ready within {timeout}s: {sorted(pending)}")


async def consumer_stats(nc: Any) -> dict[str, int]:
    """Messages processed by the consumers of the four services, and how many of them were
    recorded in transactions of several messages; commands' recordings and the transactions
    they took (group commit); from each service's health answer, since the service started."""
    totals = {"processed": 0, "batched": 0, "batches": 0, "commands": 0, "transactions": 0}
    for name in SERVICES:
        r = await request(nc, name, "health", {}, OFFICE, timeout=5)
        for stats in r["result"]["consumers"].values():
            for key in ("processed", "batched", "batches"):
                totals[key] += stats.get(key, 0)
        grouped = r["result"].get("group_commit") or {}
        totals["commands"] += grouped.get("commands", 0)
        totals["transactions"] += grouped.get("transactions", 0)
    return totals


class ViaNats:
    """Cases sent to intake over NATS request/reply, as the gateway would send them."""

    name = "nats"

    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def submit(self, i: int) -> tuple[str | None, str | None]:
        r = await request(self.nc, "intake", "submit_suggestion", submission(i), deputy(i))
        return (r["result"]["id"], None) if r.get("ok") else (None, f"submit: {r}")

    async def register(self, sid: str) -> str | None:
        r = await request(self.nc, "intake", "register_suggestion",
                          {"suggestion_id": sid, "urgency": "blue"}, OFFICE)
        return None if r.get("ok") else f"register: {r}"

    async def close(self) -> None:
        pass


class ViaGateway:
    """Cases sent through the gateway's HTTP API, as staff clients send them: POST
    /api/v1/suggestions with the deputy's bearer token, then POST .../register as the office.

    aiohttp, keep-alive connections, enough of them that requests queue in the gateway rather
    than in the driver. The driver shares the machine's cores with the system under test: per
    request aiohttp took about a third of the CPU httpx took (httpx: 1.3 ms per request, as
    much as the gateway itself)."""

    name = "gateway"

    def __init__(self, base_url: str, connections: int = 256) -> None:
        from bench.http import issue_token

        self.base_url = base_url
        self.connections = connections
        self.session: Any = None
        self.office = {"Authorization": f"Bearer {issue_token('office', 'office')}"}
        self.deputies: dict[str, dict[str, str]] = {}
        for i in range(5):
            d = deputy(i)
            self.deputies[d["deputy_id"]] = {"Authorization": "Bearer " + issue_token(
                d["username"], "deputy", deputy_id=d["deputy_id"])}

    def _session(self) -> Any:
        if self.session is None:  # made inside the running loop
            import aiohttp

            self.session = aiohttp.ClientSession(
                base_url=self.base_url, timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(limit=self.connections))
        return self.session

    async def submit(self, i: int) -> tuple[str | None, str | None]:
        async with self._session().post("/api/v1/suggestions", json=submission(i),
                                        headers=self.deputies[deputy(i)["deputy_id"]]) as r:
            if r.status != 201:
                return None, f"submit: {r.status} {(await r.text())[:200]}"
            return (await r.json())["id"], None

    async def register(self, sid: str) -> str | None:
        async with self._session().post(f"/api/v1/suggestions/{sid}/register",
                                        json={"urgency": "blue"}, headers=self.office) as r:
            if r.status != 200:
                return f"register: {r.status} {(await r.text())[:200]}"
            await r.read()
            return None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def submission(i: int) -> dict[str, str]:
    """The suggestion of case ``i``."""
    return {"title": f"第{i}号建议", "body": "完善社区养老服务。", "category": "livelihood"}


async def one_case(via: ViaNats | ViaGateway, i: int, registered_at: dict[str, float],
                   errors: list[str]) -> None:
    """Submit (as a deputy) then register (as the office); the register answer's time is
    kept."""
    try:
        sid, error = await via.submit(i)
        if error is not None:
            errors.append(error)
            return
        error = await via.register(sid)
        if error is not None:
            errors.append(error)
            return
        registered_at[sid] = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - counted, reported
        errors.append(f"{type(exc).__name__}: {exc}")


async def drive(via: ViaNats | ViaGateway, n: int, offset: int, concurrency: int,
                registered_at: dict[str, float], errors: list[str]) -> None:
    """Closed loop: at most ``concurrency`` cases in flight."""
    sem = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> None:
        async with sem:
            await one_case(via, i, registered_at, errors)

    await asyncio.gather(*(bounded(i) for i in range(offset, offset + n)))


async def drive_open(via: ViaNats | ViaGateway, per_second: float, seconds: float, offset: int,
                     registered_at: dict[str, float], errors: list[str]) -> tuple[int, float]:
    """Open loop: a new case every 1/rate seconds, whatever is still in flight (so queueing
    shows in the latency instead of slowing the driver down). Returns (cases, seconds)."""
    n = max(1, int(per_second * seconds))
    interval = 1.0 / per_second
    tasks = []
    start = time.perf_counter()
    for i in range(n):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_case(via, offset + i, registered_at, errors)))
    issued = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return n, issued


class Arrivals:
    """First arrival time of each case's task_opened and points_awarded message."""

    def __init__(self) -> None:
        self.opened: dict[str, float] = {}
        self.awarded: dict[str, float] = {}

    async def subscribe(self, nc: Any) -> list[Any]:
        async def on_opened(msg: Any) -> None:
            now = time.perf_counter()
            try:
                self.opened.setdefault(json.loads(msg.data)["case_id"], now)
            except Exception:  # noqa: BLE001
                pass

        async def on_awarded(msg: Any) -> None:
            now = time.perf_counter()
            try:
                data = json.loads(msg.data)
            except Exception:  # noqa: BLE001
                return
            for key in ("case_id", "cause_ref"):
                if data.get(key):
                    self.awarded.setdefault(data[key], now)

        return [await nc.subscribe(TASK_OPENED, cb=on_opened),
                await nc.subscribe(POINTS_AWARDED, cb=on_awarded)]

    def last_effect(self, case: str) -> float | None:
        a, b = self.opened.get(case), self.awarded.get(case)
        return None if a is None or b is None else max(a, b)

    async def wait(self, cases: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.last_effect(c) is not None for c in cases):
                return True
            await asyncio.sleep(0.05)
        return False


async def wait_effects(effects: Effects, target_opened: int, target_awarded: int,
                       timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if effects.opened() >= target_opened and effects.awarded() >= target_awarded:
            return time.perf_counter()
        await asyncio.sleep(0.05)
    return None



def _latencies(registered_at: dict[str, float], arrivals: Arrivals) -> tuple[list[float], list[float]]:
    """(register reply -> task_opened, register reply -> last of task_opened/points_awarded)."""
    opened = [arrivals.opened[c] - t for c, t in registered_at.items() if c in arrivals.opened]
    last = [e - t for c, t in registered_at.items() if (e := arrivals.last_effect(c)) is not None]
    return opened, last


class CpuMeter:
    """CPU used by the system's processes (the services, the gateway and nats-server; not the
    driver) between two moments, per case: on two cores, where every process competes for
    the same CPU, this is what the load levels have to fit in."""

    def __init__(self, procs: Processes, server: NatsServer) -> None:
        self.procs, self.server = procs, server

    def now(self) -> tuple[float, dict[str, float]]:
        used = {k: v for k, v in self.procs.cpu().items() if k != "bare_app"}
        nats_cpu = cpu_seconds(self.server.proc.pid) if self.server.proc else None
        if nats_cpu is not None:
            used["nats-server"] = nats_cpu
        return time.perf_counter(), used

    @staticmethod
    def per_case(before: tuple[float, dict[str, float]], after: tuple[float, dict[str, float]],
                 cases: int) -> dict[str, Any] | None:
        """{"ms": {process: CPU ms per case}, "total_ms": ..., "cores": CPU seconds / elapsed}."""
        (t0, a), (t1, b) = before, after
        if not cases or not a or t1 <= t0:
            return None
        used = {k: b[k] - a[k] for k in b if k in a}
        return {"ms": {k: v * 1000 / cases for k, v in used.items()},
                "total_ms": sum(used.values()) * 1000 / cases,
                "cores": sum(used.values()) / (t1 - t0)}


async def run_e2e(n: int, concurrency: int, *, loads: tuple[float, ...] = (0.5, 0.8, 1.0),
                  window: float = 8.0, http_seconds: float = 5.0, template: Path | None = None,
                  warmup: int = 10, store: str = "sqlite", via: str = "gateway") -> dict[str, Any]:
    """Closed loop (sustainable rate, latency at saturation), then open loop at ``loads`` x that
    rate for ``window`` s each, then the gateway over HTTP against a bare FastAPI app.
    ``template``: copy the four stores there after the e2e part (for replay/growth).
    ``store="postgres"``: the services on the PostgreSQL at 127.0.0.1:5432 (database
    ``test``, throw-away schemas dropped afterwards) instead of SQLite files.
    ``via="gateway"``: cases go through the gateway's HTTP API (``ViaGateway``); ``"nats"``:
    straight to intake over NATS request/reply (``ViaNats``)."""
    import os

    import nats

    from bench.http import gateway_benchmark

    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    var = tmp / "var"
    procs = Processes(tmp)
    result: dict[str, Any] = {"cases": n, "concurrency": concurrency, "store": store}
    end = None
    pg_prefix = f"bench_{os.getpid()}_e2e_"
    pg_env = {"EVENT_STORE": "postgres", "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432",
              "POSTGRES_DBNAME": "test", "POSTGRES_USER": "postgres",
              "POSTGRES_SCHEMA_PREFIX": pg_prefix} if store == "postgres" else {}
    effects: Effects = PostgresEffects(pg_prefix) if store == "postgres" else Effects(var)
    try:
        with NatsServer() as server:
            env = service_env(server.url, var, **pg_env)
            for name in SERVICES:
                procs.service(name, name, env)
            gw_port, bare_port = free_port(), free_port()
            if http_seconds or via == "gateway":
                # the gateway's other services (accounts signs users in and checks their
                # tokens; /health waits for every service)
                for name in GATEWAY_ONLY:
                    procs.service(name, name, env)
                procs.service("gateway", "gateway", {**env, "GATEWAY_PORT": str(gw_port)})
            if http_seconds:
                procs.start("bare_app", [sys.executable, "-m", "bench.bare_app", str(bare_port)],
                            env)
            nc = await nats.connect(server.url)
            driver: ViaNats | ViaGateway = ViaNats(nc)
            try:
                await wait_ready(nc)
                if via == "gateway":
                    await asyncio.to_thread(wait_http, f"http://127.0.0.1:{gw_port}/health")
                    driver = ViaGateway(f"http://127.0.0.1:{gw_port}")
                result["via"] = driver.name
                errors: list[str] = []

                # warm-up: first requests pay imports, table creation, consumer start
                await drive(driver, warmup, 0, concurrency, {}, errors)
                done = await wait_effects(effects, warmup, warmup, 60)
                if done is None:
                    raise RuntimeError("warm-up cases did not complete within 60 s "
                                       f"(logs in {tmp}); errors: {errors[:3]}")
                base_opened, base_awarded = effects.opened(), effects.awarded()
                base_events = effects.all_events()

                arrivals = Arrivals()
                subs = await arrivals.subscribe(nc)
                registered_at: dict[str, float] = {}
                errors.clear()
                meter = CpuMeter(procs, server)
                cpu_before = meter.now()
                start = time.perf_counter()
                await drive(driver, n, warmup, concurrency, registered_at, errors)
                intake_done = time.perf_counter()
                ok = len(registered_at)
                end = await wait_effects(effects, base_opened + ok, base_awarded + ok,
                                         timeout=60 + n * 0.5)
                cpu_after = meter.now()
                await arrivals.wait(list(registered_at), 5)
                events = effects.all_events()
                seconds = (end or time.perf_counter()) - start
                opened_lat, last_lat = _latencies(registered_at, arrivals)
                result["consumers"] = await consumer_stats(nc)
                result.update({
                    "registered": ok, "errors": errors[:5], "error_count": len(errors),
                    "completed": end is not None, "seconds": seconds,
                    "intake_seconds": intake_done - start, "latencies": opened_lat,
                    "last_latencies": last_lat,
                    "events": {s: events[s] - base_events.get(s, 0) for s in SERVICES},
                    "last_opened_lag": (max(arrivals.opened.values()) - intake_done)
                    if arrivals.opened else None,
                    "cpu": CpuMeter.per_case(cpu_before, cpu_after, ok),
                })

                # open loop at fractions of the sustained rate
                sustained = ok / seconds if seconds > 0 else 0
                offset = warmup + n
                result["open_loop"] = []
                for frac in loads if sustained > 0 and end is not None else ():
                    await asyncio.sleep(1.0)  # let the previous level drain
                    reg: dict[str, float] = {}
                    errs: list[str] = []
                    cpu_before = meter.now()
                    issued, issue_s = await drive_open(driver, frac * sustained, window, offset,
                                                       reg, errs)
                    offset += issued
                    complete = await arrivals.wait(list(reg), 30 + window)
                    cpu_after = meter.now()
                    opened_lat, last_lat = _latencies(reg, arrivals)
                    result["open_loop"].append({
                        "fraction": frac, "rate": frac * sustained, "issued": issued,
                        "issue_seconds": issue_s, "registered": len(reg),
                        "errors": len(errs), "complete": complete,
                        "latencies": opened_lat, "last_latencies": last_lat,
                        "cpu": CpuMeter.per_case(cpu_before, cpu_after, len(reg))})
                for sub in subs:
                    await sub.unsubscribe()
                if template is not None and store == "sqlite":
                    copy_stores(var, template)

                if http_seconds:
                    await asyncio.to_thread(wait_http, f"http://127.0.0.1:{gw_port}/health")
                    await asyncio.to_thread(wait_http, f"http://127.0.0.1:{bare_port}/bare")
                    result["http"] = await asyncio.to_thread(
                        gateway_benchmark, f"http://127.0.0.1:{gw_port}",
                        f"http://127.0.0.1:{bare_port}", http_seconds)
            finally:
                await driver.close()
                await nc.close()
                procs.stop()
                if isinstance(effects, PostgresEffects):
                    effects.drop()
    except BaseException:
        result["logs"] = str(tmp)
        raise
    if end is not None:
        rmtree(tmp)
    else:
        result["logs"] = str(tmp)
    return result

"""End to end: the four services as OS processes, driven by NATS request/reply to intake.

A case = ``submit_suggestion`` then ``register_suggestion``; it is done when supervision has
opened its task and points has awarded the lead deputy (rows in each service's SQLite
``stored_events``). Latency per case runs from the register reply to the arrival of its
``duty.supervision.task_opened.v1`` message (a plain core-NATS subscriber also receives what
the relay publishes to JetStream).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, NatsServer

SERVICES = ("intake", "assignment", "supervision", "points")
OFFICE = {"username": "office", "role": "office"}
TASK_OPENED = "duty.supervision.task_opened.v1"


def deputy(i: int) -> dict[str, str]:
    d = f"deputy-{i % 5 + 1}"
    return {"username": d, "role": "deputy", "deputy_id": d}


def service_env(nats_url: str, var_dir: Path) -> dict[str, str]:
    """As tests/harness.py process_env: SQLite stores, no tracing export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "POSTGRES_"))}
    env.update(NATS_URL=nats_url, EVENT_STORE="sqlite", VAR_DIR=str(var_dir),
               RELAY_POLL_SECONDS="0.2", RETRY_BACKOFF_SECONDS="0.1",
               OTEL_TRACES_EXPORTER="none", PYTHONPATH=str(ROOT))
    return env


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
    def __init__(self, var: Path) -> None:
        self.var = var

    def opened(self) -> int:
        return count(self.var / "supervision.sqlite", "SupervisedTask.Opened")

    def awarded(self) -> int:
        return count(self.var / "points.sqlite", "DutyLedger.PointsAwarded")

    def all_events(self) -> dict[str, int]:
        return {s: count(self.var / f"{s}.sqlite") for s in SERVICES}


async def request(nc: Any, service: str, command: str, payload: dict, actor: dict,
                  timeout: float = 30.0) -> dict:
    msg = await nc.request(f"duty.rpc.{service}.{command}",
                           json.dumps({"actor": actor, "payload": payload}).encode(),
                           timeout=timeout)
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


async def drive(nc: Any, n: int, offset: int, concurrency: int,
                registered_at: dict[str, float], errors: list[str]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            try:
                r = await request(nc, "intake", "submit_suggestion",
                                  {"title": f"第{i}号建议", "body": "完善社区养老服务。",
                                   "category": "livelihood"}, deputy(i))
                if not r.get("ok"):
                    errors.append(f"submit: {r}")
                    return
                sid = r["result"]["id"]
                r = await request(nc, "intake", "register_suggestion",
                                  {"suggestion_id": sid, "urgency": "blue"}, OFFICE)
                if not r.get("ok"):
                    errors.append(f"register: {r}")
                    return
                registered_at[sid] = time.perf_counter()
            except Exception as exc:  # noqa: BLE001 - counted, reported
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(i) for i in range(offset, offset + n)))


async def wait_effects(effects: Effects, target_opened: int, target_awarded: int,
                       timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if effects.opened() >= target_opened and effects.awarded() >= target_awarded:
            return time.perf_counter()
        await asyncio.sleep(0.05)
    return None


async def run_e2e(n: int, concurrency: int, warmup: int = 10) -> dict[str, Any]:
    import nats

    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    var = tmp / "var"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with NatsServer() as server:
            env = service_env(server.url, var)
            for name in SERVICES:
                log = (tmp / f"{name}.log").open("ab")
                procs.append(subprocess.Popen([sys.executable, "-m", f"services.{name}"],
                                              env=env, cwd=ROOT, stdout=log, stderr=log))
            nc = await nats.connect(server.url)
            try:
                await wait_ready(nc)
                effects = Effects(var)
                errors: list[str] = []

                # warm-up: first requests pay imports, table creation, consumer start
                await drive(nc, warmup, 0, concurrency, {}, errors)
                done = await wait_effects(effects, warmup, warmup, 60)
                if done is None:
                    raise RuntimeError("warm-up cases did not complete within 60 s "
                                       f"(logs in {tmp}); errors: {errors[:3]}")
                base_opened, base_awarded = effects.opened(), effects.awarded()
                base_events = effects.all_events()

                opened_at: dict[str, float] = {}

                async def on_task_opened(msg: Any) -> None:
                    now = time.perf_counter()
                    try:
                        case_id = json.loads(msg.data)["case_id"]
                    except Exception:  # noqa: BLE001
                        return
                    opened_at.setdefault(case_id, now)

                sub = await nc.subscribe(TASK_OPENED, cb=on_task_opened)
                registered_at: dict[str, float] = {}
                errors.clear()
                start = time.perf_counter()
                await drive(nc, n, warmup, concurrency, registered_at, errors)
                intake_done = time.perf_counter()
                ok = len(registered_at)
                end = await wait_effects(effects, base_opened + ok, base_awarded + ok,
                                         timeout=60 + n * 0.5)
                await asyncio.sleep(0.3)  # let the last task_opened messages arrive
                await sub.unsubscribe()
                events = effects.all_events()
            finally:
                await nc.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    latencies = [opened_at[c] - registered_at[c] for c in registered_at if c in opened_at]
    result = {
        "cases": n, "concurrency": concurrency, "registered": ok, "errors": errors[:5],
        "error_count": len(errors), "completed": end is not None,
        "seconds": (end or time.perf_counter()) - start,
        "intake_seconds": intake_done - start,
        "latencies": latencies,
        "events": {s: events[s] - base_events.get(s, 0) for s in SERVICES},
        "last_opened_lag": (max(opened_at.values()) - intake_done) if opened_at else None,
    }
    if end is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        result["logs"] = str(tmp)
    return result

"""Replay of every service's read models, growth with the log length, and replica catch-up.

The stores: the four SQLite stores of the end-to-end run (real events of real cases, written
by the real processes) are the *template*; a store of N events is the template's log
repeated until N rows, each copy with every UUID remapped (originator ids, case ids, task
ids, in the event state too), so the copies are new cases, not overwrites of the same rows.
Hash chains and trace ids are copied as they are (nothing here verifies them); the outbox
position is set to the end so a service started on the store publishes nothing.

Each step runs in a fresh interpreter (``python -m bench.growth STEP SERVICE DIR``) so its
peak RSS (VmHWM) is its own:

- ``decode``: the bare ceiling, read + decode the whole log (keep nothing);
- ``project``: the service's own runtime (``build_runtime``, not started) rebuilding *all* its
  read models (``ServiceRuntime.catch_up``), i.e. what a process does before it is ready;
- ``save``: saving one new one-event aggregate per transaction at the end of that store.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, NatsServer
from bench.replay import _rss_mib
from bench.system import SERVICES, Processes, service_env

CONSUMERS = ("assignment", "supervision", "points")
_UUID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")
OUTBOX = "__outbox__"
_DEPUTY = re.compile(r"\b(deputy-\d+)\b")


def amplify(template: Path, dest: Path, n_events: int) -> int:
    """Write ``dest`` with the template's log repeated (UUIDs remapped per copy) to n rows."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    with sqlite3.connect(template) as src:
        rows = src.execute("SELECT originator_id, originator_version, topic, state "
                           "FROM stored_events ORDER BY rowid").fetchall()
        schema = [r[0] for r in src.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")]
    if not rows:
        raise RuntimeError(f"empty template {template}")
    conn = sqlite3.connect(dest)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in schema:
            conn.execute(statement)
        written = 0
        copy = 0
        while written < n_events:
            mapping: dict[str, str] = {}

            def remap(m: re.Match[str], copy: int = copy, mapping: dict[str, str] = mapping) -> str:
                text = m.group(0)
                key = text.replace("-", "")
                new = mapping.get(key)
                if new is None:
                    new = mapping[key] = hashlib.md5(f"{copy}:{key}".encode()).hexdigest()
                if "-" in text:
                    return f"{new[:8]}-{new[8:12]}-{new[12:16]}-{new[16:20]}-{new[20:]}"
                return new

            batch = []
            for oid, version, topic, state in rows[: n_events - written]:
                if copy:
                    oid = _UUID.sub(remap, oid)
                    # each copy's deputies are deputies of their own: a deputy's yearly ledger
                    # is one aggregate (its id derives from the deputy and the year), so a
                    # copy of it under a new id must not be the same deputy's second ledger
                    state = _DEPUTY.sub(rf"\1-c{copy}", _UUID.sub(remap, state.decode())).encode()
                batch.append((oid, version, topic, state))
            conn.executemany("INSERT INTO stored_events (originator_id, originator_version, "
                             "topic, state) VALUES (?, ?, ?, ?)", batch)
            conn.commit()
            written += len(batch)
            copy += 1
        conn.execute("DELETE FROM tracking")
        conn.execute("INSERT INTO tracking (application_name, notification_id) VALUES (?, ?)",
                     (OUTBOX, conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]))
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return written
    finally:
        conn.close()


# --- steps, each in a fresh interpreter ---------------------------------------------------

def _settings(service: str, var_dir: Path):
    from shared.settings import ServiceSettings

    return ServiceSettings(service_name=service, var_dir=var_dir)


def _runtime(service: str, var_dir: Path):
    module = __import__(f"services.{service}.bootstrap", fromlist=["build_runtime"])
    return module.build_runtime(_settings(service, var_dir))


def rebuild_all(runtime: Any) -> int:
    """Build every read model of a runtime from the whole log, as a process on a store
    without them does (persisted ones into a new generation); returns the events read."""
    read = 0
    if runtime.read_models is not None:
        for projection in runtime.read_models.projections:
            read = max(read, runtime.read_models.rebuild(projection)["applied"])
    for projection in runtime.projections:
        if not hasattr(projection, "store"):
            projection.reset()
    from shared.projection import catch_up_all
    in_memory = [p for p in runtime.projections if not hasattr(p, "store")]
    return max(read, catch_up_all(in_memory))


def step_decode(service: str, var_dir: Path) -> dict[str, Any]:
    from bench.common import read_and_decode

    runtime = _runtime(service, var_dir)
    app = runtime.app
    try:
        start = time.perf_counter()
        decoded = read_and_decode(app)
        return {"decoded": decoded, "seconds": time.perf_counter() - start,
                "rss_after_mib": _rss_mib()}
    finally:
        app.close()


def step_project(service: str, var_dir: Path) -> dict[str, Any]:
    runtime = _runtime(service, var_dir)
    app = runtime.app
    try:
        rss_before = _rss_mib()
        events = app.max_notification_id()
        start = time.perf_counter()
        rebuild_all(runtime)  # as a process on a store without its read models does
        seconds = time.perf_counter() - start
        per = {getattr(p, "name", type(p).__name__): None for p in runtime.projections}
        return {"events": events, "seconds": seconds, "per_projection": per,
                "rss_before_mib": rss_before, "rss_after_mib": _rss_mib()}
    finally:
        app.close()
        if runtime.read_models is not None:
            runtime.read_models.store.close()


def step_save(service: str, var_dir: Path, n: int = 300) -> dict[str, Any]:
    from bench.ceilings import Item
    from shared.eventstore import ServiceApplication

    class Store(ServiceApplication):
        name = service

    app = Store(_settings(service, var_dir))
    try:
        for i in range(10):
            app.save(Item(n=-i, label="warm"))
        start = time.perf_counter()
        for i in range(n):
            app.save(Item(n=i, label=f"item {i}"))
        return {"saved": n, "seconds": time.perf_counter() - start}
    finally:
        app.close()


def _step(step: str, service: str, var_dir: Path, timeout: float = 1800) -> dict[str, Any]:
    env = service_env("nats://127.0.0.1:1", var_dir)  # no broker is connected in these steps
    proc = subprocess.run([sys.executable, "-m", "bench.growth", step, service, str(var_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"growth {step} {service} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_growth(template: Path, sizes: list[int], services: tuple[str, ...] = SERVICES,
               log=print) -> list[dict[str, Any]]:
    """For each size and service: amplify, decode, project (all read models), save."""
    out = []
    for n in sizes:
        for service in services:
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-growth-{service}-"))
            try:
                t = time.perf_counter()
                written = amplify(template / f"{service}.sqlite", tmp / f"{service}.sqlite", n)
                amplify_s = time.perf_counter() - t
                log(f"  {service} {n:,} events: decode, project, save ...")
                row = {"service": service, "events": written, "amplify_seconds": amplify_s,
                       "decode": _step("decode", service, tmp),
                       "project": _step("project", service, tmp),
                       "save": _step("save", service, tmp)}
                out.append(row)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return out


# --- a new replica catching up ------------------------------------------------------------

async def _health_of(nc: Any, service: str, pid: int, timeout: float) -> float | None:
    """Poll ``health`` until the instance with ``pid`` answers ready; perf_counter then."""
    import asyncio

    body = json.dumps({"actor": {"username": "office", "role": "office"}, "payload": {}}).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = await nc.request(f"duty.rpc.{service}.health", body, timeout=1)
            r = json.loads(msg.data).get("result") or {}
            if r.get("ready") and str(r.get("instance", "")).endswith(f":{pid}"):
                return time.perf_counter()
        except Exception:  # noqa: BLE001 - not up yet / timeout
            pass
        await asyncio.sleep(0.02)
    return None


async def replica_catchup(template: Path, service: str, n_events: int,
                          timeout: float = 600) -> dict[str, Any]:
    """On one nats-server: the service on an empty store (start-up without a log), then
    replica 1 on a store of ``n_events``, then replica 2 on the *same* store while replica 1
    runs. Each: seconds from spawn to its first ``health`` answer with ready (read models
    caught up: a process is ready only after ``ServiceRuntime.catch_up``)."""
    import nats

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-replica-{service}-"))
    procs = Processes(tmp)
    out: dict[str, Any] = {"service": service}
    try:
        written = amplify(template / f"{service}.sqlite", tmp / "var" / f"{service}.sqlite",
                          n_events)
        out["events"] = written
        with NatsServer() as server:
            nc = await nats.connect(server.url)
            try:
                for label, var in (("empty", tmp / "empty"), ("replica1", tmp / "var"),
                                   ("replica2", tmp / "var")):
                    t0 = time.perf_counter()
                    proc = procs.service(label, service, service_env(server.url, var))
                    ready = await _health_of(nc, service, proc.pid, timeout)
                    out[label] = None if ready is None else ready - t0
                    if label == "empty":
                        procs.stop("empty")
            finally:
                await nc.close()
                procs.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str]) -> None:
    step, service, var_dir = argv[0], argv[1], Path(argv[2])
    fn = {"decode": step_decode, "project": step_project, "save": step_save}[step]
    print(json.dumps(fn(service, var_dir)))


if __name__ == "__main__":
    main(sys.argv[1:])

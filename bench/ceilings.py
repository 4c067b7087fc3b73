"""Bare ceilings: what nats-py + JetStream and the eventsourcing store do without the services."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate, event

from bench.common import PG_CONNINFO, NatsServer, postgres_available, read_and_decode

# About the size of one integration event on the bus (an envelope plus a few fields).
PAYLOAD = json.dumps({
    "event_id": "intake:123456", "case_id": "5f0c6d3e-8a43-4a8e-9a51-0c3b8e4c1f00",
    "actor": {"username": "office", "role": "office"}, "occurred_at": "2026-03-01T09:00:00+08:00",
    "source_service": "intake", "source_notification_id": 123456, "causation_id": None,
    "number": "2026-0001", "title": "关于老旧小区加装电梯的建议", "category": "livelihood",
    "urgency": "blue", "lead_deputy_id": "deputy-1", "co_signer_ids": ["deputy-2"],
    "station_id": "station-fengjie", "district": "市南区", "schema_version": 1,
}, ensure_ascii=False).encode()


class Item(Aggregate):
    """A small aggregate: one event per new instance."""

    @event("Created")
    def __init__(self, n: int, label: str) -> None:
        self.n = n
        self.label = label


# --- NATS / JetStream -------------------------------------------------------------------------

async def nats_ceilings(n_seq: int, n_pipe: int, window: int = 500) -> dict[str, Any]:
    import nats
    from nats.js.api import StorageType, StreamConfig

    out: dict[str, Any] = {}
    with NatsServer() as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"],
                                             storage=StorageType.FILE, duplicate_window=120.0))
            # warm-up (connection, stream files)
            for i in range(50):
                await js.publish("bench.warm", PAYLOAD, headers={"Nats-Msg-Id": f"w{i}"})

            start = time.perf_counter()
            for i in range(n_seq):
                await js.publish("bench.seq", PAYLOAD, headers={"Nats-Msg-Id": f"s{i}"})
            out["js_publish_awaited"] = (n_seq, time.perf_counter() - start)

            start = time.perf_counter()
            for base in range(0, n_pipe, window):
                await asyncio.gather(*(
                    js.publish("bench.pipe", PAYLOAD, headers={"Nats-Msg-Id": f"p{i}"})
                    for i in range(base, min(base + window, n_pipe))
                ))
            out["js_publish_pipelined"] = (n_pipe, time.perf_counter() - start)

            total = 50 + n_seq + n_pipe
            sub = await js.pull_subscribe("bench.>", durable="bench-consumer")
            got = 0
            start = time.perf_counter()
            deadline = time.monotonic() + 120
            while got < total and time.monotonic() < deadline:
                try:
                    msgs = await sub.fetch(batch=500, timeout=2)
                except nats.errors.TimeoutError:
                    continue
                for m in msgs:
                    json.loads(m.data)
                    await m.ack()
                got += len(msgs)
            await nc.flush()
            out["js_pull_consume_ack"] = (got, time.perf_counter() - start)
        finally:
            await nc.close()
    return out


# --- eventsourcing store ----------------------------------------------------------------------

def _store_app(settings_kwargs: dict[str, Any]):
    from shared.eventstore import ServiceApplication
    from shared.settings import ServiceSettings

    class BenchStore(ServiceApplication):
        name = "bench"

    settings = ServiceSettings(service_name="bench", **settings_kwargs)
    return BenchStore(settings)


def store_ceilings(app: Any, n_save: int, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(20):  # warm-up
        app.save(Item(n=-i, label="warm"))
    start = time.perf_counter()
    for i in range(n_save):
        app.save(Item(n=i, label=f"item {i}"))
    out[f"{prefix}_save_one_per_txn"] = (n_save, time.perf_counter() - start)

    # read + decode the whole notification log, repeated until it took >= 0.5 s (bounded)
    decoded = 0
    start = time.perf_counter()
    for _pass in range(50):
        decoded += read_and_decode(app)
        if time.perf_counter() - start >= 0.5:
            break
    out[f"{prefix}_read_decode"] = (decoded, time.perf_counter() - start)
    return out


def sqlite_ceilings(n_save: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sqlite-"))
    try:
        app = _store_app({"var_dir": tmp})
        try:
            return store_ceilings(app, n_save, "sqlite")
        finally:
            app.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def postgres_ceilings(n_save: int) -> tuple[dict[str, Any], str | None]:
    reason = postgres_available()
    if reason:
        return {}, reason
    import psycopg
    from psycopg import sql

    prefix = f"bench_{os.getpid()}_"
    schema = f"{prefix}bench"
    try:
        app = _store_app({"event_store": "postgres", "postgres_host": "127.0.0.1",
                          "postgres_port": 5432, "postgres_dbname": "test",
                          "postgres_user": "postgres", "postgres_schema_prefix": prefix})
        try:
            return store_ceilings(app, n_save, "postgres"), None
        finally:
            app.close()
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

"""nats-server killed (kill -9) under load and restarted on its file store: the services
reconnect by themselves, every recorded event arrives downstream, and nothing happens twice."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.harness import InProcessSystem, NatsServer, eventually, rpc
from tests.integration.test_delivery import topic_counts

pytestmark = pytest.mark.slow

DEPUTY = {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"}
OFFICE = {"username": "office", "role": "office"}
N = int(os.environ.get("BROKER_TEST_SUGGESTIONS", "1000"))  # each: a lead and a co-unit task


async def test_a_broker_crash_and_restart_loses_nothing(tmp_path, sqlite_store):
    server = NatsServer(store_dir=tmp_path / "nats")
    server.start()
    system = InProcessSystem(server.url, sqlite_store)
    await system.start()
    try:
        async def one(i: int) -> str:
            r = await rpc(server.url, "intake", "submit_suggestion",
                          {"title": f"建议{i}", "body": "内容", "category": "ecology"}, DEPUTY, timeout=20)
            sid = r["result"]["id"]
            r = await rpc(server.url, "intake", "register_suggestion",
                          {"suggestion_id": sid, "urgency": "blue"}, OFFICE, timeout=20)
            assert r["ok"], r
            return sid

        ids = []
        for start in range(0, N, 20):
            ids += await asyncio.gather(*(one(i) for i in range(start, min(start + 20, N))))
        assert len(set(ids)) == N

        def tasks_opened() -> int:
            return topic_counts(system.app("supervision")).get("SupervisedTask.Opened", 0)

        async def some_progress():
            return tasks_opened() >= 10

        await eventually(some_progress, timeout=30, interval=0.01)
        server.kill()
        opened_at_crash = tasks_opened()
        await asyncio.sleep(2)
        server.start()  # same port, same file store

        async def all_done():
            counts = {s: topic_counts(system.app(s)) for s in ("assignment", "supervision", "points")}
            return (counts["supervision"].get("SupervisedTask.Opened", 0) >= 2 * N
                    and counts["points"].get("DutyLedger.PointsAwarded", 0) >= N) and counts

        counts = await eventually(all_done, timeout=600, interval=0.5)
        await asyncio.sleep(2)
        counts = {s: topic_counts(system.app(s)) for s in ("assignment", "supervision", "points")}
        assert opened_at_crash < 2 * N  # the crash really happened mid-stream
        assert counts["assignment"]["Assignment.Assigned"] == N
        assert counts["assignment"]["Task.Assigned"] == 2 * N  # ecology: lead + co-unit
        assert counts["supervision"]["SupervisedTask.Opened"] == 2 * N
        assert counts["points"]["DutyLedger.PointsAwarded"] == N
        # And the services answer requests again over the restarted server.
        r = await rpc(server.url, "intake", "health")
        assert r["result"]["ready"] and r["result"]["outbox_lag"] == 0
    finally:
        await system.stop()
        server.stop()

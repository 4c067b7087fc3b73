"""A crash after a consumer's commit but before its ack: the redelivery is a no-op."""

from __future__ import annotations

from tests.harness import InProcessSystem, eventually, rpc
from tests.integration.test_delivery import register_one, topic_counts


class Crash(Exception):
    pass


async def test_redelivery_after_commit_before_ack_has_no_second_effect(fresh_nats, store):
    system = InProcessSystem(fresh_nats.url, store, ack_wait_seconds=1.0)
    await system.start()
    try:
        crashed: list[str] = []

        def crash_once(event):
            if not crashed:
                crashed.append(event.event_id)
                raise Crash("the process died after its commit, before its ack")

        consumer = system.runtimes["assignment"].consumers["intake"]
        consumer.fault_after_commit = crash_once
        sid = await register_one(fresh_nats.url)

        async def redelivered():
            return consumer.stats.duplicates >= 1

        await eventually(redelivered, timeout=20)
        assert len(crashed) == 1  # the crash happened once, after the commit
        assert consumer.stats.processed == 1
        assert topic_counts(system.app("assignment"))["Assignment.Assigned"] == 1
        async def one_task():
            r = await rpc(fresh_nats.url, "supervision", "list_tasks", {"case_id": sid})
            return len(r["result"]) == 1

        await eventually(one_task)
    finally:
        await system.stop()

"""Crashes after a consumer's commit but before its ack, under a workload of a thousand
suggestions (FAULT_TEST_SUGGESTIONS): every 50th message each consumer commits is followed by
a "crash" before the ack, so it is redelivered after the ack wait — and each redelivery is a
no-op. Exact counts in every store at the end."""

from __future__ import annotations

import os

import pytest

from tests.e2e.cluster import Workload, quiescent, topic_counts
from tests.harness import InProcessSystem, eventually

pytestmark = pytest.mark.slow

N = int(os.environ.get("FAULT_TEST_SUGGESTIONS", "1000"))
EVERY = 50


class Crash(Exception):
    pass


async def test_crashes_between_commit_and_ack_under_load_have_no_second_effect(fresh_nats, sqlite_store):
    system = InProcessSystem(fresh_nats.url, sqlite_store, ack_wait_seconds=1.0)
    await system.start()
    crashed: dict[str, int] = {}
    try:
        consumers = {
            "assignment": system.runtimes["assignment"].consumers["intake"],
            "supervision": system.runtimes["supervision"].consumers["assignment"],
            "points": system.runtimes["points"].consumers["intake"],
        }
        for name, consumer in consumers.items():
            seen = {"n": 0}

            def crash_every(event, name=name, seen=seen):
                seen["n"] += 1
                if seen["n"] % EVERY == 0:
                    crashed[name] = crashed.get(name, 0) + 1
                    raise Crash("died after the commit, before the ack")

            consumer.fault_after_commit = crash_every

        async with Workload([fresh_nats.url]) as workload:
            await workload.run(N)

        async def all_done():
            opened = topic_counts(system.app("supervision")).get("SupervisedTask.Opened", (0, 0))[0]
            awarded = topic_counts(system.app("points")).get("DutyLedger.PointsAwarded", (0, 0))[0]
            return opened >= N and awarded >= N and await quiescent(system.runtimes, [fresh_nats.url])

        await eventually(all_done, timeout=600, interval=0.5)
        counts = {s: topic_counts(system.app(s)) for s in ("intake", "assignment", "supervision", "points")}
        assert counts["intake"]["Suggestion.Registered"] == (N, N)
        assert counts["assignment"]["Assignment.Assigned"] == (N, N)
        assert counts["assignment"]["Task.Assigned"] == (N, N)
        assert counts["supervision"]["SupervisedTask.Opened"] == (N, N)
        assert counts["points"]["DutyLedger.PointsAwarded"][0] == N
        for name, consumer in consumers.items():
            assert crashed.get(name, 0) >= N // EVERY // 2, (name, crashed)
            assert consumer.stats.duplicates >= crashed[name], (name, vars(consumer.stats))
    finally:
        await system.stop()

"""A three-node JetStream cluster (R3 streams, ``sync_interval: always``) loses its DUTY_INTAKE
stream leader to kill -9 in the middle of a load of suggestions: the streams elect new leaders,
the services reconnect to the surviving nodes by themselves, and in the end every registered
suggestion has exactly one assignment, one supervised task and one points award.

The four services run in-process (each with its own connection, listing all three servers, and
its own SQLite store); effects are counted in their event stores. ``CLUSTER_TEST_SUGGESTIONS``
sets the size of the load (1000 by default: about two and a half minutes on a two-core machine).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from shared.streams import DLQ_STREAM, PRODUCERS, stream_name
from tests.e2e.cluster import NatsCluster, Workload, count, quiescent, stream_messages, topic_counts
from tests.harness import InProcessSystem, eventually

pytestmark = [pytest.mark.slow]

N = int(os.environ.get("CLUSTER_TEST_SUGGESTIONS", "1000"))
STREAMS = [stream_name(p) for p in PRODUCERS] + [DLQ_STREAM]


async def test_kill_9_of_the_stream_leader_in_a_three_node_cluster_loses_nothing(tmp_path, sqlite_store):
    cluster = NatsCluster(tmp_path / "nats")
    cluster.start()
    system = InProcessSystem(cluster.nats_url, sqlite_store, stream_replicas=3)
    try:
        await cluster.wait_for_meta_leader()
        await system.start()
        for stream in STREAMS:
            info = await cluster.stream_info(stream)
            assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2, info

        async with Workload(cluster.urls) as workload:
            load = asyncio.create_task(workload.run(N))

            async def halfway():
                assert not load.done() or load.result()  # surface a failed load at once
                return len(workload.registered) >= N // 2

            await eventually(halfway, timeout=120, interval=0.05)
            victim = await cluster.stream_leader(stream_name("intake"))
            victim.kill9()
            killed_at = time.monotonic()
            registered_at_kill = len(workload.registered)

            async def new_leader():
                try:
                    leader = await cluster.stream_leader(stream_name("intake"))
                except Exception:
                    return None
                return leader.name != victim.name and leader.name

            elected = await eventually(new_leader, timeout=30, interval=0.2)
            election_seconds = time.monotonic() - killed_at

            ids = await asyncio.wait_for(load, timeout=180)
            assert len(set(ids)) == N

        # The cluster ran on two nodes since the kill; bring the third back on its store.
        victim.start()

        async def replicas_current():
            for stream in STREAMS:
                try:
                    info = await cluster.stream_info(stream)
                except Exception:
                    return False
                if not info.cluster.leader or not all(
                        p.current and not p.offline for p in info.cluster.replicas or []):
                    return False
            return True

        await eventually(replicas_current, timeout=60, interval=0.5)

        async def all_done():
            return (count(system.app("points"), "DutyLedger.PointsAwarded") >= N
                    and await quiescent(system.runtimes, cluster.urls))

        await eventually(all_done, timeout=120, interval=0.5)
        counts = {s: topic_counts(system.app(s)) for s in system.runtimes}
        print(f"\n{N} suggestions; leader {victim.name} killed after {registered_at_kill} "
              f"registrations, new leader {elected} in {election_seconds:.1f}s; "
              f"{workload.retries} requests retried; consumers: "
              f"{ {f'{s}<-{p}': vars(c.stats) for s, r in system.runtimes.items() for p, c in r.consumers.items()} }")

        assert 0 < registered_at_kill < N  # the kill really happened mid-load
        assert counts["intake"]["Suggestion.Registered"] == (N, N)
        assert counts["assignment"]["Assignment.Assigned"] == (N, N)
        assert counts["assignment"]["Task.Assigned"] == (N, N)  # livelihood: one lead unit
        assert counts["supervision"]["SupervisedTask.Opened"] == (N, N)
        assert counts["points"]["DutyLedger.PointsAwarded"][0] == N
        assert await stream_messages(cluster.urls, DLQ_STREAM) == 0  # nothing parked
    finally:
        await system.stop()
        cluster.stop()

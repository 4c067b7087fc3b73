"""The network between the assignment service and NATS is cut for 30 seconds under a load of
suggestions, then healed: assignment reconnects by itself, processing resumes within seconds of
the heal (measured from the heal to the first new assignment, and to the first task its outbox
relay's events open in supervision), and nothing is lost or done twice.

Three kinds of cut, through a TCP proxy (tests/e2e/cluster.py): ``blackhole`` closes every
connection and accepts new ones that never answer; ``refuse`` closes every connection and stops
listening; ``freeze`` is a silent partition, the open connection neither closed nor carrying
anything (and new ones black-holed).

Intake, supervision and points talk to nats-server directly; assignment (in-process, its own
connection and SQLite store) only through the proxy. Effects are counted in the event stores.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from shared.clock import ManualClock
from shared.streams import DLQ_STREAM
from tests.e2e.cluster import TcpProxy, Workload, count, quiescent, stream_messages, topic_counts
from tests.harness import InProcessSystem, NatsServer, eventually

pytestmark = [pytest.mark.slow]

BATCH = int(os.environ.get("CUT_TEST_BATCH", "340"))  # suggestions before, during and after the cut
N = 3 * BATCH
CUT_SECONDS = 30.0
RESUME_WITHIN_SECONDS = 15.0


@pytest.mark.parametrize("mode", ["blackhole", "refuse", "freeze"])
async def test_a_30s_network_cut_between_assignment_and_nats_heals_by_itself(mode, tmp_path, sqlite_store):
    server = NatsServer(store_dir=tmp_path / "nats")
    server.start()
    proxy = TcpProxy(server.port)
    await proxy.start()
    clock = ManualClock()
    direct = InProcessSystem(server.url, sqlite_store, clock=clock)
    behind_proxy = InProcessSystem(proxy.url, sqlite_store, clock=clock)
    try:
        await direct.start("intake", "supervision", "points")
        await behind_proxy.start("assignment")
        assignment = behind_proxy.runtimes["assignment"]
        runtimes = {**direct.runtimes, "assignment": assignment}

        def assigned() -> int:
            return count(assignment.app, "Assignment.Assigned")

        def opened() -> int:
            return count(direct.app("supervision"), "SupervisedTask.Opened")

        async with Workload([server.url]) as workload:
            await workload.run(BATCH, 0)

            async def some_assigned():
                return assigned() >= BATCH // 4

            await eventually(some_assigned, timeout=60, interval=0.05)

            await proxy.cut(mode)
            cut_at = time.monotonic()
            connections_before_cut = proxy.accepted
            await workload.run(BATCH, BATCH)  # intake keeps registering meanwhile
            during_cut = time.monotonic() - cut_at

            # Hold the cut for its full length; in its second half nothing may be assigned.
            await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS / 2 - time.monotonic()))
            assigned_mid_cut, opened_mid_cut = assigned(), opened()
            await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS - time.monotonic()))
            assigned_at_heal, opened_at_heal = assigned(), opened()
            assert assigned_at_heal == assigned_mid_cut, "assignment processed while cut off"
            assert assigned_at_heal < 2 * BATCH  # a backlog is waiting

            await proxy.heal()
            healed_at = time.monotonic()

            async def assigning_again():
                return assigned() > assigned_at_heal

            await eventually(assigning_again, timeout=RESUME_WITHIN_SECONDS, interval=0.05)
            assigning_after = time.monotonic() - healed_at

            async def publishing_again():  # assignment's outbox relay reached supervision
                return opened() > opened_at_heal

            await eventually(publishing_again, timeout=RESUME_WITHIN_SECONDS, interval=0.05)
            publishing_after = time.monotonic() - healed_at

            await workload.run(BATCH, 2 * BATCH)

        async def all_done():
            return (count(direct.app("points"), "DutyLedger.PointsAwarded") >= N
                    and await quiescent(runtimes, [server.url]))

        await eventually(all_done, timeout=600, interval=0.5)
        counts = {name: topic_counts(r.app) for name, r in runtimes.items()}
        print(f"\n{mode}: cut {CUT_SECONDS:.0f}s ({BATCH} registered in the first {during_cut:.1f}s "
              f"of it; {assigned_at_heal}/{2 * BATCH} assigned at the heal, {opened_mid_cut} -> "
              f"{opened_at_heal} tasks opened in its second half); assigning again "
              f"{assigning_after:.2f}s and publishing again {publishing_after:.2f}s after the heal; "
              f"{proxy.accepted - connections_before_cut} connections through the proxy since the cut; "
              f"consumers: { {p: vars(c.stats) for p, c in assignment.consumers.items()} }")

        if mode != "freeze":  # a frozen connection carries on after the heal
            assert proxy.accepted > connections_before_cut  # it reconnected through the proxy
        assert assignment.broker.config.connection_state.connection.is_connected
        assert counts["intake"]["Suggestion.Registered"] == (N, N)
        assert counts["assignment"]["Assignment.Assigned"] == (N, N)
        assert counts["assignment"]["Task.Assigned"] == (N, N)  # livelihood: one lead unit
        assert counts["supervision"]["SupervisedTask.Opened"] == (N, N)
        assert counts["points"]["DutyLedger.PointsAwarded"][0] == N
        assert await stream_messages([server.url], DLQ_STREAM) == 0
    finally:
        await behind_proxy.stop()
        await direct.stop()
        await proxy.stop()
        server.stop()

"""kill -9 of each service in turn, mid-stream, under a workload of two thousand suggestions
(KILL_TEST_SUGGESTIONS to change it): every service is restarted, and the reconciliation —
counted in every service's SQLite event store — is exact: nothing lost, nothing done twice.

The services run as OS processes; the workload goes over NATS request/reply and retries a
request whose service is down (a registration whose reply was lost and that turns out to be
done already counts as registered)."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.e2e.cluster import Workload
from tests.e2e.test_crash_recovery import count_topic
from tests.harness import SERVICES, ServiceProcess, eventually, process_env, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

SUGGESTIONS = int(os.environ.get("KILL_TEST_SUGGESTIONS", "2000"))
# (share of the workload registered, service killed then)
KILLS = [(0.15, "intake"), (0.35, "assignment"), (0.55, "supervision"), (0.75, "points")]


async def test_kill_9_of_each_service_in_turn_loses_nothing_and_does_nothing_twice(fresh_nats, tmp_path):
    var = tmp_path / "var"
    env = process_env(fresh_nats.url, {"EVENT_STORE": "sqlite", "VAR_DIR": str(var)})
    procs = {name: ServiceProcess(name, env, tmp_path) for name in SERVICES}
    for p in procs.values():
        p.start()
    try:
        await wait_until_ready(fresh_nats.url)
        async with Workload([fresh_nats.url]) as workload:
            load = asyncio.create_task(workload.run(SUGGESTIONS, concurrency=20))
            killed = []
            for share, name in KILLS:
                async def far_enough(share: float = share) -> bool:
                    return len(workload.registered) >= share * SUGGESTIONS or load.done()

                await eventually(far_enough, timeout=600, interval=0.05)
                procs[name].kill9()
                killed.append((name, len(workload.registered)))
                await asyncio.sleep(1.0)  # the work piles up while it is down
                procs[name].start()
            ids = await load
        assert len(set(ids)) == SUGGESTIONS
        assert [n for n, _ in killed] == [n for _, n in KILLS]
        assert all(0 < at < SUGGESTIONS for _, at in killed), killed

        def counts() -> dict[str, tuple[int, int]]:
            return {
                "registered": count_topic(var / "intake.sqlite", "Suggestion.Registered"),
                "assigned": count_topic(var / "assignment.sqlite", "Assignment.Assigned"),
                "task": count_topic(var / "assignment.sqlite", "Task.Assigned"),
                "opened": count_topic(var / "supervision.sqlite", "SupervisedTask.Opened"),
                "awarded": count_topic(var / "points.sqlite", "DutyLedger.PointsAwarded"),
            }

        async def all_arrived():
            c = counts()
            return c["opened"][0] >= SUGGESTIONS and c["awarded"][0] >= SUGGESTIONS and c

        await eventually(all_arrived, timeout=600, interval=1.0)
        await asyncio.sleep(3)  # let any wrong extra effect show up
        final = counts()
        for key in ("registered", "assigned", "task", "opened"):
            assert final[key] == (SUGGESTIONS, SUGGESTIONS), (key, final)
        assert final["awarded"][0] == SUGGESTIONS, final
    finally:
        for p in procs.values():
            p.stop()

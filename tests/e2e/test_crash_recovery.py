"""kill -9 of a consumer service halfway through 200 suggestions: nothing lost, nothing twice.

The services run as separate OS processes (``python -m services.<name>``) against a real
nats-server and SQLite stores; effects are counted in the services' event stores.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.harness import SERVICES, ServiceProcess, eventually, process_env, rpc, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

DEPUTY = {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"}
OFFICE = {"username": "office", "role": "office"}


def count_topic(db: Path, suffix: str) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT originator_id) FROM stored_events WHERE topic LIKE ?",
            (f"%{suffix}",),
        ).fetchone()
    return total, distinct


async def submit_and_register(url: str, n: int, start: int) -> list[str]:
    async def one(i: int) -> str:
        r = await rpc(url, "intake", "submit_suggestion",
                      {"title": f"第{i}号建议", "body": "完善社区养老服务。", "category": "livelihood"},
                      DEPUTY, timeout=20)
        sid = r["result"]["id"]
        r = await rpc(url, "intake", "register_suggestion", {"suggestion_id": sid, "urgency": "blue"},
                      OFFICE, timeout=20)
        assert r["ok"], r
        return sid

    ids: list[str] = []
    for batch in range(start, start + n, 20):
        ids += await asyncio.gather(*(one(i) for i in range(batch, min(batch + 20, start + n))))
    return ids


async def test_kill_9_of_a_consumer_halfway_loses_nothing_and_does_nothing_twice(fresh_nats, tmp_path):
    var = tmp_path / "var"
    env = process_env(fresh_nats.url, {"EVENT_STORE": "sqlite", "VAR_DIR": str(var)})
    procs = {name: ServiceProcess(name, env, tmp_path) for name in SERVICES}
    for p in procs.values():
        p.start()
    try:
        await wait_until_ready(fresh_nats.url, timeout=60)

        assignment_db = var / "assignment.sqlite"
        first = await submit_and_register(fresh_nats.url, 100, 0)

        async def some_assigned():
            return assignment_db.exists() and count_topic(assignment_db, "Assignment.Assigned")[0] >= 30

        await eventually(some_assigned, timeout=60, interval=0.02)
        procs["assignment"].kill9()
        assigned_at_kill = count_topic(assignment_db, "Assignment.Assigned")[0]
        second = await submit_and_register(fresh_nats.url, 100, 100)
        assert len(set(first + second)) == 200
        procs["assignment"].start()

        async def all_tasks_opened():
            return (count_topic(var / "supervision.sqlite", "SupervisedTask.Opened")[0] >= 200
                    and count_topic(var / "points.sqlite", "DutyLedger.PointsAwarded")[0] >= 200)

        await eventually(all_tasks_opened, timeout=120, interval=0.5)
        await asyncio.sleep(2)  # let any wrong extra effect show up

        assert 0 < assigned_at_kill < 200
        assert count_topic(assignment_db, "Assignment.Assigned") == (200, 200)
        assert count_topic(assignment_db, "Task.Assigned") == (200, 200)
        assert count_topic(var / "supervision.sqlite", "SupervisedTask.Opened") == (200, 200)
        assert count_topic(var / "points.sqlite", "DutyLedger.PointsAwarded")[0] == 200
        assert count_topic(var / "intake.sqlite", "Suggestion.Registered") == (200, 200)
        with sqlite3.connect(var / "supervision.sqlite") as conn:
            rows = conn.execute("SELECT COUNT(*) FROM tracking WHERE application_name='assignment'").fetchone()
        assert rows[0] >= 200
    finally:
        for p in procs.values():
            p.stop()

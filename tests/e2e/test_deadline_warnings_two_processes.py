"""Deadline warnings with two supervision processes running and a restart: the yellow and red
warnings and the escalation are each recorded once in supervision's store and published once.

All services run as OS processes reading "now" from one clock file (CLOCK_FILE), so the test
moves time for every process at once; both supervision processes run the deadline clock every
0.3 s."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime, timedelta

import nats
import pytest

from shared.calendar import WorkingCalendar
from shared.clock import CHINA_TZ
from tests.e2e.test_crash_recovery import submit_and_register
from tests.harness import (
    ROOT,
    SERVICES,
    ServiceProcess,
    eventually,
    process_env,
    rpc,
    wait_until_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def set_clock(path, day: date) -> None:
    path.write_text(datetime.combine(day, datetime.min.time(), CHINA_TZ).replace(hour=9).isoformat())


def warnings_in_store(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT topic FROM stored_events WHERE topic LIKE '%SupervisedTask.WarningRaised' "
                            "OR topic LIKE '%SupervisedTask.Escalated'").fetchall()
    return sorted(r[0].rsplit(".", 1)[1] for r in rows)


async def published(url: str, subject: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("DUTY_SUPERVISION", subjects_filter=subject)
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def test_warnings_once_with_two_supervision_processes_and_a_restart(fresh_nats, tmp_path):
    clock_file = tmp_path / "now.txt"
    set_clock(clock_file, date(2026, 3, 2))
    var = tmp_path / "var"
    env = process_env(fresh_nats.url, {"EVENT_STORE": "sqlite", "VAR_DIR": str(var)},
                      CLOCK_FILE=str(clock_file), SUPERVISION_SWEEP_SECONDS="0.3")
    procs = [ServiceProcess(name, env, tmp_path) for name in SERVICES]
    second = ServiceProcess("supervision", env, tmp_path / "second")
    (tmp_path / "second").mkdir()
    for p in [*procs, second]:
        p.start()
    try:
        await wait_until_ready(fresh_nats.url, timeout=60)
        async def two_supervision_instances():
            seen = set()
            for _ in range(30):
                health = (await rpc(fresh_nats.url, "supervision", "health", timeout=2))["result"]
                if health["ready"]:
                    seen.add(health["instance"])
            return len(seen) == 2

        await eventually(two_supervision_instances, timeout=60)
        [case_id] = await submit_and_register(fresh_nats.url, 1, 0)

        async def task():
            r = await rpc(fresh_nats.url, "supervision", "list_tasks", {"case_id": case_id})
            return r["result"][0] if r.get("ok") and r["result"] else None

        deadline = date.fromisoformat((await eventually(task, timeout=30))["deadline"])
        calendar = WorkingCalendar.from_config(ROOT / "config" / "holidays.yaml")
        db = var / "supervision.sqlite"

        set_clock(clock_file, calendar.add_working_days(deadline - timedelta(days=12), 6))
        await eventually(lambda: asyncio.sleep(0, warnings_in_store(db) == ["WarningRaised"]), timeout=20)
        set_clock(clock_file, deadline + timedelta(days=1))
        await eventually(lambda: asyncio.sleep(0, len(warnings_in_store(db)) == 2), timeout=20)
        set_clock(clock_file, calendar.add_working_days(deadline, 8))
        await eventually(lambda: asyncio.sleep(0, len(warnings_in_store(db)) == 3), timeout=20)
        await asyncio.sleep(2)  # both processes sweep several more times

        # Restart both supervision processes: their state is replayed; nothing is raised again.
        supervision = next(p for p in procs if p.name == "supervision")
        supervision.stop()
        second.stop()
        supervision.start()
        second.start()

        async def supervision_ready():
            try:
                return (await rpc(fresh_nats.url, "supervision", "health", timeout=1))["result"]["ready"]
            except Exception:
                return False

        await eventually(supervision_ready, timeout=60)
        await asyncio.sleep(2)
        assert warnings_in_store(db) == ["Escalated", "WarningRaised", "WarningRaised"]

        async def all_published():
            return (await published(fresh_nats.url, "duty.supervision.deadline_warning.v1") == 2
                    and await published(fresh_nats.url, "duty.supervision.case_escalated.v1") == 1)

        await eventually(all_published, timeout=20)
        await asyncio.sleep(1)
        assert await published(fresh_nats.url, "duty.supervision.deadline_warning.v1") == 2
    finally:
        for p in [*procs, second]:
            p.stop()

"""A backup taken while cases flow (issue 31): a workload submits and registers suggestions
through intake while ``duty-ops backup`` (ops/backup.py) saves the running system; the
workload goes on past the backup (those cases are what a lost disk loses). Then the system is
wiped (services stopped, nats-server and its JetStream store gone, the stores deleted or the
PostgreSQL schemas dropped), restored from the archive into a stopped system with a new, empty
nats-server, each producer's log published again (``duty-ops replay``), and:

- ``duty-ops verify`` passes (every chain, reconciliation both ways, nothing parked);
- every registered suggestion of the restored intake has exactly one task in supervision and
  in assignment, and each points line's cause (case, cause, deputy) appears exactly once:
  effects the backup caught whole are not done again, the rest replayed exactly once;
- the case flow continues on the restored system (registration numbers go on, unique) and the
  same counts hold for the old and the new cases together.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import pytest

from ops import backup as ops_backup
from ops.verify import _all, _call, verify_platform
from shared.settings import ServiceSettings
from shared.streams import PRODUCERS
from tests.e2e.cluster import Workload, settled
from tests.harness import InProcessSystem, NatsServer, eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BEFORE = 60  # suggestions registered before the backup starts (at least)
PAST = 30  # registered after the backup ended, before the wipe (the workload runs throughout)
BATCH = 6  # the workload's concurrent suggestions
AFTER = 20  # new suggestions on the restored system


async def counts(url: str) -> dict[str, Any]:
    """Tasks per registered suggestion and points lines per cause, read whole over the bus."""
    nc = await nats.connect(url)
    try:
        suggestions = await _all(nc, "intake", "list_suggestions", {"year": "all"})
        supervision = await _all(nc, "supervision", "list_tasks",
                                 {"year": "all", "order": "task_id"})
        assignment = await _all(nc, "assignment", "list_tasks", {"year": "all"})
        lines = await _all(nc, "points", "ledger_lines", {"year": "all"})
    finally:
        await nc.close()
    registered = {s["id"]: s["number"] for s in suggestions
                  if s.get("status") in ("registered", "closed")}
    return {
        "registered": registered,
        "supervision_tasks": Counter(t["case_id"] for t in supervision
                                     if t["status"] != "withdrawn"),
        "assignment_tasks": Counter(t["case_id"] for t in assignment),
        "points_lines": Counter((line.get("case_id"), line.get("cause_kind"), line["deputy_id"],
                                 line.get("type")) for line in lines),
    }


def assert_whole(found: dict[str, Any]) -> None:
    registered = set(found["registered"])
    assert registered, found
    for kind in ("supervision_tasks", "assignment_tasks"):
        tasks = found[kind]
        assert set(tasks) == registered, (kind, set(tasks) ^ registered)
        assert set(tasks.values()) == {1}, (kind, {c: n for c, n in tasks.items() if n != 1})
    twice = {cause: n for cause, n in found["points_lines"].items() if n != 1}
    assert not twice, twice
    awarded = {case for (case, cause, _deputy, kind) in found["points_lines"]
               if cause == "suggestion_registered" and kind == "award"}
    assert awarded == registered, awarded ^ registered
    numbers = list(found["registered"].values())
    assert len(set(numbers)) == len(numbers), numbers


async def republish(url: str, manifest: dict[str, Any]) -> None:
    nc = await nats.connect(url)
    try:
        for service, info in manifest["services"].items():
            if service in PRODUCERS and info["last_notification_id"]:
                await _call(nc, service, "republish",
                            {"start": 1, "end": info["last_notification_id"]})
    finally:
        await nc.close()


def drop_schemas(prefix: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres",
                         autocommit=True) as conn:
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                      (f"{prefix}%",)).fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_a_backup_taken_while_cases_flow_restores_whole_and_the_flow_goes_on(
        store, tmp_path):
    if store["event_store"] == "postgres" and not shutil.which("pg_dump"):
        pytest.skip("pg_dump not installed (make pg-client): a PostgreSQL backup needs it")
    old_bus = NatsServer(store_dir=tmp_path / "nats-old")
    old_bus.start()
    system = InProcessSystem(old_bus.url, store)
    await system.start()
    settings = ServiceSettings(service_name="ops", **store)
    try:
        async with Workload([old_bus.url]) as workload:
            stop = asyncio.Event()

            async def drive() -> None:  # batches of suggestions until told to stop
                start = 0
                while not stop.is_set():
                    await workload.run(BATCH, start=start, concurrency=BATCH)
                    start += BATCH

            load = asyncio.create_task(drive())
            await eventually(lambda: asyncio.sleep(0, len(workload.registered) >= BEFORE),
                             timeout=300, interval=0.2)
            loop = asyncio.get_running_loop()
            started, at_start = loop.time(), len(workload.registered)
            archive = await asyncio.to_thread(ops_backup.backup, settings,
                                              tmp_path / "backups", old_bus.url)
            took = loop.time() - started
            at_end = len(workload.registered)
            # the flow goes on after the backup: what a lost disk loses
            await eventually(lambda: asyncio.sleep(
                0, len(workload.registered) >= at_end + PAST), timeout=300, interval=0.2)
            stop.set()
            await load
        total = len(workload.registered)
        await eventually(settled(system.runtimes, [old_bus.url]), timeout=120, interval=0.5)
        before_wipe = await counts(old_bus.url)
        assert set(before_wipe["registered"]) == set(workload.registered)
    finally:
        await system.stop()
        old_bus.stop()

    # the wipe: bus and its streams gone, stores gone; the personal-data keys' key-encryption
    # key is kept apart from the machine's disk (never in a backup)
    from services.intake.personal_data import DEV_KEK_FILE_NAME

    kek = Path(store.get("var_dir") or "var") / DEV_KEK_FILE_NAME
    kept = tmp_path / "kek-kept"
    if kek.exists():
        shutil.copy2(kek, kept)
    shutil.rmtree(tmp_path / "nats-old")
    if store["event_store"] == "postgres":
        drop_schemas(store["postgres_schema_prefix"])
        restored_store = dict(store)
    else:
        shutil.rmtree(store["var_dir"])
        restored_store = {**store, "var_dir": tmp_path / "restored" / "var"}
    # keys, credentials and configuration go under the new VAR_DIR (PostgreSQL's stores
    # into the schemas)
    manifest = await asyncio.to_thread(
        ops_backup.restore, archive,
        ServiceSettings(service_name="ops", **{**restored_store,
                                                "var_dir": tmp_path / "restored" / "var"}))
    if kept.exists() and store["event_store"] == "sqlite":  # put back where intake reads it
        shutil.copy2(kept, restored_store["var_dir"] / DEV_KEK_FILE_NAME)
    saved = manifest["services"]["intake"]["last_notification_id"]
    assert saved > 0

    with NatsServer(store_dir=tmp_path / "nats-new") as bus:
        system = InProcessSystem(bus.url, restored_store)
        await system.start()
        try:
            await republish(bus.url, manifest)
            await eventually(settled(system.runtimes, [bus.url]), timeout=120, interval=0.5)
            restored = await counts(bus.url)
            # the backup holds what was registered when it was taken, not what came after
            assert BEFORE <= len(restored["registered"]) < total, (len(restored["registered"]),
                                                                   total)
            assert set(restored["registered"]) <= set(before_wipe["registered"])
            assert_whole(restored)
            verified = await verify_platform(bus.url)
            assert verified["ok"], verified

            # the flow goes on: new cases on the restored system
            async with Workload([bus.url]) as more:
                new = await more.run(AFTER, start=total + BATCH, concurrency=5)
            await eventually(settled(system.runtimes, [bus.url]), timeout=120, interval=0.5)
            after = await counts(bus.url)
            assert set(after["registered"]) == set(restored["registered"]) | set(new)
            assert_whole(after)
            # registration numbers go on from the restored ones, none reused
            assert len(set(after["registered"].values())) == len(restored["registered"]) + AFTER
            verified = await verify_platform(bus.url)
            assert verified["ok"], verified
        finally:
            await system.stop()
    print(f"backup under load took {took:.2f} s ({at_start} registered at its start, {at_end} "
          f"at its end); "
          f"restored {len(restored['registered'])} of {total}")

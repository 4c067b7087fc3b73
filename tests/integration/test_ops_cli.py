"""The ops CLI lists, shows and replays parked messages, and shows streams and lag."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timezone

import nats

from services.points.application import ScoringRules
from tests.harness import ROOT, eventually, rpc

OFFICE = {"username": "office", "role": "office"}


async def ops(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ops", *args, "--nats-url", url],
        cwd=ROOT, capture_output=True, text=True)


async def test_a_parked_message_is_listed_then_replayed_after_the_cause_is_fixed(system):
    url = system.nats_url
    event = {
        "event_id": "intake:424242", "case_id": "00000000-0000-0000-0000-000000000042",
        "actor": OFFICE, "occurred_at": datetime(2019, 5, 1, tzinfo=timezone.utc).isoformat(),
        "source_service": "intake", "source_notification_id": 424242, "number": "2019-0042",
        "title": "旧建议", "category": "livelihood", "urgency": "blue", "lead_deputy_id": "deputy-1",
    }
    nc = await nats.connect(url)
    await nc.jetstream().publish("duty.intake.suggestion_registered.v1", json.dumps(event).encode(),
                                 headers={"Nats-Msg-Id": "intake:424242"})
    await nc.close()

    async def parked():
        r = await ops(url, "dlq", "list", "--json", "--consumer", "points")
        return r.returncode == 0 and json.loads(r.stdout)

    [entry] = await eventually(parked, timeout=30, interval=0.3)
    assert entry["original_subject"] == "duty.intake.suggestion_registered.v1"
    assert entry["attempts"] == 5 and "no scoring rule" in entry["error"]
    shown = await ops(url, "dlq", "show", str(entry["sequence"]))
    assert json.loads(shown.stdout)["body"].startswith('{"event_id": "intake:424242"')

    # The office publishes the 2019 scoring rule; the message can now be processed.
    system.app("points").rules = ScoringRules([
        {"version": "2019.1", "effective_from": "2019-01-01",
         "automatic": {"suggestion_registered": {"lead": 2.0, "co_signer": 1.0}}},
        *system.app("points").rules.versions,
    ])
    replayed = await ops(url, "dlq", "replay", str(entry["sequence"]))
    assert replayed.returncode == 0, replayed.stderr

    async def awarded():
        r = await rpc(url, "points", "deputy_points", {"deputy_id": "deputy-1", "year": 2019})
        return r["result"]["total"] == 2.0

    await eventually(awarded)
    assert json.loads((await ops(url, "dlq", "list", "--json")).stdout) == []
    assert (await ops(url, "dlq", "replay", str(entry["sequence"]))).returncode == 1

    async def no_lag():
        r = await ops(url, "status", "--json")
        streams = {s["stream"]: s for s in json.loads(r.stdout)["streams"]}
        consumers = {c["consumer"]: c for c in streams["DUTY_INTAKE"]["consumers"]}
        return consumers.get("points--intake", {}).get("pending") == 0 and streams

    streams = await eventually(no_lag)
    assert {"assignment--intake", "points--intake"} <= {
        c["consumer"] for c in streams["DUTY_INTAKE"]["consumers"]}
    # Replaying went to every consumer of the stream; assignment had processed it already.
    assert system.runtimes["assignment"].consumers["intake"].stats.duplicates >= 1


async def test_rebuilding_read_models_gives_the_same_answers(system):
    url = system.nats_url
    from tests.integration.test_delivery import register_one, wait_for_points

    for category in ("livelihood", "ecology"):
        await register_one(url, category=category)
    await wait_for_points(url, 6.0)

    async def tasks():
        return (await rpc(url, "supervision", "list_tasks", {}))["result"]

    async def three_tasks():
        return len(await tasks()) == 3

    await eventually(three_tasks)
    before = {s: (await rpc(url, s, q, {}))["result"] for s, q in
              (("supervision", "list_tasks"), ("assignment", "list_tasks"), ("intake", "list_suggestions"))}
    generation = (await rpc(url, "assignment", "read_models"))["result"]["task_index"]["generation"]
    for service in ("intake", "assignment", "supervision", "points"):
        r = await ops(url, "rebuild", service)
        assert r.returncode == 0, r.stderr
        assert "rebuilt from" in r.stdout
    after = {s: (await rpc(url, s, q, {}))["result"] for s, q in
             (("supervision", "list_tasks"), ("assignment", "list_tasks"), ("intake", "list_suggestions"))}
    assert after == before
    # Assignment's persisted task index was built again as a new generation, shown to its end.
    r = await ops(url, "rebuild", "assignment")
    assert "assignment: task_index rebuilt from" in r.stdout, r.stdout
    models = (await rpc(url, "assignment", "read_models"))["result"]
    assert models["task_index"]["generation"] == generation + 2 and models["task_index"]["ready"]
    assert models["task_index"]["build"]["done"] is True
    assert models["task_index"]["build"]["applied"] == models["task_index"]["head"]

    # --no-wait starts the build and returns; the live generation answers meanwhile.
    r = await ops(url, "rebuild", "assignment", "--no-wait")
    assert r.returncode == 0, r.stderr
    assert "task_index in the background" in r.stdout

    async def built():
        m = (await rpc(url, "assignment", "read_models"))["result"]["task_index"]
        return m["generation"] == generation + 3 and m["build"]["done"]

    await eventually(built)
    assert (await rpc(url, "assignment", "list_tasks", {}))["result"] == before["assignment"]


async def test_verify_reconciles_and_finds_an_edited_event_and_replay_changes_nothing(system):
    url = system.nats_url
    from tests.integration.test_audit_chains import tamper
    from tests.integration.test_delivery import register_one, wait_for_points

    for category in ("livelihood", "ecology"):
        await register_one(url, category=category)
    await wait_for_points(url, 6.0)

    async def verified():
        r = await ops(url, "verify", "--json")
        assert r.stdout, r.stderr
        result = json.loads(r.stdout)
        return r.returncode == 0 and result["reconciliation"]["registered_suggestions"] == 2 and result

    result = await eventually(verified, timeout=30, interval=0.5)
    assert result["reconciliation"]["registered_without_task"] == []
    assert all(c["ok"] and c["aggregates"] > 0 for c in result["chains"].values())

    # Replaying intake's whole log republishes it; nothing happens twice downstream.
    tasks_before = (await rpc(url, "supervision", "list_tasks", {}))["result"]
    last = system.app("intake").max_notification_id()
    r = await ops(url, "replay", "intake", "--from", "1", "--to", str(last))
    assert r.returncode == 0, r.stderr
    assert "republished" in r.stdout
    await asyncio.sleep(1.0)
    assert (await rpc(url, "supervision", "list_tasks", {}))["result"] == tasks_before

    # Someone edits a supervision event in the database: verify names the aggregate.
    task_id = tasks_before[0]["task_id"]
    tamper(system.app("supervision"), task_id, 1, lambda s: s.update(unit_id="unit-z"))
    r = await ops(url, "verify", "--json")
    assert r.returncode == 1
    broken = json.loads(r.stdout)["chains"]["supervision"]["broken"]
    assert [b["aggregate_id"] for b in broken] == [task_id] and broken[0]["broken_at"] == 1

"""Issue 24, finding 10: ``duty-ops verify`` reconciles both ways and reports parked messages.

A clean system verifies (exit 0). Then, one at a time, a phantom task (recorded directly
through supervision's application, for a case intake never had), a phantom points line (a
registration award for a case intake never had), a ledger of a deputy who is not in the
reference data, and a parked message: verify names each and exits 1."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import nats

from shared.contracts.assignment import TaskAssignedV1
from shared.contracts.base import ActorRef
from shared.contracts.intake import SuggestionRegisteredV1
from shared.bus_auth import with_credentials
from tests.harness import eventually, nats_credentials_dir
from tests.integration.test_ops_cli import ops

OFFICE = ActorRef(username="office", role="office")


async def verify(url: str) -> tuple[int, dict]:
    r = await ops(url, "verify", "--json")
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def record(app, aggregates) -> None:
    """Record a handler's changes directly (no tracking, no validation): a phantom."""
    app.save(*[a for a in aggregates if a is not None])


async def test_verify_finds_phantom_tasks_points_unknown_deputies_and_parked_messages(
        system, fresh_nats):
    from tests.integration.test_delivery import register_one, wait_for_points

    url = system.nats_url
    await register_one(url, category="urban_construction")
    await wait_for_points(url, 3.0)

    async def clean():
        code, result = await verify(url)
        return code == 0 and result["reconciliation"]["registered_suggestions"] == 1 \
            and result["reconciliation"]["tasks"]["supervision"] >= 1 and result

    result = await eventually(clean, timeout=30, interval=0.5)
    r = result["reconciliation"]
    assert r["tasks_without_case"] == r["points_without_cause"] == r["unknown_deputies"] == []
    assert result["parked"] == [] and result["findings"] == 0
    assert r["points_lines"] >= 1

    now = system.clock.now()
    # 1. A phantom task: supervision opens a task for a case intake never had.
    phantom_case = str(uuid.uuid4())
    phantom_task = str(uuid.uuid4())
    supervision = system.app("supervision")
    record(supervision, supervision.on_task_assigned(TaskAssignedV1(
        event_id="assignment:999001", case_id=phantom_case, actor=OFFICE, occurred_at=now,
        source_service="assignment", source_notification_id=999001, task_id=phantom_task,
        unit_id="unit-a", role="lead", assigned_at=now, deadline=(now + timedelta(days=20)).date(),
        title="幽灵任务", category="urban_construction", urgency="blue", number="2026-9999",
        case_kind="suggestion")))
    code, result = await verify(url)
    assert code == 1
    assert result["reconciliation"]["tasks_without_case"] == [
        f"supervision:{phantom_task} (case {phantom_case})"]
    assert result["findings"] == 1

    # 2. A phantom points line, and 3. a ledger (and ranking row) of an unknown deputy.
    points = system.app("points")
    phantom_points_case = str(uuid.uuid4())
    record(points, points.on_suggestion_registered(SuggestionRegisteredV1(
        event_id="intake:999002", case_id=phantom_points_case, actor=OFFICE, occurred_at=now,
        source_service="intake", source_notification_id=999002, number="2026-9998",
        title="幽灵建议", category="livelihood", urgency="blue", lead_deputy_id="deputy-999")))
    code, result = await verify(url)
    assert code == 1
    r = result["reconciliation"]
    [line] = r["points_without_cause"]
    assert line.startswith("deputy-999/") and phantom_points_case in line
    assert f"ledger:deputy-999" in r["unknown_deputies"]
    assert any(u.startswith("ranking ") and u.endswith(":deputy-999")
               for u in r["unknown_deputies"]), r["unknown_deputies"]

    # 4. A parked message (undecodable, published by intake's identity): reported.
    nc = await nats.connect(with_credentials(fresh_nats.bare_url, "intake",
                                             nats_credentials_dir()))
    try:
        await nc.jetstream().publish(SuggestionRegisteredV1.subject(), b"\xff not json",
                                     headers={"Nats-Msg-Id": "poison-verify"})
    finally:
        await nc.close()

    from tests.integration.test_event_validation import consumers_of_registrations

    consumers = consumers_of_registrations(system)

    async def parked_reported():
        code, result = await verify(url)
        return code == 1 and len(result["parked"]) >= len(consumers) and result

    result = await eventually(parked_reported, timeout=30, interval=0.5)
    assert {p["consumer"] for p in result["parked"]} == consumers
    assert all(p["error"].startswith("malformed") for p in result["parked"])
    # the human-readable output names each finding too, and exits 1
    r = await ops(url, "verify")
    assert r.returncode == 1
    assert phantom_task in r.stdout and "deputy-999" in r.stdout and "parked:" in r.stdout

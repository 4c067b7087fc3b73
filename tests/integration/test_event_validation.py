"""Issue 24, finding 12: upstream events are validated before any effect.

A forged ``suggestion_registered`` with a malformed case id and an unknown deputy, published
with intake's own bus credentials (the only identity allowed to publish intake's subjects), is
parked at once by every consumer of it (assignment, supervision, points) with its reason, and
changes nothing in any of them: no event recorded, no tracking row, no task, no points."""

from __future__ import annotations

import asyncio

import json
from datetime import datetime, timezone

import nats
import pytest

from ops.dead_letters import list_parked
from shared.bus_auth import with_credentials
from shared.consumer import InvalidEvent
from shared.contracts.assignment import TaskAssignedV1
from shared.contracts.base import ActorRef
from shared.contracts.intake import SuggestionRegisteredV1
from shared.event_validation import EventValidator
from shared.settings import ServiceSettings
from tests.harness import eventually, nats_credentials_dir, rpc

CONSUMERS = ("assignment", "supervision", "points")  # and every other consumer of it


def consumers_of_registrations(system) -> set[str]:
    return {name for name, runtime in system.runtimes.items()
            if SuggestionRegisteredV1 in getattr(runtime.consumers.get("intake"), "handlers", {})}
FORGED_N = 900001


def forged_event() -> dict:
    return {
        "event_id": f"intake:{FORGED_N}", "case_id": "2026-0001; DROP TABLE",
        "actor": {"username": "office", "role": "office"},
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "source_service": "intake", "source_notification_id": FORGED_N, "number": "2026-0999",
        "title": "伪造的建议", "category": "livelihood", "urgency": "blue",
        "lead_deputy_id": "deputy-999", "co_signer_ids": [],
    }


async def settled_positions(system, services) -> dict[str, int]:
    """Each service's last notification id once its start-up work (the registry's records and
    the accounts, replicated into its log) is done: unchanged for a second."""
    last: dict[str, int] = {}

    async def unchanged():
        nonlocal last
        now = {s: system.app(s).max_notification_id() for s in services}
        done, last = now == last, now
        if not done:
            await asyncio.sleep(1.0)
        return done and now

    return await eventually(unchanged, timeout=30)


async def test_a_forged_registration_published_as_intake_is_parked_everywhere_with_no_effect(
        system, fresh_nats):
    url = system.nats_url
    consumers = consumers_of_registrations(system)
    assert consumers >= set(CONSUMERS)
    before = await settled_positions(system, consumers)
    intake_url = with_credentials(fresh_nats.bare_url, "intake", nats_credentials_dir())
    nc = await nats.connect(intake_url)
    try:
        await nc.jetstream().publish(SuggestionRegisteredV1.subject(),
                                     json.dumps(forged_event()).encode(),
                                     headers={"Nats-Msg-Id": f"intake:{FORGED_N}"})
    finally:
        await nc.close()

    async def parked_by_all():
        parked = await list_parked(url)
        return {p.consumer: p for p in parked} if {p.consumer for p in parked} >= consumers \
            else None

    parked = await eventually(parked_by_all, timeout=30, interval=0.3)
    for service in sorted(consumers):
        entry = parked[service]
        assert entry.original_subject == SuggestionRegisteredV1.subject()
        assert entry.attempts == 1, (service, entry)  # at once, not after retries
        assert entry.error.startswith("invalid:"), entry.error
        assert "case_id '2026-0001; DROP TABLE'" in entry.error, entry.error
        assert "lead_deputy_id 'deputy-999': unknown deputy" in entry.error, entry.error
        stats = system.runtimes[service].consumers["intake"].stats
        assert stats.parked == 1 and stats.retried == 0, (service, vars(stats))
    assert len(await list_parked(url)) == len(consumers)  # once each

    # No effect anywhere: nothing recorded, nothing tracked, nothing to see.
    for service in sorted(consumers):
        app = system.app(service)
        assert app.max_notification_id() == before[service], service
        assert not app.is_tracked("intake", FORGED_N), service
    tasks = (await rpc(url, "supervision", "list_tasks", {"year": "all", "limit": 500}))["result"]
    assert tasks["items"] == []
    assignments = (await rpc(url, "assignment", "list_tasks", {"year": "all", "limit": 500}))
    assert assignments["result"]["items"] == []
    ranking = (await rpc(url, "points", "rankings", {"limit": 500}))["result"]
    assert "deputy-999" not in {r["deputy_id"] for r in ranking["rows"]}
    lines = (await rpc(url, "points", "ledger_lines", {"year": "all", "limit": 500}))["result"]
    assert lines["items"] == []


async def test_intake_identity_cannot_publish_as_assignment(fresh_nats):
    """The forged event above could only come from intake's identity: another service's
    subjects are refused to it (so a forged task_assigned needs assignment's credential)."""
    intake_url = with_credentials(fresh_nats.bare_url, "intake", nats_credentials_dir())
    if intake_url == fresh_nats.bare_url:
        pytest.skip("the run has no bus credentials")
    nc = await nats.connect(intake_url)
    try:
        with pytest.raises(Exception):
            await nc.jetstream().publish(TaskAssignedV1.subject(), b"{}", timeout=2)
    finally:
        await nc.close()


def _registered(**fields) -> SuggestionRegisteredV1:
    base = dict(event_id="intake:7", case_id="0b5e1f1e-8c1a-4d55-9a57-0c1f2d3e4f50",
                actor=ActorRef(username="office", role="office"),
                occurred_at=datetime(2026, 6, 1, tzinfo=timezone.utc), source_service="intake",
                source_notification_id=7, number="2026-0007", title="t", category="livelihood",
                urgency="blue", lead_deputy_id="deputy-1", co_signer_ids=["deputy-2"],
                station_id="station-fengjie")
    return SuggestionRegisteredV1(**{**base, **fields})


def test_the_validator_checks_envelope_ids_and_every_reference():
    validate = EventValidator.from_config(ServiceSettings())
    validate(_registered())  # a real one passes
    cases = {
        "event_id 'intake:8'": dict(event_id="intake:8"),
        "source_service 'points'": dict(source_service="points", event_id="points:7"),
        "case_id 'case-1'": dict(case_id="case-1"),
        "number '26-7'": dict(number="26-7"),
        "co_signer_ids 'ghost': unknown deputy": dict(co_signer_ids=["deputy-2", "ghost"]),
        "category 'weather': unknown category": dict(category="weather"),
        "station_id 'station-nowhere': unknown station": dict(station_id="station-nowhere"),
    }
    for expected, fields in cases.items():
        with pytest.raises(InvalidEvent) as caught:
            validate(_registered(**fields))
        assert expected in str(caught.value), (expected, str(caught.value))
    task = dict(event_id="assignment:3", case_id="0b5e1f1e-8c1a-4d55-9a57-0c1f2d3e4f50",
                actor=ActorRef(username="office", role="office"),
                occurred_at=datetime(2026, 6, 1, tzinfo=timezone.utc),
                source_service="assignment", source_notification_id=3,
                task_id="5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a", unit_id="unit-a", role="lead",
                assigned_at=datetime(2026, 6, 1, tzinfo=timezone.utc), deadline="2026-07-01",
                title="t", category="other", urgency="blue", number=None, case_kind="message")
    validate(TaskAssignedV1(**task))
    with pytest.raises(InvalidEvent, match="unit_id 'unit-z': unknown unit"):
        validate(TaskAssignedV1(**{**task, "unit_id": "unit-z"}))
    with pytest.raises(InvalidEvent, match="task_id 'T-1'"):
        validate(TaskAssignedV1(**{**task, "task_id": "T-1"}))

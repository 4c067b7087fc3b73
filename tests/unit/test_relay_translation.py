"""Relays translate a domain event into its published contracts from the event alone (issue
25): the events carry what their contracts need, so refactoring an aggregate cannot change
what goes on the wire. Only events stored before they carried it (class version 1, kept in
tests/data/stores/v1/) have it read from the store, and they are published exactly as before.

Every event is recorded by the service's application on a real SQLite store; the translation
with the repository's ``get`` refused is compared with the translation from the aggregate
(the relay's former way)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.assignment import bus as assignment_bus
from services.assignment.application import (AssignmentApplication, CaseAssignment,
                                             DesignateLeadership,
                                             PauseClock, ReassignTask, RefuseReturn,
                                             RequestReturn, ResumeClock)
from shared.clock import ManualClock
from shared.contracts.intake import (MessageForwardedV1, SuggestionRegisteredV1,
                                     SuggestionRegistrationReversedV1)
from shared.eventstore import Actor
from shared.outbox import envelope_for, translated
from shared.settings import ServiceSettings
from tests.data.stores import make_v1_stores as v1

OFFICE = Actor("office", "office")
STORES = Path(v1.__file__).resolve().parent / "v1"


class StoreRead(AssertionError):
    pass


def recorded(app: Any) -> list[tuple[int, Any]]:
    """Every domain event the application recorded, with its notification id."""
    out, start = [], 1
    while True:
        page = app.notification_log.select(start, 10)
        out += [(n.id, app.mapper.to_domain_event(n)) for n in page]
        if len(page) < 10:
            return out
        start = page[-1].id + 1


def published(translate: Any, app: Any, service: str,
              events: list[tuple[int, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The contracts published for the events, as they go on the wire."""
    return [(type(c).__name__, c.model_dump(mode="json"))
            for n, e in events
            for c in translated(translate, app, e, envelope_for(service, e, n))]


def without_store_reads(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every read of an aggregate fail; returns the list the attempts are noted in."""
    attempts: list[int] = []

    def refused(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        raise StoreRead("the relay read the store")

    monkeypatch.setattr(app.repository, "get", refused)
    return attempts


# --- assignment --------------------------------------------------------------------------

def upstream(case_id: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"intake:{n}", "case_id": case_id, "source_service": "intake",
            "source_notification_id": n, "occurred_at": v1.AT,
            "actor": {"username": "office", "role": "office"}, **fields}


@pytest.fixture
def assignment(tmp_path):
    settings = ServiceSettings(service_name="assignment", event_store="sqlite", var_dir=tmp_path)
    clock = ManualClock(v1.AT)
    app = AssignmentApplication(settings, clock=clock)
    yield app, clock
    app.close()


def assignment_history(app: AssignmentApplication, clock: ManualClock) -> None:
    """Every kind of event assignment publishes: a suggestion with a lead and a co-unit, a
    forwarded message, leadership, a return refused, a paused and resumed clock, a
    reassignment and a reversed registration."""
    def react(handler: Any, event: Any) -> None:
        app.save(*handler(event))

    react(app.on_suggestion_registered, SuggestionRegisteredV1(**upstream(
        "s1", 1, number="2026-0001", title="小区冬季暖气不热", category="livelihood",
        urgency="blue", lead_deputy_id="deputy-1")))
    react(app.on_message_forwarded, MessageForwardedV1(**upstream(
        "m1", 2, unit_id="unit-c", station_id="station-1", category="safety_hazard")))
    app.designate_leadership(DesignateLeadership(case_id="s1", designee_id="leader-1",
                                                 designee_kind="leader", mode="lead"), OFFICE)
    tasks = app.case_assignment(CaseAssignment(case_id="s1"), OFFICE)["tasks"]
    lead = next(t for t in tasks if t["role"] == "lead")
    co = next(t for t in tasks if t["role"] == "co")
    unit = Actor(lead["unit_id"], "unit", unit_id=lead["unit_id"])
    app.request_return(RequestReturn(task_id=lead["task_id"], reason="不属于本单位职责"), unit)
    app.refuse_return(RefuseReturn(task_id=lead["task_id"], reason="由贵单位牵头"), OFFICE)
    app.pause_clock(PauseClock(task_id=lead["task_id"], reason="等待代表补充材料"), OFFICE)
    clock.advance(timedelta(days=7))
    app.resume_clock(ResumeClock(task_id=lead["task_id"]), OFFICE)
    app.pause_clock(PauseClock(task_id=lead["task_id"], reason="再次等待材料"), OFFICE)
    app.reassign_task(ReassignTask(task_id=co["task_id"], unit_id="unit-d",
                                   reason="属于生态环境领域"), OFFICE)
    react(app.on_suggestion_registration_reversed, SuggestionRegistrationReversedV1(**upstream(
        "s1", 3, number="2026-0001", reason="重复提交", lead_deputy_id="deputy-1")))


def test_assignment_translates_its_events_without_reading_the_store(assignment, monkeypatch):
    app, clock = assignment
    assignment_history(app, clock)
    events = recorded(app)
    # the former way: each event's assignment or task read as it was right after it
    with monkeypatch.context() as patched:
        patched.setattr(assignment_bus, "carries_its_facts", lambda event: False)
        from_store = published(assignment_bus.translate, app, "assignment", events)
    attempts = without_store_reads(app, monkeypatch)
    from_events = published(assignment_bus.translate, app, "assignment", events)
    assert attempts == []
    assert from_events == from_store
    names = {name for name, _ in from_events}
    assert names == {f"{n}V{v}" for v in (1, 2) for n in (
        "SuggestionAssigned", "TaskAssigned", "LeadershipDesignated", "TaskReturnRequested",
        "TaskReturnRefused", "TaskDeadlineChanged", "TaskWithdrawn")} - {"LeadershipDesignatedV2"}
    # the facts are the recorded ones: a resumed clock moves the deadline on, v2s carry
    # the leadership in force
    changed = [c for name, c in from_events if name == "TaskDeadlineChangedV2"]
    assert [c["paused"] for c in changed] == [True, False, True]
    assert changed[1]["deadline"] > changed[0]["deadline"] == "2026-06-02"
    assert all(c["leadership"]["designee_id"] == "leader-1" for c in changed)
    message = [c for name, c in from_events
               if name == "TaskAssignedV1" and c["case_id"] == "m1"]
    assert [m["case_kind"] for m in message] == ["message"]


@pytest.fixture
def old_assignment_store(tmp_path):
    shutil.copy(STORES / "assignment.sqlite", tmp_path / "assignment.sqlite")
    settings = ServiceSettings(service_name="assignment", event_store="sqlite", var_dir=tmp_path)
    app = AssignmentApplication(settings, clock=ManualClock(v1.AT.replace(day=10)))
    yield app
    app.close()


def test_old_assignment_events_are_published_as_before_reading_the_store(old_assignment_store,
                                                                       monkeypatch):
    """The v1 store's events lack the facts (the upcast cannot invent them): the relay reads
    their aggregate, and publishes what main published before the events carried them
    (assignment-published.json, written by that code from the same store)."""
    app = old_assignment_store
    events = recorded(app)
    before = json.loads((STORES / "assignment-published.json").read_text())
    assert published(assignment_bus.translate, app, "assignment", events) == [
        tuple(c) for c in before]
    # the read is only for them, and it is needed
    old = [(n, e) for n, e in events if isinstance(e, assignment_bus.PUBLISHED)
           and not isinstance(e, assignment_bus.Task.Assigned)]
    assert old and not any(assignment_bus.carries_its_facts(e) for _, e in old)
    without_store_reads(app, monkeypatch)
    with pytest.raises(StoreRead):
        published(assignment_bus.translate, app, "assignment", old[:1])

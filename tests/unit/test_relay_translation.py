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
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from eventsourcing.utils import resolve_topic

from services.assignment import bus as assignment_bus
from services.assignment.application import (AssignmentApplication, CaseAssignment,
                                             DesignateLeadership,
                                             PauseClock, ReassignTask, RefuseReturn,
                                             RequestReturn, ResumeClock)
from services.points import bus as points_bus
from services.points.application import PointsApplication
from services.points.domain import Activity, DutyLedger
from services.supervision import bus as supervision_bus
from services.supervision.application import (CaseRef, RateCase, RecordReview, ReplyToTask,
                                              SubmitOpinion, SupervisionApplication, TaskNote,
                                              TaskRef)
from services.supervision.domain import Published
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.assignment import LeadershipDesignatedV1, TaskAssignedV1
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


# --- supervision -------------------------------------------------------------------------

SUPERVISED_CASE = str(uuid5(NAMESPACE_URL, "relay-translation-case"))
LEAD = str(uuid5(NAMESPACE_URL, "relay-translation-lead"))
CO = str(uuid5(NAMESPACE_URL, "relay-translation-co"))
UNIT_A = Actor("unit-a", "unit", unit_id="unit-a")
UNIT_C = Actor("unit-c", "unit", unit_id="unit-c")
DEPUTY_1 = Actor("deputy-1", "deputy", deputy_id="deputy-1")


def on_day(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(),
                            CHINA_TZ).replace(hour=10)


@pytest.fixture
def supervision(tmp_path):
    settings = ServiceSettings(service_name="supervision", event_store="sqlite",
                               var_dir=tmp_path)
    clock = ManualClock(on_day("2026-03-02"))
    app = SupervisionApplication(settings, clock=clock)
    yield app, clock, settings
    app.close()


def supervision_history(app: SupervisionApplication, clock: ManualClock) -> None:
    """Every kind of event supervision publishes: tasks opened, signed for, an opinion,
    warnings and an escalation, replies (one of class B: a follow-up review), ratings that
    reopen the case until the cap escalates it, a lapsed rating, the review and close-out,
    under a designated leader."""
    n = iter(range(1, 100))

    def env(producer: str = "assignment") -> dict[str, Any]:
        return {"event_id": f"{producer}:{next(n)}", "case_id": SUPERVISED_CASE,
                "source_service": producer, "source_notification_id": next(n),
                "occurred_at": clock.now(), "actor": {"username": "office", "role": "office"}}

    def react(handler: Any, event: Any) -> None:
        app.save(*handler(event))

    react(app.on_suggestion_registered, SuggestionRegisteredV1(
        **env("intake"), number="2026-0001", title="老旧小区加装电梯", category="livelihood",
        urgency="blue", lead_deputy_id="deputy-1", co_signer_ids=["deputy-2"]))
    for task_id, unit, role, deadline in ((LEAD, "unit-a", "lead", date(2026, 4, 30)),
                                          (CO, "unit-c", "co", date(2026, 4, 23))):
        react(app.on_task_assigned, TaskAssignedV1(
            **env(), task_id=task_id, unit_id=unit, role=role, assigned_at=clock.now(),
            deadline=deadline, title="老旧小区加装电梯", category="livelihood", urgency="blue"))
    react(app.on_leadership_designated, LeadershipDesignatedV1(
        **env(), designee_id="leader-1", designee_name="常委会副主任", designee_kind="leader",
        mode="supervise"))
    app.acknowledge(TaskRef(task_id=LEAD), UNIT_A)
    app.submit_opinion(SubmitOpinion(task_id=CO, text="同意牵头单位意见"), UNIT_C)
    for day in ("2026-04-24", "2026-05-06", "2026-05-20"):  # yellow, red, escalated
        clock.set(on_day(day))
        app.sweep([LEAD], [])
    app.record_contact(TaskNote(task_id=LEAD, note="已电话联系王代表"), UNIT_A)
    app.reply(ReplyToTask(task_id=LEAD, result_class="B", text="列入计划",
                          commitment_date=date(2026, 6, 30)), UNIT_A)
    for round_ in (2, 3, 4):  # two re-handling rounds, then the cap escalates the case
        clock.advance(timedelta(days=1))
        app.rate(RateCase(case_id=SUPERVISED_CASE, rating="unsatisfied", comment="仍未落实"),
                 DEPUTY_1)
        if round_ < 4:
            app.record_contact(TaskNote(task_id=LEAD, note="再次联系"), UNIT_A)
            app.reply(ReplyToTask(task_id=LEAD, result_class="A", text="已加装完成"), UNIT_A)
    clock.advance(timedelta(days=45))  # deputy-2 never rated: the sweep records the lapse
    app.sweep([], [SUPERVISED_CASE])
    for review in app.get_case(CaseRef(case_id=SUPERVISED_CASE), OFFICE)["follow_up_reviews"]:
        if review["outcome"] is None:
            app.record_review(RecordReview(case_id=SUPERVISED_CASE,
                                           review_id=review["review_id"], outcome="kept",
                                           note="已兑现"), OFFICE)
    app.close_case(CaseRef(case_id=SUPERVISED_CASE), OFFICE)


SUPERVISION_CONTRACTS = {"TaskOpened", "TaskSignedFor", "CoOpinionSubmitted",
                         "DeadlineWarning", "CaseEscalated", "ReplySubmitted",
                         "SuggestionRated", "RehandlingStarted", "FollowUpReviewScheduled",
                         "FollowUpReviewRecorded", "RatingLapsed", "CaseClosed"}


def test_supervision_translates_its_events_without_reading_the_store(supervision, monkeypatch):
    app, clock, _ = supervision
    supervision_history(app, clock)
    events = recorded(app)
    with monkeypatch.context() as patched:  # the former way: the task or case as recorded
        patched.setattr(Published, "recorded_as_version", 1)
        from_store = published(supervision_bus.translate, app, "supervision", events)
    attempts = without_store_reads(app, monkeypatch)
    from_events = published(supervision_bus.translate, app, "supervision", events)
    assert attempts == []
    assert from_events == from_store
    assert {name.rsplit("V", 1)[0] for name, _ in from_events} == SUPERVISION_CONTRACTS
    closed = [c for name, c in from_events if name == "CaseClosedV2"]
    assert [(c["rounds"], c["lead_deputy_id"], c["co_signer_ids"]) for c in closed] == [
        (3, "deputy-1", ["deputy-2"])]
    assert closed[0]["leadership"]["designee_id"] == "leader-1"
    [opinion] = [c for name, c in from_events if name == "CoOpinionSubmittedV1"]
    assert (opinion["unit_id"], opinion["on_time"]) == ("unit-c", True)


def test_supervision_events_of_the_old_shape_are_published_as_before(supervision, tmp_path,
                                                                   monkeypatch):
    """Events stored before they carried their contracts' facts (the same events with those
    fields and the class version taken out, as version 1 wrote them) are upcast, have the
    facts read from the store, and publish exactly what the new events publish."""
    app, clock, settings = supervision
    supervision_history(app, clock)
    expected = published(supervision_bus.translate, app, "supervision", recorded(app))
    app.close()
    added = {"OpinionSubmitted": {"unit_id", "on_time"},
             "Closed": {"case_kind", "lead_deputy_id", "co_signer_ids", "rounds"}}
    with sqlite3.connect(tmp_path / "supervision.sqlite") as db:
        rows = db.execute("SELECT rowid, topic, state FROM stored_events").fetchall()
        old = 0
        for rowid, topic, state in rows:
            cls = resolve_topic(topic)
            if issubclass(cls, Published):
                taken_out = {"leadership", "class_version", *added.get(cls.__name__, ())}
                kept = {k: v for k, v in json.loads(state).items() if k not in taken_out}
                db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                           (json.dumps(kept).encode(), rowid))
                old += 1
    assert old > 10
    reopened = SupervisionApplication(settings, clock=clock)
    try:
        events = recorded(reopened)
        assert all(e.recorded_as_version == 1 for _, e in events if isinstance(e, Published))
        assert published(supervision_bus.translate, reopened, "supervision", events) == expected
        without_store_reads(reopened, monkeypatch)  # and for them only, the read is needed
        with pytest.raises(StoreRead):
            published(supervision_bus.translate, reopened, "supervision",
                      [(n, e) for n, e in events if isinstance(e, Published)][:1])
    finally:
        reopened.close()


# --- points ------------------------------------------------------------------------------

def without_ledger_owner(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make reading a ledger's first event for its deputy and year fail (noted)."""
    attempts: list[int] = []

    def refused(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        raise StoreRead("the relay read the ledger's first event")

    monkeypatch.setattr(app, "ledger_owner", refused)
    return attempts


def points_history(app: PointsApplication) -> None:
    """An award revoked, an activity approved and one rejected."""
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    ledger.award(points=2.0, cause_kind="suggestion_registered", cause_ref="case-1",
                 case_id="case-1", rule_version="2026.1", awarded_at=v1.AT)
    ledger.award(points=1.0, cause_kind="activity_approved", cause_ref="activity-x",
                 case_id=None, rule_version="2026.1", awarded_at=v1.AT)
    ledger.revoke_line(1, reason="撤销立案", revoked_at=v1.AT)
    ledger.revoke_line(2, reason="登记有误", revoked_at=v1.AT)
    approved = Activity(deputy_id="deputy-1", kind="survey", on=date(2026, 2, 27),
                        description="调研", evidence=None, submitted_by="deputy-1",
                        submitted_at=v1.AT)
    approved.approve(reviewed_by="office", reviewed_at=v1.AT, points=1.5,
                     rule_version="2026.1", capped_by=None, line_no=3)
    rejected = Activity(deputy_id="deputy-2", kind="training", on=date(2026, 2, 28),
                        description="培训", evidence=None, submitted_by="deputy-2",
                        submitted_at=v1.AT)
    rejected.reject(reviewed_by="office", reviewed_at=v1.AT, reason="无证明材料")
    app.save(ledger, approved, rejected)


def test_points_translates_revocations_and_reviews_from_the_event(tmp_path, monkeypatch):
    """Revocations carry the revoked line's cause and reviews the activity's deputy, kind and
    date; the same events in the old shape (those fields and the class version taken out)
    have them read from the store and publish the same contracts."""
    settings = ServiceSettings(service_name="points", event_store="sqlite", var_dir=tmp_path)
    app = PointsApplication(settings, clock=ManualClock(v1.AT))
    try:
        points_history(app)
        events = recorded(app)
        attempts = without_store_reads(app, monkeypatch)
        owners = without_ledger_owner(app, monkeypatch)
        from_events = published(points_bus.translate, app, "points", events)
        assert attempts == [] and owners == []
    finally:
        app.close()
    assert sorted(name for name, _ in from_events) == sorted(
        ["PointsAwardedV1"] * 2 + ["PointsRevokedV1"] * 2 + ["ActivityReviewedV1"] * 2)
    revoked = [c for name, c in from_events if name == "PointsRevokedV1"]
    assert [(c["cause_ref"], c["case_id"]) for c in revoked] == [
        ("case-1", "case-1"), ("activity-x", "activity-x")]
    reviewed = [c for name, c in from_events if name == "ActivityReviewedV1"]
    assert [(c["deputy_id"], c["kind"], c["activity_date"], c["decision"], c["points"],
             c["reason"]) for c in reviewed] == [
        ("deputy-1", "survey", "2026-02-27", "approved", 1.5, None),
        ("deputy-2", "training", "2026-02-28", "rejected", None, "无证明材料")]

    assert {(c["deputy_id"], c["year"]) for name, c in from_events
            if name in ("PointsAwardedV1", "PointsRevokedV1")} == {("deputy-1", 2026)}

    taken_out = {"PointsAwarded": {"deputy_id", "year"},
                 "PointsRevoked": {"cause_ref", "deputy_id", "year"},
                 "Approved": {"deputy_id", "kind", "on"},
                 "Rejected": {"deputy_id", "kind", "on"}}
    with sqlite3.connect(tmp_path / "points.sqlite") as db:
        for rowid, topic, state in db.execute(
                "SELECT rowid, topic, state FROM stored_events").fetchall():
            fields = taken_out.get(resolve_topic(topic).__name__)
            if fields:
                kept = {k: v for k, v in json.loads(state).items()
                        if k not in fields and k != "class_version"}
                db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                           (json.dumps(kept).encode(), rowid))
    old = PointsApplication(settings, clock=ManualClock(v1.AT))
    try:
        events = recorded(old)
        assert published(points_bus.translate, old, "points", events) == from_events
        without_store_reads(old, monkeypatch)
        with pytest.raises(StoreRead):
            published(points_bus.translate, old, "points",
                      [(n, e) for n, e in events if isinstance(e, Activity.Approved)])
    finally:
        old.close()


# --- intake ------------------------------------------------------------------------------

INTAKE_CONTRACTS = {"SuggestionSubmitted", "SuggestionRegistered", "SuggestionDeclined",
                    "SuggestionRegistrationReversed", "SuggestionMerged",
                    "SuggestionMergeUndone", "CitizenMessageReceived", "MessageClaimed",
                    "MessageAnswered", "MessageRated", "MessageConverted", "MessageForwarded"}


@pytest.fixture
def intake(tmp_path):
    from services.intake.application import IntakeApplication

    settings = ServiceSettings(service_name="intake", event_store="sqlite", var_dir=tmp_path)
    app = IntakeApplication(settings, clock=ManualClock(v1.AT))
    yield app, settings
    app.close()


def intake_history(app: Any) -> None:
    """Every kind of event intake publishes from facts of its aggregate: a suggestion
    registered, its registration reversed, merged and the merge undone; one declined; three
    citizen messages claimed, then answered and rated, converted, forwarded and rated."""
    from services.intake.domain import CitizenMessage, Suggestion

    def suggestion(lead: str, co: list[str]) -> Suggestion:
        return Suggestion(title="背街小巷路灯不亮", body="晚上出行不便", category="livelihood",
                          lead_deputy_id=lead, co_signer_ids=co, station_id="station-fengjie",
                          submitted_at=v1.AT)

    a, b, c = suggestion("deputy-1", ["deputy-2"]), suggestion("deputy-3", []), \
        suggestion("deputy-2", ["deputy-1"])
    a.register(number="2026-0001", category="livelihood", urgency="blue", registered_at=v1.AT)
    a.reverse_registration("误立案", v1.AT)
    a.register(number="2026-0002", category="livelihood", urgency="red", registered_at=v1.AT)
    a.merge_into(str(c.id), merged_at=v1.AT, score=0.9)
    c.source_merged(str(a.id), merged_at=v1.AT)
    a.undo_merge("不是同一事项", v1.AT)
    c.source_unmerged(str(a.id), "不是同一事项", v1.AT)
    b.decline("属于个人诉求", v1.AT)
    messages = []
    for how in ("answer", "convert", "forward"):
        m = CitizenMessage(station_id="station-fengjie", grid=None, content=None,
                           category="ecology", follow_up_token_hash="h", personal_data_ref="s",
                           personal_data=None, received_at=v1.AT, sealed_content="sealed")
        m.claim("deputy-1", claimed_at=v1.AT, time_limit=timedelta(hours=24))
        if how == "answer":
            m.answer_directly("deputy-1", "已转告社区处理", v1.AT)
        elif how == "convert":
            m.convert("deputy-1", str(c.id), v1.AT)
        else:
            m.forward("unit-c", v1.AT, by_deputy="deputy-1")
            m.record_feedback("unit-c", "A", None, 1, v1.AT, "supervision:1")
        if how != "convert":
            m.rate("satisfied", v1.AT)
        messages.append(m)
    app.save(a, b, c, *messages)


def test_intake_translates_its_events_without_reading_the_store(intake, monkeypatch):
    from services.intake import bus as intake_bus
    from services.intake.domain import Published as IntakePublished

    app, _ = intake
    intake_history(app)
    events = recorded(app)
    with monkeypatch.context() as patched:  # the former way: the aggregate as recorded
        patched.setattr(IntakePublished, "recorded_as_version", 1)
        from_store = published(intake_bus.translate, app, "intake", events)
    attempts = without_store_reads(app, monkeypatch)
    from_events = published(intake_bus.translate, app, "intake", events)
    assert attempts == []
    assert from_events == from_store
    assert {name.rsplit("V", 1)[0] for name, _ in from_events} == INTAKE_CONTRACTS
    registered = [c for name, c in from_events if name == "SuggestionRegisteredV1"]
    assert [(c["number"], c["lead_deputy_id"], c["co_signer_ids"], c["station_id"])
            for c in registered] == [("2026-0001", "deputy-1", ["deputy-2"], "station-fengjie"),
                                     ("2026-0002", "deputy-1", ["deputy-2"], "station-fengjie")]
    [merged] = [c for name, c in from_events if name == "SuggestionMergedV1"]
    assert merged["source_number"] == "2026-0002"
    rated = sorted(c["handled_by"] for name, c in from_events if name == "MessageRatedV1")
    assert rated == ["deputy", "unit"]


def test_intake_events_of_the_old_shape_are_published_as_before(intake, monkeypatch):
    """Events stored before they carried their contracts' facts (those fields and the class
    version taken out, as version 1 wrote them) are upcast, have the facts read from the
    store, and publish exactly what the new events publish."""
    from services.intake import bus as intake_bus
    from services.intake.application import IntakeApplication
    from services.intake.domain import Published as IntakePublished

    app, settings = intake
    intake_history(app)
    expected = published(intake_bus.translate, app, "intake", recorded(app))
    app.close()
    added = {"Registered": {"title", "lead_deputy_id", "co_signer_ids", "station_id"},
             "Declined": {"lead_deputy_id"},
             "RegistrationReversed": {"lead_deputy_id", "co_signer_ids"},
             "MergedInto": {"lead_deputy_id", "co_signer_ids", "number"},
             "MergeUndone": {"lead_deputy_id", "co_signer_ids"},
             "Claimed": {"station_id"}, "Answered": {"station_id"},
             "Converted": {"station_id"}, "Forwarded": {"station_id", "category"},
             "Rated": {"station_id", "handled_by", "claimed_by"}}
    with sqlite3.connect(settings.var_dir / "intake.sqlite") as db:
        rows = db.execute("SELECT rowid, topic, state FROM stored_events").fetchall()
        old = 0
        for rowid, topic, state in rows:
            cls = resolve_topic(topic)
            if issubclass(cls, IntakePublished):
                taken_out = {"class_version", *added[cls.__name__]}
                kept = {k: v for k, v in json.loads(state).items() if k not in taken_out}
                db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                           (json.dumps(kept).encode(), rowid))
                old += 1
    assert old >= 14
    reopened = IntakeApplication(settings, clock=ManualClock(v1.AT))
    try:
        events = recorded(reopened)
        assert all(e.recorded_as_version == 1 for _, e in events
                   if isinstance(e, IntakePublished))
        assert published(intake_bus.translate, reopened, "intake", events) == expected
        without_store_reads(reopened, monkeypatch)  # and for them only, the read is needed
        with pytest.raises(StoreRead):
            published(intake_bus.translate, reopened, "intake",
                      [(n, e) for n, e in events if isinstance(e, IntakePublished)][:1])
    finally:
        reopened.close()

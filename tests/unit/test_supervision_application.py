"""Supervision: the application's commands, reactions and deadline sweep on a real SQLite
store, no NATS (reactions are called directly, as the runtime's consumer would, and what
they return is saved). The rules a user notices: contact before replying, one reply per
round, who rates and when ratings are final, re-handling and its cap, follow-up reviews,
close-out, warnings and escalation on the working-day clock, a paused or withdrawn task."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta
from itertools import count
from uuid import NAMESPACE_URL, uuid5

import pytest

from services.supervision.application import (
    CaseRef,
    RateCase,
    RecordReview,
    ReplyToTask,
    SubmitOpinion,
    SupervisionApplication,
    TaskNote,
    TaskRef,
)
from services.supervision.errors import AlreadyDone, CannotCloseOut, ContactFirst, RuleViolation
from services.supervision.read_models import SupervisionViews
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.assignment import (
    LeadershipDesignatedV1,
    TaskAssignedV1,
    TaskDeadlineChangedV1,
    TaskWithdrawnV1,
)
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import Actor
from shared.read_store import ReadModels, ViewStore
from shared.rpc import Conflict, Forbidden, Invalid
from shared.runtime import refusal_reply
from shared.settings import ServiceSettings

OFFICE = Actor("office", "office")
UNIT_A = Actor("unit-a", "unit", unit_id="unit-a")
UNIT_C = Actor("unit-c", "unit", unit_id="unit-c")
DEPUTY_1 = Actor("deputy-1", "deputy", deputy_id="deputy-1")
DEPUTY_2 = Actor("deputy-2", "deputy", deputy_id="deputy-2")
DEPUTY_9 = Actor("deputy-9", "deputy", deputy_id="deputy-9")
DEADLINE = date(2026, 4, 30)  # a Thursday
positions = count(1)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CHINA_TZ).replace(hour=hour)


CASE = str(uuid5(NAMESPACE_URL, "supervision-app-case"))
LEAD = str(uuid5(NAMESPACE_URL, "supervision-app-lead"))
CO = str(uuid5(NAMESPACE_URL, "supervision-app-co"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at("2026-03-02"))


@pytest.fixture
def app(tmp_path, clock):
    settings = ServiceSettings(service_name="supervision", event_store="sqlite", var_dir=tmp_path)
    application = SupervisionApplication(settings, clock=clock)
    application.read_store = ViewStore(settings)  # as the runtime's builder gives it
    views = SupervisionViews(application, application.read_store)
    ReadModels(application, views.store, [views]).start()
    yield application
    application.close()


def envelope(producer: str = "assignment", day: str = "2026-03-02") -> dict:
    n = next(positions)
    return {"event_id": f"{producer}:{n}", "case_id": CASE, "source_service": producer,
            "source_notification_id": n, "occurred_at": at(day),
            "actor": {"username": "office", "role": "office"}}


def react(app, handler, event) -> list:
    changed = handler(event)
    app.save(*changed)
    return changed


def open_case(app, co_unit: bool = False, co_signers: tuple = ("deputy-2",)) -> None:
    react(app, app.on_suggestion_registered, SuggestionRegisteredV1(
        **envelope("intake"), number="2026-0001", title="老旧小区加装电梯", category="livelihood",
        urgency="blue", lead_deputy_id="deputy-1", co_signer_ids=list(co_signers)))
    react(app, app.on_task_assigned, TaskAssignedV1(
        **envelope(), task_id=LEAD, unit_id="unit-a", role="lead", assigned_at=at("2026-03-02"),
        deadline=DEADLINE, title="老旧小区加装电梯", category="livelihood", urgency="blue"))
    if co_unit:
        react(app, app.on_task_assigned, TaskAssignedV1(
            **envelope(), task_id=CO, unit_id="unit-c", role="co", assigned_at=at("2026-03-02"),
            deadline=date(2026, 4, 23), title="老旧小区加装电梯", category="livelihood",
            urgency="blue"))


def reply(app, klass: str = "A", **extra) -> dict:
    app.record_contact(TaskNote(task_id=LEAD, note="已电话联系王代表"), UNIT_A)
    return app.reply(ReplyToTask(task_id=LEAD, result_class=klass, text="已加装完成", **extra),
                     UNIT_A)


def case(app) -> dict:
    return app.get_case(CaseRef(case_id=CASE), OFFICE)


def task(app, task_id: str = LEAD) -> dict:
    return app.get_task(TaskRef(task_id=task_id), OFFICE)


# --- handling -----------------------------------------------------------------------------

def test_a_unit_contacts_the_deputy_before_it_replies_once_per_round(app):
    open_case(app)
    with pytest.raises(ContactFirst, match="办前联系") as refused:
        app.reply(ReplyToTask(task_id=LEAD, result_class="A", text="已完成"), UNIT_A)
    assert refusal_reply(refused.value).status == 409
    app.acknowledge(TaskRef(task_id=LEAD), UNIT_A)
    with pytest.raises(AlreadyDone, match="signed for"):
        app.acknowledge(TaskRef(task_id=LEAD), UNIT_A)
    replied = reply(app)
    assert replied["status"] == "replied" and replied["replies"][0]["result_class"] == "A"
    with pytest.raises(AlreadyDone, match="already replied to in round 1"):
        app.reply(ReplyToTask(task_id=LEAD, result_class="B", text="x",
                              commitment_date=date(2026, 6, 30)), UNIT_A)
    assert case(app)["reply"]["result_class"] == "A"


def test_a_co_unit_sends_its_opinion_once_and_does_not_reply(app):
    open_case(app, co_unit=True)
    with pytest.raises(RuleViolation, match="sends its opinion"):
        app.reply(ReplyToTask(task_id=CO, result_class="A", text="x"), UNIT_C)
    app.submit_opinion(SubmitOpinion(task_id=CO, text="同意牵头单位意见"), UNIT_C)
    with pytest.raises(AlreadyDone, match="opinion was already sent"):
        app.submit_opinion(SubmitOpinion(task_id=CO, text="again"), UNIT_C)
    with pytest.raises(RuleViolation, match="lead unit replies"):
        app.submit_opinion(SubmitOpinion(task_id=LEAD, text="x"), UNIT_A)


def test_a_class_b_reply_needs_a_commitment_date_not_in_the_past_and_schedules_a_review(app):
    open_case(app)
    app.record_contact(TaskNote(task_id=LEAD, note="已联系"), UNIT_A)
    with pytest.raises(Invalid) as invalid:
        app.reply(ReplyToTask(task_id=LEAD, result_class="B", text="列入计划",
                              commitment_date=date(2026, 3, 1)), UNIT_A)
    assert invalid.value.errors[0]["loc"] == ["body", "commitment_date"]
    app.reply(ReplyToTask(task_id=LEAD, result_class="B", text="列入计划",
                          commitment_date=date(2026, 9, 30)), UNIT_A)
    [review] = case(app)["follow_up_reviews"]
    assert (review["due_on"], review["reason"]) == ("2026-09-30", "class_b_commitment")


# --- rating, re-handling, close-out -------------------------------------------------------

def test_only_the_suggestions_deputies_rate_and_each_once_per_round(app):
    open_case(app)
    with pytest.raises(RuleViolation, match="no reply to rate"):
        app.rate(RateCase(case_id=CASE, rating="satisfied"), DEPUTY_1)
    reply(app)
    with pytest.raises(Forbidden):
        app.rate(RateCase(case_id=CASE, rating="satisfied"), DEPUTY_9)
    app.rate(RateCase(case_id=CASE, rating="satisfied"), DEPUTY_1)
    with pytest.raises(AlreadyDone, match="already rated round 1"):
        app.rate(RateCase(case_id=CASE, rating="unsatisfied"), DEPUTY_1)


def test_the_handling_attitude_is_rated_beside_the_result_and_reopens_nothing(app):
    open_case(app, co_signers=())
    reply(app)
    app.rate(RateCase(case_id=CASE, rating="satisfied", attitude="unsatisfied",
                      comment="答复内容可以，但联系不及时"), DEPUTY_1)
    [rating] = case(app)["ratings"]
    assert (rating["rating"], rating["attitude"]) == ("satisfied", "unsatisfied")
    assert task(app)["status"] == "replied"  # the result decides re-handling, not the attitude
    assert case(app)["rehandling_rounds"] == []


def test_a_rating_stored_before_the_attitude_was_asked_reads_as_none(app, clock, tmp_path):
    open_case(app, co_signers=())
    reply(app)
    app.rate(RateCase(case_id=CASE, rating="basically_satisfied", attitude="satisfied"),
             DEPUTY_1)
    app.close()
    with sqlite3.connect(tmp_path / "supervision.sqlite") as db:  # as version 2 wrote it
        [(rowid, state)] = db.execute("SELECT rowid, state FROM stored_events "
                                      "WHERE topic LIKE '%SupervisedCase.Rated'").fetchall()
        old = {k: v for k, v in json.loads(state).items() if k != "attitude"}
        assert old.pop("class_version") == 3
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                   (json.dumps({**old, "class_version": 2}).encode(), rowid))
    settings = ServiceSettings(service_name="supervision", event_store="sqlite",
                               var_dir=tmp_path)
    reopened = SupervisionApplication(settings, clock=clock)
    try:
        [rating] = reopened.get_case(CaseRef(case_id=CASE), OFFICE)["ratings"]
        assert (rating["rating"], rating["attitude"]) == ("basically_satisfied", None)
    finally:
        reopened.close()


def test_an_unsatisfied_rating_reopens_the_lead_task_until_the_cap_then_escalates(app, clock):
    open_case(app, co_signers=())
    # 20 working days from the day it reopens: rated on 3 and 4 March
    for round_, deadline in ((2, "2026-03-31"), (3, "2026-04-01")):
        reply(app)
        clock.advance(timedelta(days=1))
        app.rate(RateCase(case_id=CASE, rating="unsatisfied", comment="电梯仍未安装"), DEPUTY_1)
        reopened = task(app)
        assert (reopened["status"], reopened["round"]) == ("open", round_)
        assert reopened["deadline"] == deadline
    reply(app)
    app.rate(RateCase(case_id=CASE, rating="unsatisfied"), DEPUTY_1)
    shown = case(app)
    assert [r["round"] for r in shown["rehandling_rounds"]] == [2, 3]
    assert task(app)["status"] == "replied"  # not reopened a third time
    assert shown["escalations"][-1]["reason"] == "rehandling_cap"
    assert shown["escalations"][-1]["escalated_to"] == "office"


def test_close_out_needs_every_rating_and_then_ratings_are_final(app, clock):
    open_case(app)
    reply(app)
    app.rate(RateCase(case_id=CASE, rating="satisfied"), DEPUTY_1)
    with pytest.raises(Conflict, match="deputy-2") as missing:  # the co-signer has not rated
        app.close_case(CaseRef(case_id=CASE), OFFICE)
    assert missing.value.errors and missing.value.errors[0]["loc"][0] == "case"
    clock.advance(timedelta(days=31))  # the rating period ends: the sweep records the lapse
    assert app.sweep([], [CASE]) == 1 and app.sweep([], [CASE]) == 0
    closed = app.close_case(CaseRef(case_id=CASE), OFFICE)
    assert closed["status"] == "closed" and closed["closed_on"] == "2026-04-02"
    assert task(app)["status"] == "closed"
    with pytest.raises(RuleViolation, match="ratings are final"):
        app.rate(RateCase(case_id=CASE, rating="unsatisfied"), DEPUTY_2)
    with pytest.raises((AlreadyDone, CannotCloseOut)):
        app.close_case(CaseRef(case_id=CASE), OFFICE)


def test_a_follow_up_review_not_kept_reopens_the_case(app):
    open_case(app, co_signers=())
    reply(app)
    app.rate(RateCase(case_id=CASE, rating="basically_satisfied"), DEPUTY_1)
    [review] = case(app)["follow_up_reviews"]
    assert review["due_on"] == "2026-05-31"  # 90 days after the rating
    app.record_review(RecordReview(case_id=CASE, review_id=review["review_id"],
                                   outcome="not_kept", note="承诺未兑现"), OFFICE)
    assert (task(app)["status"], task(app)["round"]) == ("open", 2)
    with pytest.raises(AlreadyDone, match="already recorded"):
        app.record_review(RecordReview(case_id=CASE, review_id=review["review_id"],
                                       outcome="kept", note="x"), OFFICE)


# --- the working-day clock ----------------------------------------------------------------

def test_warnings_and_escalation_follow_the_deadline_once_each(app, clock):
    open_case(app)
    clock.set(at("2026-04-22"))  # six working days before 30 April (1 May is a holiday)
    assert app.sweep([LEAD], []) == 0 and task(app)["warnings"] == []
    clock.set(at("2026-04-24"))  # within five working days
    assert app.sweep([LEAD], []) == 1 and app.sweep([LEAD], []) == 0
    assert task(app)["warnings"] == [f"yellow@{DEADLINE.isoformat()}"]
    clock.set(at("2026-05-06"))  # overdue
    app.sweep([LEAD], [])
    assert f"red@{DEADLINE.isoformat()}" in task(app)["warnings"]
    assert not task(app)["escalated"]
    clock.set(at("2026-05-20"))  # overdue by more than five working days
    app.sweep([LEAD], [])
    shown = task(app)
    assert shown["escalated"] and shown["escalated_to"] == "office"


def test_an_escalation_goes_to_the_designated_leader(app, clock):
    open_case(app)
    react(app, app.on_leadership_designated, LeadershipDesignatedV1(
        **envelope(), designee_id="leader-1", designee_name="常委会副主任",
        designee_kind="leader", mode="supervise"))
    clock.set(at("2026-05-20"))
    app.sweep([LEAD], [])
    assert task(app)["escalated_to"] == "leader-1"


def test_a_paused_task_gets_no_warning_and_a_withdrawn_one_takes_no_reply(app, clock):
    open_case(app)
    react(app, app.on_task_deadline_changed, TaskDeadlineChangedV1(
        **envelope(), task_id=LEAD, unit_id="unit-a", paused=True, deadline=DEADLINE,
        reason="等待代表补充材料"))
    clock.set(at("2026-05-20"))
    assert app.sweep([LEAD], []) == 0 and task(app)["paused"] is True
    react(app, app.on_task_withdrawn, TaskWithdrawnV1(
        **envelope(), task_id=LEAD, unit_id="unit-a", reason="改办", replaced_by_task_id=CO))
    with pytest.raises(RuleViolation, match="withdrawn"):
        app.record_contact(TaskNote(task_id=LEAD, note="已联系"), UNIT_A)

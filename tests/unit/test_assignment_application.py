"""Assignment: the application's commands and upstream reactions on a real SQLite store, no
NATS (reactions are called directly, as the runtime's consumer would, and what they return
is saved). The rules a user notices: who gets a case and when it is due, return requests
and reassignment, the paused clock, the task's handling state, reversal, leadership."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

import pytest

from services.assignment.application import (
    AssignmentApplication,
    AssignSuggestion,
    CaseAssignment,
    DesignateLeadership,
    GetTask,
    PauseClock,
    ReassignTask,
    RefuseReturn,
    RequestReturn,
    ResumeClock,
)
from services.assignment.errors import AlreadyDone, AssignmentRefusal, NotAllowedInState
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.intake import (
    MessageForwardedV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
)
from shared.contracts.supervision import CaseClosedV1, RehandlingStartedV1, ReplySubmittedV1
from shared.eventstore import Actor
from shared.rpc import Conflict, Invalid, NotFound
from shared.runtime import refusal_reply
from shared.settings import ServiceSettings

OFFICE = Actor("office", "office")
UNIT_A = Actor("unit-a", "unit", unit_id="unit-a")
UNIT_B = Actor("unit-b", "unit", unit_id="unit-b")
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)
positions = count(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


@pytest.fixture
def app(tmp_path, clock):
    settings = ServiceSettings(service_name="assignment", event_store="sqlite", var_dir=tmp_path)
    application = AssignmentApplication(settings, clock=clock)
    yield application
    application.close()


def envelope(case_id: str, producer: str = "intake", at: datetime = MONDAY) -> dict:
    n = next(positions)
    return {"event_id": f"{producer}:{n}", "case_id": case_id, "source_service": producer,
            "source_notification_id": n, "occurred_at": at,
            "actor": {"username": "office", "role": "office"}}


def registered(case_id: str, category: str = "livelihood", title: str = "小区加装电梯",
               urgency: str = "blue", number: str = "2026-0001") -> SuggestionRegisteredV1:
    return SuggestionRegisteredV1(**envelope(case_id), number=number, title=title,
                                  category=category, urgency=urgency,
                                  lead_deputy_id="deputy-1")


def react(app: AssignmentApplication, handler, event) -> list:
    changed = handler(event)
    app.save(*changed)
    return changed


def case(app, case_id: str) -> dict:
    return app.case_assignment(CaseAssignment(case_id=case_id), OFFICE)


def lead_task(app, case_id: str) -> dict:
    return next(t for t in case(app, case_id)["tasks"]
                if t["role"] == "lead" and t["status"] != "withdrawn")


# --- routing and deadlines ----------------------------------------------------------------

def test_a_registered_suggestion_goes_to_the_routed_unit_due_in_three_months(app):
    react(app, app.on_suggestion_registered, registered("s1"))
    shown = case(app, "s1")
    assert (shown["status"], shown["lead_unit_id"], shown["automatic"]) == (
        "assigned", "unit-b", True)
    [task] = shown["tasks"]
    assert (task["unit_id"], task["role"], task["status"]) == ("unit-b", "lead", "assigned")
    assert task["deadline"] == "2026-06-02"  # three months from 2 March (a working day)
    assert task["return_window_end"] == "2026-03-09"  # five working days
    # an earlier delivery under another event id changes nothing
    again = registered("s1")
    assert react(app, app.on_suggestion_registered, again) == []


def test_utilities_go_to_the_lead_with_a_co_unit_due_earlier(app):
    react(app, app.on_suggestion_registered, registered("s1", title="小区冬季暖气不热"))
    shown = case(app, "s1")
    assert (shown["lead_unit_id"], shown["co_unit_ids"]) == ("unit-a", ["unit-b"])
    lead = next(t for t in shown["tasks"] if t["role"] == "lead")
    co = next(t for t in shown["tasks"] if t["role"] == "co")
    assert co["deadline"] < lead["deadline"]  # the co-unit's opinion comes before the reply


def test_a_proposed_case_waits_for_the_office_and_is_assigned_once(app):
    react(app, app.on_suggestion_registered, registered("s1", title="征地拆迁安置房交付延期"))
    assert case(app, "s1")["status"] == "proposed"
    with pytest.raises(Invalid) as invalid:
        app.assign_suggestion(AssignSuggestion(suggestion_id="s1", lead_unit_id="unit-x",
                                               co_unit_ids=["unit-a", "unit-a"]), OFFICE)
    assert {tuple(e["loc"]) for e in invalid.value.errors} >= {
        ("body", "lead_unit_id"), ("body", "co_unit_ids")}
    assigned = app.assign_suggestion(AssignSuggestion(suggestion_id="s1"), OFFICE)
    assert (assigned["lead_unit_id"], assigned["co_unit_ids"]) == ("unit-b", ["unit-a"])
    with pytest.raises(Conflict) as conflict:
        app.assign_suggestion(AssignSuggestion(suggestion_id="s1"), OFFICE)
    assert conflict.value.extra["current"]["status"] == "assigned"


def test_the_office_may_set_an_earlier_working_day_as_deadline_but_not_a_later_one(app):
    react(app, app.on_suggestion_registered, registered("s1", title="征地拆迁安置房交付延期"))
    for refused in (date(2026, 6, 30), date(2026, 3, 7), date(2026, 3, 2)):  # late, Saturday, today
        with pytest.raises(Invalid) as invalid:
            app.assign_suggestion(AssignSuggestion(suggestion_id="s1", deadline=refused), OFFICE)
        assert invalid.value.errors[0]["loc"] == ["body", "deadline"]
    assigned = app.assign_suggestion(AssignSuggestion(suggestion_id="s1",
                                                      deadline=date(2026, 4, 30)), OFFICE)
    lead = next(t for t in assigned["tasks"] if t["role"] == "lead")
    assert lead["deadline"] == "2026-04-30"


def test_a_forwarded_citizen_message_is_due_in_working_days_by_urgency(app):
    forwarded = MessageForwardedV1(**envelope("m1"), unit_id="unit-c", station_id="station-1",
                                   category="safety_hazard")
    react(app, app.on_message_forwarded, forwarded)
    [task] = case(app, "m1")["tasks"]
    assert (task["case_kind"], task["unit_id"], task["urgency"]) == ("message", "unit-c", "red")
    assert task["deadline"] == "2026-03-05"  # three working days
    unknown = MessageForwardedV1(**envelope("m2"), unit_id="unit-x", station_id="station-1")
    react(app, app.on_message_forwarded, unknown)
    held = case(app, "m2")
    assert held["status"] == "proposed" and held["tasks"] == []  # the office assigns it
    assert "unit-x" in held["held_reason"]


# --- return requests and reassignment -----------------------------------------------------

def test_a_unit_asks_to_return_its_task_and_the_office_decides(app, clock):
    react(app, app.on_suggestion_registered, registered("s1"))
    task_id = lead_task(app, "s1")["task_id"]
    with pytest.raises(NotFound):  # another unit's task is not even visible
        app.request_return(RequestReturn(task_id=task_id, reason="不属于本单位"), UNIT_A)
    asked = app.request_return(RequestReturn(task_id=task_id, reason="不属于本单位职责"), UNIT_B)
    assert asked["status"] == "return_requested"
    with pytest.raises(AlreadyDone, match="already waiting"):
        app.request_return(RequestReturn(task_id=task_id, reason="再次申请"), UNIT_B)
    refused = app.refuse_return(RefuseReturn(task_id=task_id, reason="由贵单位牵头"), OFFICE)
    assert refused["status"] == "assigned"
    with pytest.raises(NotAllowedInState, match="no return request"):
        app.refuse_return(RefuseReturn(task_id=task_id, reason="x"), OFFICE)


def test_reassignment_withdraws_the_task_and_starts_a_new_clock_for_the_new_unit(app, clock):
    react(app, app.on_suggestion_registered, registered("s1"))
    old_id = lead_task(app, "s1")["task_id"]
    clock.advance(timedelta(days=2))  # Wednesday 4 March
    with pytest.raises(AlreadyDone, match="already with unit-b"):
        app.reassign_task(ReassignTask(task_id=old_id, unit_id="unit-b"), OFFICE)
    with pytest.raises(Invalid):
        app.reassign_task(ReassignTask(task_id=old_id, unit_id="unit-x"), OFFICE)
    moved = app.reassign_task(ReassignTask(task_id=old_id, unit_id="unit-c",
                                           reason="属于生态环境领域"), OFFICE)
    assert moved["withdrawn"]["status"] == "withdrawn"
    assert moved["withdrawn"]["replaced_by_task_id"] == moved["task"]["task_id"]
    assert (moved["task"]["unit_id"], moved["task"]["deadline"]) == ("unit-c", "2026-06-04")
    assert case(app, "s1")["lead_unit_id"] == "unit-c"
    with pytest.raises(Conflict, match="already withdrawn"):
        app.reassign_task(ReassignTask(task_id=old_id, unit_id="unit-d"), OFFICE)
    with pytest.raises(NotFound):  # the old unit no longer sees the case
        app.get_task(GetTask(task_id=moved["task"]["task_id"]), UNIT_B)


# --- the clock ----------------------------------------------------------------------------

def test_a_paused_clock_moves_the_deadline_on_by_the_paused_working_days(app, clock):
    react(app, app.on_suggestion_registered, registered("s1"))
    task_id = lead_task(app, "s1")["task_id"]
    paused = app.pause_clock(PauseClock(task_id=task_id, reason="等待代表补充材料"), OFFICE)
    assert paused["paused_since"] is not None
    with pytest.raises(AlreadyDone, match="already paused") as refused:
        app.pause_clock(PauseClock(task_id=task_id, reason="again"), OFFICE)
    assert refusal_reply(refused.value).status == 409
    clock.advance(timedelta(days=7))  # a week: five working days
    resumed = app.resume_clock(ResumeClock(task_id=task_id), OFFICE)
    assert resumed["paused_since"] is None
    assert resumed["deadline"] > "2026-06-02"
    with pytest.raises(NotAllowedInState, match="not paused"):
        app.resume_clock(ResumeClock(task_id=task_id), OFFICE)


# --- handling state from supervision ------------------------------------------------------

def test_a_reply_rehandling_and_close_out_change_whether_the_task_is_open_work(app):
    react(app, app.on_suggestion_registered, registered("s1"))
    task = lead_task(app, "s1")
    env = lambda: envelope("s1", producer="supervision")  # noqa: E731
    react(app, app.on_reply_submitted, ReplySubmittedV1(
        **env(), task_id=task["task_id"], unit_id="unit-b", result_class="A", round=1,
        on_time=True))
    assert lead_task(app, "s1")["handling"] == "replied"
    with pytest.raises(AlreadyDone, match="already replied"):  # its clock no longer runs
        app.pause_clock(PauseClock(task_id=task["task_id"], reason="x"), OFFICE)
    react(app, app.on_rehandling_started, RehandlingStartedV1(
        **env(), round=2, task_id=task["task_id"], unit_id="unit-b",
        deadline=date(2026, 7, 1), reason="unsatisfied"))
    reopened = lead_task(app, "s1")
    assert (reopened["handling"], reopened["round"]) == ("open", 2)
    react(app, app.on_case_closed, CaseClosedV1(**env(), result_class="A", all_satisfied=True,
                                                rounds=2, replied_on_time=True))
    assert lead_task(app, "s1")["handling"] == "closed"


def test_a_reversed_registration_withdraws_the_tasks_and_a_new_one_assigns_again(app):
    react(app, app.on_suggestion_registered, registered("s1"))
    first = lead_task(app, "s1")["task_id"]
    reversed_ = SuggestionRegistrationReversedV1(**envelope("s1"), number="2026-0001",
                                                 reason="重复提交", lead_deputy_id="deputy-1")
    changed = react(app, app.on_suggestion_registration_reversed, reversed_)
    assert changed and react(app, app.on_suggestion_registration_reversed, reversed_) == []
    shown = case(app, "s1")
    assert shown["status"] == "reversed" and shown["task_ids"] == []
    with pytest.raises(AssignmentRefusal, match="reversed"):
        app.assign_suggestion(AssignSuggestion(suggestion_id="s1"), OFFICE)
    react(app, app.on_suggestion_registered, registered("s1", number="2026-0007"))
    again = case(app, "s1")
    assert again["status"] == "assigned" and again["number"] == "2026-0007"
    assert lead_task(app, "s1")["task_id"] != first  # a task of its own, a new clock


# --- leadership ----------------------------------------------------------------------------

def test_a_designated_leader_is_carried_by_the_case_and_its_tasks(app):
    react(app, app.on_suggestion_registered, registered("s1"))
    with pytest.raises(Invalid):
        app.designate_leadership(DesignateLeadership(
            case_id="s1", designee_id="leader-1", designee_kind="committee", mode="lead"), OFFICE)
    shown = app.designate_leadership(DesignateLeadership(
        case_id="s1", designee_id="leader-1", designee_kind="leader", mode="lead"), OFFICE)
    assert shown["leadership"]["designee_id"] == "leader-1"
    assert all(t["leadership"]["designee_id"] == "leader-1" for t in shown["tasks"])
    with pytest.raises(AlreadyDone, match="already leads"):
        app.designate_leadership(DesignateLeadership(
            case_id="s1", designee_id="leader-1", designee_kind="leader", mode="lead"), OFFICE)

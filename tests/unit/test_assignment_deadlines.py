"""Assignment's deadline rules (办理时限) and return window, against the real
config/holidays.yaml and config/assignment.yaml.

Expected dates were worked out by hand from the 2026 holiday notice (劳动节 5/1–5/5 with
Saturday 5/9 worked, 国庆节 10/1–10/7, 端午 6/19–6/21) and a paper calendar.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from services.assignment.application import (
    AssignmentApplication,
    AssignSuggestion,
    CalendarNotReady,
    RequestReturn,
)
from services.assignment.domain import (
    Assignment,
    AssignmentPolicy,
    Task,
    due_date,
)
from shared.calendar import CalendarNotConfigured, WorkingCalendar
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.intake import MessageForwardedV1, SuggestionRegisteredV1
from shared.eventstore import Actor
from services.assignment.errors import AssignmentRefusal, ReturnWindowClosed
from shared.settings import ServiceSettings

CONFIG = Path(__file__).resolve().parents[2] / "config"
OFFICE = Actor("office", "office")


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.from_config(CONFIG / "holidays.yaml")


@pytest.fixture(scope="module")
def policy() -> AssignmentPolicy:
    return AssignmentPolicy.from_config(yaml.safe_load((CONFIG / "assignment.yaml").read_text()))


def at(iso: str, hour: int = 9) -> datetime:
    return datetime.combine(date.fromisoformat(iso), datetime.min.time(), CHINA_TZ).replace(hour=hour)


def d(iso: str) -> date:
    return date.fromisoformat(iso)


def a_case(case_kind: str = "suggestion", urgency: str = "yellow") -> Assignment:
    return Assignment(case_id="c1", number="2026-0001", title="t", category="livelihood",
                      urgency=urgency, district=None, proposed_lead_unit_id="unit-b",
                      proposed_co_unit_ids=[], routing_rule_id=None, case_kind=case_kind)


# --- deputy suggestions: three calendar months, then the next working day ----------------

@pytest.mark.parametrize(
    ("assigned", "deadline", "why"),
    [
        ("2026-03-02", "2026-06-02", "a Tuesday: no adjustment"),
        ("2026-03-07", "2026-06-08", "6/7 is a Sunday: Monday"),
        ("2026-02-01", "2026-05-06", "5/1 falls in 劳动节 (5/1–5/5): Wednesday 5/6"),
        ("2026-07-04", "2026-10-08", "10/4 falls in 国庆节 (10/1–10/7): Thursday 10/8"),
        ("2026-02-09", "2026-05-09", "5/9 is a Saturday worked instead (调休上班): kept"),
        ("2026-03-19", "2026-06-22", "6/19 starts 端午 (6/19–6/21): Monday 6/22"),
    ],
)
def test_a_suggestion_is_due_three_months_later_on_a_working_day(cal, policy, assigned, deadline, why):
    rule = policy.lead_rule("suggestion", "yellow")
    assert due_date(rule, at(assigned), cal) == d(deadline), why


def test_the_day_of_assignment_is_the_day_in_china():
    cal = WorkingCalendar.from_config(CONFIG / "holidays.yaml")
    rule = AssignmentPolicy().lead_rule("suggestion", "red")
    # 17:00 UTC on 6 March is already Saturday 7 March in China.
    assert due_date(rule, datetime(2026, 3, 6, 17, 0, tzinfo=timezone.utc), cal) == d("2026-06-08")


def test_a_year_missing_from_the_calendar_is_an_error_not_a_guess(cal, policy):
    rule = policy.lead_rule("suggestion", "yellow")
    with pytest.raises(CalendarNotConfigured, match="2028"):
        due_date(rule, at("2027-11-30"), cal)


# --- citizen messages: working days by urgency -------------------------------------------

@pytest.mark.parametrize(
    ("assigned", "urgency", "deadline"),
    [
        ("2026-03-02", "red", "2026-03-05"),
        ("2026-03-02", "yellow", "2026-03-11"),
        ("2026-03-02", "blue", "2026-03-23"),
        # Across 劳动节: 5/6, 5/7, 5/8 ...
        ("2026-04-30", "red", "2026-05-08"),
        # ... 5/9 (Saturday worked), 5/11, 5/12, 5/13.
        ("2026-04-30", "yellow", "2026-05-13"),
    ],
)
def test_a_forwarded_message_is_due_in_working_days_by_urgency(cal, policy, assigned, urgency, deadline):
    assert due_date(policy.lead_rule("message", urgency), at(assigned), cal) == d(deadline)


def test_a_message_takes_its_categorys_urgency_or_the_default(policy):
    assert policy.message_urgency(None) == "blue"
    assert policy.message_urgency("livelihood") == "blue"
    assert policy.message_urgency("safety_hazard") == "red"
    assert policy.message_working_days == {"red": 3, "yellow": 7, "blue": 15}


def test_the_policy_refuses_nonsense():
    with pytest.raises(ValueError, match="urgency"):
        AssignmentPolicy.from_config({"message": {"default_urgency": "purple"}})
    with pytest.raises(ValueError, match=">= 1"):
        AssignmentPolicy.from_config({"message": {"time_limit_working_days": {"red": 0}}})
    assert AssignmentPolicy.from_config({}) == AssignmentPolicy()


# --- co-handling units: the lead's deadline minus working days ---------------------------

@pytest.mark.parametrize(
    ("assigned", "lead_deadline", "co_deadline"),
    [
        # 6/2 back five working days: 6/1, 5/29, 5/28, 5/27, 5/26.
        ("2026-03-02", "2026-06-02", "2026-05-26"),
        # 5/6 back five: 4/30, 4/29, 4/28, 4/27, 4/24 (4/25–26 a plain weekend).
        ("2026-02-01", "2026-05-06", "2026-04-24"),
    ],
)
def test_a_co_unit_is_due_before_the_lead_unit(cal, policy, assigned, lead_deadline, co_deadline):
    case = a_case()
    lead, co = case.assign("unit-b", ["unit-a"], assigned_at=at(assigned), automatic=False,
                           policy=policy)
    assert lead.deadline(cal) == d(lead_deadline)
    assert co.deadline(cal) == d(co_deadline)
    assert policy.co_unit_offset_working_days == 5


def test_a_co_unit_never_gets_less_than_one_working_day(cal):
    policy = AssignmentPolicy(co_unit_offset_working_days=10)
    case = a_case("message", urgency="red")
    lead, co = case.assign("unit-b", ["unit-a"], assigned_at=at("2026-03-02"), automatic=False,
                           policy=policy)
    assert lead.deadline(cal) == d("2026-03-05")
    assert co.deadline(cal) == d("2026-03-03")


def test_the_deadline_is_derived_from_the_recorded_rule_not_stored(cal, policy):
    case = a_case()
    (lead,) = case.assign("unit-b", [], assigned_at=at("2026-03-02"), automatic=False, policy=policy)
    assigned = lead.collect_events()[0]
    assert "deadline" not in vars(assigned)
    assert assigned.deadline_rule == {"kind": "months", "months": 3, "roll_forward": True}
    assert assigned.assigned_at == at("2026-03-02")
    # A task recorded before rules existed (only time_limit_months) keeps its old meaning.
    legacy = Task(case_id="c0", unit_id="unit-a", role="lead", assigned_at=at("2026-03-07"),
                  title="t", category="ecology", urgency="red", number=None, time_limit_months=3)
    assert legacy.deadline(cal) == d("2026-06-07")


# --- return window (申请退回) ----------------------------------------------------------------

def test_a_return_may_be_asked_within_five_working_days(cal, policy):
    (task,) = a_case().assign("unit-b", [], assigned_at=at("2026-03-02"), automatic=False, policy=policy)
    assert task.return_window_end(cal) == d("2026-03-09")  # 3/3, 3/4, 3/5, 3/6, 3/9
    task.request_return("不属于本单位职责", requested_at=at("2026-03-09", 17), calendar=cal)
    assert task.status == "return_requested"
    with pytest.raises(AssignmentRefusal, match="already waiting"):
        task.request_return("again", requested_at=at("2026-03-09", 18), calendar=cal)
    task.refuse_return("由贵单位牵头", refused_at=at("2026-03-10"))
    assert task.status == "assigned" and task.return_requests[0]["outcome"] == "refused"


def test_a_late_return_request_is_refused_naming_the_window(cal, policy):
    (task,) = a_case().assign("unit-b", [], assigned_at=at("2026-03-02"), automatic=False, policy=policy)
    with pytest.raises(ReturnWindowClosed) as refused:
        task.request_return("不属于本单位职责", requested_at=at("2026-03-10"), calendar=cal)
    assert "5 working days" in refused.value.detail and "2026-03-09" in refused.value.detail
    assert refused.value.context["window_end"] == "2026-03-09"
    assert task.status == "assigned"


def test_reassignment_withdraws_the_task_and_restarts_the_clock(cal, policy):
    case = a_case()
    lead, co = case.assign("unit-b", ["unit-a"], assigned_at=at("2026-03-02"), automatic=False,
                           policy=policy)
    lead.request_return("不属于本单位职责", requested_at=at("2026-03-04"), calendar=cal)
    new = case.reassign(lead, "unit-c", reason="改办", reassigned_at=at("2026-03-05"),
                        policy=policy)
    assert (lead.status, lead.replaced_by_task_id) == ("withdrawn", str(new.id))
    assert lead.return_requests[-1]["outcome"] == "accepted"
    assert (new.unit_id, new.role, new.replaces_task_id) == ("unit-c", "lead", str(lead.id))
    assert new.deadline(cal) == d("2026-06-05")  # three months from the reassignment
    assert case.lead_unit_id == "unit-c" and case.task_ids == [str(new.id), str(co.id)]
    assert case.withdrawn_task_ids == [str(lead.id)]
    with pytest.raises(AssignmentRefusal, match="already handles"):
        case.reassign(new, "unit-a", reason="x", reassigned_at=at("2026-03-06"), policy=policy)
    # Back to the first unit later: a task of its own, not the withdrawn one.
    again = case.reassign(new, "unit-b", reason="x", reassigned_at=at("2026-03-06"), policy=policy)
    assert again.id not in (lead.id, new.id)


def test_a_reassigned_co_unit_stays_due_before_the_current_lead(cal, policy):
    case = a_case()
    lead, co = case.assign("unit-b", ["unit-a"], assigned_at=at("2026-03-02"), automatic=False,
                           policy=policy)
    new = case.reassign(co, "unit-c", reason="改办", reassigned_at=at("2026-03-04"),
                        policy=policy, lead_task=lead)
    assert (new.role, new.deadline(cal)) == ("co", d("2026-05-26"))  # the lead still owes 6/2
    assert case.co_unit_ids == ["unit-c"] and case.lead_unit_id == "unit-b"


# --- the application: a clear error when the calendar lacks a year ----------------------

def envelope(n: int, case_id: str) -> dict:
    return {"event_id": f"intake:{n}", "case_id": case_id, "occurred_at": at("2026-11-23"),
            "actor": {"username": "office", "role": "office"}, "source_service": "intake",
            "source_notification_id": n}


@pytest.fixture
def app(tmp_path) -> AssignmentApplication:
    clock = ManualClock(at("2027-11-23"))  # three months later is in 2028: not configured
    application = AssignmentApplication(ServiceSettings(var_dir=tmp_path), clock=clock)
    yield application
    application.close()


def test_without_the_next_years_calendar_automatic_assignment_is_held(app):
    registered = SuggestionRegisteredV1(**envelope(1, "s1"), number="2026-0100", title="t",
                                        category="livelihood", urgency="red",
                                        lead_deputy_id="deputy-1")
    (assignment,) = app.on_suggestion_registered(registered)
    assert assignment.status == "proposed"
    assert "2028" in assignment.held_reason and "holidays.yaml" in assignment.held_reason
    app.save(assignment)
    with pytest.raises(CalendarNotReady) as error:
        app.assign_suggestion(AssignSuggestion(suggestion_id="s1"), OFFICE)
    assert error.value.status == 503 and error.value.extra["missing_year"] == 2028
    # A forwarded message (15 working days) still fits in 2027.
    forwarded = MessageForwardedV1(**envelope(2, "m1"), unit_id="unit-a", station_id="st-1")
    assignment, task = app.on_message_forwarded(forwarded)
    assert (assignment.case_kind, task.case_kind, task.category) == ("message", "message", "other")
    assert task.deadline(app.calendar) == d("2027-12-14")
    app.save(assignment, task)
    app.clock.set(at("2027-12-01"))  # the window ended on 30 November
    with pytest.raises(AssignmentRefusal, match="return window"):
        app.request_return(RequestReturn(task_id=str(task.id), reason="r"),
                           Actor("unit-a", "unit", unit_id="unit-a"))
    # The same forwarding delivered again (another event id) opens nothing more.
    again = MessageForwardedV1(**envelope(3, "m1"), unit_id="unit-a", station_id="st-1")
    assert app.on_message_forwarded(again) == []


def test_tasks_recorded_before_deadline_rules_still_replay(app):
    """A Task.Assigned stored by the first version (only time_limit_months) still loads, and
    the read model derives its deadline the way it was computed then."""
    from eventsourcing.persistence import StoredEvent

    from services.assignment.read_models import ListTasks, TaskIndex
    from shared.read_store import ReadModels, ViewStore

    task = Task(case_id="old", unit_id="unit-a", role="lead", assigned_at=at("2026-03-07"),
                title="t", category="ecology", urgency="red", number="2026-0001", time_limit_months=3)
    stored = app.mapper.to_stored_event(task.collect_events()[0])
    state = app.mapper.transcoder.decode(stored.state)
    for new_field in ("deadline_rule", "case_kind", "return_window_working_days", "leadership",
                      "replaces_task_id"):
        del state[new_field]
    del state["class_version"]  # the first version wrote none (its events are version 1)
    app.recorder.insert_events([StoredEvent(
        originator_id=stored.originator_id, originator_version=stored.originator_version,
        topic=stored.topic, state=app.mapper.transcoder.encode(state))])

    loaded = app.repository.get(task.id)
    assert (loaded.case_kind, loaded.deadline(app.calendar)) == ("suggestion", d("2026-06-07"))
    views = ViewStore(app.settings)
    index = TaskIndex(app, views)
    ReadModels(app, views, [index]).start()
    index.catch_up()
    (row,) = index.list_tasks(ListTasks(year=2026), app.today().year)["items"]
    views.close()
    assert (row["deadline"], row["case_kind"]) == ("2026-06-07", "suggestion")

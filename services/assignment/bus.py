"""Assignment's bus registrations: consumes registrations, forwarded messages and supervision's
handling news, answers requests, publishes assignments, tasks and their changes (translated
from the domain events). Wired in ``services.assignment.bootstrap``."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from shared.contracts import IntegrationEvent
from shared.contracts.assignment import (
    LeadershipDesignatedV1,
    SuggestionAssignedV1,
    TaskAssignedV1,
    TaskDeadlineChangedV1,
    TaskReturnRefusedV1,
    TaskReturnRequestedV1,
    TaskWithdrawnV1,
)
from shared.contracts.leadership import with_leadership
from shared.contracts.intake import (
    MessageForwardedV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
)
from shared.contracts.supervision import (
    CaseClosedV1,
    CoOpinionSubmittedV1,
    RehandlingStartedV1,
    ReplySubmittedV1,
)
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.runtime import ServiceRuntime

from services.assignment import views
from services.assignment.application import AssignmentApplication
from shared.contracts.requests.assignment import (
    AssignSuggestion,
    CaseAssignment,
    DeleteRoutingRule,
    DesignateLeadership,
    GetRoutingRule,
    GetTask,
    Leaders,
    ListRoutingRules,
    ListTasks,
    MoveRoutingRule,
    PauseClock,
    PutRoutingRule,
    ReassignTask,
    RefuseReturn,
    ReorderRoutingRules,
    RequestReturn,
    ResumeClock,
    Units,
    Workload,
)
from services.assignment.domain import (Assignment, Task, carries_its_facts, due_date,
                                        local_day, with_pauses)
from services.assignment.read_models import TaskIndex

SERVICE = "assignment"


PUBLISHED = (Assignment.Assigned, Assignment.LeadershipDesignated, Task.Assigned, Task.Withdrawn,
             Task.ReturnRequested, Task.ReturnRefused, Task.ClockPaused, Task.ClockResumed)


def translate(app: AssignmentApplication, event: Any,
              envelope: dict[str, Any]) -> list[IntegrationEvent] | None:
    """Domain event → integration events: v1, and v2 flagged with the case's leadership
    designation as it stood when the event was recorded (None: not published). Read from
    the event alone (and the working calendar, from which deadlines are derived); only an
    event recorded before it carried its facts has them read from the store."""
    if not isinstance(event, PUBLISHED):
        return None
    facts = facts_of(app, event)
    found = translate_v1(app, event, facts, envelope)
    if found is None:
        return None
    leadership = (event.designation if isinstance(event, Assignment.LeadershipDesignated)
                  else facts.leadership)
    return with_leadership(found, leadership)


def facts_of(app: AssignmentApplication, event: Any) -> Any:
    """What the contract needs besides the event's own fields: the event itself, which
    carries it; for an event stored before it did (class version 1, see
    ``services.assignment.domain.carries_its_facts``), read from the assignment or task as
    it was right after that event (the upcast cannot invent them). ``Task.Assigned``
    always carried everything."""
    if isinstance(event, Task.Assigned) or carries_its_facts(event):
        return event
    aggregate = app.repository.get(event.originator_id, version=event.originator_version)
    if isinstance(aggregate, Assignment):
        return SimpleNamespace(case_id=aggregate.case_id, case_kind=aggregate.case_kind,
                               routing_rule_id=aggregate.routing_rule_id,
                               leadership=aggregate.leadership)
    return SimpleNamespace(
        case_id=aggregate.case_id, unit_id=aggregate.unit_id, leadership=aggregate.leadership,
        deadline_rule=aggregate.deadline_rule, assigned_at=aggregate.assigned_at,
        return_window_working_days=aggregate.return_window_working_days,
        finished_pauses=[{"from": p["from"].isoformat(), "to": p["to"].isoformat()}
                         for p in aggregate.pauses if p["to"] is not None])


def task_deadline(app: AssignmentApplication, facts: Any) -> date:
    """The task's deadline as the event left it: its rule from its assignment time, moved
    on by the finished pauses of its clock."""
    pauses = [{"from": datetime.fromisoformat(p["from"]), "to": datetime.fromisoformat(p["to"])}
              for p in facts.finished_pauses]
    return with_pauses(due_date(facts.deadline_rule, facts.assigned_at, app.calendar),
                       pauses, app.calendar)


def translate_v1(app: AssignmentApplication, event: Any, facts: Any,
                 envelope: dict[str, Any]) -> IntegrationEvent | None:
    """Domain event → its v1 integration event (or None: not published)."""
    if isinstance(event, Assignment.Assigned):
        if facts.case_kind != "suggestion":
            return None  # a forwarded message has only its task_assigned
        return SuggestionAssignedV1(
            **{**envelope, "case_id": facts.case_id},
            lead_unit_id=event.lead_unit_id,
            co_unit_ids=event.co_unit_ids,
            task_ids=event.task_ids,
            routing_rule_id=facts.routing_rule_id,
            automatic=event.automatic,
        )
    if isinstance(event, Assignment.LeadershipDesignated):
        return LeadershipDesignatedV1(
            **{**envelope, "case_id": facts.case_id},
            designee_id=event.designee_id,
            designee_name=event.designee_name,
            designee_kind=event.designee_kind,
            mode=event.mode,
        )
    envelope = {**envelope, "case_id": facts.case_id}
    task_id = str(event.originator_id)
    if isinstance(event, Task.Assigned):
        return TaskAssignedV1(
            **envelope,
            task_id=task_id,
            unit_id=event.unit_id,
            role=event.role,
            assigned_at=event.assigned_at,
            deadline=due_date(Task.rule_of(event.deadline_rule, event.time_limit_months),
                              event.assigned_at, app.calendar),
            title=event.title,
            category=event.category,
            urgency=event.urgency,
            number=event.number,
            case_kind=event.case_kind,
        )
    if isinstance(event, (Task.ClockPaused, Task.ClockResumed)):
        return TaskDeadlineChangedV1(**envelope, task_id=task_id, unit_id=facts.unit_id,
                                     paused=isinstance(event, Task.ClockPaused),
                                     deadline=task_deadline(app, facts),
                                     reason=event.reason
                                     if isinstance(event, Task.ClockPaused) else None)
    if isinstance(event, Task.Withdrawn):
        return TaskWithdrawnV1(**envelope, task_id=task_id, unit_id=facts.unit_id,
                               reason=event.reason, replaced_by_task_id=event.replaced_by_task_id)
    if isinstance(event, Task.ReturnRequested):
        return TaskReturnRequestedV1(
            **envelope, task_id=task_id, unit_id=facts.unit_id, reason=event.reason,
            window_end=app.calendar.add_working_days(local_day(facts.assigned_at),
                                                     facts.return_window_working_days))
    return TaskReturnRefusedV1(**envelope, task_id=task_id, unit_id=facts.unit_id,
                               reason=event.reason)


def register(runtime: ServiceRuntime, app: AssignmentApplication, index: TaskIndex) -> None:
    """What assignment consumes and the requests it answers (wired in
    ``services.assignment.bootstrap``)."""
    runtime.consume("intake", {
        SuggestionRegisteredV1: app.on_suggestion_registered,
        SuggestionRegistrationReversedV1: app.on_suggestion_registration_reversed,
        MessageForwardedV1: app.on_message_forwarded,
    })
    runtime.consume("supervision", {
        ReplySubmittedV1: app.on_reply_submitted,
        CoOpinionSubmittedV1: app.on_co_opinion_submitted,
        RehandlingStartedV1: app.on_rehandling_started,
        CaseClosedV1: app.on_case_closed,
    })
    # the registry's units, replicated into assignment's log
    consume_registry(runtime, app, app.reference)
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, runtime.settings, app.reference)

    # every request this service answers, by contract (shared/contracts/requests/assignment.py)
    runtime.handlers({
        AssignSuggestion: app.assign_suggestion,
        RequestReturn: app.request_return,
        RefuseReturn: app.refuse_return,
        PauseClock: app.pause_clock,
        ResumeClock: app.resume_clock,
        ReassignTask: app.reassign_task,
        DesignateLeadership: app.designate_leadership,
        CaseAssignment: app.case_assignment,
        GetTask: app.get_task,
        Leaders: app.leaders_list,
        ListTasks: lambda q, actor: views.list_tasks(app, index, q, actor),
        Workload: lambda q, actor: app.workload(q, actor, index),
        Units: lambda _q, _actor: list(app.units.values()),
        # routing rules (交办规则): data of this service (routing_desk.py)
        ListRoutingRules: app.routing_rules.list,
        GetRoutingRule: app.routing_rules.get,
        PutRoutingRule: app.routing_rules.put,
        DeleteRoutingRule: app.routing_rules.delete,
        ReorderRoutingRules: app.routing_rules.reorder,
        MoveRoutingRule: app.routing_rules.move,
    })

    runtime.audit_cases(partial(views.case_audit_scope, app))

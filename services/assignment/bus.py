"""Assignment's bus adapters: consumes registrations, forwarded messages and supervision's
handling news, answers requests, publishes assignments, tasks and their changes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
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
from shared.eventstore import Actor
from shared.read_store import ReadModels, ViewStore
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.assignment.application import AssignmentApplication
from shared.contracts.requests.assignment import (
    AssignSuggestion,
    CaseAssignment,
    DesignateLeadership,
    GetTask,
    Leaders,
    ListTasks,
    PauseClock,
    ReassignTask,
    RefuseReturn,
    RequestReturn,
    ResumeClock,
    Units,
    Workload,
)
from services.assignment.domain import Assignment, Task
from services.assignment.read_models import TaskIndex

SERVICE = "assignment"


PUBLISHED = (Assignment.Assigned, Assignment.LeadershipDesignated, Task.Assigned, Task.Withdrawn,
             Task.ReturnRequested, Task.ReturnRefused, Task.ClockPaused, Task.ClockResumed)


def translate(app: AssignmentApplication, event: Any,
              envelope: dict[str, Any]) -> list[IntegrationEvent] | None:
    """Domain event → integration events: v1, and v2 flagged with the case's leadership
    designation as it stood when the event was recorded (None: not published)."""
    if not isinstance(event, PUBLISHED):
        return None
    # the assignment or task as it was right after this event
    aggregate = app.repository.get(event.originator_id, version=event.originator_version)
    found = translate_v1(app, event, aggregate, envelope)
    if found is None:
        return None
    return with_leadership(found, aggregate.leadership)


def translate_v1(app: AssignmentApplication, event: Any, aggregate: Any,
                 envelope: dict[str, Any]) -> IntegrationEvent | None:
    """Domain event → its v1 integration event (or None: not published)."""
    if isinstance(event, Assignment.Assigned):
        assignment: Assignment = aggregate
        if assignment.case_kind != "suggestion":
            return None  # a forwarded message has only its task_assigned
        return SuggestionAssignedV1(
            **{**envelope, "case_id": assignment.case_id},
            lead_unit_id=event.lead_unit_id,
            co_unit_ids=event.co_unit_ids,
            task_ids=event.task_ids,
            routing_rule_id=assignment.routing_rule_id,
            automatic=event.automatic,
        )
    if isinstance(event, Assignment.LeadershipDesignated):
        return LeadershipDesignatedV1(
            **{**envelope, "case_id": aggregate.case_id},
            designee_id=event.designee_id,
            designee_name=event.designee_name,
            designee_kind=event.designee_kind,
            mode=event.mode,
        )
    task: Task = aggregate
    envelope = {**envelope, "case_id": task.case_id}
    if isinstance(event, Task.Assigned):
        return TaskAssignedV1(
            **envelope,
            task_id=str(task.id),
            unit_id=task.unit_id,
            role=task.role,
            assigned_at=task.assigned_at,
            deadline=task.deadline(app.calendar),
            title=task.title,
            category=task.category,
            urgency=task.urgency,
            number=task.number,
            case_kind=task.case_kind,
        )
    if isinstance(event, (Task.ClockPaused, Task.ClockResumed)):
        return TaskDeadlineChangedV1(**envelope, task_id=str(task.id), unit_id=task.unit_id,
                                     paused=isinstance(event, Task.ClockPaused),
                                     deadline=task.deadline(app.calendar),
                                     reason=event.reason
                                     if isinstance(event, Task.ClockPaused) else None)
    if isinstance(event, Task.Withdrawn):
        return TaskWithdrawnV1(**envelope, task_id=str(task.id), unit_id=task.unit_id,
                               reason=event.reason, replaced_by_task_id=event.replaced_by_task_id)
    if isinstance(event, Task.ReturnRequested):
        return TaskReturnRequestedV1(**envelope, task_id=str(task.id), unit_id=task.unit_id,
                                     reason=event.reason,
                                     window_end=task.return_window_end(app.calendar))
    return TaskReturnRefusedV1(**envelope, task_id=str(task.id), unit_id=task.unit_id,
                               reason=event.reason)


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = AssignmentApplication(settings, clock=clock)
    views = ViewStore(settings)
    index = TaskIndex(app, views)
    runtime = ServiceRuntime(settings, app, translate,
                             read_models=ReadModels(app, views, [index]),
                             tracer_provider=tracer_provider)
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
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, settings)

    def list_tasks(q: ListTasks, actor: Actor) -> dict[str, Any]:
        """A page of tasks (a unit: its own), by deadline then task id."""
        if actor.role == "unit":
            q = q.model_copy(update={"unit_id": actor.unit_id})
        return index.list_tasks(q, app.today().year)

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
        ListTasks: list_tasks,
        Workload: lambda q, actor: app.workload(q, actor, index),
        Units: lambda _q, _actor: list(app.units.values()),
    })

    def case_scope(case_id: str) -> tuple[list[Any], None]:
        """A case here is its assignment and every task it had (withdrawn ones too)."""
        try:
            assignment = app.repository.get(Assignment.create_id(case_id))
        except Exception:  # not assigned (yet), or not an id
            return [], None
        tasks = [UUID(t) for t in [*assignment.task_ids, *assignment.withdrawn_task_ids]]
        return [assignment.id, *tasks], None

    runtime.audit_cases(case_scope)
    return runtime

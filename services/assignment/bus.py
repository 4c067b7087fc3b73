"""Assignment's bus adapters: consumes registrations, answers requests, publishes tasks."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts import IntegrationEvent
from shared.contracts.assignment import SuggestionAssignedV1, TaskAssignedV1
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import Actor
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.assignment.application import (
    AssignmentApplication,
    AssignSuggestion,
    CaseRef,
    ListTasks,
    TaskIndex,
    TaskRef,
)
from services.assignment.domain import Assignment, Task

SERVICE = "assignment"


def translate(app: AssignmentApplication, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, Assignment.Assigned):
        assignment: Assignment = app.repository.get(event.originator_id, version=event.originator_version)
        return SuggestionAssignedV1(
            **{**envelope, "case_id": assignment.case_id},
            lead_unit_id=event.lead_unit_id,
            co_unit_ids=event.co_unit_ids,
            task_ids=event.task_ids,
            routing_rule_id=assignment.routing_rule_id,
            automatic=event.automatic,
        )
    if isinstance(event, Task.Assigned):
        task: Task = app.repository.get(event.originator_id, version=event.originator_version)
        return TaskAssignedV1(
            **{**envelope, "case_id": task.case_id},
            task_id=str(task.id),
            unit_id=task.unit_id,
            role=task.role,
            assigned_at=task.assigned_at,
            deadline=task.deadline,
            title=task.title,
            category=task.category,
            urgency=task.urgency,
            number=task.number,
        )
    return None


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = AssignmentApplication(settings, clock=clock)
    index = TaskIndex(app)
    runtime = ServiceRuntime(settings, app, translate, projections=[index],
                             tracer_provider=tracer_provider)
    runtime.consume("intake", {SuggestionRegisteredV1: app.on_suggestion_registered})
    runtime.command("assign_suggestion", AssignSuggestion)(app.assign_suggestion)
    runtime.query("case_assignment", CaseRef)(app.case_assignment)
    runtime.query("get_task", TaskRef)(app.get_task)

    @runtime.query("list_tasks", ListTasks)
    def list_tasks(q: ListTasks, actor: Actor) -> list[dict[str, Any]]:
        if actor.role == "unit":
            q = q.model_copy(update={"unit_id": actor.unit_id})
        return index.query(q)

    @runtime.query("units")
    def units(_: Any, __: Actor) -> list[dict[str, Any]]:
        return list(app.units.values())

    return runtime

"""Supervision's bus adapters."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts import IntegrationEvent
from shared.contracts.assignment import TaskAssignedV1
from shared.contracts.supervision import TaskOpenedV1
from shared.eventstore import Actor
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.supervision.application import (
    ListTasks,
    SupervisedTaskIndex,
    SupervisionApplication,
    TaskRef,
)
from services.supervision.domain import SupervisedTask

SERVICE = "supervision"


def translate(app: SupervisionApplication, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, SupervisedTask.Opened):
        return TaskOpenedV1(
            **{**envelope, "case_id": event.case_id},
            task_id=str(event.originator_id),
            unit_id=event.unit_id,
            role=event.role,
            deadline=event.deadline,
        )
    return None


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = SupervisionApplication(settings, clock=clock)
    index = SupervisedTaskIndex(app)
    runtime = ServiceRuntime(settings, app, translate, projections=[index],
                             tracer_provider=tracer_provider)
    runtime.consume("assignment", {TaskAssignedV1: app.on_task_assigned})
    runtime.query("get_task", TaskRef)(app.get_task)

    @runtime.query("list_tasks", ListTasks)
    def list_tasks(q: ListTasks, actor: Actor) -> list[dict[str, Any]]:
        if actor.role == "unit":
            q = q.model_copy(update={"unit_id": actor.unit_id})
        return index.query(q)

    return runtime

"""Supervision's commands and queries over its event store."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from shared.clock import CHINA_TZ, Clock, SystemClock
from shared.contracts.assignment import TaskAssignedV1
from shared.eventstore import Actor, ServiceApplication
from shared.projection import LogProjection
from shared.rpc import Command, NotFound
from shared.settings import ServiceSettings

from services.supervision.domain import SupervisedTask


class ListTasks(Command):
    unit_id: str | None = None
    case_id: str | None = None
    status: str | None = None


class TaskRef(Command):
    task_id: str


class SupervisionApplication(ServiceApplication):
    name = "supervision"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        super().__init__(settings)

    def today(self):
        return self.clock.now().astimezone(CHINA_TZ).date()

    def on_task_assigned(self, event: TaskAssignedV1) -> list[Any]:
        try:
            self.repository.get(UUID(event.task_id))
            return []
        except AggregateNotFoundError:
            pass
        task = SupervisedTask(
            task_id=event.task_id,
            case_id=event.case_id,
            unit_id=event.unit_id,
            role=event.role,
            deadline=event.deadline,
            opened_at=event.occurred_at,
            title=event.title,
            category=event.category,
            urgency=event.urgency,
            number=event.number,
        )
        return [task]

    def get_task(self, ref: TaskRef, actor: Actor) -> dict[str, Any]:
        try:
            task: SupervisedTask = self.repository.get(UUID(ref.task_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no task {ref.task_id}") from None
        if actor.role == "unit" and actor.unit_id != task.unit_id:
            raise NotFound(f"no task {ref.task_id}")
        return task.view(self.today())


class SupervisedTaskIndex(LogProjection):
    """Read model: supervised tasks per unit and case."""

    def __init__(self, app: SupervisionApplication) -> None:
        super().__init__(app)
        self.app: SupervisionApplication = app
        self.tasks: dict[str, SupervisedTask] = {}

    def clear(self) -> None:
        self.tasks.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        key = str(domain_event.originator_id)
        if isinstance(domain_event, SupervisedTask.Opened):
            self.tasks[key] = domain_event.mutate(None)
        elif key in self.tasks:
            domain_event.mutate(self.tasks[key])

    def query(self, q: ListTasks) -> list[dict[str, Any]]:
        today = self.app.today()
        views = [
            t.view(today) for t in self.tasks.values()
            if (q.unit_id is None or t.unit_id == q.unit_id)
            and (q.case_id is None or t.case_id == q.case_id)
            and (q.status is None or t.status == q.status)
        ]
        return sorted(views, key=lambda v: (v["deadline"], v["task_id"]))

"""Assignment's commands and queries over its event store."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import Field

from shared.clock import Clock, SystemClock
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import Actor, ServiceApplication
from shared.projection import LogProjection
from shared.rpc import Command, Conflict, Invalid, NotFound
from shared.settings import ServiceSettings, load_config

from services.assignment.domain import Assignment, Task, deadline_after


class AssignSuggestion(Command):
    suggestion_id: str
    lead_unit_id: str | None = None
    co_unit_ids: list[str] = Field(default_factory=list)


class CaseRef(Command):
    case_id: str


class TaskRef(Command):
    task_id: str


class ListTasks(Command):
    unit_id: str | None = None
    case_id: str | None = None


class RoutingRules:
    """Category (and optionally district) → proposed lead and co units."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules

    def match(self, category: str, district: str | None) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.get("category") != category:
                continue
            if rule.get("district") and rule["district"] != district:
                continue
            return rule
        return None


class AssignmentApplication(ServiceApplication):
    name = "assignment"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.units = {u["id"]: u for u in load_config(settings, "units")}
        self.routing = RoutingRules(load_config(settings, "routing"))
        super().__init__(settings)

    # --- reactions to upstream events ---------------------------------------------------

    def on_suggestion_registered(self, event: SuggestionRegisteredV1) -> list[Any]:
        """Open the case for assignment with the routing proposal; assign at once if automatic."""
        assignment_id = Assignment.create_id(event.case_id)
        try:
            self.repository.get(assignment_id)
            return []  # already opened (e.g. an earlier delivery under another event id)
        except AggregateNotFoundError:
            pass
        rule = self.routing.match(event.category, event.district)
        assignment = Assignment(
            case_id=event.case_id,
            number=event.number,
            title=event.title,
            category=event.category,
            urgency=event.urgency,
            district=event.district,
            proposed_lead_unit_id=rule["lead_unit"] if rule else None,
            proposed_co_unit_ids=list(rule.get("co_units", [])) if rule else [],
            routing_rule_id=rule["id"] if rule else None,
        )
        tasks: list[Task] = []
        if rule and rule.get("automatic"):
            tasks = assignment.assign(
                rule["lead_unit"], list(rule.get("co_units", [])),
                assigned_at=event.occurred_at, automatic=True,
            )
        return [assignment, *tasks]

    # --- commands -----------------------------------------------------------------------

    def assign_suggestion(self, cmd: AssignSuggestion, actor: Actor) -> dict[str, Any]:
        assignment = self._assignment(cmd.suggestion_id)
        lead = cmd.lead_unit_id or assignment.proposed_lead_unit_id
        co = cmd.co_unit_ids if cmd.lead_unit_id else (cmd.co_unit_ids or assignment.proposed_co_unit_ids)
        if not lead:
            raise Invalid.field(["body", "lead_unit_id"], "no routing rule proposes a unit; name the lead unit")
        errors = []
        if lead not in self.units:
            errors.append({"loc": ["body", "lead_unit_id"], "msg": f"unknown unit {lead!r}"})
        for i, unit in enumerate(co):
            if unit not in self.units:
                errors.append({"loc": ["body", "co_unit_ids", i], "msg": f"unknown unit {unit!r}"})
            elif unit == lead:
                errors.append({"loc": ["body", "co_unit_ids", i], "msg": "a co-unit cannot be the lead unit"})
        if len(set(co)) != len(co):
            errors.append({"loc": ["body", "co_unit_ids"], "msg": "duplicate co-units"})
        if errors:
            raise Invalid("the assignment has invalid fields", errors)
        tasks = assignment.assign(lead, co, assigned_at=self.clock.now(), automatic=False)
        try:
            self.save(assignment, *tasks)
        except IntegrityError:
            current = self._assignment(cmd.suggestion_id)
            raise Conflict("the suggestion was assigned meanwhile", current=current.view()) from None
        return {"task_ids": [str(t.id) for t in tasks], **assignment.view()}

    # --- queries ------------------------------------------------------------------------

    def case_assignment(self, ref: CaseRef, actor: Actor) -> dict[str, Any]:
        assignment = self._assignment(ref.case_id)
        view = assignment.view()
        view["tasks"] = [self.repository.get(UUID(t)).view() for t in assignment.task_ids]
        return view

    def get_task(self, ref: TaskRef, actor: Actor) -> dict[str, Any]:
        try:
            task: Task = self.repository.get(UUID(ref.task_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no task {ref.task_id}") from None
        if actor.role == "unit" and actor.unit_id != task.unit_id:
            raise NotFound(f"no task {ref.task_id}")
        return task.view()

    def _assignment(self, case_id: str) -> Assignment:
        try:
            return self.repository.get(Assignment.create_id(case_id))
        except AggregateNotFoundError:
            raise NotFound(f"suggestion {case_id} is not registered for assignment (yet)") from None


class TaskIndex(LogProjection):
    """Read model: tasks per unit and per case."""

    def __init__(self, app: AssignmentApplication) -> None:
        super().__init__(app)
        self.tasks: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        self.tasks.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if isinstance(domain_event, Task.Assigned):
            self.tasks[str(domain_event.originator_id)] = {
                "task_id": str(domain_event.originator_id),
                "case_id": domain_event.case_id,
                "unit_id": domain_event.unit_id,
                "role": domain_event.role,
                "deadline": _deadline(domain_event).isoformat(),
                "title": domain_event.title,
                "number": domain_event.number,
            }

    def query(self, q: ListTasks) -> list[dict[str, Any]]:
        return sorted(
            (t for t in self.tasks.values()
             if (q.unit_id is None or t["unit_id"] == q.unit_id)
             and (q.case_id is None or t["case_id"] == q.case_id)),
            key=lambda t: (t["deadline"], t["task_id"]),
        )


def _deadline(event: Any) -> date:
    return deadline_after(event.assigned_at, event.time_limit_months)

"""Assignment's aggregates: the assignment of a case, and each handling unit's task."""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from dateutil.relativedelta import relativedelta
from eventsourcing.domain import Aggregate, event

from shared.clock import CHINA_TZ
from shared.rpc import Conflict


class Assignment(Aggregate):
    """One per registered case: the routing proposal, then the units that handle it."""

    @staticmethod
    def create_id(case_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:assignment:{case_id}")

    @event("Opened")
    def __init__(
        self,
        case_id: str,
        number: str | None,
        title: str,
        category: str,
        urgency: str,
        district: str | None,
        proposed_lead_unit_id: str | None,
        proposed_co_unit_ids: list[str],
        routing_rule_id: str | None,
    ) -> None:
        self.case_id = case_id
        self.number = number
        self.title = title
        self.category = category
        self.urgency = urgency
        self.district = district
        self.proposed_lead_unit_id = proposed_lead_unit_id
        self.proposed_co_unit_ids = list(proposed_co_unit_ids)
        self.routing_rule_id = routing_rule_id
        self.status = "proposed"
        self.lead_unit_id: str | None = None
        self.co_unit_ids: list[str] = []
        self.task_ids: list[str] = []
        self.assigned_at: datetime | None = None

    def assign(
        self,
        lead_unit_id: str,
        co_unit_ids: list[str],
        assigned_at: datetime,
        automatic: bool,
    ) -> list[Task]:
        if self.status == "assigned":
            raise Conflict("the suggestion is already assigned", current=self.view())
        tasks = [Task.for_unit(self, lead_unit_id, "lead", assigned_at)]
        tasks += [Task.for_unit(self, unit, "co", assigned_at) for unit in co_unit_ids]
        self._assigned(
            lead_unit_id=lead_unit_id,
            co_unit_ids=list(co_unit_ids),
            task_ids=[str(t.id) for t in tasks],
            assigned_at=assigned_at,
            automatic=automatic,
        )
        return tasks

    @event("Assigned")
    def _assigned(
        self,
        lead_unit_id: str,
        co_unit_ids: list[str],
        task_ids: list[str],
        assigned_at: datetime,
        automatic: bool,
    ) -> None:
        self.status = "assigned"
        self.lead_unit_id = lead_unit_id
        self.co_unit_ids = co_unit_ids
        self.task_ids = task_ids
        self.assigned_at = assigned_at
        self.automatic = automatic

    def view(self) -> dict:
        return {
            "case_id": self.case_id,
            "status": self.status,
            "proposed_lead_unit_id": self.proposed_lead_unit_id,
            "proposed_co_unit_ids": self.proposed_co_unit_ids,
            "routing_rule_id": self.routing_rule_id,
            "lead_unit_id": self.lead_unit_id,
            "co_unit_ids": self.co_unit_ids,
            "task_ids": self.task_ids,
            "assigned_at": self.assigned_at.isoformat() if self.assigned_at else None,
        }


# By law a deputy suggestion is answered within three months of assignment.
SUGGESTION_TIME_LIMIT_MONTHS = 3


class Task(Aggregate):
    """One handling unit's task for a case. Its deadline is derived from the events."""

    @staticmethod
    def create_id(case_id: str, unit_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:task:{case_id}:{unit_id}")

    @classmethod
    def for_unit(cls, assignment: Assignment, unit_id: str, role: str, assigned_at: datetime) -> Task:
        return cls(
            case_id=assignment.case_id,
            unit_id=unit_id,
            role=role,
            assigned_at=assigned_at,
            time_limit_months=SUGGESTION_TIME_LIMIT_MONTHS,
            title=assignment.title,
            category=assignment.category,
            urgency=assignment.urgency,
            number=assignment.number,
        )

    @event("Assigned")
    def __init__(
        self,
        case_id: str,
        unit_id: str,
        role: str,
        assigned_at: datetime,
        time_limit_months: int,
        title: str,
        category: str,
        urgency: str,
        number: str | None,
    ) -> None:
        self.case_id = case_id
        self.unit_id = unit_id
        self.role = role
        self.assigned_at = assigned_at
        self.time_limit_months = time_limit_months
        self.title = title
        self.category = category
        self.urgency = urgency
        self.number = number

    @property
    def deadline(self) -> date:
        return deadline_after(self.assigned_at, self.time_limit_months)

    def view(self) -> dict:
        return {
            "task_id": str(self.id),
            "case_id": self.case_id,
            "unit_id": self.unit_id,
            "role": self.role,
            "assigned_at": self.assigned_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "title": self.title,
            "category": self.category,
            "urgency": self.urgency,
            "number": self.number,
        }


def deadline_after(assigned_at: datetime, months: int) -> date:
    return assigned_at.astimezone(CHINA_TZ).date() + relativedelta(months=months)

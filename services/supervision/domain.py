"""Supervision's aggregates: the tracked task of one handling unit."""

from __future__ import annotations

from datetime import date, datetime

from uuid import UUID

from eventsourcing.domain import Aggregate, event


class SupervisedTask(Aggregate):
    """A task under supervision: its deadline clock starts when it is opened.

    Its id is the assignment service's task id, so opening the same task twice conflicts.
    """

    @staticmethod
    def create_id(task_id: str) -> UUID:
        return UUID(task_id)

    @event("Opened")
    def __init__(
        self,
        task_id: str,
        case_id: str,
        unit_id: str,
        role: str,
        deadline: date,
        opened_at: datetime,
        title: str,
        category: str,
        urgency: str,
        number: str | None,
    ) -> None:
        self.case_id = case_id
        self.unit_id = unit_id
        self.role = role
        self.deadline = deadline
        self.opened_at = opened_at
        self.title = title
        self.category = category
        self.urgency = urgency
        self.number = number
        self.status = "open"

    def colour(self, today: date, warning_days: int = 10) -> str:
        if self.status == "closed":
            return "closed"
        if today > self.deadline:
            return "red"
        if (self.deadline - today).days <= warning_days:
            return "yellow"
        return "green"

    def view(self, today: date) -> dict:
        return {
            "task_id": str(self.id),
            "case_id": self.case_id,
            "unit_id": self.unit_id,
            "role": self.role,
            "deadline": self.deadline.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "title": self.title,
            "category": self.category,
            "urgency": self.urgency,
            "number": self.number,
            "status": self.status,
            "colour": self.colour(today),
        }

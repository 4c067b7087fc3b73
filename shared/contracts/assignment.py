"""Events published by the assignment service."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent
from shared.contracts.leadership import flagged_with_leadership


class _Assignment(IntegrationEvent):
    producer: ClassVar[str] = "assignment"


class SuggestionAssignedV1(_Assignment):
    name: ClassVar[str] = "suggestion_assigned"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "A registered suggestion was assigned (交办) to a lead unit and co-units."
    consumers: ClassVar[tuple[str, ...]] = ()

    lead_unit_id: str
    co_unit_ids: list[str] = Field(default_factory=list)
    task_ids: list[str]
    routing_rule_id: str | None = None
    automatic: bool = False


class TaskAssignedV1(_Assignment):
    name: ClassVar[str] = "task_assigned"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "One handling unit's task for a case, with its deadline (办理时限)."
    consumers: ClassVar[tuple[str, ...]] = ("notifications", "supervision")

    task_id: str
    unit_id: str
    role: Literal["lead", "co"]
    assigned_at: datetime
    deadline: date
    title: str
    category: str
    urgency: Literal["red", "yellow", "blue"]
    number: str | None = None
    case_kind: Literal["suggestion", "message"] = Field(
        "suggestion", description="a deputy suggestion, or a citizen message forwarded for feedback")


class TaskWithdrawnV1(_Assignment):
    name: ClassVar[str] = "task_withdrawn"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A unit's task was withdrawn: the office reassigned the work, usually accepting the "
        "unit's return request (replaced_by_task_id is the new unit's task, announced by its "
        "own task_assigned), or the suggestion's registration was reversed (no replacement). "
        "The old task's clock stops; its history is kept."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications", "supervision")

    task_id: str
    unit_id: str
    reason: str
    replaced_by_task_id: str | None = None


class LeadershipDesignatedV1(_Assignment):
    name: ClassVar[str] = "leadership_designated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office designated a leader or a special committee to lead (领导领办) or to "
        "supervise (重点督办) a case. Supervision escalates overdue work to the designee."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications", "supervision")

    designee_id: str
    designee_name: str
    designee_kind: Literal["leader", "committee"]
    mode: Literal["lead", "supervise"]


class TaskReturnRequestedV1(_Assignment):
    name: ClassVar[str] = "task_return_requested"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A handling unit asked to return (申请退回) its task within the return window, with a "
        "reason; the office reassigns it (task_withdrawn + task_assigned) or refuses "
        "(task_return_refused). Published for the audit trail."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    task_id: str
    unit_id: str
    reason: str
    window_end: date = Field(description="the last day of the return window")


class TaskReturnRefusedV1(_Assignment):
    name: ClassVar[str] = "task_return_refused"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office refused a unit's return request: the task stays with the unit and its "
        "deadline is unchanged. Published for the audit trail."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    task_id: str
    unit_id: str
    reason: str


class TaskDeadlineChangedV1(_Assignment):
    name: ClassVar[str] = "task_deadline_changed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office paused (暂停计时) or resumed a task's clock. While paused the deadline "
        "does not run; on resumption it moves on by the working days the clock stood still."
    )
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

    task_id: str
    unit_id: str
    paused: bool
    deadline: date = Field(description="the deadline now in force (moved on after a pause)")
    reason: str | None = None


# --- v2: the same events flagged with the case's leadership (shared/contracts/leadership.py)

SuggestionAssignedV2 = flagged_with_leadership(SuggestionAssignedV1)
TaskAssignedV2 = flagged_with_leadership(TaskAssignedV1)
TaskWithdrawnV2 = flagged_with_leadership(TaskWithdrawnV1)
TaskReturnRequestedV2 = flagged_with_leadership(TaskReturnRequestedV1)
TaskReturnRefusedV2 = flagged_with_leadership(TaskReturnRefusedV1)
TaskDeadlineChangedV2 = flagged_with_leadership(TaskDeadlineChangedV1)

"""Events published by the assignment service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent


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
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

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
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

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
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

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
    consumers: ClassVar[tuple[str, ...]] = ()

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
    consumers: ClassVar[tuple[str, ...]] = ()

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


# --- v2: the same events, each flagged with the case's leadership designation ---------------
# Published beside v1 for every notification (Nats-Msg-Id ``<event_id>.v2``); the v1 subjects
# stay as they are for their subscribers.

class Leadership(BaseModel):
    """The case's leadership designation (领导领办 / 重点督办) when the event was recorded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    designee_id: str
    designee_name: str
    designee_kind: Literal["leader", "committee"]
    mode: Literal["lead", "supervise"] = Field(description="lead (领办) or supervise (重点督办)")
    designated_at: datetime | None = None


_FLAGGED = (" v2 adds `leadership`: the case's leadership designation (领导领办 / 重点督办) "
            "in force when the event was recorded, or null when none.")


def _leadership_field() -> Any:
    return Field(None, description="the leader or committee leading or supervising the case "
                                   "when this was recorded (null: none designated)")


class SuggestionAssignedV2(SuggestionAssignedV1):
    name: ClassVar[str] = "suggestion_assigned"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = SuggestionAssignedV1.summary + _FLAGGED
    consumers: ClassVar[tuple[str, ...]] = ()

    leadership: Leadership | None = _leadership_field()


class TaskAssignedV2(TaskAssignedV1):
    name: ClassVar[str] = "task_assigned"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = TaskAssignedV1.summary + _FLAGGED
    consumers: ClassVar[tuple[str, ...]] = ()

    leadership: Leadership | None = _leadership_field()


class TaskWithdrawnV2(TaskWithdrawnV1):
    name: ClassVar[str] = "task_withdrawn"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = TaskWithdrawnV1.summary + _FLAGGED
    consumers: ClassVar[tuple[str, ...]] = ()

    leadership: Leadership | None = _leadership_field()


class TaskReturnRequestedV2(TaskReturnRequestedV1):
    name: ClassVar[str] = "task_return_requested"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = TaskReturnRequestedV1.summary + _FLAGGED
    consumers: ClassVar[tuple[str, ...]] = ()

    leadership: Leadership | None = _leadership_field()


class TaskReturnRefusedV2(TaskReturnRefusedV1):
    name: ClassVar[str] = "task_return_refused"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = TaskReturnRefusedV1.summary + _FLAGGED
    consumers: ClassVar[tuple[str, ...]] = ()

    leadership: Leadership | None = _leadership_field()


class TaskDeadlineChangedV2(TaskDeadlineChangedV1):
    name: ClassVar[str] = "task_deadline_changed"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = TaskDeadlineChangedV1.summary + _FLAGGED
    consumers: ClassVar[tuple[str, ...]] = ()

    leadership: Leadership | None = _leadership_field()


FLAGGED_V2: dict[type[IntegrationEvent], type[IntegrationEvent]] = {
    SuggestionAssignedV1: SuggestionAssignedV2,
    TaskAssignedV1: TaskAssignedV2,
    TaskWithdrawnV1: TaskWithdrawnV2,
    TaskReturnRequestedV1: TaskReturnRequestedV2,
    TaskReturnRefusedV1: TaskReturnRefusedV2,
    TaskDeadlineChangedV1: TaskDeadlineChangedV2,
}


def with_leadership(event: IntegrationEvent,
                    leadership: dict[str, Any] | None) -> list[IntegrationEvent]:
    """The v1 event and, where one exists, its v2 flagged with ``leadership``."""
    v2 = FLAGGED_V2.get(type(event))
    if v2 is None:
        return [event]
    return [event, v2(**dict(event), leadership=leadership)]

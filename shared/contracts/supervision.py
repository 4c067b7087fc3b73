"""Events published by the supervision service."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent
from shared.contracts.leadership import flagged_with_leadership


class _Supervision(IntegrationEvent):
    producer: ClassVar[str] = "supervision"


class TaskOpenedV1(_Supervision):
    name: ClassVar[str] = "task_opened"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "Supervision opened a tracked task and started its deadline clock."
    consumers: ClassVar[tuple[str, ...]] = ()

    task_id: str
    unit_id: str
    role: Literal["lead", "co"]
    deadline: date


ResultClass = Literal["A", "B", "C"]
Rating = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class TaskSignedForV1(_Supervision):
    name: ClassVar[str] = "task_signed_for"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "A handling unit signed for (签收) its task."
    consumers: ClassVar[tuple[str, ...]] = ()

    task_id: str
    unit_id: str


class ReplySubmittedV1(_Supervision):
    name: ClassVar[str] = "reply_submitted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The lead unit replied (答复) with a result class: A solved or adopted, B being solved "
        "or planned (with a commitment date), C explained for reference. Deputies may now rate."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "notifications")  # intake: v3

    task_id: str
    unit_id: str
    result_class: ResultClass
    commitment_date: date | None = None
    round: int = Field(ge=1, description="1 for the first handling, 2+ for re-handling rounds")
    on_time: bool = Field(description="replied on or before the task's deadline")


class SuggestionRatedV1(_Supervision):
    name: ClassVar[str] = "suggestion_rated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "A deputy of the suggestion rated the reply of the current round (测评)."
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    deputy_id: str
    rating: Rating
    round: int = Field(ge=1)
    result_class: ResultClass


class RatingLapsedV1(_Supervision):
    name: ClassVar[str] = "rating_lapsed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "Deputies did not rate within the rating period; recorded as no rating, which does not "
        "block close-out."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    deputy_ids: list[str]
    round: int = Field(ge=1)


class RehandlingStartedV1(_Supervision):
    name: ClassVar[str] = "rehandling_started"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "An unsatisfied rating or a failed follow-up review reopened the case (重新办理): the "
        "lead task has a new deadline and must reply again."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "notifications")

    round: int = Field(ge=2)
    task_id: str
    unit_id: str
    deadline: date
    reason: Literal["unsatisfied", "review_not_kept", "review_partly_kept"]


class FollowUpReviewScheduledV1(_Supervision):
    name: ClassVar[str] = "follow_up_review_scheduled"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A follow-up review (回头看) is due on due_on: the reply was class B (due at its "
        "commitment date) or a deputy rated it basically satisfied."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    review_id: str
    due_on: date
    reason: Literal["class_b_commitment", "basically_satisfied"]


class FollowUpReviewRecordedV1(_Supervision):
    name: ClassVar[str] = "follow_up_review_recorded"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "The outcome of a follow-up review: kept, partly kept or not kept."
    consumers: ClassVar[tuple[str, ...]] = ()

    review_id: str
    outcome: Literal["kept", "partly_kept", "not_kept"]
    reopened: bool


class DeadlineWarningV1(_Supervision):
    name: ClassVar[str] = "deadline_warning"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A task crossed a deadline threshold: yellow (a configured number of working days "
        "before the deadline) or red (overdue). Emitted once per task, threshold and deadline."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    task_id: str
    unit_id: str
    level: Literal["yellow", "red"]
    deadline: date


class CaseEscalatedV1(_Supervision):
    name: ClassVar[str] = "case_escalated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A case was escalated to its supervising leader or committee (or the office when none "
        "is designated): a task is overdue by more than the configured days, or re-handling "
        "went past the cap of rounds."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    reason: Literal["overdue", "rehandling_cap"]
    escalated_to: str
    task_id: str | None = None


class CaseClosedV1(_Supervision):
    name: ClassVar[str] = "case_closed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office closed out (销号) a case: it has a reply, ratings (or their recorded "
        "absence) and no due follow-up review. all_satisfied is true when every deputy who "
        "rated the last round rated it satisfied and at least one did."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "intake", "points")

    case_kind: Literal["suggestion", "message"] = "suggestion"
    result_class: ResultClass
    lead_deputy_id: str | None = None
    co_signer_ids: list[str] = Field(default_factory=list)
    ratings: dict[str, Rating | None] = Field(
        default_factory=dict, description="deputy id → last round's rating (null: lapsed)")
    all_satisfied: bool
    rounds: int = Field(ge=1)
    replied_on_time: bool


class CoOpinionSubmittedV1(_Supervision):
    name: ClassVar[str] = "co_opinion_submitted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A co-handling unit sent its opinion (会办意见) to the lead unit: its part of the case "
        "is done (the text stays in supervision)."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment",)

    task_id: str
    unit_id: str
    on_time: bool


# --- v2: the same events flagged with the case's leadership (shared/contracts/leadership.py)

TaskOpenedV2 = flagged_with_leadership(TaskOpenedV1)
TaskSignedForV2 = flagged_with_leadership(TaskSignedForV1)
ReplySubmittedV2 = flagged_with_leadership(ReplySubmittedV1)
SuggestionRatedV2 = flagged_with_leadership(SuggestionRatedV1)
RatingLapsedV2 = flagged_with_leadership(RatingLapsedV1)
RehandlingStartedV2 = flagged_with_leadership(RehandlingStartedV1)
FollowUpReviewScheduledV2 = flagged_with_leadership(FollowUpReviewScheduledV1)
FollowUpReviewRecordedV2 = flagged_with_leadership(FollowUpReviewRecordedV1)
DeadlineWarningV2 = flagged_with_leadership(DeadlineWarningV1)
CaseEscalatedV2 = flagged_with_leadership(CaseEscalatedV1)
CaseClosedV2 = flagged_with_leadership(CaseClosedV1)
CoOpinionSubmittedV2 = flagged_with_leadership(CoOpinionSubmittedV1)


# --- v3 of reply_submitted: the reply's text, for the citizen whose message it answers ----------

class ReplySubmittedV3(ReplySubmittedV2):  # type: ignore[valid-type,misc]
    name: ClassVar[str] = "reply_submitted"
    version: ClassVar[int] = 3
    summary: ClassVar[str] = (
        "The lead unit replied (答复), with the text of its reply: intake shows it to the citizen "
        "whose message the case answers (on the follow-up page, by their token; never on "
        "Open311 or the public page). v3 adds `reply_text` to v2.")
    consumers: ClassVar[tuple[str, ...]] = ("intake",)

    reply_text: str = Field(description="the unit's reply as written (may hold names and "
                                        "phone numbers: shown only to the message's citizen "
                                        "and staff)")

"""Events published by the intake service (suggestions and citizen messages)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent

Urgency = Literal["red", "yellow", "blue"]


class _Intake(IntegrationEvent):
    producer: ClassVar[str] = "intake"


class SuggestionSubmittedV1(_Intake):
    name: ClassVar[str] = "suggestion_submitted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "A deputy submitted a suggestion (not yet registered)."
    consumers: ClassVar[tuple[str, ...]] = ()

    title: str
    category: str
    lead_deputy_id: str
    co_signer_ids: list[str] = Field(default_factory=list)
    station_id: str | None = None


class SuggestionRegisteredV1(_Intake):
    name: ClassVar[str] = "suggestion_registered"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office registered (立案) a suggestion: it has a yearly number, a category and an "
        "urgency, and is ready to be assigned."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "notifications", "points", "supervision")

    number: str = Field(description="yearly registration number, e.g. 2026-0001")
    title: str
    category: str
    urgency: Urgency
    lead_deputy_id: str
    co_signer_ids: list[str] = Field(default_factory=list)
    station_id: str | None = None
    district: str | None = None


class SuggestionDeclinedV1(_Intake):
    name: ClassVar[str] = "suggestion_declined"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "The office did not register a suggestion; it is kept as a reference opinion."
    consumers: ClassVar[tuple[str, ...]] = ()

    reason: str
    lead_deputy_id: str


class SuggestionRegistrationReversedV1(_Intake):
    name: ClassVar[str] = "suggestion_registration_reversed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office reversed (撤销立案) a suggestion's registration, which it may do until the "
        "lead unit replies: the suggestion waits for "
        "review again (it may be registered anew under a new number, or declined). The number "
        "stays allocated and is not reused. Assignment withdraws the case's tasks; points "
        "revokes the registration points of the lead deputy and co-signers."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "points")

    number: str = Field(description="the registration number that was reversed")
    reason: str
    lead_deputy_id: str
    co_signer_ids: list[str] = Field(default_factory=list)


# --- citizen messages (群众意见) -------------------------------------------------------------
# No personal data travels on the bus: no name, no phone, and not the free-text content
# (a citizen may write personal details into it); consumers read the message through intake.

class CitizenMessageReceivedV1(_Intake):
    name: ClassVar[str] = "citizen_message_received"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A citizen left a message at a liaison station; it waits in the pool to be claimed. "
        "case_id is the message id. Carries no personal data and not the content."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    station_id: str
    district: str | None = None
    grid: str | None = None
    category: str | None = None
    has_contact: bool = Field(False, description="the citizen left a name or phone (kept encrypted in intake)")


class CitizenMessageReceivedV2(CitizenMessageReceivedV1):
    """Version 2, published beside version 1 for a message raised at a reception session
    (liaison service), recorded there by station staff."""

    name: ClassVar[str] = "citizen_message_received"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = (
        "A citizen raised a message at a reception session (接待日) of a liaison station, "
        "recorded there by station staff: as v1 (published beside it), with session_id. Only "
        "messages raised at a session have a v2. Carries no personal data and not the content."
    )
    consumers: ClassVar[tuple[str, ...]] = ("liaison",)

    session_id: str = Field(description="the liaison service's reception session it was "
                                        "raised at")


class MessageClaimedV1(_Intake):
    name: ClassVar[str] = "message_claimed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A deputy claimed a citizen message; the claim lapses at claim_expires_at unless the "
        "deputy answers, converts or forwards it."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    deputy_id: str
    station_id: str
    claimed_at: datetime
    claim_expires_at: datetime


class MessageForwardedV1(_Intake):
    name: ClassVar[str] = "message_forwarded"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A citizen message was forwarded to a handling unit for time-limited feedback "
        "(部门限时反馈), by the deputy holding it or by the office."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "notifications")

    unit_id: str
    station_id: str
    category: str | None = None
    deputy_id: str | None = Field(None, description="the deputy who forwarded it; null when the office did")


class MessageConvertedV1(_Intake):
    name: ClassVar[str] = "message_converted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A deputy turned a citizen message into a suggestion; the suggestion (suggestion_id) "
        "records the message it came from."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    suggestion_id: str
    deputy_id: str
    station_id: str


class MessageAnsweredV1(_Intake):
    name: ClassVar[str] = "message_answered"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The deputy holding a citizen message answered it directly (the answer text stays in "
        "intake). Closes the deputy's part of the message loop."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications", "points")

    deputy_id: str
    station_id: str


class MessageMergedV1(_Intake):
    name: ClassVar[str] = "message_merged"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office merged a citizen message still in the pool (case_id, the source) into "
        "another (into_message_id) as the same matter: the source leaves the pool and is "
        "handled with the target; its citizen is told of the target's answer or feedback."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    into_message_id: str
    station_id: str = Field(description="the source message's station")
    score: float | None = Field(None, description="similarity score shown to the office when merging")


class MessageMergeUndoneV1(_Intake):
    name: ClassVar[str] = "message_merge_undone"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office undid a message's merge: the source (case_id) is back in the pool, on its "
        "own; consumers reverse what they did on message_merged."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    into_message_id: str
    station_id: str = Field(description="the source message's station")
    reason: str = Field(description="why the office undid the merge")


class MessageRatedV1(_Intake):
    name: ClassVar[str] = "message_rated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The citizen rated the outcome of their message with the follow-up token; the message "
        "is closed."
    )
    consumers: ClassVar[tuple[str, ...]] = ("supervision", "points")

    rating: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    station_id: str
    handled_by: Literal["deputy", "suggestion", "unit"] = Field(
        description="how the message was handled: answered by a deputy, converted, or forwarded")
    deputy_id: str | None = Field(None, description="the deputy who held the message, if any")


class PersonalDataErasedV1(_Intake):
    name: ClassVar[str] = "personal_data_erased"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The personal data of a citizen message's poster was erased (key deleted); every event "
        "stays readable with the personal fields shown as erased."
    )
    consumers: ClassVar[tuple[str, ...]] = ()


class SuggestionMergedV1(_Intake):
    name: ClassVar[str] = "suggestion_merged"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office merged a suggestion (case_id, the source) into another (into_suggestion_id) "
        "as the same matter: the source is handled, rated and counted through the target; its "
        "deputies rate the target's reply. A merge of a registered source moves its "
        "registration, so registration points earned by the source are revoked."
    )
    consumers: ClassVar[tuple[str, ...]] = ("supervision", "points", "notifications")

    into_suggestion_id: str
    lead_deputy_id: str = Field(description="the source's lead deputy")
    co_signer_ids: list[str] = Field(default_factory=list, description="the source's co-signers")
    source_number: str | None = Field(None, description="the source's registration number, if it had one")
    score: float | None = Field(None, description="similarity score shown to the office when merging")


class SuggestionMergeUndoneV1(_Intake):
    name: ClassVar[str] = "suggestion_merge_undone"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office undid a merge: the source (case_id) stands on its own again, in the state it "
        "had before the merge; consumers reverse what they did on suggestion_merged."
    )
    consumers: ClassVar[tuple[str, ...]] = ("supervision", "points", "notifications")

    into_suggestion_id: str
    lead_deputy_id: str
    co_signer_ids: list[str] = Field(default_factory=list)
    reason: str

"""The intake service's requests: suggestions (submission, registration 立案, decline, reversal,
merging and similar matters), citizen messages (群众意见: posted anonymously at a station or
through Open311, claimed, answered, converted, forwarded, rated by the citizen with the
follow-up token), personal data, published results and reference data.

Anonymous callers (the station's QR form, Open311, the public results, the citizen's
follow-up page) reach the requests that admit ``anonymous``; where a follow-up token decides
(a message's view, its rating) the service checks it."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from shared.contracts.requests import (
    ANONYMOUS,
    DEPUTY,
    EVERYONE,
    OFFICE,
    OPS,
    STAFF,
    STATION,
    SYSTEM,
    Command,
    Query,
)
from shared.contracts.requests.limits import (
    CONTACT_NAME_MAX,
    NOTE_MAX,
    REASON_MAX,
    SEARCH_MAX,
    SIMILAR_DEFAULT,
    SIMILAR_MAX,
    TEXT_MAX,
    TITLE_MAX,
    TOKEN_MAX,
    Note,
    Phone,
    Rating,
    Reason,
    Text,
    Title,
    Urgency,
)
from shared.contracts.requests.limits import AttachmentRef
from shared.paging import PageQuery, Year

DEPUTY_OR_OFFICE = DEPUTY | OFFICE
READERS = STAFF | SYSTEM  # staff, and tools acting for the system (ops/verify.py)


class IntakeCommand(Command):
    service: ClassVar[str] = "intake"


class IntakeQuery(Query):
    service: ClassVar[str] = "intake"


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


def year_field(value: Any) -> Any:
    """A list's year: a 4-digit year (as a number or text), 'all', or absent."""
    if value is None or value == "all":
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 9999:
        return value
    raise ValueError("year is a 4-digit year or 'all'")


# --- abstract references (the declared requests below) ----------------------------------------

class SuggestionRef(IntakeQuery):
    """A request naming a suggestion."""

    suggestion_id: str


class MessageRef(IntakeCommand):
    """A request naming a message (a query route may still record a lapsed claim's release,
    so these are commands: the relay is woken after them)."""

    message_id: str
    token: str | None = Field(None, max_length=TOKEN_MAX)
    # Why the office opens the personal data (kept in the access log), e.g. "回访" (follow-up call).
    purpose: str | None = Field(None, max_length=200)


# --- suggestions ------------------------------------------------------------------------------

class SubmitSuggestion(IntakeCommand):
    """A deputy submits a suggestion (as its lead deputy, with co-signers)."""

    name: ClassVar[str] = "submit_suggestion"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"title": "建议加装老旧小区电梯",
                             "body": "老人上下楼困难，建议纳入加装计划。",
                             "category": "livelihood", "co_signers": ["deputy-2"],
                             "station_id": "station-fengjie"})

    title: Title = Field(examples=["小区路灯长期不亮"])
    body: Text
    category: str = Field(examples=["safety_hazard"])
    co_signers: list[str] = Field(default_factory=list, max_length=50)
    station_id: str | None = None


class RegisterSuggestion(IntakeCommand):
    """The office registers (立案) a suggestion: its number, category and urgency."""

    name: ClassVar[str] = "register_suggestion"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1", "category": "livelihood",
                             "urgency": "yellow"})

    suggestion_id: str
    category: str | None = None
    urgency: Urgency = Field(examples=["yellow"])


class DeclineSuggestion(IntakeCommand):
    """The office declines (不予立案) a suggestion, with the reason."""

    name: ClassVar[str] = "decline_suggestion"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1",
                             "reason": "属于司法程序事项，不作为代表建议办理"})

    suggestion_id: str
    reason: Reason


class ReverseRegistration(IntakeCommand):
    """The office reverses a registration (撤销立案): the suggestion waits for review again."""

    name: ClassVar[str] = "reverse_registration"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1",
                             "reason": "误将司法诉讼事项立案，撤销后转为参阅件"})

    suggestion_id: str
    reason: Reason


class MergeSuggestion(IntakeCommand):
    """The office merges a suggestion into another as the same matter."""

    name: ClassVar[str] = "merge_suggestion"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1", "into": "S-2026-0001"})

    suggestion_id: str
    into: str = Field(min_length=1, description="the suggestion this one is merged into")


class UndoMerge(IntakeCommand):
    """The office undoes a merge: the source gets back the state it had before."""

    name: ClassVar[str] = "undo_merge"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1",
                             "reason": "两件建议所涉小区不同，不属同一事项"})

    suggestion_id: str
    reason: Reason


class AttachToSuggestion(IntakeCommand):
    """A file on a suggestion (a deputy of it, or the office), uploaded first
    (POST /api/v1/attachments): recorded by an event of the suggestion."""

    name: ClassVar[str] = "attach_to_suggestion"
    roles: ClassVar[frozenset[str]] = DEPUTY | OFFICE
    model_config = _example({"suggestion_id": "S-1", "attachment": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "name": "现场照片.jpg"}})

    suggestion_id: str
    attachment: AttachmentRef


class GetSuggestion(SuggestionRef):
    """One suggestion (a deputy: only their own; a unit: only registered ones)."""

    name: ClassVar[str] = "get_suggestion"
    roles: ClassVar[frozenset[str]] = READERS

    suggestion_id: str


class SimilarRef(SuggestionRef):
    """The best earlier candidates for the same matter as a suggestion (office)."""

    name: ClassVar[str] = "similar_suggestions"
    roles: ClassVar[frozenset[str]] = OFFICE
    reply: ClassVar[Any] = list[dict[str, Any]]

    suggestion_id: str
    limit: int = Field(SIMILAR_DEFAULT, ge=1, le=SIMILAR_MAX)


class ListSuggestions(IntakeQuery, PageQuery):
    """Suggestions, oldest submission first (submitted_at, id). A deputy: their own; a unit:
    only by ``ids`` of its tasks, registered ones."""

    name: ClassVar[str] = "list_suggestions"
    roles: ClassVar[frozenset[str]] = READERS
    reply: ClassVar[Any] = Any  # a page; a bare list for a caller without paging (ops)

    status: str | None = None
    category: str | None = None
    urgency: str | None = None
    deputy_id: str | None = None
    q: str | None = Field(None, max_length=SEARCH_MAX,
                          description="a number (2026-0001) or words of the title or body")
    year: Year = Field(None, description="submission year (China time); absent: the current "
                                         "year; 'all': every year")
    ids: list[str] | None = Field(None, max_length=500,
                                  description="only these suggestions (a page of them)")
    registered_only: bool = Field(False, description="without the unregistered ones "
                                                     "(submitted, declined): a unit's list")

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, value: Any) -> Any:
        return year_field(value)


# --- citizen messages -------------------------------------------------------------------------

class PostMessage(IntakeCommand):
    """A citizen leaves a message at a station (anonymous: the QR form, Open311)."""

    name: ClassVar[str] = "post_message"
    roles: ClassVar[frozenset[str]] = EVERYONE
    model_config = _example({"station_id": "station-fengjie",
                             "content": "小区路灯长期不亮，夜间出行不便",
                             "category": "safety_hazard", "contact_name": "李女士",
                             "contact_phone": "13812345678", "grid": "鱼复-01"})

    station_id: str
    content: Note = Field(examples=["小区路灯长期不亮，夜间出行不便"])
    category: str | None = Field(None, examples=["safety_hazard"])
    contact_name: str | None = Field(None, min_length=1, max_length=CONTACT_NAME_MAX)
    contact_phone: Phone | None = Field(
        None, examples=["13812345678"],
        description="kept encrypted; shown masked (138****5678) to everyone but the office")
    grid: str | None = Field(None, examples=["鱼复-01"])


class PostMessageV2(PostMessage):
    """Version 2 of ``post_message``: station staff (or the office) record a message a
    citizen raised at a reception session (``session_id``, the liaison service's; optional),
    published as citizen_message_received v2 so the session lists it."""

    name: ClassVar[str] = "post_message_v2"
    roles: ClassVar[frozenset[str]] = OFFICE | STATION
    model_config = _example({"station_id": "station-fengjie",
                             "session_id": "5b0c8f9e-3b1a-4f0e-9a51-0d6f1d3c2a11",
                             "content": "小区路灯长期不亮，夜间出行不便",
                             "contact_name": "李女士", "contact_phone": "13812345678"})

    session_id: str | None = Field(None, max_length=100,
                                   description="the reception session it was raised at")


class PostMessageToDeputy(IntakeCommand):
    """A citizen leaves a message for one deputy directly, through the deputy's own QR code
    (亮身份、亮代表码; anonymous): received at the deputy's station (as ``post_message``) and
    held by that deputy at once (claimed for them; a claim not taken up in the claim time
    returns the message to the station's pool, as any claim)."""

    name: ClassVar[str] = "post_message_to_deputy"
    roles: ClassVar[frozenset[str]] = EVERYONE
    model_config = _example({"deputy_id": "deputy-1",
                             "content": "小区路灯长期不亮，夜间出行不便",
                             "category": "safety_hazard", "contact_name": "李女士",
                             "contact_phone": "13812345678"})

    deputy_id: str = Field(max_length=100)
    content: Note = Field(examples=["小区路灯长期不亮，夜间出行不便"])
    category: str | None = Field(None, examples=["safety_hazard"])
    contact_name: str | None = Field(None, min_length=1, max_length=CONTACT_NAME_MAX)
    contact_phone: Phone | None = Field(
        None, examples=["13812345678"],
        description="kept encrypted; shown masked (138****5678) to everyone but the office")
    grid: str | None = Field(None, examples=["鱼复-01"])


class ClaimMessage(MessageRef):
    """A deputy claims a message (held for the claim time limit)."""

    name: ClassVar[str] = "claim_message"
    roles: ClassVar[frozenset[str]] = DEPUTY


class GiveUpMessage(MessageRef):
    """The deputy holding a message gives it back to the pool."""

    name: ClassVar[str] = "give_up_message"
    roles: ClassVar[frozenset[str]] = DEPUTY


class AnswerMessage(IntakeCommand):
    """The deputy holding a message answers it directly."""

    name: ClassVar[str] = "answer_message"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"message_id": "M-1", "text": "已联系社区，路灯本周内修复。"})

    message_id: str
    text: Note


class ConvertMessage(IntakeCommand):
    """The deputy holding a message turns it into a suggestion."""

    name: ClassVar[str] = "convert_message"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"message_id": "M-1", "title": "建议更换滨江路老旧路灯",
                             "body": "滨江路路灯老化，夜间照明不足，建议统一更换。",
                             "category": "urban_construction"})

    message_id: str
    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX)
    body: str | None = Field(
        None, min_length=1, max_length=TEXT_MAX,
        description="The deputy's own wording; without it the suggestion carries the "
                    "citizen's text, sealed under the poster's key and erased with them.")
    category: str | None = None


class ForwardMessage(IntakeCommand):
    """A message goes to a handling unit (the deputy holding it, or the office)."""

    name: ClassVar[str] = "forward_message"
    roles: ClassVar[frozenset[str]] = DEPUTY_OR_OFFICE
    model_config = _example({"message_id": "M-1", "unit_id": "unit-a"})

    message_id: str
    unit_id: str = Field(min_length=1, examples=["unit-a"])


class RateMessage(IntakeCommand):
    """The citizen rates the handling; the follow-up token decides."""

    name: ClassVar[str] = "rate_message"
    roles: ClassVar[frozenset[str]] = EVERYONE
    model_config = _example({"message_id": "M-1", "rating": "satisfied",
                             "token": "Qx7pK2mN9vR4tL8w"})

    message_id: str
    rating: Rating = Field(examples=["satisfied"])
    token: str | None = Field(None, max_length=TOKEN_MAX,
                              description="the follow-up token (or header X-Follow-Up-Token)")


class AttachToMessage(IntakeCommand):
    """A citizen's photo or document on their message (the deputy who may see it, or the
    office, uploads what the citizen handed in; or the citizen's own photos sent with the
    message from a QR page, with its follow-up ``token``): erased with the poster's personal
    data."""

    name: ClassVar[str] = "attach_to_message"
    roles: ClassVar[frozenset[str]] = DEPUTY | OFFICE | ANONYMOUS
    model_config = _example({"message_id": "M-1", "attachment": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "name": "现场照片.jpg"}})

    message_id: str
    attachment: AttachmentRef
    token: str | None = Field(None, max_length=200, description=(
        "the poster's follow-up token: without a signed-in deputy or office, only the poster "
        "attaches a photo (JPEG or PNG) to their own unanswered message"))


class ErasePersonalData(MessageRef):
    """The office erases the poster's personal data (the history stays)."""

    name: ClassVar[str] = "erase_personal_data"
    roles: ClassVar[frozenset[str]] = OFFICE


class GetMessage(MessageRef):
    """A message: staff who may see it, anyone else with its follow-up token."""

    name: ClassVar[str] = "get_message"
    roles: ClassVar[frozenset[str]] = EVERYONE


class ListMessages(IntakeCommand, PageQuery):
    """Citizen messages, oldest receipt first (received_at, id), or newest first (staff: a
    unit those forwarded to it, a deputy those of their stations and those they hold or
    held). A command: listing may record a lapsed claim's release."""

    name: ClassVar[str] = "list_messages"
    roles: ClassVar[frozenset[str]] = STAFF

    station_id: str | None = None
    status: str | None = None
    claimed_by: str | None = Field(None, description="the deputy holding the claim")
    statuses: list[str] | None = Field(None, max_length=10)
    categories: list[str] | None = Field(None, max_length=50)
    received_from: AwareDatetime | None = None
    received_to: AwareDatetime | None = None
    newest_first: bool = False
    q: str | None = Field(None, max_length=SEARCH_MAX,
                          description="a message id (or its first characters), or at least "
                                      "3 characters of its text")
    year: Year = Field(None, description="receipt year (China time); absent: the current "
                                         "year; 'all': every year")

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, value: Any) -> Any:
        return year_field(value)


class SimilarMessagesRef(IntakeCommand):
    """The best earlier candidates for the same matter as a message (office)."""

    name: ClassVar[str] = "similar_messages"
    roles: ClassVar[frozenset[str]] = OFFICE
    reply: ClassVar[Any] = list[dict[str, Any]]

    message_id: str
    limit: int = Field(SIMILAR_DEFAULT, ge=1, le=SIMILAR_MAX)


class MergeMessage(IntakeCommand):
    """The office merges a citizen message into another as the same matter (many people
    writing about one problem): the source leaves the pool and is handled with the target;
    its citizen follows the target's answer."""

    name: ClassVar[str] = "merge_message"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"message_id": "M-1", "into": "M-2"})

    message_id: str
    into: str = Field(min_length=1, max_length=64,
                      description="the message this one is merged into")


class UndoMessageMerge(IntakeCommand):
    """The office undoes a message's merge: it goes back to the pool as it was."""

    name: ClassVar[str] = "undo_message_merge"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"message_id": "M-1", "reason": "两条留言所说的不是同一个小区"})

    message_id: str
    reason: Reason


class AccessLogRef(IntakeQuery):
    """Who read a message's personal data unmasked, when, which fields and why (office)."""

    name: ClassVar[str] = "message_access_log"
    roles: ClassVar[frozenset[str]] = OFFICE
    reply: ClassVar[Any] = list[dict[str, Any]]

    message_id: str


class ReleaseExpiredClaims(IntakeCommand):
    """Every claim past its time limit goes back to the pool (the sweep, on demand)."""

    name: ClassVar[str] = "release_expired_claims"
    roles: ClassVar[frozenset[str]] = OPS


# --- published results, the citizen's follow-up, reference data -------------------------------

class Publish(IntakeCommand):
    """The office publishes a handled suggestion's result (办理结果公开)."""

    name: ClassVar[str] = "publish_result"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1",
                             "summary": "已列入 2026 年老旧小区改造计划，年内完成加装。"})

    suggestion_id: str
    summary: str | None = Field(None, max_length=REASON_MAX, description="what is published "
                                "of the reply (default: the result class's standard "
                                "wording); no personal data")


class PublicationRef(IntakeCommand):
    """The office withdraws a publication."""

    name: ClassVar[str] = "withdraw_publication"
    roles: ClassVar[frozenset[str]] = OFFICE

    suggestion_id: str


class PublishMessage(IntakeCommand):
    """The office marks a handled citizen message public (its answer, or the handling unit's
    feedback, shown with the published results)."""

    name: ClassVar[str] = "publish_message"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"message_id": "M-1",
                             "summary": "代表已联系街道办，路灯已于本周修复。"})

    message_id: str
    summary: str | None = Field(None, max_length=REASON_MAX, description="what is published "
                                "of the answer (default: a standard wording); no personal "
                                "data")


class MessagePublicationRef(IntakeCommand):
    """The office withdraws a citizen message's publication."""

    name: ClassVar[str] = "withdraw_message_publication"
    roles: ClassVar[frozenset[str]] = OFFICE

    message_id: str


class PublicResultsQuery(IntakeQuery, PageQuery):
    """The published results (anyone), newest first."""

    name: ClassVar[str] = "public_results"
    roles: ClassVar[frozenset[str]] = EVERYONE

    q: str | None = Field(None, max_length=SEARCH_MAX,
                          description="words of the title, or a number")


class FollowUpRef(IntakeQuery):
    """What the holder of a follow-up token is shown (the citizen's follow-up page)."""

    name: ClassVar[str] = "follow_up"
    roles: ClassVar[frozenset[str]] = EVERYONE

    token: str = Field(min_length=8, max_length=TOKEN_MAX)


class Reference(IntakeQuery):
    """Categories, deputies and stations (anyone: the station pages and Open311 too)."""

    name: ClassVar[str] = "reference"
    roles: ClassVar[frozenset[str]] = EVERYONE

"""The supervision service's requests: a unit's handling of its task (签收, 办前联系, progress,
co-unit opinion, 答复), the deputies' ratings, follow-up reviews (回头看), close-out (销号), the
board, statistics, bulletins and the deadline clock."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from shared.contracts.requests import (DEPUTY, LEADER, OFFICE, OPS, STAFF, SYSTEM, UNIT,
                                       Command, Query)
from shared.contracts.requests.limits import (REASON_MAX, SEARCH_MAX, AttachmentRef,
                                              Attachments, Note, Reason, Text)
from shared.paging import MAX_LIMIT, PageQuery, Year, year_filter

HANDLING_UNIT = UNIT | OFFICE  # the unit holding the task, or the office for it
READERS = STAFF | SYSTEM  # scoped by the service: a unit its own, a deputy their cases
DEFAULT_NESTED = 50  # cases listed per board cell and in the overdue list, by default
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$"  # a month or a quarter
TEMPLATE_KEY_MAX = 64
TEMPLATE_TEXT_MAX = 2000  # the service refuses a longer template (services/supervision)


class SupervisionCommand(Command):
    service: ClassVar[str] = "supervision"


class SupervisionQuery(Query):
    service: ClassVar[str] = "supervision"


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


# --- a unit's handling of its task --------------------------------------------------------------

class TaskRef(SupervisionCommand):
    """A command on a task (abstract: the declared ones below)."""

    task_id: str


class AcknowledgeTask(TaskRef):
    """The unit signs for (签收) its task."""

    name: ClassVar[str] = "acknowledge_task"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT


class TaskNote(TaskRef):
    """A note on a task (abstract: contact, progress)."""

    model_config = _example({"task_id": "T-1", "note": "已电话联系王代表，约定现场查看时间"})

    note: Note = Field(examples=["已电话联系王代表，约定现场查看时间"])


class RecordContact(TaskNote):
    """The contact with the deputy before handling (办前联系)."""

    name: ClassVar[str] = "record_contact"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT


class NoteProgress(TaskNote):
    """A progress note."""

    name: ClassVar[str] = "note_progress"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT


class WaiveContact(TaskRef):
    """The contact before the reply waived, with a reason."""

    name: ClassVar[str] = "waive_contact"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT
    model_config = _example({"task_id": "T-1", "reason": "代表书面表示无需办前联系"})

    reason: Reason = Field(examples=["代表书面表示无需办前联系"])


class SubmitOpinion(TaskRef):
    """A co-handling unit sends its opinion to the lead unit."""

    name: ClassVar[str] = "submit_opinion"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT
    model_config = _example({"task_id": "T-1",
                             "text": "同意主办单位的办理方案，我局负责配合做好供电保障。"})

    text: Text


class ReplyToTask(TaskRef):
    """The lead unit's reply (答复) with its result class."""

    name: ClassVar[str] = "reply"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT
    model_config = _example({"task_id": "T-1", "result_class": "B",
                             "text": "已列入 2026 年老旧小区改造计划，年内完成加装。",
                             "commitment_date": "2026-12-31"})

    result_class: Literal["A", "B", "C"] = Field(
        description="A solved or adopted; B being solved or planned (needs commitment_date); "
                    "C explained, kept for reference")
    text: Text
    commitment_date: date | None = Field(None, description="required for class B")
    reply_letter: AttachmentRef | None = Field(
        None, description="the signed reply letter (答复函), uploaded first "
                          "(POST /api/v1/attachments); required for close-out where "
                          "config/supervision.yaml says reply_letter_required")

    @model_validator(mode="after")
    def _b_needs_commitment(self) -> ReplyToTask:
        if self.result_class == "B" and self.commitment_date is None:
            raise ValueError("commitment_date is required for a class B reply (being solved or planned)")
        return self


class AttachReplyLetter(TaskRef):
    """The signed reply letter (答复函) of the lead unit's reply (a co-unit: its opinion's
    letter), uploaded first (POST /api/v1/attachments), recorded on the case for the task's
    current round; also after the reply."""

    name: ClassVar[str] = "attach_reply_letter"
    roles: ClassVar[frozenset[str]] = HANDLING_UNIT
    model_config = _example({"task_id": "T-1", "attachment": {
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "name": "答复函.pdf"}})

    attachment: AttachmentRef


# --- a case: ratings, reviews, close-out ---------------------------------------------------------

class CaseRef(SupervisionCommand):
    """A command on a case (abstract: the declared ones below)."""

    case_id: str


class RateCase(CaseRef):
    """A deputy of the suggestion rates the reply; unsatisfied reopens it."""

    name: ClassVar[str] = "rate_case"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"case_id": "S-1", "rating": "basically_satisfied",
                             "attitude": "satisfied", "comment": "答复及时，希望按期完成"})

    rating: Literal["satisfied", "basically_satisfied", "unsatisfied"] = Field(
        description="the deputy's satisfaction with the result of the handling (办理结果)")
    attitude: Literal["satisfied", "basically_satisfied", "unsatisfied"] | None = Field(
        None, description="the deputy's satisfaction with the handling unit's attitude "
                          "(办理态度: contact, communication); optional, it does not reopen "
                          "the case")
    comment: str | None = Field(None, max_length=REASON_MAX)


class RecordReview(CaseRef):
    """A follow-up review's (回头看) outcome."""

    name: ClassVar[str] = "record_review"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER
    model_config = _example({"case_id": "S-1", "review_id": "r1", "outcome": "partly_kept",
                             "note": "电梯已开工，尚未完工", "reopen": False})

    review_id: str
    outcome: Literal["kept", "partly_kept", "not_kept"]
    note: Note
    reopen: bool | None = Field(None, description="partly kept: reopen for re-handling (default no)")
    evidence_files: Attachments = Field(
        default_factory=list, description="what the review found (photos, minutes), uploaded "
        "first (POST /api/v1/attachments), recorded on the case with the review")


class CloseCase(CaseRef):
    """Close out (销号): refused while a reply, rating or due review is missing."""

    name: ClassVar[str] = "close_case"
    roles: ClassVar[frozenset[str]] = OFFICE


# --- reads ----------------------------------------------------------------------------------------

class GetTask(SupervisionQuery):
    """One task with its contacts, progress, opinion, replies and warnings."""

    name: ClassVar[str] = "get_task"
    roles: ClassVar[frozenset[str]] = READERS

    task_id: str


class GetCase(SupervisionQuery):
    """Where a case stands: round, replies, ratings, reviews, what close-out lacks."""

    name: ClassVar[str] = "get_case"
    roles: ClassVar[frozenset[str]] = READERS

    case_id: str


class ReplyTemplate(SupervisionQuery):
    """The reply template (答复模板) for a category and result class: the category's own, else
    the default (``source``). With ``task_id`` (and ``commitment_date`` for class B),
    ``filled`` is the text with the variables the service knows filled (title, number,
    category, unit name, the commitment date); ``blanks`` the ones the clerk writes."""

    name: ClassVar[str] = "reply_template"
    roles: ClassVar[frozenset[str]] = READERS

    category: str | None = Field(None, max_length=TEMPLATE_KEY_MAX)
    result_class: Literal["A", "B", "C"]
    task_id: str | None = Field(None, max_length=TEMPLATE_KEY_MAX)
    commitment_date: date | None = None


# --- reply templates as data (答复模板; the office changes them, each change an event) --------------

class ListReplyTemplates(SupervisionQuery, PageQuery):
    """The current reply templates by category (``default`` first) and class, paged; each with
    its variables and who changed it last, when."""

    name: ClassVar[str] = "list_reply_templates"
    roles: ClassVar[frozenset[str]] = READERS

    category: str | None = Field(None, max_length=TEMPLATE_KEY_MAX)
    result_class: Literal["A", "B", "C"] | None = None


class ReplyTemplateRef(SupervisionQuery):
    """One template's key (abstract)."""

    category: str = Field(max_length=TEMPLATE_KEY_MAX,
                          description="a category code, or 'default' (every category)")
    result_class: Literal["A", "B", "C"]


class GetReplyTemplate(ReplyTemplateRef):
    """One template with its history, oldest first: who, when, the text before and after."""

    name: ClassVar[str] = "get_reply_template"
    roles: ClassVar[frozenset[str]] = READERS


class SetReplyTemplate(SupervisionCommand):
    """Create or change a template (a known category or 'default'; the text not empty, at most
    2,000 characters, braces naming only known variables); 422 per field."""

    name: ClassVar[str] = "set_reply_template"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"category": "safety_hazard", "result_class": "B",
                             "text": "关于《{title}》反映的安全隐患，我单位计划于"
                                     "{commitment_date}前整改到位。{details}"})

    category: str = Field(max_length=TEMPLATE_KEY_MAX)
    result_class: Literal["A", "B", "C"]
    text: str = Field(max_length=TEMPLATE_TEXT_MAX * 2)


class RemoveReplyTemplate(SupervisionCommand):
    """Remove a category's template (the category then uses the default); a default template
    is changed, never removed (409)."""

    name: ClassVar[str] = "remove_reply_template"
    roles: ClassVar[frozenset[str]] = OFFICE

    category: str = Field(max_length=TEMPLATE_KEY_MAX)
    result_class: Literal["A", "B", "C"]


class ListTasks(SupervisionQuery, PageQuery):
    """Tasks, by their current deadline then task id (``order=task_id``: by task id).
    ``year``: the year the task was opened (absent: the current year; ``all``: every year;
    with ``case_id`` and no year, every year of the case). ``q``: by number or by words of
    the title. Without ``limit`` nor ``cursor`` (callers written before lists paged): a bare
    list of every matching task's full view, at most 500."""

    name: ClassVar[str] = "list_tasks"
    roles: ClassVar[frozenset[str]] = READERS
    reply: ClassVar[Any] = dict[str, Any] | list[dict[str, Any]]

    unit_id: str | None = None
    case_id: str | None = None
    status: Literal["open", "signed_for", "replied", "withdrawn", "closed"] | None = None
    q: str | None = Field(None, max_length=SEARCH_MAX)
    year: Year = Field(None, description="year the task was opened, or 'all' "
                                         "(default: this year)")
    order: Literal["deadline", "task_id"] = "deadline"

    def paged(self) -> bool:
        """False for a caller written before lists paged (no ``limit`` nor ``cursor``)."""
        return bool({"limit", "cursor"} & self.model_fields_set)


class CaseIds(SupervisionQuery, PageQuery):
    """Distinct case ids with non-withdrawn tasks matching, by case id: of a unit, opened in
    ``year`` (absent: this year; ``all``), with at least one task red today
    (``overdue=true``) or none (``false``)."""

    name: ClassVar[str] = "case_ids"
    roles: ClassVar[frozenset[str]] = READERS

    unit_id: str | None = None
    overdue: bool | None = None
    year: Year = None


class LeaderCases(SupervisionQuery, PageQuery):
    """A leader's cases (我的督办件): those they lead (领办) or supervise (重点督办) by the
    office's designation, and those escalated to them (升级督办), most recent first, each with
    its tasks and their colour today. A leader sees their own (``leader_id`` is theirs); the
    office names the leader or committee."""

    name: ClassVar[str] = "leader_cases"
    roles: ClassVar[frozenset[str]] = LEADER | OFFICE

    leader_id: str | None = Field(None, max_length=64,
                                  description="the office: whose cases (a leader: ignored)")
    relation: Literal["led", "supervised", "escalated"] | None = None
    open_only: bool = Field(False, description="only cases not closed")


class ClosedCases(SupervisionQuery, PageQuery):
    """Closed cases with their outcome, by case id (for reconciliation with points); without
    ``limit`` nor ``cursor``: a bare list (at most 500)."""

    name: ClassVar[str] = "closed_cases"
    roles: ClassVar[frozenset[str]] = OPS | LEADER
    reply: ClassVar[Any] = dict[str, Any] | list[dict[str, Any]]


class Board(SupervisionQuery):
    """The board as on ``as_of`` (default today) of the tasks opened in ``year`` (default:
    the year of ``as_of``; ``all``: every year). Counts are complete; each cell's cases and
    the overdue list show the first ``limit`` (default 50, at most 500) by deadline."""

    name: ClassVar[str] = "board"
    roles: ClassVar[frozenset[str]] = READERS

    unit_id: str | None = None
    category: str | None = None
    colour: Literal["green", "yellow", "red", "closed"] | None = None
    as_of: date | None = None
    year: Year = None
    limit: int = Field(DEFAULT_NESTED, ge=1, le=MAX_LIMIT)


class Stats(SupervisionQuery):
    """A period: ``from`` and ``to`` (days, inclusive), a ``year`` (default: the current
    year; ``all``: every year), or a ``term`` (届: its start to its end, an open term to
    today; the registry's terms as replicated in supervision)."""

    name: ClassVar[str] = "stats"
    roles: ClassVar[frozenset[str]] = READERS
    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(None, alias="from")
    to: date | None = None
    year: Year = None
    term: str | None = Field(None, max_length=TEMPLATE_KEY_MAX,
                             description="a term's id: the statistics of its date range")

    @model_validator(mode="after")
    def _ordered(self) -> Stats:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both 'from' and 'to', or a year")
        if self.term is not None and (self.from_ is not None or self.year is not None):
            raise ValueError("give a term, or 'from' and 'to', or a year")
        if self.from_ is not None and self.year is not None:
            raise ValueError("give either 'from' and 'to', or a year")
        if self.to is not None and self.from_ is not None and self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self

    def bounds(self, today: date) -> tuple[date, date]:
        if self.from_ is not None and self.to is not None:
            return self.from_, self.to
        year = year_filter(self.year, today.year)
        if year is None:
            return date.min, date.max
        return date(year, 1, 1), date(year, 12, 31)


class ListReviews(SupervisionQuery, PageQuery):
    """The follow-up reviews (回头看) whose outcome was recorded in a term (本届以来回头看;
    default: the current term, since its start) or a year, the most recently recorded first,
    each with its case's number, title, category and lead unit, its outcome and note. A unit
    sees those of its cases, a deputy those of their suggestions."""

    name: ClassVar[str] = "list_reviews"
    roles: ClassVar[frozenset[str]] = READERS

    term: str | None = Field(None, max_length=TEMPLATE_KEY_MAX,
                             description="a term's id (default: the current term)")
    year: Year = Field(None, description="a year instead of a term")
    outcome: Literal["kept", "partly_kept", "not_kept"] | None = None

    @model_validator(mode="after")
    def _one_period(self) -> ListReviews:
        if self.term is not None and self.year is not None:
            raise ValueError("give a term or a year")
        return self


# --- bulletins and the deadline clock ---------------------------------------------------------------

class PublishBulletin(SupervisionCommand):
    """Publish the monthly dispatch or quarterly bulletin of an ended period."""

    name: ClassVar[str] = "publish_bulletin"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"period": "2026-Q1"})

    period: str = Field(pattern=PERIOD_PATTERN, examples=["2026-03", "2026-Q1"],
                        description="a month (monthly dispatch) or a quarter (quarterly bulletin)")


class GetBulletin(SupervisionQuery):
    """A published bulletin's figures."""

    name: ClassVar[str] = "get_bulletin"
    roles: ClassVar[frozenset[str]] = READERS

    period: str


class BulletinHtml(GetBulletin):
    """A published bulletin as a printable page (``{"html": ...}``)."""

    name: ClassVar[str] = "bulletin_html"


class SweepNow(SupervisionCommand):
    """Run the deadline clock at once (ops and tests; the periodic job does the same)."""

    name: ClassVar[str] = "sweep_now"
    roles: ClassVar[frozenset[str]] = OPS

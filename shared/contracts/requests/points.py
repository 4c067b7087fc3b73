"""The points service's requests: a deputy's duty points, record and report (履职档案), the
self-reported activities and their review, revocations, recalculations, rankings (晾晒比拼)."""

from __future__ import annotations

from datetime import date as Date
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from shared.contracts.requests import (DEPUTY, LEADER, OFFICE, STAFF, SYSTEM, Command, Query)
from shared.contracts.requests.limits import NOTE_MAX, REASON_MAX, SEARCH_MAX, Attachments
from shared.paging import PageQuery

SEE_ALL = OFFICE | LEADER | SYSTEM  # every deputy's points
READERS = SEE_ALL | DEPUTY  # a deputy: only their own (checked by the service)
YearOrAll = int | Literal["all"] | None


class PointsCommand(Command):
    service: ClassVar[str] = "points"


class PointsQuery(Query):
    service: ClassVar[str] = "points"


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


# --- activities and ledgers -------------------------------------------------------------------

class SubmitActivity(PointsCommand):
    """A deputy reports one of their own duty activities (pending review)."""

    name: ClassVar[str] = "submit_activity"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"deputy_id": "deputy-1", "kind": "reception_day",
                             "date": "2026-03-16",
                             "description": "代表联系服务群众日在联络站接待群众 6 人次",
                             "evidence": "签到表 2026-03-16"})

    deputy_id: str
    kind: str = Field(examples=["reception_day"], description="an activity kind of the rule in "
                      "force on the date (GET /points/rules)")
    date: Date = Field(examples=["2026-03-16"], description="the day of the activity (not in the future)")
    description: str = Field(max_length=NOTE_MAX, examples=["代表联系服务群众日在联络站接待群众 6 人次"])
    evidence: str | None = Field(None, max_length=REASON_MAX, description="where the evidence "
                                 "is, e.g. a photo or sign-in sheet reference")
    evidence_files: Attachments = Field(
        default_factory=list, description="evidence files (证明材料: photos, sign-in sheets), "
        "uploaded first (POST /api/v1/attachments), recorded on the activity")


class ActivityRef(PointsCommand):
    """A request naming an activity (abstract: the declared ones below)."""

    activity_id: str


class ApproveActivity(ActivityRef):
    """The office approves an activity: it scores under the rule in force on its date."""

    name: ClassVar[str] = "approve_activity"
    roles: ClassVar[frozenset[str]] = OFFICE


class RejectActivity(ActivityRef):
    """The office rejects an activity with a reason."""

    name: ClassVar[str] = "reject_activity"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"activity_id": "A-1", "reason": "佐证材料不足"})

    reason: str = Field(max_length=REASON_MAX, examples=["佐证材料不足"])


class RevokePoints(PointsCommand):
    """The office revokes one award line of a deputy's ledger, with a reason."""

    name: ClassVar[str] = "revoke_points"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"deputy_id": "deputy-1", "year": 2026, "line_no": 3,
                             "reason": "活动记录重复登记"})

    deputy_id: str
    year: int = Field(ge=2000, le=2100)
    line_no: int = Field(ge=1, description="the award line to revoke")
    reason: str = Field(max_length=REASON_MAX)


class Recalculate(PointsCommand):
    """The office recalculates a year's points under a rule version."""

    name: ClassVar[str] = "recalculate"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"year": 2026, "rule_version": "2026.1", "reason": "履职积分规则修订"})

    year: int = Field(ge=2000, le=2100, examples=[2026])
    rule_version: str = Field(examples=["2026.1"])
    reason: str = Field("", max_length=REASON_MAX)


# --- reads --------------------------------------------------------------------------------------

class DeputyYear(PointsQuery, PageQuery):
    """A deputy's year (abstract: the declared ones below); ``limit`` and ``cursor`` page its
    list. A deputy: only their own."""

    roles: ClassVar[frozenset[str]] = READERS

    deputy_id: str
    year: int | None = Field(None, ge=2000, le=2100)


class DeputyPoints(DeputyYear):
    """A deputy's points of a year; ``limit`` and ``cursor`` page its ledger lines."""

    name: ClassVar[str] = "deputy_points"


class RankingPosition(DeputyYear):
    """A deputy's place in the year's ranking and in their group's."""

    name: ClassVar[str] = "ranking_position"


class DeputyRecord(DeputyYear):
    """A deputy's duty record (履职档案) of a year, or of a term (届, ``term``)."""

    name: ClassVar[str] = "deputy_record"

    term: str | None = Field(None, max_length=64,
                             description="a term (届) instead of a year: the points earned "
                                         "between its start and end, the term's ranking, "
                                         "and each year it spans")


class DeputyRecordSuggestions(DeputyYear):
    """A page of the record's suggestions."""

    name: ClassVar[str] = "deputy_record_suggestions"


class DeputyRecordMessages(DeputyYear):
    """A page of the record's citizen messages."""

    name: ClassVar[str] = "deputy_record_messages"


class DeputyReport(DeputyYear):
    """The annual duty report (年度履职报告) as a page (``{"html": ...}``)."""

    name: ClassVar[str] = "deputy_report"


class CasePoints(PointsQuery):
    """The points lines about a case (a deputy: their own; units: none)."""

    name: ClassVar[str] = "case_points"
    roles: ClassVar[frozenset[str]] = STAFF | SYSTEM
    reply: ClassVar[Any] = list[dict[str, Any]]

    case_id: str


class GetActivity(PointsQuery):
    """One self-reported activity (a deputy: their own)."""

    name: ClassVar[str] = "get_activity"
    roles: ClassVar[frozenset[str]] = READERS

    activity_id: str


class ListActivities(PointsQuery, PageQuery):
    """Self-reported activities (a deputy: their own), by activity date."""

    name: ClassVar[str] = "list_activities"
    roles: ClassVar[frozenset[str]] = READERS

    status: str | None = Field(None, pattern="^(pending|approved|rejected)$")
    deputy_id: str | None = None
    year: YearOrAll = Field(None, description="activity date's year; default this year")
    q: str | None = Field(None, max_length=SEARCH_MAX, description="words of the description")


class Ranking(PointsQuery, PageQuery):
    """A page of the ranking of a year (and deputy group)."""

    name: ClassVar[str] = "rankings"
    roles: ClassVar[frozenset[str]] = READERS

    year: int | None = Field(None, ge=2000, le=2100)
    term: str | None = Field(None, max_length=64,
                             description="a term (届) instead of a year: the points earned "
                                         "between its start and end (or today), its deputies")
    group: str | None = None
    level: str | None = None


class ListLedgerLines(PointsQuery, PageQuery):
    """Ledger lines across deputies (the duty-points ledger export)."""

    name: ClassVar[str] = "ledger_lines"
    roles: ClassVar[frozenset[str]] = SEE_ALL

    year: YearOrAll = None
    group: str | None = None
    category: str | None = None
    deputy_id: str | None = None


class ListRecalculations(PointsQuery, PageQuery):
    """Recorded recalculations of a year."""

    name: ClassVar[str] = "list_recalculations"
    roles: ClassVar[frozenset[str]] = SEE_ALL

    year: YearOrAll = Field(None, description="the recalculated year; default this year")


class PointsRules(PointsQuery):
    """The scoring rule versions: activity kinds, points, caps, indicators."""

    name: ClassVar[str] = "rules"
    roles: ClassVar[frozenset[str]] = STAFF | SYSTEM
    reply: ClassVar[Any] = list[dict[str, Any]]

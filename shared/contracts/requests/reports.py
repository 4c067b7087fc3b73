"""The reports service's requests: a deputy's report to the voters of their constituency
(述职) and the voters' evaluation of it (民主评议). The office schedules and holds a report
and closes its evaluation; a participant evaluates with the code handed out at the meeting
(a QR code, no account: anonymous); deputies see their own reports; the office and leaders
see every report and who is due one."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from shared.contracts.requests import (ANONYMOUS, DEPUTY, LEADER, OFFICE, SIGNED_IN, Command,
                                       Query)
from shared.contracts.requests.limits import REASON_MAX, TITLE_MAX
from shared.paging import PageQuery

ID_MAX = 100
Year = Annotated[int | None, Field(ge=2000, le=2100, description="calendar year; default this year")]
Answer = Literal["satisfied", "basically_satisfied", "unsatisfied"]


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class ReportsCommand(Command):
    service: ClassVar[str] = "reports"


class ReportsQuery(Query):
    service: ClassVar[str] = "reports"


class ScheduleReport(ReportsCommand):
    """Schedule a deputy's report to voters; the answer carries the participants' codes once
    (print them as QR codes for the meeting: only their hashes are kept)."""

    name: ClassVar[str] = "schedule_report"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"deputy_id": "deputy-1", "title": "王建国代表向选民述职",
                             "scheduled_on": "2026-05-16", "place": "丰街代表联络站",
                             "participants": 40})

    deputy_id: str = Field(min_length=1, max_length=ID_MAX)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    scheduled_on: date
    place: str = Field(min_length=1, max_length=TITLE_MAX)
    participants: int = Field(ge=1, le=500, description="codes to hand out at the meeting")


class ReportRef(ReportsCommand):
    report_id: str = Field(min_length=1, max_length=ID_MAX)


class HoldReport(ReportRef):
    """Record that the report was held (the evaluation opens)."""

    name: ClassVar[str] = "hold_report"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"report_id": "R-1", "held_on": "2026-05-16", "attendance": 38})

    held_on: date
    attendance: int = Field(ge=0, le=100000)


class EvaluateReport(ReportRef):
    """A participant's evaluation with their code (one per code; anonymous)."""

    name: ClassVar[str] = "evaluate_report"
    roles: ClassVar[frozenset[str]] = ANONYMOUS | SIGNED_IN
    model_config = _example({"report_id": "R-1", "code": "k3J9xQ2mPa", "overall": "satisfied",
                             "duty": "satisfied", "contact": "basically_satisfied",
                             "comment": "希望多进站接待"})

    code: str = Field(min_length=6, max_length=64)
    overall: Answer = Field(description="总体评价")
    duty: Answer = Field(description="履职尽责")
    contact: Answer = Field(description="联系群众")
    comment: str = Field("", max_length=REASON_MAX)


class CloseReportEvaluation(ReportRef):
    """Close the evaluation: its summary is final."""

    name: ClassVar[str] = "close_report_evaluation"
    roles: ClassVar[frozenset[str]] = OFFICE


class ListReports(ReportsQuery, PageQuery):
    """Reports of a year, newest first (a deputy: their own)."""

    name: ClassVar[str] = "list_reports"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER | DEPUTY

    year: Year = None
    deputy_id: str | None = Field(None, max_length=ID_MAX)


class GetReport(ReportsQuery):
    """A report with its evaluation's summary once closed (a deputy: their own)."""

    name: ClassVar[str] = "get_report"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER | DEPUTY

    report_id: str = Field(min_length=1, max_length=ID_MAX)


class ReportForm(ReportsQuery):
    """What a participant's page shows: the report's title, date, place and status."""

    name: ClassVar[str] = "report_form"
    roles: ClassVar[frozenset[str]] = ANONYMOUS | SIGNED_IN

    report_id: str = Field(min_length=1, max_length=ID_MAX)


class ReportsDue(ReportsQuery):
    """Deputies with no report held since ``since`` (the term's first year): due one
    (任期内至少报告一次)."""

    name: ClassVar[str] = "reports_due"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER

    since: int = Field(ge=2000, le=2100, description="the term's first year")

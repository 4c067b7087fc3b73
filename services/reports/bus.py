"""Reports' bus adapters: events -> integration contracts, and the registration table of the
requests it answers (shared/contracts/requests/reports.py)."""

from __future__ import annotations

from typing import Any, Callable

from shared.contracts import IntegrationEvent
from shared.contracts.reports import ReportEvaluatedV1, ReportHeldV1, ReportScheduledV1
from shared.contracts.requests import Request
from shared.contracts.requests.reports import (CloseReportEvaluation, EvaluateReport, GetReport,
                                               HoldReport, ListReports, ReportForm,
                                               ReportsDue, ScheduleReport)
from shared.eventstore import Actor

from services.reports.domain import VoterReport

SERVICE = "reports"


def translate(app: Any, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    """The published facts; a participant's evaluation (``Evaluated``) is not published."""
    if isinstance(event, VoterReport.Scheduled):
        return ReportScheduledV1(**envelope, report_id=str(event.originator_id),
                                 deputy_id=event.deputy_id, title=event.title,
                                 scheduled_on=event.scheduled_on, place=event.place)
    if isinstance(event, (VoterReport.Held, VoterReport.EvaluationClosed)):
        report: VoterReport = app.repository.get(event.originator_id,
                                                 version=event.originator_version)
        if isinstance(event, VoterReport.Held):
            return ReportHeldV1(**envelope, report_id=str(report.id),
                                deputy_id=report.deputy_id, held_on=event.held_on,
                                attendance=event.attendance)
        summary = dict(event.summary)
        return ReportEvaluatedV1(**envelope, report_id=str(report.id),
                                 deputy_id=report.deputy_id, year=report.year,
                                 evaluations=summary.pop("evaluations"), results=summary)
    return None


def handlers(app: Any, queries: Any) -> dict[type[Request], Callable[[Any, Actor], Any]]:
    return {
        ScheduleReport: app.schedule,
        HoldReport: app.hold,
        EvaluateReport: app.evaluate,
        CloseReportEvaluation: app.close_evaluation,
        ListReports: queries.list_reports,
        GetReport: queries.get_report,
        ReportForm: queries.report_form,
        ReportsDue: queries.reports_due,
    }

"""Points' bus registrations: integration events out (translated from the domain events),
upstream consumers in, request/reply routes (wired in ``services.points.bootstrap``)."""

from __future__ import annotations

from functools import partial
from typing import Any

from shared.contracts import IntegrationEvent
from shared.contracts.intake import (
    MessageAnsweredV1,
    MessageRatedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
)
from shared.contracts.points import (
    ActivityReviewedV1,
    PointsAwardedV1,
    PointsRecalculatedV1,
    PointsRevokedV1,
)
from shared.contracts.liaison import GroupActivityAttendedV1, ReceptionAttendedV2
from shared.contracts.projects import DeputyVotedV1
from shared.contracts.reports import ReportEvaluatedV1, ReportHeldV1
from shared.contracts.supervision import CaseClosedV1
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.runtime import ServiceRuntime

from services.points import views
from services.points.application import PointsApplication
from shared.contracts.requests.points import (
    ApproveActivity,
    CasePoints,
    DeputyPoints,
    DeputyRecord,
    DeputyRecordMessages,
    DeputyRecordSuggestions,
    DeputyReport,
    GetActivity,
    ListActivities,
    ListLedgerLines,
    ListRecalculations,
    PointsRules,
    Ranking,
    RankingPosition,
    Recalculate,
    RejectActivity,
    RevokePoints,
    SubmitActivity,
)
from services.points.domain import Activity, DutyLedger

SERVICE = "points"


def translate(app: PointsApplication, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, (DutyLedger.PointsAwarded, DutyLedger.PointsRevoked,
                          DutyLedger.Recalculated)):
        deputy_id, year = event.deputy_id, event.year
        if deputy_id is None or year is None:
            # recorded before the events carried the ledger's deputy and year (version 1
            # of awards and recalculations, 2 of revocations): its first event has them
            deputy_id, year = app.ledger_owner(event.originator_id)
        if isinstance(event, DutyLedger.PointsAwarded):
            return PointsAwardedV1(
                **{**envelope, "case_id": event.case_id or event.cause_ref},
                deputy_id=deputy_id,
                year=year,
                points=event.points,
                cause_kind=event.cause_kind,
                cause_ref=event.cause_ref,
                rule_version=event.rule_version,
            )
        if isinstance(event, DutyLedger.PointsRevoked):
            cause_ref = event.cause_ref
            if cause_ref is None:
                # recorded before the event carried the revoked line's cause (version 1):
                # the ledger as it was then has it
                ledger: DutyLedger = app.repository.get(event.originator_id,
                                                        version=event.originator_version)
                cause_ref = ledger.lines[-1]["cause_ref"]
            return PointsRevokedV1(
                **{**envelope, "case_id": event.case_id or cause_ref},
                deputy_id=deputy_id, year=year, points=event.points,
                cause_kind=event.cause_kind, cause_ref=cause_ref,
                revoked_line=event.line_no, reason=event.reason,
            )
        return PointsRecalculatedV1(
            **{**envelope, "case_id": event.recalculation_id},
            deputy_id=deputy_id, year=year,
            recalculation_id=event.recalculation_id, rule_version=event.rule_version,
            delta=round(sum(a["delta"] for a in event.adjustments), 2),
            adjusted_lines=[a["line_no"] for a in event.adjustments if a["delta"]],
        )
    if isinstance(event, (Activity.Approved, Activity.Rejected)):
        submitted: Any = event
        if event.deputy_id is None:
            # recorded before the review carried the activity's deputy, kind and date
            # (version 1): the activity as it was then has them
            submitted = app.repository.get(event.originator_id, version=event.originator_version)
        approved = isinstance(event, Activity.Approved)
        return ActivityReviewedV1(
            **envelope,
            activity_id=str(event.originator_id), deputy_id=submitted.deputy_id,
            kind=submitted.kind, activity_date=submitted.on,
            decision="approved" if approved else "rejected",
            points=event.points if approved else None,
            capped_by=event.capped_by if approved else None,
            rule_version=event.rule_version if approved else None,
            reason=None if approved else event.reason,
        )
    return None


def register(runtime: ServiceRuntime, app: PointsApplication) -> None:
    """What points consumes and the requests it answers (wired in
    ``services.points.bootstrap``)."""
    runtime.consume("intake", {
        SuggestionRegisteredV1: app.on_suggestion_registered,
        SuggestionRegistrationReversedV1: app.on_suggestion_registration_reversed,
        SuggestionMergedV1: app.on_suggestion_merged,
        SuggestionMergeUndoneV1: app.on_suggestion_merge_undone,
        MessageAnsweredV1: app.on_message_answered,
        MessageRatedV1: app.on_message_rated,
    })
    runtime.consume("supervision", {CaseClosedV1: app.on_case_closed})
    runtime.consume("liaison", {ReceptionAttendedV2: app.on_reception_attended_v2,
                                GroupActivityAttendedV1: app.on_group_activity_attended})
    runtime.consume("reports", {ReportHeldV1: app.on_report_held,
                                ReportEvaluatedV1: app.on_report_evaluated})
    runtime.consume("projects", {DeputyVotedV1: app.on_deputy_voted})
    # the registry's deputies and terms, replicated into points' log
    consume_registry(runtime, app, app.reference)
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, runtime.settings, app.reference)

    # every request this service answers, by contract (shared/contracts/requests/points.py)
    runtime.handlers({
        SubmitActivity: app.submit_activity,
        ApproveActivity: app.approve_activity,
        RejectActivity: app.reject_activity,
        RevokePoints: app.revoke_points,
        Recalculate: app.recalculate,
        DeputyPoints: partial(views.deputy_points, app),
        CasePoints: partial(views.points_for_case, app),
        Ranking: partial(views.ranking, app),
        RankingPosition: partial(views.ranking_position, app),
        ListActivities: partial(views.list_activities, app),
        ListLedgerLines: partial(views.ledger_lines, app),
        GetActivity: partial(views.get_activity, app),
        DeputyRecord: partial(views.record_for, app),
        DeputyRecordSuggestions: partial(views.record_suggestions_page, app),
        DeputyRecordMessages: partial(views.record_messages_page, app),
        DeputyReport: partial(views.report, app),
        PointsRules: lambda _q, _actor: app.rules.describe(),
        ListRecalculations: partial(views.list_recalculations, app),
    })
    # the case history (GET /cases/{id}/history)
    runtime.audit_cases(partial(views.case_audit_scope, app))

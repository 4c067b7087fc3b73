"""Points' bus adapters: integration events out, upstream consumers in, request/reply routes."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
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
from shared.contracts.supervision import CaseClosedV1
from shared.event_validation import validate_consumers
from shared.eventstore import Actor
from shared.rpc import Forbidden
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.points.application import PointsApplication
from services.points.read_models import PointsViews, resolve_year
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
from services.points.record import deputy_record, record_messages, record_suggestions
from services.points.report import render_report

SERVICE = "points"


def translate(app: PointsApplication, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, (DutyLedger.PointsAwarded, DutyLedger.PointsRevoked,
                          DutyLedger.Recalculated)):
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


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = PointsApplication(settings, clock=clock)
    views = app.views = PointsViews(app)
    views.rankings.sync_deputies()  # the reference data as this process loaded it
    runtime = ServiceRuntime(settings, app, translate, read_models=views.read_models,
                             tracer_provider=tracer_provider)

    runtime.consume("intake", {
        SuggestionRegisteredV1: app.on_suggestion_registered,
        SuggestionRegistrationReversedV1: app.on_suggestion_registration_reversed,
        SuggestionMergedV1: app.on_suggestion_merged,
        SuggestionMergeUndoneV1: app.on_suggestion_merge_undone,
        MessageAnsweredV1: app.on_message_answered,
        MessageRatedV1: app.on_message_rated,
    })
    runtime.consume("supervision", {CaseClosedV1: app.on_case_closed})
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, settings)

    # every request this service answers, by contract (shared/contracts/requests/points.py)
    runtime.handlers({
        SubmitActivity: app.submit_activity,
        ApproveActivity: app.approve_activity,
        RejectActivity: app.reject_activity,
        RevokePoints: app.revoke_points,
        Recalculate: app.recalculate,
        DeputyPoints: app.deputy_points,
    })

    @runtime.handle(CasePoints)
    def points_for_case(ref: CasePoints, actor: Actor) -> list[dict[str, Any]]:
        """The points lines about a case: every deputy's for the office and leaders, a
        deputy's own for a deputy, none for anyone else (units do not see duty points)."""
        lines = views.case_points.query(ref.case_id)
        if actor.role in ("office", "leader", "system"):
            return lines
        if actor.role == "deputy" and actor.deputy_id:
            return [line for line in lines if line.get("deputy_id") == actor.deputy_id]
        return []

    if hasattr(runtime, "audit_cases"):  # the case history (GET /cases/{id}/history)
        def audit_scope(case_id: str):
            views.case_points.catch_up()
            return views.case_points.audit_scope(case_id)

        runtime.audit_cases(audit_scope)

    @runtime.handle(Ranking)
    def ranking(q: Ranking, actor: Actor) -> dict[str, Any]:
        """A page of the ranking of a year (``rows``; ``limit`` and ``cursor`` page them,
        ``total`` counts the deputies ranked, ``next_cursor`` the next page)."""
        if actor.role not in ("office", "leader", "deputy", "system"):
            raise Forbidden("rankings are shown to deputies, the office and leaders")
        year = q.year or app.this_year()
        result = views.rankings.ranking(q, year)
        return {"year": year, "group": q.group, "level": q.level,
                "order": views.rankings.ORDER, "rows": result["items"],
                "total": result["total"], "next_cursor": result["next_cursor"]}

    @runtime.handle(RankingPosition)
    def ranking_position(q: RankingPosition, actor: Actor) -> dict[str, Any]:
        """A deputy's place in the year's ranking and in their group's."""
        deputy = app.known_deputy(q.deputy_id)
        app.check_may_see(actor, q.deputy_id)
        year = q.year or app.this_year()
        overall = views.rankings.place(q.deputy_id, year)
        group = deputy.get("group")
        in_group = views.rankings.place(q.deputy_id, year, group) if group else None
        return {"year": year, "deputy_id": q.deputy_id, "row": overall["row"],
                "rank": overall["rank"], "ranked": overall["ranked"], "group": group,
                "group_rank": in_group["rank"] if in_group else None,
                "group_size": in_group["ranked"] if in_group else None}

    @runtime.handle(ListActivities)
    def list_activities(q: ListActivities, actor: Actor) -> dict[str, Any]:
        deputy_id = q.deputy_id
        if actor.role == "deputy":
            if deputy_id and deputy_id != actor.deputy_id:
                raise Forbidden("a deputy sees only their own activities")
            deputy_id = actor.deputy_id
        elif actor.role not in ("office", "leader", "system"):
            raise Forbidden("activities are seen by the deputy, the office and leaders only")
        return views.activities.query(q, deputy_id, resolve_year(q.year, app.this_year))

    @runtime.handle(ListLedgerLines)
    def ledger_lines(q: ListLedgerLines, actor: Actor) -> dict[str, Any]:
        """Every deputy's ledger lines (the duty-points ledger export), by deputy, year and
        line number, each with ``deputy_id`` and ``year``."""
        if actor.role not in ("office", "leader", "system"):
            raise Forbidden("the duty-points ledger is exported by the office and leaders")
        return views.ledger_lines(q, resolve_year(q.year, app.this_year))

    @runtime.handle(GetActivity)
    def get_activity(ref: GetActivity, actor: Actor) -> dict[str, Any]:
        activity = app.activity(ref.activity_id)
        app.check_may_see(actor, activity.deputy_id)
        return activity.as_dict()

    def record_for(q: DeputyPoints, actor: Actor) -> dict[str, Any]:
        app.known_deputy(q.deputy_id)
        app.check_may_see(actor, q.deputy_id)
        return deputy_record(app, views, q.deputy_id, q.year or app.this_year())

    runtime.handle(DeputyRecord)(record_for)

    @runtime.handle(DeputyRecordSuggestions)
    def record_suggestions_page(q: DeputyPoints, actor: Actor) -> dict[str, Any]:
        """A page of the record's suggestions (the record shows the most recent)."""
        app.known_deputy(q.deputy_id)
        app.check_may_see(actor, q.deputy_id)
        return record_suggestions(views, q.deputy_id, q.year or app.this_year(), q)

    @runtime.handle(DeputyRecordMessages)
    def record_messages_page(q: DeputyPoints, actor: Actor) -> dict[str, Any]:
        """A page of the record's citizen messages (the record shows the most recent)."""
        app.known_deputy(q.deputy_id)
        app.check_may_see(actor, q.deputy_id)
        return record_messages(views, q.deputy_id, q.year or app.this_year(), q)

    @runtime.handle(DeputyReport)
    def report(q: DeputyPoints, actor: Actor) -> dict[str, Any]:
        record = record_for(q, actor)
        return {"html": render_report(record, generated_at=app.clock.now())}

    @runtime.handle(PointsRules)
    def scoring_rules(_payload: Any, actor: Actor) -> list[dict[str, Any]]:
        return app.rules.describe()

    @runtime.handle(ListRecalculations)
    def list_recalculations(q: ListRecalculations, actor: Actor) -> dict[str, Any]:
        if actor.role not in ("office", "leader", "system"):
            raise Forbidden("recalculations are seen by the office and leaders")
        return views.recalculations.query(q, resolve_year(q.year, app.this_year))

    return runtime

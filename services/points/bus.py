"""Points' bus adapters."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts import IntegrationEvent
from shared.contracts.intake import SuggestionRegisteredV1
from shared.contracts.points import PointsAwardedV1
from shared.eventstore import Actor
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.points.application import CasePoints, CaseRef, DeputyPoints, PointsApplication
from services.points.domain import DutyLedger

SERVICE = "points"


def translate(app: PointsApplication, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, DutyLedger.PointsAwarded):
        ledger: DutyLedger = app.repository.get(event.originator_id, version=event.originator_version)
        return PointsAwardedV1(
            **{**envelope, "case_id": event.case_id or envelope["case_id"]},
            deputy_id=ledger.deputy_id,
            year=ledger.year,
            points=event.points,
            cause_kind=event.cause_kind,
            cause_ref=event.cause_ref,
            rule_version=event.rule_version,
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
    case_points = CasePoints(app)
    runtime = ServiceRuntime(settings, app, translate, projections=[case_points],
                             tracer_provider=tracer_provider)
    runtime.consume("intake", {SuggestionRegisteredV1: app.on_suggestion_registered})
    runtime.query("deputy_points", DeputyPoints)(app.deputy_points)

    @runtime.query("case_points", CaseRef)
    def points_for_case(ref: CaseRef, actor: Actor) -> list[dict[str, Any]]:
        return case_points.query(ref.case_id)

    return runtime

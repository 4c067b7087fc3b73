"""Intake's bus adapters: request/reply routes, and the domain → integration event mapping."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts import IntegrationEvent
from shared.contracts.intake import (
    SuggestionDeclinedV1,
    SuggestionRegisteredV1,
    SuggestionSubmittedV1,
)
from shared.eventstore import Actor
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.intake.application import (
    DeclineSuggestion,
    IntakeApplication,
    ListSuggestions,
    RegisterSuggestion,
    SubmitSuggestion,
    SuggestionIndex,
    SuggestionRef,
)
from services.intake.domain import Suggestion

SERVICE = "intake"


def translate(app: IntakeApplication, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, Suggestion.Submitted):
        return SuggestionSubmittedV1(
            **envelope,
            title=event.title,
            category=event.category,
            lead_deputy_id=event.lead_deputy_id,
            co_signer_ids=event.co_signer_ids,
            station_id=event.station_id,
        )
    if isinstance(event, Suggestion.Registered):
        suggestion: Suggestion = app.repository.get(event.originator_id, version=event.originator_version)
        station = app.stations.get(suggestion.station_id or "", {})
        return SuggestionRegisteredV1(
            **envelope,
            number=event.number,
            title=suggestion.title,
            category=event.category,
            urgency=event.urgency,
            lead_deputy_id=suggestion.lead_deputy_id,
            co_signer_ids=suggestion.co_signer_ids,
            station_id=suggestion.station_id,
            district=station.get("district"),
        )
    if isinstance(event, Suggestion.Declined):
        suggestion = app.repository.get(event.originator_id, version=event.originator_version)
        return SuggestionDeclinedV1(**envelope, reason=event.reason,
                                    lead_deputy_id=suggestion.lead_deputy_id)
    return None


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = settings or ServiceSettings()
    settings = settings.model_copy(update={"service_name": SERVICE})
    app = IntakeApplication(settings, clock=clock)
    index = SuggestionIndex(app)
    runtime = ServiceRuntime(settings, app, translate, projections=[index],
                             tracer_provider=tracer_provider)

    runtime.command("submit_suggestion", SubmitSuggestion)(app.submit_suggestion)
    runtime.command("register_suggestion", RegisterSuggestion)(app.register_suggestion)
    runtime.command("decline_suggestion", DeclineSuggestion)(app.decline_suggestion)
    runtime.query("get_suggestion", SuggestionRef)(app.get_suggestion)

    @runtime.query("list_suggestions", ListSuggestions)
    def list_suggestions(q: ListSuggestions, actor: Actor) -> list[dict[str, Any]]:
        if actor.role == "deputy":
            q = q.model_copy(update={"deputy_id": actor.deputy_id})
        return index.query(q)

    @runtime.query("reference")
    def reference(_: Any, __: Actor) -> dict[str, Any]:
        return {
            "categories": list(app.categories.values()),
            "deputies": list(app.deputies.values()),
            "stations": list(app.stations.values()),
        }

    return runtime

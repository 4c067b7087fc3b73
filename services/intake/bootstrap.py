"""Intake's wiring: its settings, application, read models and runtime, then its
registrations (``services.intake.bus.register``)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.read_store import ReadModels
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.intake.application import IntakeApplication, IntakeSettings
from services.intake.bus import SERVICE, register, translate
from services.intake.follow_up import FollowUpIndex
from services.intake.publication import PublicResults


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = IntakeSettings.from_settings(
        (settings or IntakeSettings()).model_copy(update={"service_name": SERVICE}))
    app = IntakeApplication(settings, clock=clock)
    # Suggestions, messages and similar matters (sentence vectors, services/intake/
    # similar_matters.py) are tables: nothing is rebuilt from the whole log at start.
    # the follow-up token's hash -> its message (services/intake/follow_up.py)
    follow_up_index = FollowUpIndex(app, app.views)
    # published results (services/intake/publication.py)
    public_results = PublicResults(app, app.views)
    read_models = ReadModels(app, app.views, [app.suggestions_view, app.messages_view,
                                              follow_up_index, public_results,
                                              app.similar_view])
    runtime = ServiceRuntime(settings, app, translate,
                             read_models=read_models, tracer_provider=tracer_provider)
    register(runtime, app, settings, follow_up_index, public_results)
    return runtime

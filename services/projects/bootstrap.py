"""Wiring of the projects service: application, read models, runtime, request handlers."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.projects.application import ProjectsApplication
from services.projects.bus import SERVICE, handlers, translate
from services.projects.read_models import ProjectsQueries, ProjectsViews


def build_runtime(settings: ServiceSettings | None = None, *, clock: Clock | None = None,
                  tracer_provider: TracerProvider | None = None) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = ProjectsApplication(settings, clock=clock)
    views = app.views = ProjectsViews(app)
    runtime = ServiceRuntime(settings, app, translate, read_models=views.read_models,
                             tracer_provider=tracer_provider)
    # projects consumes no other service's events but the registry's (its units, replicated
    # into its own log): proposals name their source message or suggestion by id (the
    # office or deputy takes it over from there)
    consume_registry(runtime, app, app.reference)
    validate_consumers(runtime, settings, app.reference)
    runtime.handlers(handlers(app, ProjectsQueries(app, views)))
    return runtime

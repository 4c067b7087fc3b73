"""Wiring of the reports service: application, read models, runtime, request handlers."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.reports.application import ReportsApplication
from services.reports.bus import SERVICE, handlers, translate
from services.reports.read_models import ReportsQueries, ReportsViews


def build_runtime(settings: ServiceSettings | None = None, *, clock: Clock | None = None,
                  tracer_provider: TracerProvider | None = None) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = ReportsApplication(settings, clock=clock)
    views = app.views = ReportsViews(app)
    runtime = ServiceRuntime(settings, app, translate, read_models=views.read_models,
                             tracer_provider=tracer_provider)
    # a report's basis (the duty record) is points', read by the gateway; the registry's
    # deputies are replicated into reports' own log
    consume_registry(runtime, app, app.reference)
    validate_consumers(runtime, settings, app.reference)
    runtime.handlers(handlers(app, ReportsQueries(app, views)))
    return runtime

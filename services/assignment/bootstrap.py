"""Assignment's wiring: its application, read models and runtime, then its registrations
(``services.assignment.bus.register``)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.read_store import ReadModels, ViewStore
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.assignment.application import AssignmentApplication
from services.assignment.bus import SERVICE, register, translate
from services.assignment.read_models import TaskIndex


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = AssignmentApplication(settings, clock=clock)
    store = ViewStore(settings)
    index = TaskIndex(app, store)
    runtime = ServiceRuntime(settings, app, translate,
                             read_models=ReadModels(app, store, [index]),
                             tracer_provider=tracer_provider)
    register(runtime, app, index)
    return runtime

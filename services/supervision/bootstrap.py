"""Supervision's wiring: its settings, application, read model and runtime, then its
registrations (``services.supervision.bus.register``)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.read_store import ReadModels, ViewStore
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.supervision.application import SupervisionApplication
from services.supervision.bus import SERVICE, register, translate
from services.supervision.read_models import SupervisionViews


class SupervisionSettings(ServiceSettings):
    supervision_sweep_seconds: float = 30.0


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = SupervisionSettings(**(settings or ServiceSettings()).model_dump()).model_copy(
        update={"service_name": SERVICE})
    app = SupervisionApplication(settings, clock=clock)
    app.read_store = ViewStore(settings)
    read = SupervisionViews(app, app.read_store)
    read_models = ReadModels(app, read.store, [read])
    if not read.ready and app.max_notification_id() == 0:
        # an empty log: built at once (an in-process runtime is never started), under the
        # build lock, adopting what a replica starting beside this one has just built
        read_models.rebuild(read, force=False)
    runtime = ServiceRuntime(settings, app, translate, read_models=read_models,
                             tracer_provider=tracer_provider)
    register(runtime, app, read, settings)
    return runtime

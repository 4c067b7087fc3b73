"""Points' wiring: its application, read models and runtime, then its registrations
(``services.points.bus.register``)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.points.application import PointsApplication
from services.points.bus import SERVICE, register, translate
from services.points.read_models import PointsViews


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = PointsApplication(settings, clock=clock)
    views = app.views = PointsViews(app)  # the queries read them (services/points/views.py)
    # the reference deputies into the rankings' table: now, and when the replica changes
    app.reference.on_change(views.rankings.sync_deputies)
    runtime = ServiceRuntime(settings, app, translate, read_models=views.read_models,
                             tracer_provider=tracer_provider)
    register(runtime, app)
    return runtime

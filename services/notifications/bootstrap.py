"""Notifications' wiring: its settings, application (with its read models) and runtime,
then its registrations (``services.notifications.bus.register``)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.notifications.application import NotificationSettings, NotificationsApplication
from services.notifications.bus import SERVICE, register, translate


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = NotificationSettings(**(settings or ServiceSettings()).model_dump()).model_copy(
        update={"service_name": SERVICE})
    app = NotificationsApplication(settings, clock=clock)
    runtime = ServiceRuntime(settings, app, translate, read_models=app.views.read_models,
                             tracer_provider=tracer_provider)
    register(runtime, app, settings)
    return runtime

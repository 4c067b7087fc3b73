"""OpenTelemetry set-up: one tracer provider per process, exporter chosen by settings.

Trace context travels in NATS message headers (W3C ``traceparent``), injected by the
gateway's request client and the outbox relay and extracted by the services' request handlers
and consumers, and is stored with each recorded event, so that the outbox relay publishes a
stored event inside the trace of the command that recorded it.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from shared.settings import ServiceSettings


def build_tracer_provider(
    service_name: str,
    settings: ServiceSettings | None = None,
    extra_processors: list[SpanProcessor] | None = None,
) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter_kind = settings.otel_traces_exporter if settings else "none"
    if exporter_kind == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    return provider


def current_trace_carrier() -> dict[str, str]:
    """The W3C trace context of the current span, as headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class attached_trace_context:
    """Make a stored carrier the current context for the duration of a block."""

    def __init__(self, carrier: dict[str, Any] | None) -> None:
        self._carrier = carrier or {}
        self._token: object | None = None

    def __enter__(self) -> None:
        if self._carrier:
            self._token = otel_context.attach(propagate.extract(self._carrier))

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]


def tracer(provider: TracerProvider, name: str) -> trace.Tracer:
    return provider.get_tracer(name)

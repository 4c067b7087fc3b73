"""The gateway's request client: one "no responders" is asked again after a pause (the server
can say it a moment after a service subscribed); a second one is a 503; the request carries
the caller's trace context."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import nats.errors
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.gateway.deps import ServiceUnavailable, Services


class Connection:
    def __init__(self, answers: list) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict, dict]] = []

    async def request(self, subject, data, timeout, headers):
        self.requests.append((subject, json.loads(data), headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(data=json.dumps(answer).encode())


def client(connection: Connection, tracer=None) -> Services:
    broker = SimpleNamespace(config=SimpleNamespace(
        connection_state=SimpleNamespace(connection=connection)))
    return Services(broker, timeout=1.0, tracer=tracer, no_responders_retry_seconds=0.01)


async def test_no_responders_once_is_asked_again():
    connection = Connection([nats.errors.NoRespondersError(), {"ok": True, "result": 7}])
    assert await client(connection).call("intake", "health") == 7
    assert [r[0] for r in connection.requests] == ["duty.rpc.intake.health"] * 2


async def test_no_responders_twice_is_503():
    connection = Connection([nats.errors.NoRespondersError(), nats.errors.NoRespondersError()])
    with pytest.raises(ServiceUnavailable) as unavailable:
        await client(connection).call("points", "health")
    assert unavailable.value.status_code == 503
    assert "points" in unavailable.value.detail


async def test_a_timeout_is_504_and_not_asked_again():
    connection = Connection([asyncio.TimeoutError()])
    with pytest.raises(ServiceUnavailable) as unavailable:
        await client(connection).call("points", "health")
    assert unavailable.value.status_code == 504
    assert len(connection.requests) == 1


async def test_the_request_carries_the_trace_of_its_client_span():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    connection = Connection([{"ok": True, "result": None}])
    with tracer.start_as_current_span("POST /api/v1/suggestions") as root:
        await client(connection, tracer).call("intake", "submit_suggestion", {"title": "t"})
    (_, body, headers), = connection.requests
    assert body["payload"] == {"title": "t"}
    span, = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert span.name == "duty.rpc.intake.submit_suggestion request"
    assert span.context.trace_id == root.get_span_context().trace_id
    assert headers["traceparent"].split("-")[2] == format(span.context.span_id, "016x")

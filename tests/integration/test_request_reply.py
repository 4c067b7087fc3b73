"""A service answers request/reply routes over a real nats-server: several requests at once
(up to ``rpc_concurrency``, the rest wait in NATS), each in the trace of its request's
headers; a result that cannot be sent as JSON is answered as an internal error; and a
graceful stop answers the requests in progress before it closes the store."""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager

import nats
import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from shared.eventstore import ServiceApplication
from shared.identity import signed_request
from shared.runtime import ServiceRuntime
from tests.harness import eventually, service_settings


class Nothing(ServiceApplication):
    name = "waiter"


class Gate:
    """A query that waits until the test opens the gate, counting how many wait at once."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def running_at_least(self, n: int):
        async def check() -> bool:
            return self.running >= n
        return check

    def wait(self, payload: dict, actor) -> dict:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            assert self.open.wait(10), "the test never opened the gate"
            return {"seen": payload.get("n")}
        finally:
            with self.lock:
                self.running -= 1


@asynccontextmanager
async def serving(nats_url: str, store: dict, concurrency: int):
    """A runtime answering the ``wait`` query (and ``opaque``, whose result is not JSON), and
    a client connection; the runtime is stopped afterwards unless the test stopped it."""
    gate, exporter = Gate(), InMemorySpanExporter()
    settings = service_settings(nats_url, store, rpc_concurrency=concurrency).model_copy(
        update={"service_name": "waiter"})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = ServiceRuntime(settings, Nothing(settings), lambda app, event, envelope: None,
                             tracer_provider=provider)
    runtime.query("wait")(gate.wait)
    runtime.query("opaque")(lambda payload, actor: object())
    runtime.query("huge")(lambda payload, actor: ["行" * 100] * 5000)  # ~1.5 MB of JSON
    await runtime.start()
    nc = await nats.connect(nats_url)
    try:
        yield gate, exporter, runtime, nc
    finally:
        gate.open.set()
        await nc.close()
        if runtime.ready:
            await runtime.stop()


async def ask(nc, n: int, headers: dict | None = None) -> dict:
    msg = await nc.request("duty.rpc.waiter.wait",
                           signed_request("waiter", {"n": n}, {"username": "t", "role": "office"}),
                           timeout=15, headers=headers)
    return json.loads(msg.data)


async def test_requests_are_answered_several_at_once_up_to_the_limit(fresh_nats, sqlite_store):
    async with serving(fresh_nats.url, sqlite_store, concurrency=3) as (gate, _, _, nc):
        asked = [asyncio.create_task(ask(nc, n)) for n in range(5)]
        await eventually(gate.running_at_least(3))
        await asyncio.sleep(0.3)
        assert gate.running == 3  # the other two wait in NATS
        gate.open.set()
        replies = await asyncio.gather(*asked)
        assert sorted(r["result"]["seen"] for r in replies) == [0, 1, 2, 3, 4]
        assert all(r["ok"] for r in replies) and gate.most == 3


async def test_a_request_continues_the_trace_of_its_headers(fresh_nats, sqlite_store):
    caller = TracerProvider().get_tracer("caller")
    async with serving(fresh_nats.url, sqlite_store, concurrency=2) as (gate, exporter, _, nc):
        gate.open.set()
        with caller.start_as_current_span("caller") as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)
            reply = await ask(nc, 7, headers)
        assert reply["result"] == {"seen": 7}
        served = [s for s in exporter.get_finished_spans() if s.name == "waiter.wait"]
        assert len(served) == 1
        assert served[0].context.trace_id == span.get_span_context().trace_id
        assert served[0].parent.span_id == span.get_span_context().span_id


async def test_a_graceful_stop_answers_the_requests_in_progress(fresh_nats, sqlite_store):
    async with serving(fresh_nats.url, sqlite_store, concurrency=4) as (gate, _, runtime, nc):
        asked = [asyncio.create_task(ask(nc, n)) for n in range(2)]
        await eventually(gate.running_at_least(2))
        stopping = asyncio.create_task(runtime.stop())
        await asyncio.sleep(0.3)
        assert not stopping.done()  # waits for the two in progress
        gate.open.set()
        await stopping
        assert sorted(r["result"]["seen"] for r in await asyncio.gather(*asked)) == [0, 1]


async def test_a_result_that_is_not_json_is_answered_as_an_internal_error(fresh_nats,
                                                                          sqlite_store):
    async with serving(fresh_nats.url, sqlite_store, concurrency=2) as (gate, _, _, nc):
        msg = await nc.request("duty.rpc.waiter.opaque",
                               signed_request("waiter", {}, {"username": "t", "role": "office"}), timeout=5)
        reply = json.loads(msg.data)
        assert reply["ok"] is False and reply["status"] == 500
        assert reply["detail"] == "waiter could not complete opaque"
        gate.open.set()  # and the service goes on answering
        assert (await ask(nc, 1))["result"] == {"seen": 1}


async def test_an_answer_larger_than_the_bus_carries_is_a_clear_error_not_a_timeout(
        fresh_nats, sqlite_store):
    async with serving(fresh_nats.url, sqlite_store, concurrency=2) as (gate, _, _, nc):
        msg = await nc.request("duty.rpc.waiter.huge",
                               signed_request("waiter", {}, {"username": "t", "role": "office"}), timeout=5)
        reply = json.loads(msg.data)
        assert reply["ok"] is False and reply["status"] == 500
        assert reply["title"] == "Answer too large" and reply["endpoint"] == "waiter.huge"
        assert reply["size"] > reply["limit"] == nc.max_payload
        assert "waiter.huge" in reply["detail"]
        gate.open.set()  # and the service goes on answering
        assert (await ask(nc, 1))["result"] == {"seen": 1}


def test_the_number_of_requests_at_once_must_be_positive(sqlite_store):
    with pytest.raises(ValidationError, match="rpc_concurrency"):
        service_settings("nats://127.0.0.1:1", sqlite_store, rpc_concurrency=0)


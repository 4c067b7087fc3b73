"""A service process: its application, its bus adapters, the outbox relay, health and signals.

Each service builds one ``ServiceRuntime`` in its entry point, registers its request/reply
routes (``command`` for changes, ``query`` for reads) and its upstream consumers, and runs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from contextlib import asynccontextmanager
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, NatsBroker, NatsMessage, PullSub
from nats.aio.msg import Msg
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.consumer import ExactlyOnceConsumer, Handler
from shared.contracts import IntegrationEvent
from shared.contracts.requests import ANY_SERVICE, Request
from shared.contracts.requests.runtime import (AttachmentAccess, CaseHistory, CaseRecords,
                                               Health, Metrics, ReadModelsStatus,
                                               RebuildReadModels, Republish, VerifyAttachments,
                                               VerifyCase, VerifyStore)
from shared.eventstore import Actor, ServiceApplication, recording_as
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, Translator
from shared.errors import DomainError
from shared.heap import freeze_heap
from shared.library import nats_connection, nats_stream
from shared.identity import IdentityError, Verifier
from shared.projection import LogProjection, catch_up_all
from shared.read_store import ReadModels, Rebuilding, TableProjection
from shared.rpc import (Conflict, Forbidden, Invalid, ServiceError, TooLarge, Unauthenticated,
                        Unavailable, ok, rpc_subject, validation_errors)
from shared.settings import ServiceSettings
from shared.streams import (
    consumer_config,
    declare_consumer,
    declare_streams,
    durable_name,
    stream_ref,
)
from shared.telemetry import attached_trace_context, build_tracer_provider


# How a refusal of the domain (shared/errors.py) is answered: the ONE place mapping domain
# errors to reply statuses.
REFUSAL_REPLIES: dict[str, type[ServiceError]] = {"conflict": Conflict, "forbidden": Forbidden}


def refusal_reply(exc: DomainError) -> ServiceError:
    """The request layer's answer to a refusal of the domain (409 or 403, the domain's
    message as ``detail``, its context such as ``status_now`` as extra fields)."""
    return REFUSAL_REPLIES[exc.refusal](exc.detail, **exc.context)


log = logging.getLogger(__name__)
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"  # tells replicas apart in health answers


CaseScope = Callable[[str], "tuple[list[Any], Callable[[dict[str, Any]], bool] | None]"]


@dataclass
class Route:
    name: str
    fn: Callable[[Any, Actor], Any]
    model: type[BaseModel] | None
    mutates: bool
    contract: type[Request] | None = None  # its declaration (shared/contracts/requests/)


async def _the_message(msg: NatsMessage) -> NatsMessage:
    """The subscribers' decoder: a handler is given the message itself (body, headers, ack),
    not its body decoded. FastStream's dependency injection would give the same, but resolves
    the message in a worker thread for every message: a third of a consumer's CPU in the
    profile of 2026-11-24 (docs/benchmarks.md)."""
    return msg


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        app: ServiceApplication,
        translate: Translator,
        *,
        projections: Iterable[LogProjection] = (),
        read_models: ReadModels | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.settings = settings
        self.service = settings.service_name
        self.app = app
        # In-memory projections and persisted read models (tables, see shared/read_store.py)
        # are caught up together, reading each new notification once.
        self.read_models = read_models
        self.projections = [*(read_models.projections if read_models else ()),
                            *projections]
        self.tracer_provider = tracer_provider or build_tracer_provider(self.service, settings)
        self.tracer = self.tracer_provider.get_tracer(f"duty.{self.service}")
        self.broker = NatsBroker(
            settings.nats_servers(),
            # No FastStream telemetry middleware: each consumed message's CONSUMER span is the
            # consumer's own "<service> handle <event>", continuing its headers' trace
            # (shared/consumer.py); the middleware's extra span per message, with its context
            # scopes, was an eighth of supervision's CPU in the profile of 2026-11-24.
            logger=None,
            name=f"duty-{self.service}",
            # Handlers take the message as it came (see ``_the_message``): no dependency
            # injection, which would resolve the message in a worker thread per message.
            apply_types=False,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            # a silent partition is noticed after ~30 s instead of nats-py's default ~4 min
            ping_interval=10,
            max_outstanding_pings=3,
        )
        self.relay = OutboxRelay(
            self.service,
            app,
            self.broker,
            translate,
            self.tracer,
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
        )
        self.metrics = ServiceMetrics(self.service)
        self.relay.on_published = self.metrics.published.inc
        self.routes: dict[str, Route] = {}
        # Every request's actor is a signed assertion (shared/identity.py), checked here.
        self.verifier = Verifier.load(settings)
        self.consumers: dict[str, ExactlyOnceConsumer] = {}
        self.ready = False
        # A service process (``run_service``) freezes its heap, read models included, out of
        # the garbage collector's reach once started and after each full rebuild (see
        # shared/heap.py); in-process tests leave it off.
        self.freeze_heap = False
        self._periodic: list[tuple[float, str, Callable[[], Any]]] = []
        self._periodic_tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._rpc_subscriptions: list[Any] = []
        self._rpc_tasks: set[asyncio.Task[None]] = set()
        self.case_scope: CaseScope | None = None
        self.handle(Health)(self._health)
        self.handle(RebuildReadModels)(self._rebuild_read_models)
        self.handle(ReadModelsStatus)(lambda _p, _a: self._read_models_status())
        self.handle(VerifyStore)(self._verify_store)
        self.handle(Republish)(self._republish)
        self.handle(AttachmentAccess)(self._attachment_access)
        self.handle(VerifyAttachments)(self._verify_attachments)
        self.handle(Metrics)(lambda _p, _a: {"text": self.metrics.render(
            self.app.max_notification_id, self.app.outbox_position)})

    # --- registration -------------------------------------------------------------------

    def handle(self, contract: type[Request]):
        """Register the handler of a declared request (shared/contracts/requests/): its name,
        command or query, payload model and the roles admitted all come from the contract.
        ``fn(request, actor)`` is called only for an actor whose role the contract admits."""
        if contract.service not in (self.service, ANY_SERVICE):
            raise ValueError(f"{contract.__name__} is a request of {contract.service}, "
                             f"not of {self.service}")

        def register(fn: Callable[[Any, Actor], Any]) -> Callable[[Any, Actor], Any]:
            self.routes[contract.name] = Route(contract.name, fn, contract, contract.mutates,
                                               contract)
            return fn

        return register

    def handlers(self, table: dict[type[Request], Callable[[Any, Actor], Any]]) -> None:
        """Register a service's registration table: contract → handler."""
        for contract, fn in table.items():
            self.handle(contract)(fn)

    def command(self, name: str, model: type[BaseModel] | None = None):
        """Register a request/reply route that changes state (the relay is woken after it)."""

        def register(fn: Callable[[Any, Actor], Any]) -> Callable[[Any, Actor], Any]:
            self.routes[name] = Route(name, fn, model, mutates=True)
            return fn

        return register

    def query(self, name: str, model: type[BaseModel] | None = None):
        """Register a read-only request/reply route (read models catch up first)."""

        def register(fn: Callable[[Any, Actor], Any]) -> Callable[[Any, Actor], Any]:
            self.routes[name] = Route(name, fn, model, mutates=False)
            return fn

        return register

    def audit_cases(self, scope: CaseScope) -> None:
        """Serve ``case_history`` and ``verify_case`` for this service: ``scope(case_id)``
        names the aggregates that belong to a case (and optionally which of their events)."""
        self.case_scope = scope
        self.handle(CaseHistory)(self._case_history)
        self.handle(VerifyCase)(self._case_history)
        self.handle(CaseRecords)(self._case_records)

    def _case_records(self, q: CaseRecords, actor: Actor) -> dict[str, Any]:
        """A page of the raw stored records of a case's aggregates, for offline verification:
        aggregates by id, each one's records by version, after the key ``after`` = [aggregate
        id, version]; at most ``limit`` records and about 512 KB. ``next``: the key of the
        next page (None: this was the last)."""
        from shared.audit import as_uuid

        assert self.case_scope is not None
        after = q.after
        if after is not None and not (len(after) == 2 and isinstance(after[0], str)
                                      and isinstance(after[1], int)):
            raise Invalid.field(["payload", "after"], "[aggregate id, version]")
        aggregate_ids, _ = self.case_scope(q.case_id)
        limit, budget = max(q.limit, 1), 512 * 1024
        aggregates: dict[str, list[dict[str, Any]]] = {}
        count = size = 0
        last: list[Any] | None = None
        for aggregate_id in sorted({str(a) for a in aggregate_ids}):
            if after is not None and aggregate_id < after[0]:
                continue
            version = after[1] if after is not None and aggregate_id == after[0] else 0
            while True:
                stored = self.app.recorder.select_events(as_uuid(aggregate_id), gt=version,
                                                         limit=100)
                if not stored:
                    break
                for event in stored:
                    record = {"originator_id": aggregate_id,
                              "version": event.originator_version, "topic": event.topic,
                              "state": self.app.mapper.raw_state(event)}  # type: ignore[attr-defined]
                    weight = len(json.dumps(record["state"], ensure_ascii=False,
                                            default=str)) + 200
                    if count and (count >= limit or size + weight > budget):
                        return {"service": self.service, "aggregates": aggregates,
                                "next": last}
                    aggregates.setdefault(aggregate_id, []).append(record)
                    count, size = count + 1, size + weight
                    last = [aggregate_id, event.originator_version]
                version = stored[-1].originator_version
        return {"service": self.service, "aggregates": aggregates, "next": None}

    def _case_history(self, q: CaseHistory, actor: Actor) -> dict[str, Any]:
        """A page of a case's history in this service: at most ``limit`` entries after the
        key ``after`` = [time, service, aggregate id, version], in that order, with ``more``
        and ``total``; every chain of the case verified whole and summarised (``ok``,
        ``chains_total``, ``broken_total``, ``chain_events``), at most 100 chains listed
        (broken ones first when there are more). ``limit`` 0 (``verify_case``): the chains
        only."""
        assert self.case_scope is not None
        after = q.after
        if after is not None and not (
                len(after) == 4 and all(isinstance(k, str) for k in after[:3])
                and isinstance(after[3], int)):
            raise Invalid.field(["payload", "after"],
                                "[time, service, aggregate id, version]")
        aggregate_ids, include = self.case_scope(q.case_id)
        result = self.app.audit(aggregate_ids, include, q.as_of, limit=q.limit, after=after)
        chains = result["chains"]
        broken = [c for c in chains if not c["ok"]]
        listed = chains if len(chains) <= 100 else \
            (broken + [c for c in chains if c["ok"]])[:100]
        return {**result, "chains": listed, "ok": not broken, "chains_total": len(chains),
                "broken_total": len(broken),
                "chain_events": sum(c["events"] for c in chains)}

    def every(self, seconds: float, name: str):
        """Register a periodic job (sync, run in a thread) that runs while the service runs.
        It stops before the service drains and closes its store; a truthy result wakes the
        outbox relay (the job recorded events)."""

        def register(fn: Callable[[], Any]) -> Callable[[], Any]:
            self._periodic.append((seconds, name, fn))
            return fn

        return register

    async def _run_periodic(self, seconds: float, name: str, fn: Callable[[], Any]) -> None:
        while not self._stopping.is_set():
            try:
                if await asyncio.to_thread(fn):
                    self.relay.wake()
            except Exception:
                log.warning("%s: periodic job %s failed", self.service, name, exc_info=True)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
            except asyncio.TimeoutError:
                pass

    def consume(self, producer: str, handlers: dict[type[IntegrationEvent], Handler]) -> None:
        """Process events from one upstream service exactly once (durable consumer)."""
        self.consumers[producer] = ExactlyOnceConsumer(
            self.service,
            self.app,
            self.broker,
            handlers,
            self.tracer,
            max_delivery_attempts=self.settings.max_delivery_attempts,
            backoff_seconds=self.settings.retry_backoff_seconds,
            after_commit=self.relay.wake,
            metrics=self.metrics,
        )

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.2, max=3),
            reraise=True,
        ):
            with attempt:
                await self.broker.connect()
        # A cluster may still be electing its meta leader: declaring streams is retried too.
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.2, max=3),
            stop=stop_after_delay(120),
            reraise=True,
        ):
            with attempt:
                js = nats_stream(self.broker)
                await declare_streams(js, replicas=self.settings.stream_replicas)
                for producer, consumer in self.consumers.items():
                    await declare_consumer(js, producer, self._consumer_config(producer, consumer))
        for producer, consumer in self.consumers.items():
            self.broker.subscriber(
                f"duty.{producer}.>",
                stream=stream_ref(producer),
                durable=durable_name(self.service, producer),
                pull_sub=PullSub(batch_size=self.settings.consumer_batch_size, timeout=1.0),
                config=self._consumer_config(producer, consumer),
                ack_policy=AckPolicy.MANUAL,
                decoder=_the_message,
            )(self._consumer_handler(consumer))
        if self.read_models is not None:
            await asyncio.to_thread(self.read_models.start)
        await asyncio.to_thread(self.catch_up)
        if self.freeze_heap:
            await asyncio.to_thread(freeze_heap)
        self._loop = asyncio.get_running_loop()
        await self.broker.start()
        await self._serve_requests()
        self.relay.start()
        self.relay.wake()
        self._stopping.clear()
        self._periodic_tasks = [
            asyncio.create_task(self._run_periodic(seconds, name, fn), name=f"{self.service}-{name}")
            for seconds, name, fn in self._periodic
        ]
        self.ready = True
        log.info("%s ready (store: %s)", self.service, self.settings.event_store)

    def _consumer_config(self, producer: str, consumer: ExactlyOnceConsumer) -> ConsumerConfig:
        # Only the subjects this service handles are delivered to it.
        return consumer_config(self.settings.max_delivery_attempts, self.settings.ack_wait_seconds,
                               subjects=consumer.subjects,
                               durable=durable_name(self.service, producer))

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Graceful stop: take no new messages, let in-flight ones finish (and be acked or
        answered), publish what is left in the outbox, then disconnect."""
        self.ready = False
        self._stopping.set()
        for task in self._periodic_tasks:
            await task  # a job that is running finishes before the store closes
        for subscription in self._rpc_subscriptions:
            await subscription.unsubscribe()
        self._rpc_subscriptions = []
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=drain_seconds)
        except asyncio.TimeoutError:
            log.warning("%s: %d messages still in flight at shutdown", self.service, self._in_flight)
        await self.relay.stop()
        try:
            await asyncio.wait_for(self.relay.publish_pending(), timeout=drain_seconds)
        except Exception:  # the next start publishes it: the log is the outbox
            log.warning("%s: outbox not fully published at shutdown", self.service, exc_info=True)
        await self.broker.stop()
        if self.read_models is not None:
            await asyncio.to_thread(self.read_models.stop)
        await asyncio.to_thread(self.app.close)
        if self.read_models is not None:
            self.read_models.store.close()
        log.info("%s stopped", self.service)

    @asynccontextmanager
    async def _handling(self):
        self._begin()
        try:
            yield
        finally:
            self._end()

    def _begin(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _end(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    def catch_up(self, covering: int | None = None) -> None:
        catch_up_all(self.projections, covering)

    # --- adapters -----------------------------------------------------------------------

    def _consumer_handler(self, consumer: ExactlyOnceConsumer):
        async def on_upstream_event(msg: NatsMessage) -> None:
            async with self._handling():
                await consumer.handle(msg)

        on_upstream_event.__name__ = f"{self.service}_consumes_{id(consumer)}"
        return on_upstream_event

    async def _serve_requests(self) -> None:
        """Answer request/reply routes on the broker's NATS connection (nats-py; one queue
        group per service, so replicas share the requests), up to ``rpc_concurrency`` requests
        at a time: a request waits in its subscription while that many are in progress.

        Served by nats-py rather than by FastStream subscribers: a core-NATS FastStream
        subscriber handles one message at a time per subject, and its per-message machinery
        (context scopes, middlewares, a reply publisher with a span of its own) was a third of
        intake's CPU in the profile of 2026-11-24 (docs/benchmarks.md). The trace continues
        from the request's W3C headers in the route's span (``<service>.<route>``)."""
        connection = nats_connection(self.broker)
        self._rpc_slots = asyncio.Semaphore(self.settings.rpc_concurrency)
        self._rpc_subscriptions = [
            await connection.subscribe(rpc_subject(self.service, route.name),
                                       queue=f"{self.service}-rpc", cb=self._on_request(route))
            for route in self.routes.values()
        ]
        await connection.flush()  # the server has every subscription before we say ready

    def _on_request(self, route: Route):
        async def on_request(msg: Msg) -> None:
            await self._rpc_slots.acquire()
            self._begin()  # counted in flight before the task runs: stop() waits for it
            task = asyncio.create_task(self._answer(route, msg), name=f"{self.service}-{route.name}")
            self._rpc_tasks.add(task)
            task.add_done_callback(self._rpc_tasks.discard)

        return on_request

    async def _answer(self, route: Route, msg: Msg) -> None:
        try:
            with attached_trace_context(msg.headers):
                with self.metrics.rpc_seconds.labels(route.name).time():
                    reply = await self.serve(route, msg.data)
            if not msg.reply:
                return
            try:
                data = to_json(reply)
            except Exception:  # a result that is not JSON: a bug, answered as one
                log.exception("%s.%s answered with something that is not JSON",
                              self.service, route.name)
                data = to_json(self._internal_error(route))
            data = self._bounded(route, data)
            await msg.respond(data)
        except Exception:  # an answer that cannot be sent: the caller times out
            log.exception("%s: could not answer %s", self.service, route.name)
        finally:
            self._rpc_slots.release()
            self._end()

    def _bounded(self, route: Route, data: bytes) -> bytes:
        """The answer, or a clear error when it is larger than the server carries (NATS
        would refuse to send it and the caller would only see a timeout)."""
        connection = nats_connection(self.broker)
        limit = connection.max_payload or 1024 * 1024
        if len(data) + 1024 <= limit:  # headroom for the reply's headers
            return data
        log.error("%s.%s: answer of %d bytes is over the bus's %d bytes", self.service,
                  route.name, len(data), limit)
        return to_json(TooLarge(
            f"the answer of {self.service}.{route.name} is {len(data)} bytes, more than the "
            f"bus carries ({limit}): ask for a smaller page (limit) or narrow the filters",
            endpoint=f"{self.service}.{route.name}", size=len(data), limit=limit).to_reply())

    def _internal_error(self, route: Route) -> dict[str, Any]:
        return {"ok": False, "status": 500, "title": "Internal error",
                "detail": f"{self.service} could not complete {route.name}", "errors": []}

    async def serve(self, route: Route, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("request must be an object")
            payload = request.get("payload") or {}
        except ValueError as exc:
            return Invalid(f"malformed request: {exc}").to_reply()
        if route.name == "health" and "assertion" not in request:
            actor = Actor("anonymous", "anonymous")  # readiness probes: no data, no change
        else:
            try:
                claimed, signer = self.verifier.verify(request.get("assertion"))
            except IdentityError as exc:
                log.warning("%s.%s refused: %s (claimed actor %r)", self.service, route.name,
                            exc, request.get("actor"))
                self.metrics.refused.inc()
                return Unauthenticated(f"{exc}: requests must carry an actor assertion "
                                       "signed by the gateway or ops").to_reply()
            actor = Actor.from_dict(claimed)
        with self.tracer.start_as_current_span(f"{self.service}.{route.name}") as span:
            span.set_attribute("duty.actor", actor.username)
            if route.contract is not None and not route.contract.allows(actor.role):
                span.set_attribute("duty.error_status", 403)
                return Forbidden(f"this needs the role "
                                 f"{' or '.join(sorted(route.contract.roles))}").to_reply()
            try:
                args = route.model.model_validate(payload) if route.model else payload
            except ValidationError as exc:
                return Invalid("the request has invalid fields", validation_errors(exc)).to_reply()

            def call() -> Any:
                with recording_as(actor):
                    if not route.mutates:
                        self.catch_up()
                    result = route.fn(args, actor)
                    if route.mutates:  # answered once its own events are in the read models
                        self.catch_up(self.app.last_recorded_notification_id())
                    return result

            try:
                try:
                    result = await asyncio.to_thread(call)
                except Rebuilding as exc:
                    raise Unavailable(
                        f"the read model {exc.name} of {self.service} is being built; "
                        "try again shortly", read_models=self._read_models_status()) from None
                except DomainError as exc:
                    raise refusal_reply(exc) from None
            except ServiceError as exc:
                span.set_attribute("duty.error_status", exc.status)
                return exc.to_reply()
            except Exception as exc:
                log.exception("%s.%s failed", self.service, route.name)
                span.record_exception(exc)
                return self._internal_error(route)
        if route.mutates:
            self.relay.wake()
        return ok(result)

    def _rebuild_read_models(self, q: RebuildReadModels, _actor: Actor) -> dict[str, Any]:
        """Rebuild read models from this service's event store: an in-memory one is dropped
        and rebuilt; a persisted one gets a new generation built beside the live one, which
        keeps answering until the new one takes over (in the background with
        ``background``: follow it with the ``read_models`` route)."""
        chosen = [p for p in self.projections
                  if q.only is None or getattr(p, "name", type(p).__name__) in q.only]
        in_memory = [p for p in chosen if not isinstance(p, TableProjection)]
        tables = [p for p in chosen if isinstance(p, TableProjection)]
        for projection in in_memory:
            projection.reset()
        read = catch_up_all(in_memory) if in_memory else 0
        applied = {type(p).__name__: read for p in in_memory}
        if tables and self.read_models is not None:
            for projection in tables:
                if q.background:
                    self.read_models.rebuild_in_background(projection)
                else:
                    applied[projection.name] = self.read_models.rebuild(projection)["applied"]
        if self.freeze_heap:
            freeze_heap()
        return {"service": self.service, "events_applied": applied,
                "read_models": self._read_models_status()}

    def _read_models_status(self) -> dict[str, Any]:
        return self.read_models.status() if self.read_models is not None else {}

    def _verify_store(self, q: VerifyStore, _actor: Actor) -> dict[str, Any]:
        """Check the hash chain of every aggregate in this service's store."""
        from shared.audit import verify_chain

        seen: dict[Any, None] = {}
        start = 1
        while True:
            batch = self.app.recorder.select_notifications(start=start, limit=1000)
            if not batch:
                break
            for n in batch:
                seen.setdefault(n.originator_id, None)
            start = batch[-1].id + 1
        broken = []
        events = 0
        for aggregate_id in seen:
            result = verify_chain(self.app.stored_records(aggregate_id))
            events += result["events"]
            if not result["ok"]:
                broken.append({"aggregate_id": str(aggregate_id), **result})
                if len(broken) >= q.limit:
                    break
        return {"service": self.service, "aggregates": len(seen), "events": events,
                "broken": broken, "ok": not broken}

    def _attachment_access(self, q: AttachmentAccess, actor: Actor) -> dict[str, Any]:
        """An attachment recorded here (``app.attachments``, shared/blobs.py) may be read by
        whoever may see one of the objects it is recorded on (``app.attachment_visible``)."""
        from shared.blobs import AttachmentIndex

        index = getattr(self.app, "attachments", None)
        found = index.lookup(q.sha256) if isinstance(index, AttachmentIndex) else []
        if not found:
            return {"recorded": False, "allowed": False, "erased": False, "attachment": None}
        live = [r for r in found if not r.erased]
        for r in live:
            if self.app.attachment_visible(r.aggregate_id, actor):
                return {"recorded": True, "allowed": True, "erased": False,
                        "attachment": r.attachment}
        return {"recorded": True, "allowed": False, "erased": not live, "attachment": None}

    def _verify_attachments(self, _q: VerifyAttachments, _actor: Actor) -> dict[str, Any]:
        from shared.blobs import AttachmentIndex, blob_store, verify_recorded

        index = getattr(self.app, "attachments", None)
        if not isinstance(index, AttachmentIndex):
            return {"service": self.service, "checked": 0, "erased": 0, "problems": [],
                    "ok": True}
        store = getattr(self.app, "blobs", None) or blob_store(self.settings)
        return verify_recorded(index, store, self.service)

    def _republish(self, q: Republish, _actor: Actor) -> dict[str, Any]:
        """Publish a range of this service's log again (same Nats-Msg-Id: the stream drops
        copies inside its duplicate window; consumers are idempotent beyond it)."""
        future = asyncio.run_coroutine_threadsafe(
            self.relay.republish(q.start, q.end), self._loop)
        return {"service": self.service, "republished": future.result(timeout=600)}

    def _health(self, _payload: Any, _actor: Actor) -> dict[str, Any]:
        max_id = self.app.max_notification_id()
        return {
            "service": self.service,
            "instance": INSTANCE,
            "ready": self.ready,
            "nats_connected": nats_connection(self.broker).is_connected
            if self.ready else False,
            "store": self.settings.event_store,
            "recorded": max_id,
            "outbox_lag": max_id - self.app.outbox_position(),
            "consumers": {p: vars(c.stats) for p, c in self.consumers.items()},
            # commands' recordings and the transactions they took (shared/group_commit.py)
            "group_commit": self.app.group_commit.stats() if self.app.group_commit else None,
            "read_models": self._read_models_status(),
        }


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("nats").setLevel(logging.WARNING)


def run_service(build: Callable[[], ServiceRuntime]) -> None:
    """Entry point body: build, start, wait for SIGTERM/SIGINT, stop gracefully."""
    configure_logging()

    async def main() -> None:
        runtime = build()
        runtime.freeze_heap = True
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await runtime.start()
        await stopping.wait()
        await runtime.stop()

    asyncio.run(main())

"""Exactly-once processing of upstream integration events.

For each message from an upstream service's stream:

1. A subject this service has no handler for is acknowledged and ignored (the durable
   consumer is declared with the handled subjects only, so the server sends none; this
   covers a consumer another version of the service declared). A message on a
   handled subject that does not decode is parked at once on
   ``duty.dlq.<service>`` with the reason: retrying cannot fix it.
2. If the (upstream service, notification id) pair is already tracked, it was processed
   before (a redelivery, or a replica beat us): acknowledge and stop.
3. Run the service's handler, which returns the aggregates it changed; record their new
   events together with the tracking row in ONE transaction.
4. Acknowledge only after that commit.

Messages that arrive while earlier ones are being recorded are recorded together: their
handlers run one after another, in order, in one unit of work (a later handler sees the
aggregates an earlier one changed), and all their events and tracking rows go into one
transaction, so a busy consumer pays one thread hop and one commit per batch, not per
message. Each event keeps the actor, causation and trace context of its own message. If
anything in a batch goes wrong (a handler raises, a conflict with a replica or a command),
nothing of it is stored and each of its messages is processed again on its own, as above.

An event that decodes but is not valid (``InvalidEvent``: an id not in the producer's form,
a deputy, unit, station or category not in the reference data) is parked at once with the
reason, before its handler runs, so it has no effect: the consumer's ``validator`` (set by the
service where it registers the consumer, see shared/event_validation.py) raises it, and a
handler may raise it too (nothing it changed is recorded).

A handler that raises is retried with exponential back-off (``nak(delay)``) up to
``max_delivery_attempts``, then the message is parked with its error and original stream
sequence, acknowledged, and the consumer goes on. (FastStream's default of terminating a
message whose handler raised is replaced by manual acknowledgement here.)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking
from faststream.nats import NatsBroker, NatsMessage
from opentelemetry import context as otel_context
from opentelemetry import trace

from shared.contracts import IntegrationEvent, MalformedEvent, decode_event
from shared.eventstore import (
    Actor,
    ServiceApplication,
    Trackings,
    recording_as,
    stamp_metadata,
    unit_of_work,
)
from shared.streams import DLQ_STREAM, dlq_subject
from shared.telemetry import attached_trace_context

log = logging.getLogger(__name__)

Handler = Callable[[Any], Sequence[Any]]


class PermanentFailure(Exception):
    """Raised by a handler when retrying the same message can never succeed."""


class InvalidEvent(PermanentFailure):
    """An upstream event that decodes but must not be acted on: its ids are not in the form
    its producer makes them, or it refers to reference data that does not exist. Parked at
    once with the reason (retrying cannot make it valid); nothing of it is recorded."""


Validator = Callable[[IntegrationEvent], None]


class _NotTogether(Exception):
    """A batch that cannot be recorded as one: its messages are processed one by one."""


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    retried: int = 0
    parked: int = 0
    batches: int = 0  # transactions that recorded several messages at once
    batched: int = 0  # messages recorded in those transactions
    unbatched: int = 0  # batches taken apart again and processed message by message


@dataclass
class _Waiting:
    """A decoded message waiting for its turn to be recorded."""

    event: IntegrationEvent
    handler: Handler
    context: otel_context.Context  # the message's trace context (its handle span)
    outcome: asyncio.Future[str]


class ExactlyOnceConsumer:
    def __init__(
        self,
        service: str,
        app: ServiceApplication,
        broker: NatsBroker,
        handlers: dict[type[IntegrationEvent], Handler],
        tracer: trace.Tracer,
        max_delivery_attempts: int = 5,
        backoff_seconds: float = 0.5,
        after_commit: Callable[[], None] | None = None,
        metrics: Any = None,
        max_batch: int = 100,
        validator: Validator | None = None,
    ) -> None:
        self.service = service
        self.app = app
        self.broker = broker
        self.handlers = handlers
        self.subjects = {contract.subject() for contract in handlers}
        self.tracer = tracer
        self.max_delivery_attempts = max_delivery_attempts
        self.backoff_seconds = backoff_seconds
        self.after_commit = after_commit
        self.metrics = metrics
        self.stats = ConsumerStats()
        self.max_batch = max_batch
        # Checks each decoded event before its handler runs; raises InvalidEvent.
        self.validator = validator
        # FastStream hands us the messages of one fetch concurrently; they queue here in
        # arrival order and one recorder task takes them in batches, so each upstream's order
        # is kept and no two batches of this consumer race on the same aggregates.
        self._waiting: list[_Waiting] = []
        self._recorder: asyncio.Task[None] | None = None
        # Fault hook for tests: called after the commit and before the ack.
        self.fault_after_commit: Callable[[IntegrationEvent], None] | None = None

    def _count(self, upstream: str, outcome: str) -> None:
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        if self.metrics:
            self.metrics.consumed.labels(upstream, outcome).inc()

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)

    async def handle(self, msg: NatsMessage) -> None:
        """Process one delivered message, in the trace its producer put in its headers."""
        with attached_trace_context(msg.raw_message.headers):
            await self._handle(msg)

    async def _handle(self, msg: NatsMessage) -> None:
        raw = msg.raw_message
        subject = raw.subject
        attempt = raw.metadata.num_delivered
        if subject not in self.subjects:
            # Another event of this producer (perhaps one newer than this service): not ours.
            self._count(subject.split(".")[1], "ignored")
            await msg.ack()
            return
        try:
            event = decode_event(subject, msg.body)
        except MalformedEvent as exc:
            await self.park(msg, f"malformed: {exc}", attempt)
            return
        if self.validator is not None:
            try:
                self.validator(event)
            except InvalidEvent as exc:
                await self.park(msg, f"invalid: {exc}", attempt)
                return
        handler = self.handlers[type(event)]
        with self.tracer.start_as_current_span(
            f"{self.service} handle {type(event).name}", kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.destination.name": subject,
                        "messaging.operation.type": "process",
                        "duty.event_id": event.event_id, "duty.case_id": event.case_id,
                        "messaging.delivery_attempt": attempt},
        ):
            try:
                outcome = await self._recorded(event, handler)
            except InvalidEvent as exc:
                await self.park(msg, f"invalid: {exc}", attempt)
                return
            except PermanentFailure as exc:
                await self.park(msg, f"rejected: {exc}", attempt)
                return
            except Exception as exc:
                if attempt >= self.max_delivery_attempts:
                    await self.park(msg, f"failed after {attempt} attempts: {exc!r}", attempt,
                                    trace_text=traceback.format_exc())
                    return
                self._count(event.source_service, "retried")
                log.warning("%s: %s failed (attempt %d), retrying: %r",
                            self.service, event.event_id, attempt, exc)
                await msg.nack(delay=self.backoff(attempt))
                return
        if outcome == "processed":
            self._count(event.source_service, "processed")
            if self.after_commit:
                self.after_commit()
            if self.fault_after_commit:
                self.fault_after_commit(event)  # may raise: the message then goes un-acked
        else:
            self._count(event.source_service, "duplicates")
        await msg.ack()

    async def _recorded(self, event: IntegrationEvent, handler: Handler) -> str:
        """Queue the message for the recorder task; returns "processed" or "duplicate", or
        raises what its handler raised."""
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(event, handler, otel_context.get_current(), outcome))
        if self._recorder is None or self._recorder.done():
            # A fresh context: the task must not inherit this message's trace or metadata.
            self._recorder = asyncio.create_task(
                self._record_waiting(), name=f"{self.service}-consumer-recorder",
                context=contextvars.Context())
        return await outcome

    async def _record_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[:self.max_batch]
            del self._waiting[:len(batch)]
            started = time.perf_counter()
            try:
                outcomes = await asyncio.to_thread(self._process_batch, batch)
            except BaseException as exc:  # cancelled, or a bug: no message is left waiting
                for item in batch + self._waiting:
                    if not item.outcome.done():
                        item.outcome.set_exception(exc)
                self._waiting.clear()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("%s: recording a batch failed", self.service)
                return
            if self.metrics:
                share = (time.perf_counter() - started) / len(batch)
                for item in batch:
                    self.metrics.handler_seconds.labels(item.event.source_service).observe(share)
            for item, outcome in zip(batch, outcomes):
                if item.outcome.done():  # its handle() was cancelled
                    continue
                if isinstance(outcome, BaseException):
                    item.outcome.set_exception(outcome)
                else:
                    item.outcome.set_result(outcome)

    def _process_batch(self, batch: list[_Waiting]) -> list[str | BaseException]:
        if len(batch) > 1:
            try:
                outcomes = self._process_together(batch)
            except Exception as exc:
                log.debug("%s: batch of %d taken apart: %r", self.service, len(batch), exc,
                          exc_info=True)
                self.stats.unbatched += 1
            else:
                self.stats.batches += 1
                self.stats.batched += outcomes.count("processed")
                return outcomes
        return [self._process_alone(item) for item in batch]

    def _process_alone(self, item: _Waiting) -> str | BaseException:
        token = otel_context.attach(item.context)
        try:
            return self._process(item.event, item.handler)
        except Exception as exc:
            return exc
        finally:
            otel_context.detach(token)

    def _process_together(self, batch: list[_Waiting]) -> list[str]:
        """Run every handler of the batch in one unit of work and record all their events
        and tracking rows in one transaction; raises if that cannot be done."""
        upstream = batch[0].event.source_service
        done = self.app.tracked_among(
            upstream, [item.event.source_notification_id for item in batch])
        processing = ProcessingEvent()
        trackings: list[Tracking] = []
        outcomes: list[str] = []
        with unit_of_work() as changed:
            for item in batch:
                event = item.event
                position = event.source_notification_id
                if event.source_service != upstream:
                    raise _NotTogether("messages from several upstream services")
                if position in done:
                    outcomes.append("duplicate")
                    continue
                token = otel_context.attach(item.context)
                try:
                    actor = Actor.from_dict(event.actor.model_dump())
                    with recording_as(actor, causation_id=event.event_id):
                        for aggregate in item.handler(event):
                            if aggregate is None:
                                continue
                            new_events = aggregate.collect_events()
                            stamp_metadata(new_events)
                            processing.events.extend(new_events)
                            processing.aggregates[aggregate.id] = aggregate
                            changed[aggregate.id] = aggregate
                finally:
                    otel_context.detach(token)
                if any(a.pending_events for a in changed.values()):
                    # a handler changed an aggregate it did not return: alone, those
                    # changes would be dropped; together they would leak into the next one
                    raise _NotTogether("a handler changed an aggregate it did not return")
                done.add(position)
                trackings.append(Tracking(upstream, position))
                outcomes.append("processed")
        if trackings:
            processing.tracking = Trackings(trackings)
            self.app.record_processing(processing)
        return outcomes

    def _process(self, event: IntegrationEvent, handler: Handler) -> str:
        upstream, position = event.source_service, event.source_notification_id
        for conflict in range(20):
            if conflict:
                time.sleep(random.uniform(0, 0.01 * conflict))  # a replica got there first
            if self.app.is_tracked(upstream, position):
                return "duplicate"
            actor = Actor.from_dict(event.actor.model_dump())
            with recording_as(actor, causation_id=event.event_id):
                aggregates = handler(event)
                processing = ProcessingEvent(tracking=Tracking(upstream, position))
                processing.collect_events(*aggregates)
                try:
                    self.app.record_processing(processing)
                except IntegrityError:
                    # Either a replica recorded this position meanwhile, or an aggregate we
                    # changed moved on under us: look again and retry from fresh state.
                    continue
            return "processed"
        raise RuntimeError(f"could not record {event.event_id} after repeated conflicts")

    async def park(self, msg: NatsMessage, reason: str, attempt: int, trace_text: str = "") -> None:
        raw = msg.raw_message
        metadata = raw.metadata
        headers = {
            "Nats-Msg-Id": f"dlq:{self.service}:{metadata.stream}:{metadata.sequence.stream}",
            "Duty-Original-Subject": raw.subject,
            "Duty-Original-Stream": metadata.stream,
            "Duty-Original-Sequence": str(metadata.sequence.stream),
            "Duty-Consumer": self.service,
            "Duty-Attempts": str(attempt),
            "Duty-Error": _header_value(reason, 2000),
        }
        if trace_text:
            headers["Duty-Traceback"] = _header_value(trace_text[-4000:], 4000)
        log.error("%s parked %s seq %s: %s", self.service, raw.subject,
                  metadata.sequence.stream, reason)
        await self.broker.publish(msg.body, subject=dlq_subject(self.service),
                                  stream=DLQ_STREAM, headers=headers)
        self._count(raw.subject.split(".")[1], "parked")
        await msg.ack()


def _header_value(text: str, limit: int) -> str:
    """NATS header values are single lines."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:limit]

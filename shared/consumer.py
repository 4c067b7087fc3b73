"""Exactly-once processing of upstream integration events.

For each message from an upstream service's stream:

1. A subject this service has no handler for is acknowledged and ignored. A message on a
   handled subject that does not decode is parked at once on
   ``duty.dlq.<service>`` with the reason: retrying cannot fix it.
2. If the (upstream service, notification id) pair is already tracked, it was processed
   before (a redelivery, or a replica beat us): acknowledge and stop.
3. Run the service's handler, which returns the aggregates it changed; record their new
   events together with the tracking row in ONE transaction.
4. Acknowledge only after that commit.

A handler that raises is retried with exponential back-off (``nak(delay)``) up to
``max_delivery_attempts``, then the message is parked with its error and original stream
sequence, acknowledged, and the consumer goes on. (FastStream's default of terminating a
message whose handler raised is replaced by manual acknowledgement here.)
"""

from __future__ import annotations

import asyncio
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
from opentelemetry import trace

from shared.contracts import IntegrationEvent, MalformedEvent, decode_event
from shared.eventstore import Actor, ServiceApplication, recording_as
from shared.streams import DLQ_STREAM, dlq_subject

log = logging.getLogger(__name__)

Handler = Callable[[Any], Sequence[Any]]


class PermanentFailure(Exception):
    """Raised by a handler when retrying the same message can never succeed."""


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    ignored: int = 0
    retried: int = 0
    parked: int = 0


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
        # FastStream may hand us several fetched messages at once; processing them one at a
        # time keeps each upstream's order and avoids conflicts on shared aggregates.
        self._one_at_a_time = asyncio.Lock()
        # Fault hook for tests: called after the commit and before the ack.
        self.fault_after_commit: Callable[[IntegrationEvent], None] | None = None

    def _count(self, upstream: str, outcome: str) -> None:
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        if self.metrics:
            self.metrics.consumed.labels(upstream, outcome).inc()

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)

    async def handle(self, msg: NatsMessage) -> None:
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
        handler = self.handlers[type(event)]
        with self.tracer.start_as_current_span(
            f"{self.service} handle {type(event).name}",
            attributes={"duty.event_id": event.event_id, "duty.case_id": event.case_id,
                        "messaging.delivery_attempt": attempt},
        ):
            try:
                async with self._one_at_a_time:
                    started = time.perf_counter()
                    outcome = await asyncio.to_thread(self._process, event, handler)
                    if self.metrics:
                        self.metrics.handler_seconds.labels(event.source_service).observe(
                            time.perf_counter() - started)
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

"""JetStream streams and durable consumers, declared in code.

One stream per producing service (``DUTY_<SERVICE>``, subjects ``duty.<service>.>``) and one
dead-letter stream (``DUTY_DLQ``, subjects ``duty.dlq.<consumer service>``). File storage,
explicit acks, bounded redelivery. Production values (replicas 3, ``sync_interval: always`` on
the server) are in infra/ and set through ``STREAM_REPLICAS``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from faststream.nats import ConsumerConfig, JStream

log = logging.getLogger(__name__)

PRODUCERS = ("intake", "assignment", "supervision", "points", "accounts", "liaison", "projects", "reports", "registry")
DLQ_STREAM = "DUTY_DLQ"
DUPLICATE_WINDOW_SECONDS = 120.0


def stream_name(producer: str) -> str:
    return f"DUTY_{producer.upper()}"


def dlq_subject(consumer_service: str) -> str:
    return f"duty.dlq.{consumer_service}"


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    configs = [
        StreamConfig(
            name=stream_name(p),
            subjects=[f"duty.{p}.>"],
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            description=f"Integration events published by the {p} service",
        )
        for p in PRODUCERS
    ]
    configs.append(
        StreamConfig(
            name=DLQ_STREAM,
            subjects=["duty.dlq.>"],
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            description="Messages a consumer could not process, parked with their error",
        )
    )
    return configs


async def declare_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create or update every platform stream (idempotent; every service calls it)."""
    for config in stream_configs(replicas):
        try:
            await js.add_stream(config=config)
        except BadRequestError as exc:
            if "already in use" not in (exc.description or ""):
                raise
            await js.update_stream(config=config)


def stream_ref(producer: str) -> JStream:
    """A reference to an already-declared stream, for FastStream subscribers."""
    return JStream(stream_name(producer), declare=False)


def durable_name(consumer_service: str, producer: str) -> str:
    return f"{consumer_service}--{producer}"


def consumer_config(max_delivery_attempts: int, ack_wait_seconds: float = 30.0,
                    subjects: Iterable[str] = (), durable: str | None = None) -> ConsumerConfig:
    """A service's durable pull consumer of one producer's stream. ``subjects``: the event
    subjects it handles (the server delivers no others; none given: every subject)."""
    # The handler parks a message itself after `max_delivery_attempts`; the server bound is a
    # safety net (two more deliveries) for a process that dies while handling it.
    return ConsumerConfig(
        name=durable,
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_deliver=max_delivery_attempts + 2,
        ack_wait=ack_wait_seconds,
        max_ack_pending=1000,
        filter_subjects=sorted(subjects) or None,
    )


async def declare_consumer(js: JetStreamContext, producer: str, config: ConsumerConfig) -> None:
    """Create the durable consumer, or bring an existing one to ``config`` (its subjects and
    limits; the server keeps its position). nats-py's subscribe would use an existing one as
    it is, so a service that handles a new event, or a changed limit, would not take effect."""
    await js.add_consumer(stream_name(producer), config=config)

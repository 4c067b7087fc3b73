"""Parked (dead-letter) messages: list, inspect, replay.

A consumer parks a message it cannot process on ``duty.dlq.<service>`` (stream ``DUTY_DLQ``)
with the original subject, stream sequence, attempts and error in headers. Replaying publishes
the original body again on its original subject (under a new message id, so the stream accepts
it); every consumer's tracking makes that harmless for those that had processed it. The parked
copy is then removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nats
from nats.js.errors import NotFoundError

from shared.streams import DLQ_STREAM


@dataclass
class ParkedMessage:
    sequence: int
    consumer: str
    original_subject: str
    original_stream: str
    original_sequence: int
    attempts: int
    error: str
    body: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "consumer": self.consumer,
            "original_subject": self.original_subject,
            "original_sequence": self.original_sequence,
            "attempts": self.attempts,
            "error": self.error,
        }


async def list_parked(nats_url: str, consumer: str | None = None) -> list[ParkedMessage]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(DLQ_STREAM)
        parked = []
        if info.state.messages == 0:
            return parked
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(DLQ_STREAM, seq)
            except NotFoundError:
                continue  # replayed and removed
            headers = msg.headers or {}
            item = ParkedMessage(
                sequence=seq,
                consumer=headers.get("Duty-Consumer", "?"),
                original_subject=headers.get("Duty-Original-Subject", "?"),
                original_stream=headers.get("Duty-Original-Stream", "?"),
                original_sequence=int(headers.get("Duty-Original-Sequence", "0")),
                attempts=int(headers.get("Duty-Attempts", "0")),
                error=headers.get("Duty-Error", ""),
                body=msg.data or b"",
            )
            if consumer is None or item.consumer == consumer:
                parked.append(item)
        return parked
    finally:
        await nc.close()


async def replay(nats_url: str, sequence: int) -> ParkedMessage:
    """Publish a parked message again on its original subject and remove the parked copy."""
    parked = {p.sequence: p for p in await list_parked(nats_url)}
    if sequence not in parked:
        raise LookupError(f"no parked message with sequence {sequence}")
    item = parked[sequence]
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.publish(item.original_subject, item.body,
                         headers={"Nats-Msg-Id": f"replay:{DLQ_STREAM}:{sequence}"})
        await js.delete_msg(DLQ_STREAM, sequence)
    finally:
        await nc.close()
    return item

"""Streams, durable consumers and their lag."""

from __future__ import annotations

from typing import Any

import nats
from nats.js.errors import NotFoundError

from shared.streams import DLQ_STREAM, PRODUCERS, stream_name


async def bus_status(nats_url: str) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        streams = []
        for name in [stream_name(p) for p in PRODUCERS] + [DLQ_STREAM]:
            try:
                info = await js.stream_info(name)
            except NotFoundError:
                streams.append({"stream": name, "missing": True})
                continue
            consumers = []
            for c in await js.consumers_info(name):
                consumers.append({
                    "consumer": c.name,
                    "pending": c.num_pending,  # not yet delivered: the lag
                    "ack_pending": c.num_ack_pending,
                    "redelivered": c.num_redelivered,
                })
            streams.append({"stream": name, "messages": info.state.messages,
                            "last_seq": info.state.last_seq, "consumers": consumers})
        return {"streams": streams}
    finally:
        await nc.close()

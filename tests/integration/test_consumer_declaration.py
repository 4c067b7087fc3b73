"""A service declares its durable consumers itself on a real nats-server: only the subjects it
handles are delivered to it, and a consumer left by an earlier version (every subject of the
producer, other limits) is brought up to date without losing its position."""

from __future__ import annotations

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.contracts.intake import SuggestionRegisteredV1, SuggestionSubmittedV1
from shared.streams import declare_streams, durable_name, stream_name
from tests.harness import build, service_settings


async def test_a_consumer_gets_only_its_subjects_and_an_old_one_is_updated(fresh_nats, sqlite_store):
    nc = await nats.connect(fresh_nats.url)
    js = nc.jetstream()
    runtime = None
    try:
        await declare_streams(js)
        durable = durable_name("points", "intake")
        # as an earlier version left it: every intake subject, another redelivery bound
        await js.add_consumer(stream_name("intake"), config=ConsumerConfig(
            name=durable, durable_name=durable, ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL, filter_subject="duty.intake.>", max_deliver=99))
        await js.publish(SuggestionSubmittedV1.subject(), b"{}")  # not a points subject

        settings = service_settings(fresh_nats.url, sqlite_store)
        runtime = build("points", settings)
        await runtime.start()

        info = await js.consumer_info(stream_name("intake"), durable)
        handled = sorted(runtime.consumers["intake"].subjects)
        assert SuggestionRegisteredV1.subject() in handled
        assert SuggestionSubmittedV1.subject() not in handled
        assert info.config.filter_subjects == handled and not info.config.filter_subject
        assert info.config.max_deliver == settings.max_delivery_attempts + 2
        # the submitted event is not pending for points, and more of it never will be
        await js.publish(SuggestionSubmittedV1.subject(), b"{}")
        info = await js.consumer_info(stream_name("intake"), durable)
        assert info.num_pending == 0 and info.num_ack_pending == 0
        assert runtime.consumers["intake"].stats.ignored == 0
    finally:
        if runtime is not None:
            await runtime.stop()
        await nc.close()

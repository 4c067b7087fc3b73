"""Two replicas of the notifications service on one store (as compose and the replicas test
run them): both run the delivery job at the same moments, and still each notification is
mailed once — a replica claims a delivery in the log before it sends, and the other leaves a
claimed one alone until the claim's lease ends."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import date
from email import message_from_bytes
from uuid import uuid4

import nats
import pytest
from aiosmtpd.controller import Controller

from services.notifications.application import NotificationSettings
from services.notifications.bootstrap import build_runtime as build_notifications
from services.notifications.domain import Notification
from shared.contracts.assignment import TaskAssignedV1
from shared.streams import declare_streams
from tests.harness import InProcessSystem, eventually, free_port
from tests.integration.test_notifications_table import START, ev, publish


class SlowMailbox:
    """An SMTP server that takes its time over each mail (widening the race)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        await asyncio.sleep(0.05)
        mail = message_from_bytes(envelope.content)
        with self.lock:
            self.ids.append(mail["X-Duty-Notification"])
        return "250 OK"


@pytest.fixture
def slow_smtp():
    mailbox = SlowMailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


async def test_two_replicas_mail_each_notification_once(fresh_nats, store, slow_smtp):
    controller, mailbox = slow_smtp
    system = InProcessSystem(fresh_nats.url, store)
    system.clock.set(START)
    nc = await nats.connect(fresh_nats.url)
    js = nc.jetstream()
    await declare_streams(js)
    settings = NotificationSettings(**system.settings().model_dump(), smtp_host="127.0.0.1",
                                    smtp_port=controller.port, notify_delivery_seconds=3600)
    replicas = [build_notifications(settings, clock=system.clock) for _ in range(2)]
    for replica in replicas:
        await replica.start()
    try:
        tasks = 12
        for _ in range(tasks):
            await publish(js, ev(TaskAssignedV1, str(uuid4()), task_id=str(uuid4()),
                                 unit_id="unit-b", role="lead", assigned_at=START,
                                 deadline=date(2026, 6, 1), title="加装电梯",
                                 category="livelihood", urgency="yellow"))

        def made() -> int:
            replicas[0].catch_up()
            views = replicas[0].app.views
            with views.store.read() as tx:
                return tx.scalar(f"SELECT COUNT(*) AS c FROM {views.inbox.t('Inbox_items')}")

        await eventually(lambda: asyncio.to_thread(lambda: made() == tasks), timeout=20)

        # both replicas' delivery jobs, at the same moments, several times over
        start = threading.Barrier(2)

        def job(replica) -> None:
            for _ in range(3):
                start.wait()
                replica.app.deliver_due(replica.catch_up)

        await asyncio.gather(*(asyncio.to_thread(job, r) for r in replicas))
        await asyncio.sleep(0.2)
        counts = Counter(mailbox.ids)
        assert len(counts) == tasks, counts
        assert set(counts.values()) == {1}, counts

        # and the log says delivered once each
        app = replicas[0].app
        replicas[0].catch_up()
        for notification_id in counts:
            events = [type(e).__name__ for e in app.repository.event_store.get(
                __import__("uuid").UUID(notification_id))]
            assert events.count("Delivered") == 1, events
            assert app.notification(notification_id).delivery_state["email"]["status"] == \
                "delivered"
    finally:
        for replica in replicas:
            await replica.stop()
        await nc.close()


async def test_a_replica_that_died_after_its_claim_is_taken_over_after_the_lease(
        fresh_nats, store, slow_smtp):
    from datetime import timedelta

    controller, mailbox = slow_smtp
    system = InProcessSystem(fresh_nats.url, store)
    system.clock.set(START)
    nc = await nats.connect(fresh_nats.url)
    await declare_streams(nc.jetstream())
    settings = NotificationSettings(**system.settings().model_dump(), smtp_host="127.0.0.1",
                                    smtp_port=controller.port, notify_delivery_seconds=3600,
                                    notify_timeout_seconds=10)
    runtime = build_notifications(settings, clock=system.clock)
    await runtime.start()
    try:
        await publish(nc.jetstream(), ev(TaskAssignedV1, str(uuid4()), task_id=str(uuid4()),
                                         unit_id="unit-b", role="lead", assigned_at=START,
                                         deadline=date(2026, 6, 1), title="河道清淤",
                                         category="ecology", urgency="blue"))
        app = runtime.app

        def pending() -> list:
            runtime.catch_up()
            return app.views.deliveries.due(system.clock.now())

        (row,) = await eventually(lambda: asyncio.to_thread(pending))
        # a replica claims the delivery and dies before sending (nothing mailed, no outcome)
        assert app._claim(app.notification(row["id"]), "email", system.clock.now())
        await asyncio.to_thread(runtime.app.deliver_due, runtime.catch_up)
        assert mailbox.ids == []  # the claim holds: nobody else sends meanwhile
        system.clock.advance(timedelta(seconds=59))
        await asyncio.to_thread(runtime.app.deliver_due, runtime.catch_up)
        assert mailbox.ids == []
        system.clock.advance(timedelta(seconds=2))  # the lease (3 x 10 s + 30 s) is over
        await asyncio.to_thread(runtime.app.deliver_due, runtime.catch_up)
        await asyncio.sleep(0.1)
        assert mailbox.ids == [row["id"]]
        system.clock.advance(timedelta(hours=3))
        await asyncio.to_thread(runtime.app.deliver_due, runtime.catch_up)
        assert mailbox.ids == [row["id"]]
        assert app.notification(row["id"]).delivery_state["email"]["status"] == "delivered"
    finally:
        await runtime.stop()
        await nc.close()

"""The notifications service on a real nats-server and real stores: who is told what (each
upstream event makes exactly one notification for exactly the right people), the inbox and
its read marks, preferences, and delivery by e-mail to a real SMTP server (aiosmtpd) and by
webhook to a real HTTP receiver, each exactly once across a failure and a restart."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from services.notifications.application import NotificationSettings, verify_webhook
from services.notifications.bootstrap import build_runtime as build_notifications
from tests.harness import eventually, free_port
from tests.integration.test_end_to_end import submit_and_register
from tests.integration.test_supervision import assigned_case, reply


async def inbox(api, user: str, **params) -> list[dict]:
    r = await api.get(user, "/api/v1/notifications", **params)
    assert r.status_code == 200, r.text
    return r.json()


async def kinds_for(api, user: str, case_id: str | None = None) -> Counter:
    items = await inbox(api, user, limit=500)
    return Counter(n["kind"] for n in items if case_id is None or n["case_id"] == case_id)


async def wait_kind(api, user: str, kind: str, case_id: str | None = None) -> dict:
    async def found():
        items = [n for n in await inbox(api, user, limit=500)
                 if n["kind"] == kind and (case_id is None or n["case_id"] == case_id)]
        return items[0] if items else None

    return await eventually(found)


async def test_who_is_told_what_in_the_handling_flow(api, system):
    case_id, task = await assigned_case(api)  # deputy-1 + co-signer deputy-2 -> unit-b
    note = await wait_kind(api, "unit-b", "task_assigned", case_id)
    assert note["task_id"] == task["task_id"] and "2026-" in note["title"]
    assert note["read_at"] is None

    await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
    r = await reply(api, task["task_id"], "A")
    assert r.status_code == 200, r.text
    for deputy in ("deputy-1", "deputy-2"):
        told = await wait_kind(api, deputy, "reply_submitted", case_id)
        assert "请测评" in told["title"]

    await asyncio.sleep(1.0)  # anything extra would have arrived by now
    # exactly one notification for exactly the right people
    assert await kinds_for(api, "unit-b", case_id) == Counter({"task_assigned": 1})
    for deputy in ("deputy-1", "deputy-2"):
        assert await kinds_for(api, deputy, case_id) == Counter({"reply_submitted": 1})
    for other in ("unit-a", "unit-c", "deputy-3", "leader", "office"):
        assert await kinds_for(api, other, case_id) == Counter(), other

    # read marks, unread filter, only the recipient
    r = await api.post("deputy-2", f"/api/v1/notifications/{note['id']}/read")
    assert r.status_code == 404  # not theirs
    r = await api.post("unit-b", f"/api/v1/notifications/{note['id']}/read")
    assert r.status_code == 200 and r.json()["read_at"]
    assert [n for n in await inbox(api, "unit-b", unread="true") if n["id"] == note["id"]] == []
    r = await api.get("unit-b", "/api/v1/notifications")
    assert r.headers["X-Unread-Count"] == "0"

    # a replay of the upstream logs makes nothing new (tracking and derived ids)
    runtime = system.runtimes["notifications"]
    before = runtime.app.max_notification_id()
    from tests.harness import rpc
    for producer in ("intake", "assignment", "supervision"):
        last = system.runtimes[producer].app.max_notification_id()
        answer = await rpc(system.nats_url, producer, "republish", {"start": 1, "end": last},
                           actor={"username": "ops", "role": "office"}, timeout=30)
        assert answer["ok"], answer
    await asyncio.sleep(1.5)
    assert runtime.app.max_notification_id() == before


async def test_station_pool_activity_review_and_revocation(api, system):
    r = await api.client.post("/api/v1/stations/station-fengjie/messages",
                              json={"content": "小区路灯坏了很久，晚上出行不安全。"})
    assert r.status_code in (200, 201), r.text
    message_id = r.json()["id"]
    for deputy in ("deputy-1", "deputy-2"):  # the station's deputies
        told = await wait_kind(api, deputy, "message_waiting")
        assert told["message_id"] == message_id
    assert not [n for n in await inbox(api, "deputy-3") if n["message_id"] == message_id]

    r = await api.post("deputy-3", "/api/v1/deputies/deputy-3/activities",
                       {"kind": "reception_day", "date": "2026-02-27",
                        "description": "接待群众 3 人次"})
    assert r.status_code == 201, r.text
    activity_id = r.json()["id"]
    r = await api.post("office", f"/api/v1/activities/{activity_id}/reject",
                       {"reason": "佐证材料不足"})
    assert r.status_code == 200, r.text
    told = await wait_kind(api, "deputy-3", "activity_reviewed")
    assert "未通过" in told["title"] and "佐证材料不足" in told["body"]


async def test_preferences(api, system):
    r = await api.get("unit-a", "/api/v1/notifications/preferences")
    assert r.status_code == 200
    assert r.json()["kinds"]["task_assigned"] == {
        "label": "新交办任务", "for": "unit", "in_app": True, "email": True, "webhook_url": None}
    r = await api.client.put("/api/v1/notifications/preferences",
                             json={"kinds": {"deadline_warning": {"email": False}}},
                             headers=await api.login("unit-a"))
    assert r.status_code == 200, r.text
    assert r.json()["kinds"]["deadline_warning"]["email"] is False
    r = await api.client.put("/api/v1/notifications/preferences",
                             json={"kinds": {"reply_submitted": {"webhook_url": "http://x/y"}}},
                             headers=await api.login("deputy-1"))
    assert r.status_code == 422  # a webhook is a unit's channel
    r = await api.client.put("/api/v1/notifications/preferences",
                             json={"kinds": {"no_such_kind": {"in_app": False}}},
                             headers=await api.login("unit-a"))
    assert r.status_code == 422


# --- delivery ---------------------------------------------------------------------------------

class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
async def webhook_receiver():
    received: list[dict] = []
    failures = {"left": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if failures["left"] > 0:
            failures["left"] -= 1
            return web.Response(status=500)
        received.append({"headers": dict(request.headers), "body": body})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received, failures
    await runner.cleanup()


async def restart_notifications(system, smtp_port: int):
    await system.stop("notifications")
    settings = NotificationSettings(**system.settings().model_dump(), smtp_host="127.0.0.1",
                                    smtp_port=smtp_port, notify_delivery_seconds=0.2,
                                    notify_retry_seconds=30, notify_webhook_secret="s3cret")
    runtime = build_notifications(settings, clock=system.clock)
    await runtime.start()
    system.runtimes["notifications"] = runtime
    return runtime


async def test_a_new_task_is_mailed_and_posted_once(api, system, smtp_server, webhook_receiver):
    controller, mailbox = smtp_server
    url, received, failures = webhook_receiver
    await restart_notifications(system, controller.port)
    r = await api.client.put("/api/v1/notifications/preferences",
                             json={"kinds": {"task_assigned": {"webhook_url": url}}},
                             headers=await api.login("unit-b"))
    assert r.status_code == 200, r.text
    failures["left"] = 1  # the receiver fails once: retried after the back-off

    case_id, number = await submit_and_register(api)  # livelihood -> unit-b
    await eventually(lambda: _async(len(mailbox.messages) >= 1))
    rcpts, mail = mailbox.messages[0]
    assert rcpts == ["unit-b@mzj.example.gov.cn"]
    subject = str(make_header(decode_header(mail["Subject"])))
    assert "新交办任务" in subject and number in subject

    await asyncio.sleep(0.6)
    assert received == []  # the first call failed; the next one waits for its back-off
    system.clock.advance(timedelta(seconds=31))
    await eventually(lambda: _async(len(received) >= 1))
    call = received[0]
    body = json.loads(call["body"])
    assert body["msgtype"] == "text" and number in body["text"]["content"]
    assert body["notification"]["case_id"] == case_id
    assert verify_webhook(b"s3cret", call["headers"]["X-Duty-Timestamp"], call["body"],
                          call["headers"]["X-Duty-Signature"])

    # a restart (state from the log) sends nothing again
    await restart_notifications(system, controller.port)
    system.clock.advance(timedelta(hours=2))
    await asyncio.sleep(1.5)
    unit_mails = [m for m in mailbox.messages if m[0] == ["unit-b@mzj.example.gov.cn"]]
    assert len(unit_mails) == 1
    assert len(received) == 1
    assert all(m[1]["Message-ID"] for m in mailbox.messages)


async def test_an_unreachable_webhook_is_parked(api, system, smtp_server):
    controller, mailbox = smtp_server
    runtime = await restart_notifications(system, controller.port)
    dead = f"http://127.0.0.1:{free_port()}/hook"
    r = await api.client.put("/api/v1/notifications/preferences",
                             json={"kinds": {"task_assigned": {"webhook_url": dead}}},
                             headers=await api.login("unit-b"))
    assert r.status_code == 200
    case_id, _ = await submit_and_register(api)
    note = await wait_kind(api, "unit-b", "task_assigned", case_id)
    for _ in range(6):
        system.clock.advance(timedelta(hours=2))
        await asyncio.sleep(0.5)

    async def parked():
        n = runtime.app.notification(note["id"])
        return n.delivery_state["webhook"]["status"] == "parked" and n

    n = await eventually(parked)
    assert n.delivery_state["webhook"]["attempts"] == 5
    assert n.delivery_state["email"]["status"] == "delivered"  # never blocked by the other


async def _async(value):
    return value

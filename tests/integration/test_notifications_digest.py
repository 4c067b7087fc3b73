"""A user's e-mail preferences, set through the gateway: a daily digest at the hour they
choose, quiet hours that hold immediate mail until they end, and kinds turned off. Mail goes
to a real SMTP server (aiosmtpd); upstream events are published on a real nats-server as
their producers publish them; nothing is mailed twice after a restart and a replay."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from email.header import decode_header, make_header
from uuid import uuid4

import httpx
import nats
import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import GatewaySettings, create_app
from services.notifications.application import NotificationSettings
from services.notifications.bootstrap import build_runtime as build_notifications
from shared.clock import CHINA_TZ
from shared.contracts.assignment import TaskAssignedV1, TaskReturnRefusedV1
from shared.contracts.points import ActivityReviewedV1
from shared.contracts.intake import SuggestionRegisteredV1
from shared.contracts.supervision import DeadlineWarningV1, ReplySubmittedV1
from shared.streams import declare_streams
from tests.harness import InProcessSystem, eventually
from tests.integration.conftest import Api
from tests.integration.test_notifications import smtp_server  # noqa: F401 (fixture)
from tests.integration.test_notifications_table import START, ev, publish

CASE, TASK = str(uuid4()), str(uuid4())
UNIT_B, DEPUTY_1 = "unit-b@mzj.example.gov.cn", "deputy-1@rd.example.gov.cn"


def subject(mail) -> str:
    return str(make_header(decode_header(mail["Subject"])))


def text(mail) -> str:
    return mail.get_content() if hasattr(mail, "get_content") else \
        mail.get_payload(decode=True).decode()


class Running:
    def __init__(self, nats_url: str, store: dict, smtp_port: int) -> None:
        self.system = InProcessSystem(nats_url, store)
        self.system.clock.set(START)
        self.smtp_port = smtp_port

    async def start(self) -> None:
        settings = NotificationSettings(**self.system.settings().model_dump(),
                                        smtp_host="127.0.0.1", smtp_port=self.smtp_port,
                                        notify_delivery_seconds=3600)  # the test runs the job
        runtime = build_notifications(settings, clock=self.system.clock)
        await runtime.start()
        self.system.runtimes["notifications"] = runtime
        await self.system.start("accounts")  # the gateway signs users in there

    @property
    def runtime(self):
        return self.system.runtimes["notifications"]

    async def deliver(self) -> None:
        await asyncio.to_thread(self.runtime.app.deliver_due, self.runtime.catch_up)


@pytest.fixture
async def running(fresh_nats, store, smtp_server):  # noqa: F811
    controller, mailbox = smtp_server
    nc = await nats.connect(fresh_nats.url)
    js = nc.jetstream()
    await declare_streams(js)
    service = Running(fresh_nats.url, store, controller.port)
    await service.start()
    app = create_app(GatewaySettings(nats_url=fresh_nats.url, rpc_timeout_seconds=5.0))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield service, Api(client), js, mailbox
    await service.system.stop()
    await nc.close()


async def put_prefs(api: Api, user: str, body: dict) -> httpx.Response:
    return await api.client.put("/api/v1/notifications/preferences", json=body,
                                headers=await api.login(user))


async def test_daily_digest_quiet_hours_and_kinds_off(running):
    service, api, js, mailbox = running
    clock = service.system.clock

    # preferences through the API, with field-level errors for bad ones
    r = await put_prefs(api, "unit-b", {"email_mode": "weekly"})
    assert r.status_code == 422 and "email_mode" in r.text
    r = await put_prefs(api, "unit-b", {"digest_at": "25:00"})
    assert r.status_code == 422 and "digest_at" in r.text
    r = await put_prefs(api, "deputy-1", {"quiet_hours": {"start": "22:00"}})
    assert r.status_code == 422 and "end" in r.text
    r = await put_prefs(api, "unit-b", {
        "email_mode": "daily_digest", "digest_at": "08:00",
        "kinds": {"deadline_warning": {"in_app": False, "email": False}}})
    assert r.status_code == 200, r.text
    prefs = r.json()
    assert (prefs["email_mode"], prefs["digest_at"], prefs["quiet_hours"]) == (
        "daily_digest", "08:00", None)
    assert prefs["kinds"]["deadline_warning"]["in_app"] is False
    assert prefs["kinds"]["task_assigned"]["email"] is True
    r = await put_prefs(api, "deputy-1", {"quiet_hours": {"start": "22:00", "end": "07:30"}})
    assert r.status_code == 200, r.text
    assert r.json()["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    assert r.json()["email_mode"] == "immediate"
    r = await api.get("deputy-1", "/api/v1/notifications/preferences")
    assert r.json()["quiet_hours"] == {"start": "22:00", "end": "07:30"}

    # Monday 09:00: a new task and a refused return for unit-b, a warning it turned off; the
    # reply reaches deputy-1 (outside quiet hours: mailed at once)
    events = [
        ev(SuggestionRegisteredV1, CASE, number="2026-0007", title="老旧小区加装电梯",
           category="livelihood", urgency="yellow", lead_deputy_id="deputy-1"),
        ev(TaskAssignedV1, CASE, task_id=TASK, unit_id="unit-b", role="lead",
           assigned_at=START, deadline=date(2026, 6, 1), title="老旧小区加装电梯",
           category="livelihood", urgency="yellow", number="2026-0007"),
        ev(TaskReturnRefusedV1, CASE, task_id=TASK, unit_id="unit-b", reason="由贵单位牵头办理"),
        ev(DeadlineWarningV1, CASE, task_id=TASK, unit_id="unit-b", level="yellow",
           deadline=date(2026, 6, 1)),
        ev(ReplySubmittedV1, CASE, task_id=TASK, unit_id="unit-b", result_class="A", round=1,
           on_time=True),
    ]
    for e in events:
        await publish(js, e)

    async def deputy_mailed():
        await service.deliver()
        return [m for to, m in mailbox.messages if to == [DEPUTY_1]]

    (reply_mail,) = await eventually(deputy_mailed)
    assert "已答复" in subject(reply_mail)
    async def unit_b_inbox():
        r = await api.get("unit-b", "/api/v1/notifications")
        return len(r.json()) >= 2 and r.json()
    items = await eventually(unit_b_inbox)
    assert sorted(n["kind"] for n in items) == ["return_refused", "task_assigned"]  # no warning
    await service.deliver()
    assert [to for to, _ in mailbox.messages] == [[DEPUTY_1]]  # unit-b's wait for the digest

    # 23:00, quiet hours for deputy-1: an activity reviewed is held
    clock.set(START.replace(hour=23))
    late = ev(ActivityReviewedV1, CASE, activity_id=str(uuid4()), deputy_id="deputy-1",
              kind="reception_day", activity_date=date(2026, 3, 1), decision="approved",
              points=2.0, rule_version="2026.1")
    await publish(js, late)

    async def deputy_told():
        r = await api.get("deputy-1", "/api/v1/notifications")
        return any(n["kind"] == "activity_reviewed" for n in r.json())
    await eventually(deputy_told)
    for _ in range(2):
        await service.deliver()
    assert len(mailbox.messages) == 1

    # Tuesday 07:00: still quiet, still no digest; 07:31 the held mail; 08:00 the digest
    clock.set(START.replace(hour=7) + timedelta(days=1))
    await service.deliver()
    assert len(mailbox.messages) == 1
    clock.set(START.replace(hour=7, minute=31) + timedelta(days=1))
    await service.deliver()
    assert [to for to, _ in mailbox.messages] == [[DEPUTY_1], [DEPUTY_1]]
    assert "审核通过" in subject(mailbox.messages[1][1])
    clock.set(START.replace(hour=8) + timedelta(days=1))
    await service.deliver()
    digests = [m for to, m in mailbox.messages if to == [UNIT_B]]
    assert len(digests) == 1
    digest = digests[0]
    assert "每日通知摘要" in subject(digest) and "共 2 条" in subject(digest)
    body = text(digest)
    assert "新交办任务" in body and "2026-0007" in body and "退回申请未获同意" in body
    assert "预警" not in body  # turned off
    assert digest["Message-ID"].startswith("<digest-")

    # a restart, then every event again under new message ids (a replay), and days pass:
    # nothing is mailed again
    await service.system.stop("notifications")
    await service.start()
    for e in [*events, late]:
        await publish(js, e, msg_id=f"{e.message_id()}.replay")

    async def replayed():
        stats = [c.stats for c in service.runtime.consumers.values()]
        return sum(s.duplicates for s in stats) >= len(events) + 1
    await eventually(replayed, timeout=20)
    for days in (2, 3):
        clock.set(START.replace(hour=8, minute=5) + timedelta(days=days))
        await service.deliver()
    assert [to for to, _ in mailbox.messages] == [[DEPUTY_1], [DEPUTY_1], [UNIT_B]]

    # quiet hours off again; unit-b back to immediate mail
    r = await put_prefs(api, "deputy-1", {"quiet_hours": None})
    assert r.status_code == 200 and r.json()["quiet_hours"] is None
    r = await put_prefs(api, "unit-b", {"email_mode": "immediate"})
    assert r.json()["email_mode"] == "immediate"


async def web_sign_in(client: httpx.AsyncClient, user: str) -> str:
    client.cookies.clear()
    await client.get("/app/login")
    csrf = client.cookies.get("duty_csrf")
    r = await client.post("/app/login", data={"username": user, "password": user},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303, r.text
    return csrf


async def test_the_web_inbox_and_the_headers_unread_count(running):
    service, api, js, _mailbox = running
    case, task_id = str(uuid4()), str(uuid4())
    for e in (ev(SuggestionRegisteredV1, case, number="2026-0009", title="背街小巷照明",
                 category="livelihood", urgency="blue", lead_deputy_id="deputy-1"),
              ev(TaskAssignedV1, case, task_id=task_id, unit_id="unit-b", role="lead",
                 assigned_at=START, deadline=date(2026, 6, 1), title="背街小巷照明",
                 category="livelihood", urgency="blue", number="2026-0009"),
              ev(TaskReturnRefusedV1, case, task_id=task_id, unit_id="unit-b",
                 reason="由贵单位牵头办理")):
        await publish(js, e)

    async def two():
        r = await api.get("unit-b", "/api/v1/notifications")
        return len(r.json()) == 2 and r.json()
    await eventually(two)

    client = api.client
    csrf = await web_sign_in(client, "unit-b")
    page = await client.get("/app/unit")
    assert 'id="nav-notifications"' in page.text and "/app/notifications/badge" in page.text
    badge = await client.get("/app/notifications/badge")
    assert badge.status_code == 200 and 'id="unread-count">2<' in badge.text
    page = await client.get("/app/notifications")
    assert page.status_code == 200
    assert "新交办任务" in page.text and "2026-0009" in page.text
    assert f'href="/app/unit/tasks/{task_id}"' in page.text
    assert page.text.count("标为已读</button>") == 2

    ids = [n["id"] for n in (await api.get("unit-b", "/api/v1/notifications")).json()]
    r = await client.post(f"/app/notifications/{ids[0]}/read", data={"csrf": csrf},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303, r.text
    badge = await client.get("/app/notifications/badge")
    assert 'id="unread-count">1<' in badge.text
    page = await client.get("/app/notifications", params={"unread": "true"})
    assert page.text.count("标为已读</button>") == 1

    # another user's notification is not theirs to mark; nothing unread: no count
    await web_sign_in(client, "deputy-2")
    r = await client.post(f"/app/notifications/{ids[1]}/read",
                          headers={"X-CSRF-Token": client.cookies.get("duty_csrf")})
    assert r.status_code == 303  # back with the refusal; unit-b's item stays unread below
    badge = await client.get("/app/notifications/badge")
    assert badge.status_code == 200 and "unread-count" not in badge.text
    await web_sign_in(client, "unit-b")
    assert 'id="unread-count">1<' in (await client.get("/app/notifications/badge")).text
    client.cookies.clear()


async def test_the_web_settings_page_sets_the_digest_quiet_hours_and_kinds(running):
    _service, api, _js, _mailbox = running
    client = api.client
    csrf = await web_sign_in(client, "unit-c")
    page = await client.get("/app/notifications/settings")
    assert page.status_code == 200 and "通知设置" in page.text
    assert 'data-kind="task_assigned"' in page.text
    assert 'data-kind="reply_submitted"' not in page.text  # a deputy's kind
    headers = {"X-CSRF-Token": csrf}

    bad = await client.post("/app/notifications/settings", headers=headers, data={
        "email_mode": "daily_digest", "digest_at": "07:45", "quiet_start": "22:00",
        "quiet_end": "25:00", "in_app.task_assigned": "on"})
    assert bad.status_code == 422
    assert "请填写时间" in bad.text and 'id="quiet_end-error"' in bad.text
    assert 'value="07:45"' in bad.text  # what was typed stays
    r = await api.get("unit-c", "/api/v1/notifications/preferences")
    assert r.json()["email_mode"] == "immediate"  # nothing saved

    ok = await client.post("/app/notifications/settings", headers=headers, data={
        "email_mode": "daily_digest", "digest_at": "07:45", "quiet_start": "22:00",
        "quiet_end": "07:00", "in_app.task_assigned": "on", "email.task_assigned": "on",
        "in_app.deadline_warning": "on"})
    assert ok.status_code == 303, ok.text
    prefs = (await api.get("unit-c", "/api/v1/notifications/preferences")).json()
    assert (prefs["email_mode"], prefs["digest_at"]) == ("daily_digest", "07:45")
    assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert prefs["kinds"]["deadline_warning"]["email"] is False
    assert prefs["kinds"]["deadline_warning"]["in_app"] is True
    assert prefs["kinds"]["return_refused"] == {**prefs["kinds"]["return_refused"],
                                                "in_app": False, "email": False}  # off
    page = await client.get("/app/notifications/settings")
    assert 'id="mode-digest" name="email_mode" value="daily_digest" checked' in page.text

    await client.post("/app/notifications/settings", headers=headers, data={
        "email_mode": "immediate", "digest_at": "08:00", "quiet_start": "", "quiet_end": ""})
    prefs = (await api.get("unit-c", "/api/v1/notifications/preferences")).json()
    assert prefs["quiet_hours"] is None and prefs["email_mode"] == "immediate"
    client.cookies.clear()

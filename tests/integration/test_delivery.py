"""Delivery guarantees over a real nats-server and real stores: duplicates, poison, rebuilds."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from uuid import UUID

import nats

from services.assignment.domain import Assignment
from shared.outbox import OutboxRelay
from shared.streams import DLQ_STREAM, stream_name
from tests.harness import InProcessSystem, eventually, rpc

DEPUTY = {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"}
OFFICE = {"username": "office", "role": "office"}


async def register_one(url: str, title: str = "修缮社区道路", category: str = "urban_construction") -> str:
    r = await rpc(url, "intake", "submit_suggestion",
                  {"title": title, "body": "道路坑洼，雨天积水。", "category": category}, DEPUTY)
    sid = r["result"]["id"]
    r = await rpc(url, "intake", "register_suggestion", {"suggestion_id": sid, "urgency": "blue"}, OFFICE)
    assert r["ok"], r
    return sid


async def wait_for_points(url: str, total: float) -> None:
    async def check():
        r = await rpc(url, "points", "deputy_points", {"deputy_id": "deputy-1"})
        return r["result"]["total"] == total

    await eventually(check)


async def stream_messages(url: str, stream: str) -> list:
    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    msgs = [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)] \
        if info.state.messages else []
    await nc.close()
    return msgs


def topic_counts(app) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in app.recorder.select_notifications(start=1, limit=100000):
        counts[n.topic.split(":")[-1]] = counts.get(n.topic.split(":")[-1], 0) + 1
    return counts


async def test_a_duplicate_delivery_has_no_second_effect(system: InProcessSystem):
    url = system.nats_url
    sid = await register_one(url)
    await wait_for_points(url, 3.0)
    registered = [m for m in await stream_messages(url, stream_name("intake"))
                  if m.subject == "duty.intake.suggestion_registered.v1"]
    assert len(registered) == 1
    # Re-publish the very same event under a new message id, past the stream's de-duplication,
    # as a redelivery after the duplicate window would arrive.
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.publish(registered[0].subject, registered[0].data, headers={"Nats-Msg-Id": "replayed-1"})
    await nc.close()

    async def both_saw_duplicate():
        return (system.runtimes["assignment"].consumers["intake"].stats.duplicates >= 1
                and system.runtimes["points"].consumers["intake"].stats.duplicates >= 1)

    await eventually(both_saw_duplicate)
    assert topic_counts(system.app("assignment")).get("Assignment.Assigned") == 1
    # The duplicate was recognised by tracking, not by luck in the domain.
    for service in ("assignment", "points"):
        stats = system.runtimes[service].consumers["intake"].stats
        assert stats.processed == 1, (service, vars(stats))
        assert system.app(service).is_tracked("intake", registered[0].headers and
                                              int(registered[0].headers["Nats-Msg-Id"].split(":")[1]))
    r = await rpc(url, "points", "deputy_points", {"deputy_id": "deputy-1"})
    assert r["result"]["total"] == 3.0 and len(r["result"]["lines"]) == 1
    assert Assignment.create_id(sid)


async def test_a_retried_publish_is_deduplicated_by_the_stream(system: InProcessSystem):
    url = system.nats_url
    await register_one(url)
    await register_one(url, title="增设公交站")
    await wait_for_points(url, 6.0)
    before = await stream_messages(url, stream_name("intake"))
    runtime = system.runtimes["intake"]

    class ForgetfulApp:
        """The intake store as a relay sees it after crashing before recording its position."""

        def __init__(self, app):
            self._app = app
            self._position = 0  # the recorded position was lost

        def __getattr__(self, name):
            return getattr(self._app, name)

        def outbox_position(self):
            return self._position

        def record_outbox_position(self, notification_id):
            self._position = notification_id

    relay = OutboxRelay("intake", ForgetfulApp(runtime.app), runtime.broker, runtime.relay.translate,
                        runtime.tracer)
    assert await relay.publish_pending() == len(before)
    after = await stream_messages(url, stream_name("intake"))
    assert [m.seq for m in after] == [m.seq for m in before]
    assert sorted(m.headers["Nats-Msg-Id"] for m in after) == sorted(
        m.headers["Nats-Msg-Id"] for m in before)


async def test_poison_messages_are_parked_and_the_flow_goes_on(system: InProcessSystem):
    url = system.nats_url
    nc = await nats.connect(url)
    js = nc.jetstream()
    # Not even JSON.
    await js.publish("duty.intake.suggestion_registered.v1", b"\xff not json",
                     headers={"Nats-Msg-Id": "poison-1"})
    # Well-formed, but no scoring rule is in force in 2019: the points handler fails every time.
    good_shape = {
        "event_id": "intake:999999", "case_id": "00000000-0000-0000-0000-000000000001",
        "actor": OFFICE, "occurred_at": datetime(2019, 5, 1, tzinfo=timezone.utc).isoformat(),
        "source_service": "intake", "source_notification_id": 999999, "number": "2019-0001",
        "title": "旧事", "category": "livelihood", "urgency": "blue", "lead_deputy_id": "deputy-1",
    }
    await js.publish("duty.intake.suggestion_registered.v1", json.dumps(good_shape).encode(),
                     headers={"Nats-Msg-Id": "poison-2"})
    await nc.close()
    sid = await register_one(url, title="整治噪音扰民", category="livelihood")
    await wait_for_points(url, 3.0)

    async def parked():  # every consumer of intake's events has parked what it must
        msgs = await stream_messages(url, DLQ_STREAM)
        consumers = [m.headers["Duty-Consumer"] for m in msgs]
        return (consumers.count("points") == 2 and "assignment" in consumers
                and "supervision" in consumers and msgs)

    msgs = await eventually(parked, timeout=30)
    by_consumer = {}
    for m in msgs:
        by_consumer.setdefault(m.headers["Duty-Consumer"], []).append(m)
    for consumer in ("assignment", "supervision"):  # only the undecodable one
        assert len(by_consumer[consumer]) == 1
        assert "malformed" in by_consumer[consumer][0].headers["Duty-Error"]
    points_errors = sorted(m.headers["Duty-Error"] for m in by_consumer["points"])
    assert points_errors[0].startswith("failed after 5 attempts")
    assert "scoring rule" in points_errors[0]
    assert points_errors[1].startswith("malformed")
    assert all(m.headers["Duty-Original-Subject"] == "duty.intake.suggestion_registered.v1" for m in msgs)
    assert all(int(m.headers["Duty-Original-Sequence"]) >= 1 for m in msgs)
    # The valid case after the poison went all the way through.
    r = await rpc(url, "assignment", "case_assignment", {"case_id": sid})
    assert r["result"]["status"] == "assigned"


async def test_state_rebuilt_from_the_event_stores_equals_the_state_before(system: InProcessSystem):
    url = system.nats_url
    ids = [await register_one(url, title=f"建议 {i}", category=c)
           for i, c in enumerate(["livelihood", "ecology", "grassroots_governance"])]
    await wait_for_points(url, 9.0)

    async def all_tasks_open():
        r = await rpc(url, "supervision", "list_tasks", {})
        return len(r["result"]) == 5  # ecology and governance have a co-unit each

    await eventually(all_tasks_open)

    async def snapshot():
        return {
            "suggestions": [(await rpc(url, "intake", "get_suggestion", {"suggestion_id": i}))["result"] for i in ids],
            "intake_index": (await rpc(url, "intake", "list_suggestions", {}))["result"],
            "assignments": [(await rpc(url, "assignment", "case_assignment", {"case_id": i}))["result"] for i in ids],
            "assignment_tasks": (await rpc(url, "assignment", "list_tasks", {}))["result"],
            "supervision_tasks": (await rpc(url, "supervision", "list_tasks", {}))["result"],
            "points": [(await rpc(url, "points", "deputy_points", {"deputy_id": d}))["result"]
                       for d in ("deputy-1", "deputy-2")],
            "case_points": [(await rpc(url, "points", "case_points", {"case_id": i}))["result"] for i in ids],
        }

    before = await snapshot()
    await system.stop()
    await system.start()
    after = await snapshot()
    assert after == before
    assert len(before["supervision_tasks"]) == 5
    assert UUID(before["suggestions"][0]["id"])

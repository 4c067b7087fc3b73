"""Issue 29, point 1 (consuming side): services keep their own replica of the registry's
reference records, recorded in their own logs (shared/reference.py).

A deputy the registry adds (``duty.registry.record_changed.v1``, published here with the
registry's own bus identity, as the registry publishes it) becomes known to intake and points
without touching their configuration: a citizen leaves a message for them, their suggestion is
registered and points scores it (before, points parked the registration: unknown deputy). Both
services, restarted, still know the deputy: rebuilt from their own logs. Once the registry
closes the deputy's record, intake refuses a new message or suggestion for them, while what
refers to them stays readable."""

from __future__ import annotations

from datetime import datetime, timezone

import nats

from shared.bus_auth import with_credentials
from shared.contracts.base import ActorRef
from shared.contracts.registry import RecordChangedV1
from shared.reference import ReferenceRecord
from tests.harness import eventually, nats_credentials_dir, rpc

SYSTEM_SERVICES = ("intake", "points")
NEW = "deputy-new"
NEW_DEPUTY = {"id": NEW, "name": "陈新民", "level": "district", "level_zh": "县",
              "group": "城建环保组", "station": "station-fengjie", "phone": "023-56550199",
              "term": "term-17"}
DEPUTY = {"username": "chenxm", "role": "deputy", "deputy_id": NEW}


async def publish_as_registry(nats_url: str, position: int, record: dict, *, active: bool = True,
                              change: str = "created") -> None:
    event = RecordChangedV1(
        event_id=f"registry:{position}", case_id=f"deputy:{record['id']}",
        actor=ActorRef(username="office", role="office"),
        occurred_at=datetime.now(timezone.utc), source_service="registry",
        source_notification_id=position, kind="deputy", key=record["id"], change=change,
        record=record, active=active)
    nc = await nats.connect(with_credentials(nats_url, "registry", nats_credentials_dir()))
    try:
        await nc.jetstream().publish(RecordChangedV1.subject(), event.to_bytes(),
                                     headers={"Nats-Msg-Id": event.message_id()})
    finally:
        await nc.close()


async def intake_deputy(url: str) -> dict | None:
    deputies = (await rpc(url, "intake", "reference"))["result"]["deputies"]
    return next((d for d in deputies if d["id"] == NEW), None)


async def test_a_deputy_added_by_the_registry_is_known_scored_kept_and_closed(system,
                                                                               fresh_nats):
    url = system.nats_url
    before = await rpc(url, "points", "deputy_points", {"deputy_id": NEW})
    assert before["status"] == 404  # not in config/deputies.yaml
    assert await intake_deputy(url) is None

    await publish_as_registry(fresh_nats.bare_url, 1, NEW_DEPUTY)

    async def known_everywhere():
        points = await rpc(url, "points", "deputy_points", {"deputy_id": NEW})
        return await intake_deputy(url) is not None and points.get("ok")

    await eventually(known_everywhere, timeout=30, interval=0.2)

    # a citizen leaves a message for the new deputy through their QR code
    left = await rpc(url, "intake", "post_message_to_deputy",
                     {"deputy_id": NEW, "content": "小区门口路灯不亮，请代表关注"},
                     actor={"username": "anonymous", "role": "anonymous"})
    assert left["ok"], left
    message = (await rpc(url, "intake", "get_message", {"message_id": left["result"]["id"]},
                         actor=DEPUTY))["result"]
    assert message["station_id"] == "station-fengjie" and message["claimed_by"] == NEW

    # the new deputy's suggestion is registered, and points scores it on their record
    submitted = await rpc(url, "intake", "submit_suggestion",
                          {"title": "建议增设路灯", "body": "小区门口夜间无照明。",
                           "category": "livelihood"}, actor=DEPUTY)
    assert submitted["ok"], submitted
    registered = await rpc(url, "intake", "register_suggestion",
                           {"suggestion_id": submitted["result"]["id"], "urgency": "blue"})
    assert registered["ok"], registered

    async def scored():
        points = (await rpc(url, "points", "deputy_points", {"deputy_id": NEW},
                            actor=DEPUTY))["result"]
        return points if points["lines"] else None

    points = await eventually(scored, timeout=30, interval=0.2)
    assert points["total"] > 0
    assert system.runtimes["points"].consumers["intake"].stats.parked == 0

    # restarted, both still know the deputy: from their own logs (the registry's event was
    # acknowledged long ago and is not delivered again)
    await system.stop("intake", "points")
    await system.start("intake", "points")
    for service in SYSTEM_SERVICES:
        app = system.app(service)
        assert app.deputies[NEW]["name"] == "陈新民", service
        replica = app.repository.get(ReferenceRecord.create_id("deputy", NEW))
        assert replica.source_event_id == "registry:1", service
    assert (await intake_deputy(url))["name"] == "陈新民"
    again = (await rpc(url, "points", "deputy_points", {"deputy_id": NEW}))["result"]
    assert again["total"] == points["total"]

    # the registry closes the deputy's record (not re-elected)
    await publish_as_registry(fresh_nats.bare_url, 2, NEW_DEPUTY, active=False, change="closed")

    async def closed():
        deputy = await intake_deputy(url)
        return deputy is not None and deputy.get("active") is False

    await eventually(closed, timeout=30, interval=0.2)
    refused = await rpc(url, "intake", "post_message_to_deputy",
                        {"deputy_id": NEW, "content": "还能留言吗"},
                        actor={"username": "anonymous", "role": "anonymous"})
    assert refused["status"] == 409, refused
    assert "no longer serves" in refused["detail"]
    refused = await rpc(url, "intake", "submit_suggestion",
                        {"title": "再提一条建议", "body": "内容", "category": "livelihood"},
                        actor=DEPUTY)
    assert refused["status"] == 422 and "no longer serves" in refused["errors"][0]["msg"], refused
    cosigned = await rpc(url, "intake", "submit_suggestion",
                         {"title": "联名建议", "body": "内容", "category": "livelihood",
                          "co_signers": [NEW]},
                         actor={"username": "wangjg", "role": "deputy", "deputy_id": "deputy-1"})
    assert cosigned["status"] == 422, cosigned
    assert cosigned["errors"][0]["loc"] == ["body", "co_signers", 0]
    # what already refers to the deputy stays: their message, their record
    kept = await rpc(url, "intake", "get_message", {"message_id": left["result"]["id"]},
                     actor=DEPUTY)
    assert kept["ok"], kept
    assert (await rpc(url, "points", "deputy_points", {"deputy_id": NEW}))["ok"]

"""Citizen messages (群众意见) through the gateway, against the real in-process system."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from tests.harness import eventually, rpc

STATION = "station-fengjie"
PHONE = "13812345678"
NAME = "赵小明"
MESSAGE = {
    "content": "鱼复-01网格小区路灯长期不亮，夜间出行不便，希望尽快修复。",
    "category": "safety_hazard",
    "contact_name": NAME,
    "contact_phone": PHONE,
    "grid": "鱼复-01",
}


async def post_message(api, **overrides) -> dict:
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages", json={**MESSAGE, **overrides})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "received" and body["follow_up_token"]
    return body


async def claimed(api, deputy: str = "deputy-1", **overrides) -> dict:
    message = await post_message(api, **overrides)
    r = await api.post(deputy, f"/api/v1/messages/{message['id']}/claim")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "claimed" and r.json()["claimed_by"] == deputy
    return message


def raw_store_bytes(system) -> bytes:
    var_dir = Path(system.store["var_dir"])
    data = b""
    for suffix in ("", "-wal"):
        path = var_dir / f"intake.sqlite{suffix}"
        if path.exists():
            data += path.read_bytes()
    assert data
    return data


def personal_data_forms() -> list[bytes]:
    return [PHONE.encode(), NAME.encode(), json.dumps(NAME).encode(),
            MESSAGE["content"].encode(), json.dumps(MESSAGE["content"]).encode()]


async def test_post_claim_convert_links_both_ways_and_the_suggestion_registers(api, system):
    message = await claimed(api)
    mid = message["id"]
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/convert")
    assert r.status_code == 201, r.text
    suggestion_id = r.json()["suggestion_id"]

    r = await api.get("deputy-1", f"/api/v1/messages/{mid}")
    assert r.json()["status"] == "converted" and r.json()["suggestion_id"] == suggestion_id
    r = await api.get("deputy-1", f"/api/v1/suggestions/{suggestion_id}")
    assert r.status_code == 200, r.text
    suggestion = r.json()
    assert suggestion["from_message_id"] == mid and suggestion["status"] == "submitted"
    assert suggestion["lead_deputy_id"] == "deputy-1" and suggestion["category"] == "safety_hazard"
    assert suggestion["station_id"] == STATION and suggestion["body"] == MESSAGE["content"]

    r = await api.post("office", f"/api/v1/suggestions/{suggestion_id}/register",
                       {"urgency": "yellow"})
    assert r.status_code == 200, r.text
    assert r.json()["number"].endswith("-0001")

    async def unit_sees_task():
        r = await api.get("unit-a", "/api/v1/tasks")
        return [t for t in r.json() if t["case_id"] == suggestion_id]

    await eventually(unit_sees_task)

    # Converted once: no second conversion, no answer.
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/convert")
    assert r.status_code == 409
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/answer", {"text": "已答复"})
    assert r.status_code == 409

    # The integration events are on the bus, without personal data.
    async def published():
        health = await rpc(system.nats_url, "intake", "health")
        return health["result"]["outbox_lag"] == 0

    await eventually(published)


async def test_a_second_deputy_cannot_claim_a_held_message(api, system):
    message = await claimed(api, "deputy-1")
    mid = message["id"]
    r = await api.post("deputy-2", f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 409
    r = await api.post("deputy-2", f"/api/v1/messages/{mid}/answer", {"text": "x"})
    assert r.status_code == 409
    r = await api.post("deputy-2", f"/api/v1/messages/{mid}/convert")
    assert r.status_code == 409
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 409
    r = await api.post("office", f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 403

    # Given up, it is back in the pool and another deputy can take it.
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/release")
    assert r.status_code == 200 and r.json()["status"] == "received"
    r = await api.post("deputy-2", f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "deputy-2"
    r = await api.post("deputy-2", f"/api/v1/messages/{mid}/answer", {"text": "已联系街道修复路灯"})
    assert r.status_code == 200 and r.json()["status"] == "answered"
    assert r.json()["answer"] == "已联系街道修复路灯"


async def test_a_claim_not_acted_on_in_time_returns_to_the_pool(api, system):
    first = await claimed(api, "deputy-1")
    second = await claimed(api, "deputy-1")
    r = await api.get("deputy-1", f"/api/v1/messages/{first['id']}")
    claim = r.json()
    assert claim["claim_expires_at"] is not None

    system.clock.advance(timedelta(hours=23, minutes=59))
    sweep = await rpc(system.nats_url, "intake", "release_expired_claims")
    assert sweep["result"]["released"] == []
    r = await api.get("deputy-2", "/api/v1/messages", station_id=STATION, status="claimed")
    assert {m["id"] for m in r.json()} == {first["id"], second["id"]}

    system.clock.advance(timedelta(minutes=2))
    # Touched by a query: released at once.
    r = await api.get("deputy-2", f"/api/v1/messages/{first['id']}")
    assert r.json()["status"] == "received" and r.json()["claimed_by"] is None
    # The sweep releases the other.
    sweep = await rpc(system.nats_url, "intake", "release_expired_claims")
    assert sweep["result"]["released"] == [second["id"]]
    r = await api.get("deputy-2", "/api/v1/messages", status="received")
    assert {first["id"], second["id"]} <= {m["id"] for m in r.json()}

    # The first deputy lost it; the second can claim it.
    r = await api.post("deputy-1", f"/api/v1/messages/{first['id']}/answer", {"text": "迟到的答复"})
    assert r.status_code == 409
    r = await api.post("deputy-2", f"/api/v1/messages/{first['id']}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "deputy-2"

    # The release is in the message's history, dated when the claim lapsed.
    from services.intake.domain import CitizenMessage

    app = system.app("intake")
    events = list(app.repository.event_store.get(UUID(second["id"])))
    released = [e for e in events if isinstance(e, CitizenMessage.ClaimReleased)]
    assert len(released) == 1 and released[0].reason == "expired"
    claims = [e for e in events if isinstance(e, CitizenMessage.Claimed)]
    assert released[0].released_at == claims[0].claim_expires_at


@pytest.fixture
def fast_sweep(monkeypatch):
    monkeypatch.setenv("CLAIM_SWEEP_SECONDS", "0.2")
    monkeypatch.setenv("CLAIM_TIME_LIMIT", "PT1H")


async def test_the_background_sweep_releases_lapsed_claims(fast_sweep, api, system):
    message = await claimed(api, "deputy-1")
    r = await api.get("deputy-1", f"/api/v1/messages/{message['id']}")
    assert r.json()["claim_expires_at"] == (system.clock.now() + timedelta(hours=1)).isoformat()
    system.clock.advance(timedelta(hours=1, seconds=1))

    from services.intake.domain import CitizenMessage

    app = system.app("intake")

    async def released_by_the_sweep():
        return app.repository.get(UUID(message["id"])).status == "received"

    await eventually(released_by_the_sweep, timeout=10)
    events = list(app.repository.event_store.get(UUID(message["id"])))
    assert isinstance(events[-1], CitizenMessage.ClaimReleased)


async def test_forward_by_the_deputy_holding_it_or_by_the_office(api, system):
    message = await claimed(api, "deputy-1")
    r = await api.post("deputy-2", f"/api/v1/messages/{message['id']}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 409
    r = await api.post("deputy-1", f"/api/v1/messages/{message['id']}/forward", {"unit_id": "unit-x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "unit_id"]
    r = await api.post("unit-a", f"/api/v1/messages/{message['id']}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 403
    r = await api.post("deputy-1", f"/api/v1/messages/{message['id']}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "forwarded" and r.json()["unit_id"] == "unit-a"

    # The office dispatches an unclaimed message directly.
    other = await post_message(api)
    r = await api.post("office", f"/api/v1/messages/{other['id']}/forward", {"unit_id": "unit-b"})
    assert r.status_code == 200 and r.json()["unit_id"] == "unit-b"
    r = await api.post("office", f"/api/v1/messages/{other['id']}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 409

    # A unit sees the messages forwarded to it, and only those.
    r = await api.get("unit-a", "/api/v1/messages")
    assert [m["id"] for m in r.json()] == [message["id"]]
    r = await api.get("unit-a", f"/api/v1/messages/{other['id']}")
    assert r.status_code == 404
    r = await api.get("office", "/api/v1/messages", status="forwarded")
    assert {m["id"] for m in r.json()} == {message["id"], other["id"]}


async def test_the_citizen_rates_with_the_follow_up_token_only(api, system):
    message = await claimed(api, "deputy-1")
    mid, token = message["id"], message["follow_up_token"]
    url = f"/api/v1/messages/{mid}/rating"

    # Not handled yet: nothing to rate.
    r = await api.client.post(url, json={"rating": "satisfied"}, headers={"X-Follow-Up-Token": token})
    assert r.status_code == 409
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/answer", {"text": "已修复"})
    assert r.status_code == 200

    r = await api.client.post(url, json={"rating": "satisfied", "token": "wrong"})
    assert r.status_code == 403
    r = await api.client.post(url, json={"rating": "satisfied"},
                              headers={"X-Follow-Up-Token": "wrong"})
    assert r.status_code == 403
    r = await api.client.post(url, json={"rating": "satisfied"})
    assert r.status_code == 403
    r = await api.client.post(url, json={"rating": "great", "token": token})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "rating"]

    # The citizen follows the message with the token.
    r = await api.client.get(f"/api/v1/messages/{mid}", headers={"X-Follow-Up-Token": token})
    assert r.status_code == 200 and r.json()["answer"] == "已修复"
    assert "claimed_by" not in r.json()
    r = await api.client.get(f"/api/v1/messages/{mid}", headers={"X-Follow-Up-Token": "wrong"})
    assert r.status_code == 403
    r = await api.client.get(f"/api/v1/messages/{mid}")
    assert r.status_code == 401

    r = await api.client.post(url, json={"rating": "basically_satisfied", "token": token})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": mid, "status": "closed", "rating": "basically_satisfied"}
    r = await api.client.post(url, json={"rating": "satisfied"}, headers={"X-Follow-Up-Token": token})
    assert r.status_code == 409
    r = await api.get("office", f"/api/v1/messages/{mid}")
    assert r.json()["rating"] == "basically_satisfied" and r.json()["status"] == "closed"


async def test_bad_input_gets_field_level_errors_and_unknown_station_404(api, system):
    r = await api.client.post("/api/v1/stations/station-nowhere/messages", json=MESSAGE)
    assert r.status_code == 404
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages",
                              json={**MESSAGE, "content": "", "contact_phone": "12345", "x": 1})
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert {("body", "content"), ("body", "contact_phone"), ("body", "x")} <= locs
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages",
                              json={**MESSAGE, "category": "nonsense", "grid": "菊园-01"})
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert locs == {("body", "category"), ("body", "grid")}
    r = await api.post("deputy-1", "/api/v1/messages/not-a-message/claim")
    assert r.status_code == 404
    r = await api.client.get("/api/v1/messages")
    assert r.status_code == 401
    message = await claimed(api, "deputy-1")
    r = await api.post("deputy-1", f"/api/v1/messages/{message['id']}/answer", {"text": "", "y": 2})
    assert r.status_code == 422
    # A message id is not a suggestion id.
    r = await api.post("office", f"/api/v1/suggestions/{message['id']}/register", {"urgency": "red"})
    assert r.status_code == 404


async def test_personal_data_is_encrypted_masked_and_erasable(api, system):
    message = await post_message(api)
    mid = message["id"]
    anonymous = await post_message(api, contact_name=None, contact_phone=None)

    r = await api.get("deputy-1", f"/api/v1/messages/{mid}")
    assert r.json()["contact_phone"] == "138****5678"
    assert r.json()["contact_name"] == "赵**"
    r = await api.get("office", f"/api/v1/messages/{mid}")
    assert r.json()["contact_phone"] == PHONE and r.json()["contact_name"] == NAME
    r = await api.get("deputy-1", f"/api/v1/messages/{anonymous['id']}")
    assert r.json()["contact_phone"] is None and r.json()["contact_name"] is None
    r = await api.get("deputy-1", "/api/v1/messages")
    assert PHONE not in r.text and "138****5678" not in r.text

    if system.store["event_store"] == "sqlite":
        raw = raw_store_bytes(system)
        for form in personal_data_forms():
            assert form not in raw

    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 200
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/erasure")
    assert r.status_code == 403
    r = await api.post("office", f"/api/v1/messages/{mid}/erasure")
    assert r.status_code == 200, r.text
    assert r.json()["contact_phone"] == "[erased]" and r.json()["contact_name"] == "[erased]"
    r = await api.post("office", f"/api/v1/messages/{mid}/erasure")
    assert r.status_code == 409

    # The history is intact: every event is still there and readable, the message still works.
    from services.intake.domain import CitizenMessage

    app = system.app("intake")
    events = list(app.repository.event_store.get(UUID(mid)))
    assert [type(e).__name__ for e in events] == ["Received", "Claimed", "PersonalDataErased"]
    # The content is sealed under the poster's key too: erased with it.
    assert events[0].personal_data and events[0].sealed_content and events[0].content is None
    assert app.keys.get(events[0].personal_data_ref) is None
    for who in ("office", "deputy-1"):
        r = await api.get(who, f"/api/v1/messages/{mid}")
        assert r.json()["contact_phone"] == "[erased]" and r.json()["status"] == "claimed"
        assert r.json()["content"] == "[erased]"
    r = await api.get("office", "/api/v1/messages", station_id=STATION)
    assert {m["id"]: m["content"] for m in r.json()}[mid] == "[erased]"
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/answer", {"text": "已处理"})
    assert r.status_code == 200 and r.json()["contact_phone"] == "[erased]"
    assert isinstance(app.repository.get(UUID(mid)), CitizenMessage)

    # Rebuilt read models and replayed aggregates do not need the key.
    r = await rpc(system.nats_url, "intake", "rebuild_read_models")
    assert r["ok"]
    if system.store["event_store"] == "sqlite":
        raw = raw_store_bytes(system)
        for form in personal_data_forms():
            assert form not in raw


async def test_a_converted_message_keeps_the_citizens_text_sealed_and_erased_with_the_poster(api, system):
    """Converted without words of the deputy's own, the suggestion carries the citizen's text
    under the poster's key: readable in the suggestion, absent from the raw store and from the
    title that travels on the bus, and erased together with the poster."""
    private = "我叫赵小明，住鱼复-01网格7号楼302，电话13812345678，楼道里的电线老化冒火花，太吓人了。"
    message = await claimed(api, content=private)
    mid = message["id"]
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/convert")
    assert r.status_code == 201, r.text
    sid = r.json()["suggestion_id"]
    r = await api.get("office", f"/api/v1/suggestions/{sid}")
    assert r.json()["body"] == private
    assert "赵小明" not in r.json()["title"] and "电线" not in r.json()["title"]
    own = await claimed(api, content="又一条留言：楼道电线老化。")
    r = await api.post("deputy-1", f"/api/v1/messages/{own['id']}/convert",
                       {"title": "关于更换老旧楼道电线的建议", "body": "建议排查并更换老旧楼道电线。"})
    assert r.status_code == 201, r.text
    r = await api.get("office", f"/api/v1/suggestions/{r.json()['suggestion_id']}")
    assert (r.json()["title"], r.json()["body"]) == ("关于更换老旧楼道电线的建议", "建议排查并更换老旧楼道电线。")
    if system.store["event_store"] == "sqlite":
        raw = raw_store_bytes(system)
        for form in (private.encode(), json.dumps(private).encode(), "赵小明".encode()):
            assert form not in raw

    # The suggestion is found by its (sealed) text among similar matters, until the erasure.
    probe = await api.post("deputy-2", "/api/v1/suggestions", {
        "title": "楼道电线老化", "body": "住鱼复-01网格7号楼，楼道里的电线老化冒火花，太吓人了，建议更换。",
        "category": "safety_hazard"})
    assert probe.status_code == 201, probe.text
    r = await api.get("office", f"/api/v1/suggestions/{probe.json()['id']}/similar")
    shown = {f["id"]: f for f in r.json()}
    assert shown[sid]["likely_same"], r.json()
    sealed_score = shown[sid]["score"]

    def only_by_its_title(found: list[dict]) -> bool:
        """After the erasure the suggestion is only its deputy's title: never found by the
        citizen's words (a lower score, not the same matter any more), or not at all."""
        mine = {f["id"]: f for f in found}.get(sid)
        return mine is None or (mine["score"] < sealed_score and not mine["likely_same"])

    r = await api.post("office", f"/api/v1/messages/{mid}/erasure")
    assert r.status_code == 200, r.text
    r = await api.get("office", f"/api/v1/suggestions/{sid}")
    assert r.status_code == 200 and r.json()["body"] == "[erased]"
    assert r.json()["from_message_id"] == mid and r.json()["status"] == "submitted"
    r = await api.get("office", f"/api/v1/suggestions/{probe.json()['id']}/similar")
    assert only_by_its_title(r.json()), r.json()
    # The suggestion lives on: the office can still register it.
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text
    assert (await rpc(system.nats_url, "intake", "rebuild_read_models"))["ok"]
    r = await api.get("office", f"/api/v1/suggestions/{probe.json()['id']}/similar")
    assert only_by_its_title(r.json()), r.json()

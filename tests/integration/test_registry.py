"""The registry (名册 / 基础数据, issue 29 points 1 and 4) through the gateway, with a real
nats-server and each store: an empty registry is seeded from the configuration files; the
office creates and changes records, each change in the record's history with who, when and
the fields before and after; a change that changes nothing is no event; a change is published
on duty.registry.record_changed.v1 with the whole record; 换届 carries the continuing deputies
over and closes the others, once; deputies and units may list but not change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import GatewaySettings, create_app
from services.registry.errors import InvalidRecord
from tests.harness import InProcessSystem, eventually
from tests.integration.conftest import Api

REGISTRY = "/api/v1/admin/registry"
TERMS = "/api/v1/admin/terms"
NEW_UNIT = {"id": "unit-e", "name": "区交通运输局", "parent": "区人民政府",
            "categories": ["economy"]}


@pytest.fixture
async def system(fresh_nats, store) -> AsyncIterator[InProcessSystem]:
    system = InProcessSystem(fresh_nats.url, store)
    await system.start("registry")
    yield system
    await system.stop()


@pytest.fixture
async def api(system) -> AsyncIterator[Api]:
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=10.0,
                               citizen_rate_limit="off", accounts_source="file")
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Api(client)


async def put(api: Api, user: str, kind: str, key: str, body: dict) -> httpx.Response:
    return await api.client.put(f"{REGISTRY}/{kind}/{key}", json=body,
                                headers=await api.login(user))


async def published(nats_url: str) -> list[dict]:
    """Every registry record event on the bus so far (the producer's stream, in order)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe("duty.registry.record_changed.v1", ordered_consumer=True)
        found = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:
                return found
            found.append(json.loads(msg.data))
    finally:
        await nc.close()


async def test_an_empty_registry_is_seeded_from_the_configuration(api, system):
    r = await api.get("office", f"{REGISTRY}/deputy")
    assert r.status_code == 200, r.text
    deputies = {d["key"]: d for d in r.json()}
    assert set(deputies) == {"deputy-1", "deputy-2", "deputy-3", "deputy-4", "deputy-5"}
    one = deputies["deputy-1"]["record"]
    assert one["name"] == "王建国" and one["station"] == "station-fengjie"
    assert one["terms"] == ["term-17"] and len(one["voters"]) == 5  # kept as they are
    stations = (await api.get("unit-a", f"{REGISTRY}/station")).json()  # any staff lists
    assert {s["key"]: s["record"]["grids"] for s in stations}["station-fengjie"] == \
        ["鱼复-01", "鱼复-02", "鱼复-03"]
    assert len((await api.get("deputy-1", f"{REGISTRY}/unit")).json()) == 4
    terms = (await api.get("office", TERMS)).json()
    assert terms["current"] == "term-17" and terms["items"][0]["deputies"] == 5
    assert terms["items"][0]["record"] == {"id": "term-17", "name": "第十七届", "number": 17,
                                           "start": "2021-10-01", "end": None}
    history = (await api.get("office", f"{REGISTRY}/deputy/deputy-1")).json()["history"]
    assert [(h["event_type"], h["actor"]) for h in history] == [("Created", "system")]
    # search and paging
    r = await api.get("office", f"{REGISTRY}/deputy", q="李秀英")
    assert [d["key"] for d in r.json()] == ["deputy-2"]
    r = await api.get("office", f"{REGISTRY}/deputy", limit=2)
    assert len(r.json()) == 2 and r.headers["X-Total-Count"] == "5" and "next" in r.headers["link"]
    # started again on the same store, it does not seed twice
    before = system.app("registry").max_notification_id()
    await system.stop("registry")
    await system.start("registry")
    assert system.app("registry").max_notification_id() == before


async def test_records_are_created_and_changed_with_who_when_before_and_after(api, system):
    r = await put(api, "office", "unit", "unit-e", {"record": NEW_UNIT})
    assert r.status_code == 200, r.text
    assert r.json()["created"] and r.json()["version"] == 1
    r = await put(api, "office", "unit", "unit-e",
                  {"record": {**NEW_UNIT, "name": "区交通局", "categories": ["economy", "ecology"]}})
    assert r.status_code == 200 and r.json()["changed"] and r.json()["version"] == 2
    r = await api.get("office", f"{REGISTRY}/unit/unit-e")
    found = r.json()
    assert found["record"]["name"] == "区交通局"
    created, changed = found["history"]
    assert (created["event_type"], created["actor"], created["after"]["name"]) == \
        ("Created", "office", "区交通运输局")
    assert changed["event_type"] == "Changed" and changed["actor"] == "office"
    assert changed["before"] == {"name": "区交通运输局", "categories": ["economy"]}
    assert changed["after"] == {"name": "区交通局", "categories": ["economy", "ecology"]}
    assert changed["time"] >= created["time"]

    # the same record again: no change, no event
    last = system.app("registry").max_notification_id()
    r = await put(api, "office", "unit", "unit-e",
                  {"record": {**NEW_UNIT, "name": "区交通局", "categories": ["economy", "ecology"]}})
    assert r.status_code == 200 and not r.json()["changed"] and r.json()["version"] == 2
    assert system.app("registry").max_notification_id() == last
    app = system.app("registry")
    counts = app.upsert("unit", [dict(rec) for rec in app.records("unit").values()], "importer")
    assert counts == {"created": 0, "changed": 0, "unchanged": 5}
    assert app.max_notification_id() == last

    # wrong fields: 422 naming each
    r = await put(api, "office", "deputy", "deputy-9",
                  {"record": {"name": "", "level": "village"}})
    assert r.status_code == 422, r.text
    fields = {tuple(e["loc"]): e["msg"] for e in r.json()["errors"]}
    assert ("body", "record", "name") in fields and ("body", "record", "level") in fields
    r = await put(api, "office", "deputy", "deputy-9",
                  {"record": {"name": "张三", "level": "district", "terms": ["term-99"]}})
    assert r.status_code == 422 and "term-99" in r.text

    # closed and reopened by the office
    r = await put(api, "office", "unit", "unit-e", {"record": found["record"], "active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    r = await api.get("office", f"{REGISTRY}/unit", active="false")
    assert [u["key"] for u in r.json()] == ["unit-e"]

    # deputies and units read but do not change
    for user in ("deputy-1", "unit-a"):
        r = await put(api, user, "unit", "unit-e", {"record": NEW_UNIT})
        assert r.status_code == 403, r.text
        r = await api.post(user, TERMS, {"id": "term-18", "name": "第十八届", "number": 18,
                                         "start": "2026-10-01", "continuing": []})
        assert r.status_code == 403, r.text
        assert (await api.get(user, f"{REGISTRY}/unit/unit-e")).status_code == 403

    # every change is on the bus with the whole record after it
    async def on_the_bus():
        events = [e for e in await published(system.nats_url) if e["key"] == "unit-e"]
        return events if len(events) == 3 else None
    created_e, changed_e, closed_e = await eventually(on_the_bus)
    assert (created_e["change"], created_e["record"], created_e["active"]) == \
        ("created", NEW_UNIT, True)
    assert changed_e["change"] == "changed" and changed_e["case_id"] == "unit:unit-e"
    assert changed_e["record"] == {**NEW_UNIT, "name": "区交通局",
                                   "categories": ["economy", "ecology"]}
    assert changed_e["actor"]["username"] == "office"
    assert (closed_e["change"], closed_e["active"]) == ("closed", False)


async def test_a_new_term_carries_the_continuing_deputies_over_and_closes_the_others(api, system):
    body = {"id": "term-18", "name": "第十八届", "number": 18, "start": "2026-10-01",
            "continuing": ["deputy-1", "deputy-3"]}
    r = await api.post("office", TERMS, body)
    assert r.status_code == 201, r.text
    assert r.json()["previous"] == "term-17"
    assert r.json()["closed"] == ["deputy-2", "deputy-4", "deputy-5"]

    deputies = {d["key"]: d for d in (await api.get("office", f"{REGISTRY}/deputy")).json()}
    for key in ("deputy-1", "deputy-3"):
        assert deputies[key]["active"] and deputies[key]["record"]["terms"] == ["term-17", "term-18"]
    for key in ("deputy-2", "deputy-4", "deputy-5"):
        d = deputies[key]
        assert not d["active"] and d["closed_reason"] == "term_ended"
        assert d["closed_term"] == "term-17" and d["record"]["terms"] == ["term-17"]
    terms = (await api.get("deputy-1", TERMS)).json()
    assert terms["current"] == "term-18"
    assert {t["key"]: t["record"]["end"] for t in terms["items"]} == \
        {"term-18": None, "term-17": "2026-09-30"}
    r = await api.get("office", f"{REGISTRY}/deputy", term="term-18")
    assert [d["key"] for d in r.json()] == ["deputy-1", "deputy-3"]
    r = await api.get("office", f"{REGISTRY}/deputy", active="true", term="term-17")
    assert [d["key"] for d in r.json()] == ["deputy-1", "deputy-3"]

    # run again: nothing changes
    last = system.app("registry").max_notification_id()
    r = await api.post("office", TERMS, body)
    assert r.status_code == 201 and r.json()["events"] == 0 and r.json()["closed"] == []
    assert system.app("registry").max_notification_id() == last

    # a term starting before the latest one is refused; an unknown deputy is a 422
    r = await api.post("office", TERMS, {**body, "id": "term-16b", "start": "2020-01-01"})
    assert r.status_code == 409, r.text
    r = await api.post("office", TERMS, {**body, "continuing": ["deputy-77"]})
    assert r.status_code == 422 and "deputy-77" in r.text

    # consumers learn of the closed deputies
    async def closed_on_the_bus():
        events = [e for e in await published(system.nats_url) if e["change"] == "closed"]
        return events if len(events) == 3 else None
    closed = await eventually(closed_on_the_bus)
    assert {e["key"] for e in closed} == {"deputy-2", "deputy-4", "deputy-5"}
    assert all(e["kind"] == "deputy" and not e["active"] for e in closed)


async def test_an_upsert_saves_every_change_at_once_or_nothing(system):
    app = system.app("registry")
    deputies = app.records("deputy")
    before = app.max_notification_id()
    rows = [dict(deputies["deputy-1"]),  # unchanged
            {**deputies["deputy-2"], "phone": "023-56550199"},  # changed
            {"id": "deputy-6", "name": "赵六", "level": "township", "terms": ["term-17"]}]
    wrong = [*rows, {"id": "deputy-7", "name": "", "level": "district"},
             {"id": "deputy-8", "name": "钱八", "level": "district", "terms": ["term-99"]}]
    with pytest.raises(InvalidRecord) as refused:
        await asyncio.to_thread(app.upsert, "deputy", wrong, "importer")
    assert {e["field"] for e in refused.value.errors} == {"3.name", "4.terms"}
    assert app.max_notification_id() == before  # nothing of the good rows either

    counts = await asyncio.to_thread(app.upsert, "deputy", rows, "importer")
    assert counts == {"created": 1, "changed": 1, "unchanged": 1}
    assert app.max_notification_id() == before + 2
    assert app.records("deputy")["deputy-6"]["level_zh"] == "乡"
    again = await asyncio.to_thread(app.upsert, "deputy", rows, "importer")
    assert again == {"created": 0, "changed": 0, "unchanged": 3}
    assert app.max_notification_id() == before + 2

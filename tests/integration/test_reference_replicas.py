"""Issue 29, point 1 (consuming side): services keep their own replica of the registry's
reference records, recorded in their own logs (shared/reference.py).

A deputy the office adds through the registry (PUT /api/v1/admin/registry/deputy/<key>; the
registry publishes ``duty.registry.record_changed.v1``) becomes known to intake and points
without touching their configuration: a citizen leaves a message for them through their QR
code's endpoint, their suggestion is registered and points scores it (before, points parked the
registration: unknown deputy). Both services, restarted, still know the deputy: rebuilt from
their own logs. Once the office closes the deputy's record, intake refuses a new message or
suggestion for them, while what refers to them stays readable."""

from __future__ import annotations

from datetime import date, timedelta

from shared.reference import ReferenceRecord
from tests.harness import eventually, rpc

SYSTEM_SERVICES = ("intake", "points", "assignment", "registry", "accounts")
NEW = "deputy-new"
NEW_DEPUTY = {"id": NEW, "name": "陈新民", "level": "district", "level_zh": "县",
              "group": "城建环保组", "station": "station-fengjie", "phone": "023-56550199",
              "terms": ["term-17"]}
DEPUTY = {"username": "chenxm", "role": "deputy", "deputy_id": NEW}


async def put_deputy(api, active: bool | None = None) -> None:
    body = {"record": NEW_DEPUTY} if active is None else {"record": NEW_DEPUTY,
                                                            "active": active}
    r = await api.client.put(f"/api/v1/admin/registry/deputy/{NEW}", json=body,
                             headers=await api.login("office"))
    assert r.status_code == 200, r.text


async def intake_deputy(url: str) -> dict | None:
    deputies = (await rpc(url, "intake", "reference"))["result"]["deputies"]
    return next((d for d in deputies if d["id"] == NEW), None)


async def test_a_deputy_added_by_the_registry_is_known_scored_kept_and_closed(system, api):
    url = system.nats_url
    before = await rpc(url, "points", "deputy_points", {"deputy_id": NEW})
    assert before["status"] == 404  # not in config/deputies.yaml
    assert await intake_deputy(url) is None

    await put_deputy(api)

    async def known_everywhere():
        points = await rpc(url, "points", "deputy_points", {"deputy_id": NEW})
        return await intake_deputy(url) is not None and points.get("ok")

    await eventually(known_everywhere, timeout=30, interval=0.2)

    # a citizen leaves a message for the new deputy through their QR code
    left = await api.client.post(f"/api/v1/deputies/{NEW}/messages",
                                 json={"content": "小区门口路灯不亮，请代表关注"})
    assert left.status_code == 201, left.text
    message_id = left.json()["id"]
    message = (await rpc(url, "intake", "get_message", {"message_id": message_id},
                         actor=DEPUTY))["result"]
    assert message["station_id"] == "station-fengjie" and message["claimed_by"] == NEW

    # the new deputy's suggestion is registered, and points scores it on their record
    submitted = await rpc(url, "intake", "submit_suggestion",
                          {"title": "建议增设路灯", "body": "小区门口夜间无照明。",
                           "category": "livelihood"}, actor=DEPUTY)
    assert submitted["ok"], submitted
    registered = await api.post("office",
                                f"/api/v1/suggestions/{submitted['result']['id']}/register",
                                {"urgency": "blue"})
    assert registered.status_code == 200, registered.text

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
    for service in ("intake", "points"):
        app = system.app(service)
        assert app.deputies[NEW]["name"] == "陈新民", service
        replica = app.repository.get(ReferenceRecord.create_id("deputy", NEW))
        assert replica.source_event_id.startswith("registry:"), service
        assert app.is_tracked("registry", int(replica.source_event_id.split(":")[1])), service
    assert (await intake_deputy(url))["name"] == "陈新民"
    again = (await rpc(url, "points", "deputy_points", {"deputy_id": NEW}))["result"]
    assert again["total"] == points["total"]

    # the registry closes the deputy's record (not re-elected)
    await put_deputy(api, active=False)

    async def closed():
        deputy = await intake_deputy(url)
        return deputy is not None and deputy.get("active") is False

    await eventually(closed, timeout=30, interval=0.2)
    refused = await api.client.post(f"/api/v1/deputies/{NEW}/messages",
                                    json={"content": "还能留言吗"})
    assert refused.status_code == 409, refused.text
    assert "no longer serves" in refused.text
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
    kept = await rpc(url, "intake", "get_message", {"message_id": message_id}, actor=DEPUTY)
    assert kept["ok"], kept
    assert (await rpc(url, "points", "deputy_points", {"deputy_id": NEW}))["ok"]


async def test_rankings_select_a_term_from_the_replicated_terms(system, api):
    """Issue 29, point 4 (consuming side): ``GET /api/v1/rankings?term=<id>`` ranks the points
    earned between the term's start and end, read from points' replica of the registry's
    terms; after 换届 the same points belong to the new term, and ``year`` still works."""
    url = system.nats_url
    deputy_1 = {"username": "wangjg", "role": "deputy", "deputy_id": "deputy-1"}
    submitted = await rpc(url, "intake", "submit_suggestion",
                          {"title": "建议修缮步道", "body": "步道破损。", "category": "livelihood"},
                          actor=deputy_1)
    assert submitted["ok"], submitted
    r = await api.post("office", f"/api/v1/suggestions/{submitted['result']['id']}/register",
                       {"urgency": "blue"})
    assert r.status_code == 200, r.text

    async def scored():
        points = (await rpc(url, "points", "deputy_points", {"deputy_id": "deputy-1"}))["result"]
        return points if points["lines"] else None

    scored_points = await eventually(scored, timeout=30, interval=0.2)
    total, earned_on = scored_points["total"], scored_points["lines"][0]["earned_on"]
    year = int(earned_on[:4])

    async def row(**params) -> dict | None:
        r = await api.get("office", "/api/v1/rankings", limit=500, **params)
        assert r.status_code == 200, r.text
        return next((x for x in r.json()["rows"] if x["deputy_id"] == "deputy-1"), None)

    assert (await row(year=year))["total"] == total  # the year, as before
    in_term = await row(term="term-17")  # the open term, since 2021-10-01
    assert in_term["total"] == total and in_term["name"] == "王建国"
    r = await api.get("office", "/api/v1/rankings", term="term-99")
    assert r.status_code == 422, r.text
    # paged as the year ranking is: one row a page, the cursor gives the next rank
    first = (await api.get("office", "/api/v1/rankings", term="term-17", limit=1)).json()
    assert [x["rank"] for x in first["rows"]] == [1] and first["rows"][0]["deputy_id"] == "deputy-1"
    second = (await api.get("office", "/api/v1/rankings", term="term-17", limit=1,
                            cursor=first["next_cursor"])).json()
    assert [x["rank"] for x in second["rows"]] == [2] and second["total"] == first["total"] > 1

    # 换届 on the day the points were earned: term 17 ends the day before, deputy-1 continues
    r = await api.post("office", "/api/v1/admin/terms",
                       {"id": "term-18", "name": "第十八届", "number": 18,
                        "start": earned_on, "continuing": ["deputy-1"]})
    assert r.status_code == 201, r.text

    async def term_18_known():
        r = await api.get("office", "/api/v1/rankings", term="term-18", limit=500)
        return r.json() if r.status_code == 200 else None

    ranking = await eventually(term_18_known, timeout=30, interval=0.2)
    assert ranking["from"] == earned_on and ranking["to"] is None
    rows = {x["deputy_id"]: x for x in ranking["rows"]}
    assert rows["deputy-1"]["total"] == total
    assert "deputy-2" not in rows  # not continuing, no points in the term

    async def term_17_ended():
        r = await api.get("office", "/api/v1/rankings", term="term-17", limit=500)
        return r.json() if r.json().get("to") == day_before else None

    day_before = (date.fromisoformat(earned_on) - timedelta(days=1)).isoformat()
    ended = await eventually(term_17_ended, timeout=30, interval=0.2)
    assert {x["deputy_id"]: x for x in ended["rows"]}["deputy-1"]["total"] == 0
    assert (await row(year=year))["total"] == total

    # the duty record selects a term too: the term's points, its ranking, the years it spans
    r = await api.get("office", "/api/v1/deputies/deputy-1/record", term="term-18")
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["total"] == total and record["from"] == earned_on and record["rank"] == 1
    assert record["by_cause"] and sum(record["by_cause"].values()) == total
    assert [y["year"] for y in record["years"]] == [year]
    r = await api.get("office", "/api/v1/deputies/deputy-1/record", term="term-17")
    assert r.json()["total"] == 0 and r.json()["to"] == day_before
    r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/record", year=year)
    assert r.status_code == 200 and r.json()["total"] == total  # the year's, as before


async def test_a_unit_added_by_the_registry_takes_tasks_until_it_is_closed(system, api):
    """Assignment's own replica: the office reassigns a task to a unit the registry has just
    added; once the unit is closed, a task can no longer be reassigned to it (422)."""
    url = system.nats_url
    unit = {"id": "unit-new", "name": "区交通运输局", "parent": "区人民政府",
            "categories": ["economy"]}
    r = await api.client.put("/api/v1/admin/registry/unit/unit-new", json={"record": unit},
                             headers=await api.login("office"))
    assert r.status_code == 200, r.text

    async def unit_known(active: bool):
        units = (await rpc(url, "assignment", "units"))["result"]
        found = next((u for u in units if u["id"] == "unit-new"), None)
        return found is not None and found.get("active", True) is active

    await eventually(lambda: unit_known(True), timeout=30, interval=0.2)
    deputy_1 = {"username": "wangjg", "role": "deputy", "deputy_id": "deputy-1"}
    tasks = []
    for title in ("建议优化公交线路", "建议增设公交站台"):
        submitted = await rpc(url, "intake", "submit_suggestion",
                              {"title": title, "body": "出行不便。", "category": "economy"},
                              actor=deputy_1)
        assert submitted["ok"], submitted
        case_id = submitted["result"]["id"]
        r = await api.post("office", f"/api/v1/suggestions/{case_id}/register",
                           {"urgency": "blue"})
        assert r.status_code == 200, r.text

        async def routed(case_id=case_id):  # the routing rule assigns it to unit-d
            found = await rpc(url, "assignment", "case_assignment", {"case_id": case_id})
            return found["result"]["task_ids"] if found.get("ok") else None

        tasks.append((await eventually(routed, timeout=30, interval=0.2))[0])

    r = await api.post("office", f"/api/v1/tasks/{tasks[0]}/reassign", {"unit_id": "unit-new"})
    assert r.status_code in (200, 201), r.text

    r = await api.client.put("/api/v1/admin/registry/unit/unit-new",
                             json={"record": unit, "active": False},
                             headers=await api.login("office"))
    assert r.status_code == 200, r.text
    await eventually(lambda: unit_known(False), timeout=30, interval=0.2)
    r = await api.post("office", f"/api/v1/tasks/{tasks[1]}/reassign", {"unit_id": "unit-new"})
    assert r.status_code == 422, r.text
    assert "unit 'unit-new' is closed" in r.text

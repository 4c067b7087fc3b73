"""Categories and working-day calendars as the registry's records (issue 29, point 1), with a
real nats-server and each store.

The office adds a category through the registry's API (published as
``duty.registry.record_changed.v2`` only: v1 consumers do not know the kind, while a deputy's
change still goes out as v1 and v2); intake's and assignment's replicas learn it, so a deputy
files a suggestion in it, a citizen a message, and a forwarded message's task keeps it. Once
closed, nothing new may be filed in it (422 on the field) while the old suggestion keeps it and
its name stays known. The office adds a holiday to 2026's calendar: a task opened afterwards
gets a deadline that skips it, the one opened before keeps its deadline. Restarted, every
service still has all of it (from its own log).

The system's clock starts on Monday 2 March 2026, 09:00 in China (``ManualClock``).
"""

from __future__ import annotations

from datetime import timedelta

from tests.harness import eventually, rpc
from tests.integration.test_assignment import (assignment_of, eventually_task, forwarded_message,
                                               published)

SYSTEM_SERVICES = ("intake", "assignment", "supervision", "registry", "accounts")
REGISTRY = "/api/v1/admin/registry"
CODE = "road_safety"
CATEGORY = {"code": CODE, "name_zh": "道路交通安全", "name_en": "Road safety"}
DEPUTY = {"username": "wangjg", "role": "deputy", "deputy_id": "deputy-1"}
HOLIDAY = "2026-03-10"  # a Tuesday


async def put(api, kind: str, key: str, body: dict):
    return await api.client.put(f"{REGISTRY}/{kind}/{key}", json=body,
                                headers=await api.login("office"))


async def intake_category(url: str) -> dict | None:
    categories = (await rpc(url, "intake", "reference"))["result"]["categories"]
    return next((c for c in categories if c["code"] == CODE), None)


async def submit(url: str, category: str) -> dict:
    return await rpc(url, "intake", "submit_suggestion",
                     {"title": "建议在学校门口设置减速带", "body": "上下学时段车速过快。",
                      "category": category}, actor=DEPUTY)


async def test_a_category_added_by_the_office_is_used_then_closed(system, api):
    url = system.nats_url
    refused = await submit(url, CODE)
    assert refused["status"] == 422 and refused["errors"][0]["loc"] == ["body", "category"]

    bad = await put(api, "category", "Road-Safety", {"record": {"name_zh": ""}})
    assert bad.status_code == 422, bad.text
    assert {tuple(e["loc"][-1:]) for e in bad.json()["errors"]} >= {("code",), ("name_zh",)}
    r = await put(api, "category", CODE, {"record": CATEGORY})
    assert r.status_code == 200, r.text

    async def known() -> bool:
        return await intake_category(url) is not None and \
            CODE in system.app("assignment").categories

    await eventually(known, timeout=30, interval=0.2)

    # a deputy files a suggestion in it, a citizen a message; the forwarded task keeps it
    submitted = await submit(url, CODE)
    assert submitted["ok"], submitted
    suggestion_id = submitted["result"]["id"]
    message_id = await forwarded_message(api, "unit-a", category=CODE)
    task = await eventually_task(api, "unit-a", message_id)
    assert task["category"] == CODE  # assignment knows it: not filed under "other"

    # the registry published the category as v2 only; a deputy's change as v1 and v2
    r = await put(api, "deputy", "deputy-2", {"record": {
        **(await api.get("office", f"{REGISTRY}/deputy/deputy-2")).json()["record"],
        "phone": "023-56550000"}})
    assert r.status_code == 200, r.text

    async def both_published():
        events = await published(url, stream="DUTY_REGISTRY")
        deputy = [s for s, e in events
                  if e["case_id"] == "deputy:deputy-2" and e["change"] == "changed"]
        return (events, deputy) if len(deputy) == 2 else None

    events, deputy = await eventually(both_published, timeout=30, interval=0.2)
    assert deputy == ["duty.registry.record_changed.v1", "duty.registry.record_changed.v2"]
    assert [s for s, e in events if e["case_id"] == f"category:{CODE}"] == [
        "duty.registry.record_changed.v2"]
    # the seed too: a seeded deputy as v1 and v2, a seeded category and calendar as v2 only
    seeded = {(s, e["kind"]) for s, e in events if e["change"] == "created"}
    assert ("duty.registry.record_changed.v1", "deputy") in seeded
    assert {("duty.registry.record_changed.v2", "category"),
            ("duty.registry.record_changed.v2", "calendar")} <= seeded
    assert not {k for s, k in seeded if s.endswith(".v1")} & {"category", "calendar"}

    # closed: nothing new in it (422 on the field); the old suggestion keeps it and its name
    r = await put(api, "category", CODE, {"record": CATEGORY, "active": False})
    assert r.status_code == 200, r.text

    async def closed() -> bool:
        category = await intake_category(url)
        return category is not None and category.get("active") is False

    await eventually(closed, timeout=30, interval=0.2)
    refused = await submit(url, CODE)
    assert refused["status"] == 422, refused
    assert refused["errors"][0]["loc"] == ["body", "category"]
    assert "closed" in refused["errors"][0]["msg"]
    r = await api.client.post("/api/v1/stations/station-fengjie/messages",
                              json={"content": "学校门口车速过快", "category": CODE})
    assert r.status_code == 422, r.text
    kept = await rpc(url, "intake", "get_suggestion", {"suggestion_id": suggestion_id},
                     actor=DEPUTY)
    assert kept["ok"] and kept["result"]["category"] == CODE, kept
    assert (await intake_category(url))["name_zh"] == "道路交通安全"

    # restarted, every service still has it, from its own log
    await system.stop("intake", "assignment", "registry")
    await system.start("registry", "intake", "assignment")
    assert (await intake_category(url))["active"] is False
    assert not system.app("assignment").reference.active("category", CODE)
    r = await api.get("office", f"{REGISTRY}/category/{CODE}")
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["active"] is False and record["record"]["name_zh"] == "道路交通安全"
    assert [h["event_type"] for h in record["history"]] == ["Created", "Closed"]
    assert record["history"][0]["actor"] == "office"


async def test_a_holiday_added_by_the_office_counts_for_tasks_opened_after_it(system, api):
    url = system.nats_url
    before = await forwarded_message(api, "unit-a")
    task = await eventually_task(api, "unit-a", before)
    assert task["deadline"] == "2026-03-23"  # 15 working days after Monday 2 March

    system.clock.advance(timedelta(hours=1))
    r = await api.get("office", f"{REGISTRY}/calendar/2026")
    assert r.status_code == 200, r.text
    year = r.json()["record"]
    assert HOLIDAY not in year["holidays"]
    bad = await put(api, "calendar", "2026", {"record": {**year, "holidays": [
        *year["holidays"], "2027-03-10", "2026-02-30"]}})
    assert bad.status_code == 422, bad.text
    assert [e["loc"][-1] for e in bad.json()["errors"]] == ["holidays"]
    r = await put(api, "calendar", "2026", {"record": {**year,
                                                       "holidays": [*year["holidays"], HOLIDAY]}})
    assert r.status_code == 200, r.text

    async def replicated() -> bool:
        return HOLIDAY in system.app("assignment").reference.table("calendar")["2026"][
            "holidays"]

    await eventually(replicated, timeout=30, interval=0.2)
    system.clock.advance(timedelta(minutes=1))
    after = await forwarded_message(api, "unit-a")
    task = await eventually_task(api, "unit-a", after)
    assert task["deadline"] == "2026-03-24"  # one working day later: 10 March is off

    async def deadlines() -> dict[str, str]:
        return {case: (await assignment_of(api, case))["tasks"][0]["deadline"]
                for case in (before, after)}

    assert await deadlines() == {before: "2026-03-23", after: "2026-03-24"}
    assert (await eventually_task(api, "unit-a", before))["deadline"] == "2026-03-23"

    # restarted, the same deadlines and the same calendar
    await system.stop("assignment", "registry")
    await system.start("registry", "assignment")
    assert await deadlines() == {before: "2026-03-23", after: "2026-03-24"}
    r = await api.get("office", f"{REGISTRY}/calendar/2026")
    assert HOLIDAY in r.json()["record"]["holidays"]
    change = r.json()["history"][-1]
    assert (change["event_type"], change["actor"]) == ("Changed", "office")
    assert HOLIDAY in change["after"]["holidays"] and HOLIDAY not in change["before"]["holidays"]


async def test_the_pages_list_and_edit_categories_and_calendars(system, api):
    """基础数据 pages (without a browser): the two kinds listed, a calendar's dates edited as
    lines of text (a date outside the year named beside its field), a category created from
    its form; Chinese only: a category's code and English name are not shown as text."""
    client = api.client
    client.cookies.clear()
    await client.get("/app/login")
    csrf = client.cookies.get("duty_csrf")
    r = await client.post("/app/login", data={"username": "office", "password": "office"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303, r.text
    csrf = client.cookies.get("duty_csrf")

    r = await client.get("/app/admin/registry/category")
    assert r.status_code == 200 and "民生服务" in r.text and "工作日历" in r.text
    body = r.text.split("<main", 1)[-1]
    visible = [line for line in body.splitlines() if "livelihood" in line and "href" not in line]
    assert visible == []  # the code only in the links' addresses
    r = await client.get("/app/admin/registry/calendar")
    assert r.status_code == 200 and ">2026<" in r.text
    assert "PROVISIONAL" not in r.text  # 2027's seeded source, English: not shown as text
    r = await client.get("/app/admin/registry/calendar/2027")
    assert r.status_code == 200 and "<dt>暂定</dt><dd>是</dd>" in r.text
    assert "PROVISIONAL" not in r.text.split('id="f-source"')[0]  # only the field's value

    r = await client.get("/app/admin/registry/calendar/2026")
    assert r.status_code == 200 and "2026 年工作日历" in r.text
    assert "2026-10-01\n2026-10-02" in r.text  # the holidays, one a line in the text area
    year = (await api.get("office", f"{REGISTRY}/calendar/2026")).json()["record"]
    lines = "\n".join([*year["holidays"], "2026-12-31"])
    form = {"csrf_token": csrf, "source": year["source"],
            "holidays": lines + "\n2027-01-05", "makeup_workdays": "\n".join(
                year["makeup_workdays"]), "provisional": ""}
    r = await client.post("/app/admin/registry/calendar/2026", data=form,
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and "2027-01-05 不在 2026 年" in r.text, r.text
    assert 'id="f-holidays-error"' in r.text
    r = await client.post("/app/admin/registry/calendar/2026", data={**form, "holidays": lines},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303, r.text
    saved = (await api.get("office", f"{REGISTRY}/calendar/2026")).json()
    assert "2026-12-31" in saved["record"]["holidays"]
    assert saved["history"][-1]["after"] == {"holidays": saved["record"]["holidays"]}

    r = await client.post("/app/admin/registry/category/road_safety",
                          data={"csrf_token": csrf, "name_zh": "", "name_en": ""},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and 'id="f-name_zh-error"' in r.text
    r = await client.post("/app/admin/registry/category/road_safety",
                          data={"csrf_token": csrf, "name_zh": "道路交通安全", "name_en": ""},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303, r.text
    r = await client.get("/app/admin/registry/category/road_safety")
    assert "类别 · 道路交通安全" in r.text
    client.cookies.clear()


async def test_the_public_qr_pages_offer_only_what_is_open(system, api):
    """A closed category is no longer offered on the QR forms; an old QR code of a closed
    station, or of a deputy who no longer serves, says so (410) instead of a form that would
    refuse every message, and the deputy's page sends the citizen to their open station."""
    async def page(path: str):
        return await api.client.get(path)

    station, deputy = await page("/s/station-fengjie"), await page("/d/deputy-2")
    assert station.status_code == deputy.status_code == 200
    assert 'value="livelihood"' in station.text and 'value="livelihood"' in deputy.text

    deputy_2 = (await api.get("office", f"{REGISTRY}/deputy/deputy-2")).json()["record"]
    huangdao = (await api.get("office", f"{REGISTRY}/station/station-huangdao")).json()["record"]
    livelihood = (await api.get("office", f"{REGISTRY}/category/livelihood")).json()["record"]
    for kind, key, record in (("deputy", "deputy-2", deputy_2),
                              ("station", "station-huangdao", huangdao),
                              ("category", "livelihood", livelihood)):
        r = await put(api, kind, key, {"record": record, "active": False})
        assert r.status_code == 200, r.text

    async def all_closed():
        ref = (await rpc(system.nats_url, "intake", "reference"))["result"]
        closed = {r.get("id") or r.get("code") for k in ("deputies", "stations", "categories")
                  for r in ref[k] if r["active"] is False}
        return closed >= {"deputy-2", "station-huangdao", "livelihood"}

    await eventually(all_closed, timeout=30, interval=0.2)
    station = await page("/s/station-fengjie")
    assert station.status_code == 200 and 'value="livelihood"' not in station.text
    assert 'value="ecology"' in station.text
    gone = await page("/s/station-huangdao")
    assert gone.status_code == 410 and "已停止接收留言" in gone.text and "<form" not in gone.text
    gone = await page("/d/deputy-2")
    assert gone.status_code == 410 and "不再担任人大代表" in gone.text and "<form" not in gone.text
    assert 'href="/s/station-fengjie"' in gone.text
    serving = await page("/d/deputy-1")
    assert serving.status_code == 200 and 'value="livelihood"' not in serving.text

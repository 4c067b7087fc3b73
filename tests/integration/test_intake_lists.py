"""Intake's lists at city scale: suggestions and citizen messages as persisted read models,
paged with opaque cursors (the gateway's Link and X-Total-Count), filtered, searched in Chinese
(messages through a blind index: no text in any table), by year; a restart applies only the
tail of the log; Open311 requests page too; the suggestions of a unit's tasks are a paged
join with supervision."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.intake.application import (
    ConvertMessage,
    IntakeApplication,
    MessageRef,
    PostMessage,
    RegisterSuggestion,
    SubmitSuggestion,
)
from services.intake.read_models import SuggestionsView
from shared.clock import CHINA_TZ
from shared.eventstore import Actor, recording_as
from tests.harness import rpc

STATION, OTHER_STATION = "station-fengjie", "station-jiading"
OFFICE = Actor("office", "office")
CITIZEN = Actor("anonymous", "anonymous")
SECRET_TEXT = "独特秘密词语甲乙丙丁"


def deputy(n: int) -> Actor:
    return Actor(f"deputy-{n}", "deputy", deputy_id=f"deputy-{n}")


def tick(system: Any) -> None:
    system.clock.advance(timedelta(minutes=1))


def submit(app: IntakeApplication, system: Any, i: int, lead: int = 1,
           co: list[int] | None = None, category: str = "livelihood",
           title: str | None = None) -> str:
    tick(system)
    actor = deputy(lead)
    with recording_as(actor):
        return app.submit_suggestion(SubmitSuggestion(
            title=title or f"道路维修第{i}号", body=f"建议第{i}件的正文：人行道破损",
            category=category, co_signers=[f"deputy-{c}" for c in co or []]), actor)["id"]


def post(app: IntakeApplication, system: Any, content: str, station: str = STATION) -> str:
    tick(system)
    with recording_as(CITIZEN):
        return app.post_message(PostMessage(station_id=station, content=content,
                                            contact_phone="13812345678"), CITIZEN)["id"]


async def follow(api: Any, user: str, path: str, **params: Any) -> tuple[list[dict], list[str]]:
    """Every page of a list from its first, following Link rel=next; the rows, and each
    page's X-Total-Count."""
    headers = await api.login(user)
    r = await api.client.get(path, params=params, headers=headers)
    rows, totals = [], []
    while True:
        assert r.status_code == 200, r.text
        rows += r.json()
        totals.append(r.headers.get("x-total-count"))
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            return rows, totals
        r = await api.client.get(nxt, headers=headers)


@pytest.fixture
async def suggestions(system) -> dict[str, Any]:
    """30 suggestions of 2025, then 150 of 2026 (every tenth about a lift, every third
    ecology, deputy-2's every fourth with deputy-3 co-signing), five registered, and one made
    from a citizen's message without words of the deputy's own."""
    app: IntakeApplication = system.app("intake")
    start = system.clock.now()
    system.clock.set(datetime(2025, 5, 1, 9, tzinfo=CHINA_TZ))
    old = [submit(app, system, i) for i in range(30)]
    system.clock.set(start)
    made = []
    for i in range(150):
        made.append(submit(
            app, system, i, lead=2 if i % 4 == 0 else 1, co=[3] if i % 4 == 0 else None,
            category="ecology" if i % 3 == 0 else "livelihood",
            title=f"加装电梯第{i}号" if i % 10 == 0 else None))
    registered = made[:5]
    with recording_as(OFFICE):
        numbers = [app.register_suggestion(RegisterSuggestion(suggestion_id=s, urgency="yellow"),
                                           OFFICE)["number"] for s in registered]
    message = post(app, system, SECRET_TEXT)
    with recording_as(deputy(1)):
        app.claim_message(MessageRef(message_id=message), deputy(1))
        converted = app.convert_message(ConvertMessage(message_id=message,
                                                       category="livelihood"),
                                        deputy(1))["suggestion_id"]
    return {"old": old, "made": made, "registered": dict(zip(numbers, registered)),
            "converted": converted, "message": message}


async def test_suggestions_page_to_the_end_with_filters_search_and_years(api, system, suggestions):
    made, converted = suggestions["made"], suggestions["converted"]
    this_year = [*made, converted]  # in submission order

    rows, totals = await follow(api, "office", "/api/v1/suggestions", limit=40)
    assert [r["id"] for r in rows] == this_year  # every row once, in a stable order
    assert totals == [str(len(this_year))] * 4

    # filters compose with paging
    ecology = [s for i, s in enumerate(made) if i % 3 == 0]
    rows, totals = await follow(api, "office", "/api/v1/suggestions", category="ecology", limit=7)
    assert [r["id"] for r in rows] == ecology and set(totals) == {str(len(ecology))}
    rows, _ = await follow(api, "office", "/api/v1/suggestions", status="registered", limit=2)
    assert [r["id"] for r in rows] == made[:5] and all(r["number"] for r in rows)
    # a deputy sees their own (lead or co-signer), whatever they ask
    mine = [s for i, s in enumerate(made) if i % 4 == 0]
    for who in ("deputy-2", "deputy-3"):
        rows, totals = await follow(api, who, "/api/v1/suggestions", limit=9)
        assert [r["id"] for r in rows] == mine and totals[0] == str(len(mine))
    rows, _ = await follow(api, "deputy-2", "/api/v1/suggestions", category="ecology", limit=5)
    assert [r["id"] for r in rows] == [s for i, s in enumerate(made) if i % 12 == 0]

    # q: words of the title (Chinese), several words, a number, a word of the body
    lifts = [s for i, s in enumerate(made) if i % 10 == 0]
    rows, totals = await follow(api, "office", "/api/v1/suggestions", q="加装电梯", limit=4)
    assert [r["id"] for r in rows] == lifts and totals[0] == str(len(lifts))
    rows, _ = await follow(api, "office", "/api/v1/suggestions", q="电梯 第10号")
    assert [r["id"] for r in rows] == [made[10]]
    number, registered = next(iter(suggestions["registered"].items()))
    rows, _ = await follow(api, "office", "/api/v1/suggestions", q=number)
    assert [r["id"] for r in rows] == [registered]
    rows, _ = await follow(api, "office", "/api/v1/suggestions", q="建议第77件")
    assert [r["id"] for r in rows] == [made[77]]
    rows, _ = await follow(api, "office", "/api/v1/suggestions", q="电梯", category="ecology")
    assert [r["id"] for r in rows] == [s for i, s in enumerate(made) if i % 30 == 0]
    # the citizen's sealed text is not searchable in suggestions
    rows, _ = await follow(api, "office", "/api/v1/suggestions", q="秘密词语")
    assert rows == []

    # years: submission year, the current one by default
    rows, totals = await follow(api, "office", "/api/v1/suggestions", year="2025", limit=500)
    assert [r["id"] for r in rows] == suggestions["old"] and totals == ["30"]
    rows, totals = await follow(api, "office", "/api/v1/suggestions", year="all", limit=100)
    assert [r["id"] for r in rows] == [*suggestions["old"], *this_year]
    assert totals[0] == str(30 + len(this_year))

    # refused: a bad cursor, a page over 500, a bad year
    for params in ({"cursor": "not-a-cursor"}, {"limit": 501}, {"limit": 0},
                   {"year": "26"}, {"year": "last"}):
        r = await api.get("office", "/api/v1/suggestions", **params)
        assert r.status_code == 422, (params, r.text)
    # a cursor of the messages list is not one of the suggestions list (another width)
    r = await api.get("office", "/api/v1/suggestions", cursor="WyJ4Il0")
    assert r.status_code == 422


async def test_the_office_lists_one_deputys_suggestions(api, system, suggestions):
    # deputy-2 leads every fourth of 2026's 150 and deputy-3 co-signs those
    rows, _ = await follow(api, "office", "/api/v1/suggestions", deputy_id="deputy-3",
                           limit=500)
    assert {r["id"] for r in rows} == set(suggestions["made"][::4])
    # a deputy asking for another deputy's still sees only their own
    own, _ = await follow(api, "deputy-2", "/api/v1/suggestions", deputy_id="deputy-1",
                          limit=500)
    assert {r["id"] for r in own} == set(suggestions["made"][::4])


async def test_messages_page_search_through_a_blind_index_and_erasure(api, system, suggestions):
    app: IntakeApplication = system.app("intake")
    start = system.clock.now()
    system.clock.set(datetime(2025, 11, 1, 9, tzinfo=CHINA_TZ))
    old = [post(app, system, f"去年的留言{i}") for i in range(5)]
    system.clock.set(start + timedelta(days=1))
    posted = []
    for i in range(120):
        text = f"小区垃圾清运不及时，第{i}次反映" if i % 6 == 0 else f"路灯不亮已经{i}天"
        posted.append(post(app, system, text, station=OTHER_STATION if i % 5 == 0 else STATION))
    this_year = [suggestions["message"], *posted]

    rows, totals = await follow(api, "office", "/api/v1/messages", limit=25)
    assert [r["id"] for r in rows] == this_year and set(totals) == {str(len(this_year))}
    assert rows[1]["content"] == "小区垃圾清运不及时，第0次反映"  # decrypted for the page
    assert "13812345678" not in str(rows) and "contact_phone" not in rows[0]
    rows, totals = await follow(api, "office", "/api/v1/messages", station_id=OTHER_STATION,
                                limit=6)
    assert [r["id"] for r in rows] == [m for i, m in enumerate(posted) if i % 5 == 0]

    # q: words of the text (Chinese, 3 characters or more), the id or its first characters
    garbage = [m for i, m in enumerate(posted) if i % 6 == 0]
    rows, totals = await follow(api, "office", "/api/v1/messages", q="垃圾清运", limit=7)
    assert [r["id"] for r in rows] == garbage and totals[0] == str(len(garbage))
    rows, _ = await follow(api, "office", "/api/v1/messages", q="第12次反映")
    assert [r["id"] for r in rows] == [posted[12]]
    rows, _ = await follow(api, "office", "/api/v1/messages", q="秘密词语")
    assert [r["id"] for r in rows] == [suggestions["message"]]
    rows, _ = await follow(api, "office", "/api/v1/messages", q=posted[33])
    assert [r["id"] for r in rows] == [posted[33]]
    rows, _ = await follow(api, "office", "/api/v1/messages", q=posted[33][:13])
    assert posted[33] in [r["id"] for r in rows]
    r = await api.get("office", "/api/v1/messages", q="路灯")  # neither an id nor 3 characters
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "q"

    # years: the receipt year
    rows, totals = await follow(api, "office", "/api/v1/messages", year="2025")
    assert [r["id"] for r in rows] == old and totals == ["5"]
    rows, _ = await follow(api, "office", "/api/v1/messages", year="all", q="去年的留言")
    assert [r["id"] for r in rows] == old

    # a unit sees what was forwarded to it
    r = await api.post("office", f"/api/v1/messages/{posted[6]}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text
    rows, totals = await follow(api, "unit-a", "/api/v1/messages", status="forwarded")
    assert [r["id"] for r in rows] == [posted[6]] and totals == ["1"]

    # erasing the poster: the text shows as erased and is no longer found
    r = await api.post("office", f"/api/v1/messages/{posted[12]}/erasure")
    assert r.status_code == 200, r.text
    rows, _ = await follow(api, "office", "/api/v1/messages", q="垃圾清运", limit=500)
    assert [r["id"] for r in rows] == [m for m in garbage if m != posted[12]]
    rows, _ = await follow(api, "office", "/api/v1/messages", q=posted[12])
    assert rows[0]["content"] == "[erased]"
    view = system.app("intake").messages_view
    with view.store.read() as tx:
        assert tx.scalar(f"SELECT COUNT(*) AS n FROM {view.t('messages_tokens')} t JOIN "
                         f"{view.t('messages')} m ON m.seq = t.seq WHERE m.id = ?",
                         (posted[12],)) == 0
        assert tx.scalar(f"SELECT COUNT(*) AS n FROM {view.t('messages_tokens')}") > 0

    for params in ({"cursor": "not-a-cursor"}, {"limit": 501}, {"year": "20266"}):
        r = await api.get("office", "/api/v1/messages", **params)
        assert r.status_code == 422, (params, r.text)

    # No message text in the read models, in any table (SQLite: the raw file)
    if system.store["event_store"] == "sqlite":
        var_dir = Path(system.store["var_dir"])
        raw = b"".join(p.read_bytes() for p in var_dir.glob("intake-views.sqlite*"))
        assert raw
        for text in ("垃圾清运", "路灯不亮", SECRET_TEXT, "去年的留言", "13812345678"):
            assert text.encode() not in raw
    else:
        with view.store.read() as tx:
            for table in (view.t("messages"), view.t("messages_tokens")):
                dump = str(tx.all(f"SELECT * FROM {table}"))
                assert "垃圾清运" not in dump and SECRET_TEXT not in dump


async def test_the_claim_sweep_and_lists_after_a_rebuild(api, system, suggestions):
    app: IntakeApplication = system.app("intake")
    ids = [post(app, system, f"需要认领的留言{i}") for i in range(3)]
    for message_id in ids:
        r = await api.post("deputy-2", f"/api/v1/messages/{message_id}/claim")
        assert r.status_code == 200
    held = await rpc(system.nats_url, "intake", "list_messages",
                     {"status": "claimed", "claimed_by": "deputy-2", "limit": 2})
    assert held["result"]["total"] == 3 and len(held["result"]["items"]) == 2
    system.clock.advance(timedelta(hours=25))
    sweep = await rpc(system.nats_url, "intake", "release_expired_claims")
    assert sorted(sweep["result"]["released"]) == sorted(ids)

    before_s, _ = await follow(api, "office", "/api/v1/suggestions", year="all", limit=500)
    before_m, _ = await follow(api, "office", "/api/v1/messages", year="all", limit=500)
    generation = app.suggestions_view.generation
    r = await rpc(system.nats_url, "intake", "rebuild_read_models", timeout=60)
    assert r["ok"], r
    assert app.suggestions_view.generation == generation + 1
    assert (await follow(api, "office", "/api/v1/suggestions", year="all", limit=500))[0] \
        == before_s
    assert (await follow(api, "office", "/api/v1/messages", year="all", limit=500))[0] \
        == before_m


async def test_a_restart_applies_only_the_events_recorded_since(api, system, monkeypatch):
    app: IntakeApplication = system.app("intake")
    for i in range(20):
        submit(app, system, i)
    system.runtimes["intake"].catch_up()
    position = app.suggestions_view.position
    await system.stop("intake")

    # Recorded while the service is down (its own application, on the same stores).
    offline = IntakeApplication(system.settings().model_copy(
        update={"service_name": "intake"}), clock=system.clock)
    try:
        late = [submit(offline, system, 100 + i) for i in range(3)]
    finally:
        offline.close()

    applied: list[int] = []
    real = SuggestionsView.apply

    def counting(self: SuggestionsView, event: Any, notification_id: int) -> None:
        applied.append(notification_id)
        real(self, event, notification_id)

    monkeypatch.setattr(SuggestionsView, "apply", counting)
    await system.start("intake")
    runtime = system.runtimes["intake"]
    assert runtime.read_models.builds == {}  # nothing built again
    assert len(applied) == 3 and min(applied) > position  # the tail only
    rows, totals = await follow(api, "office", "/api/v1/suggestions", limit=10)
    assert [r["id"] for r in rows][-3:] == late and totals[0] == "23"


async def test_open311_requests_page_newest_first(api, system):
    app: IntakeApplication = system.app("intake")
    ids = [post(app, system, f"公开留言{i}") for i in range(23)]
    url = "/open311/v2/requests.json"
    r = await api.client.get(url, params={"jurisdiction_id": STATION, "page_size": 10})
    assert r.status_code == 200, r.text
    seen = []
    while True:
        assert r.status_code == 200 and r.headers["x-total-count"] == "23"
        seen += [x["service_request_id"] for x in r.json()]
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            break
        assert "page_size=10" in nxt
        r = await api.client.get(nxt)
    assert seen == ids[::-1]  # newest first, every request once
    r = await api.client.get(url, params={"jurisdiction_id": STATION})
    assert len(r.json()) == 23 and "link" not in r.headers  # default page: 50
    for params in ({"page_size": 501}, {"page_size": "x"}, {"cursor": "not-a-cursor"}):
        r = await api.client.get(url, params={"jurisdiction_id": STATION, **params})
        assert r.status_code == 400, (params, r.text)
        assert r.json()[0]["code"] == 400
    r = await api.client.get("/open311/v2/requests.xml",
                             params={"jurisdiction_id": STATION, "page_size": 20})
    assert r.status_code == 200 and r.text.count("<request>") == 20 and "link" in r.headers


async def test_the_suggestions_of_a_units_tasks_page_in_case_id_order(api, system):
    if "case_ids" not in system.runtimes["supervision"].routes:
        pytest.xfail("supervision has no case_ids route yet (issue 23, supervision's part)")
    from tests.integration.test_delivery import register_one

    ids = [await register_one(system.nats_url, title=f"加装电梯{i}", category="livelihood")
           for i in range(7)]

    async def units() -> dict[str, list[str]]:
        found = {}
        for case_id in ids:
            r = await api.get("office", f"/api/v1/suggestions/{case_id}")
            found[case_id] = [t["unit_id"] for t in r.json()["tasks"]]
        return found if all(found.values()) else {}

    from tests.harness import eventually

    of_case = await eventually(units)
    unit = of_case[ids[0]][0]
    expected = sorted(i for i in ids if unit in of_case[i])
    rows, totals = await follow(api, "office", "/api/v1/suggestions", unit_id=unit, limit=2)
    assert [r["id"] for r in rows] == expected  # in case-id order, every one once
    assert set(totals) == {None}  # not counted: supervision's count is not the suggestions'
    rows, _ = await follow(api, "office", "/api/v1/suggestions", unit_id=unit, q="加装电梯1")
    assert [r["id"] for r in rows] == [i for i in expected if i == ids[1]]
    rows, _ = await follow(api, "office", "/api/v1/suggestions", unit_id=unit,
                           status="declined", limit=1)
    assert rows == []
    rows, _ = await follow(api, "office", "/api/v1/suggestions", overdue="false", limit=3)
    assert [r["id"] for r in rows] == sorted(ids)
    rows, _ = await follow(api, "office", "/api/v1/suggestions", overdue="true")
    assert rows == []
    system.clock.advance(timedelta(days=120))  # past every deadline
    rows, _ = await follow(api, "office", "/api/v1/suggestions", overdue="true", limit=4)
    assert [r["id"] for r in rows] == sorted(ids)
    rows, _ = await follow(api, "office", "/api/v1/suggestions", overdue="true", year="2025")
    assert rows == []


async def test_the_deputy_and_office_pages_show_their_lists(api, system, suggestions):
    """The web pages read one page (at most 500) of these lists (the browser tests exercise
    them with Chromium; this runs without it)."""
    app: IntakeApplication = system.app("intake")
    held = post(app, system, "需要代表认领的留言")
    r = await api.post("deputy-1", f"/api/v1/messages/{held}/claim")
    assert r.status_code == 200
    client = api.client
    # (both pages list twenty or ten at a time: an older suggestion is found by search)
    for user, page, shown in (("deputy-2", "/app/deputy?q=加装电梯第40号", "加装电梯第40号"),
                              ("deputy-1", "/app/deputy", "需要代表认领的留言"),
                              ("office", "/app/office/inbox?q=道路维修第149号", "道路维修第149号")):
        client.cookies.clear()
        await client.get("/app/login")
        csrf = client.cookies.get("duty_csrf")
        r = await client.post("/app/login", data={"username": user, "password": user},
                              headers={"X-CSRF-Token": csrf})
        assert r.status_code == 303, r.text
        r = await client.get(page)
        assert r.status_code == 200 and shown in r.text, (user, page)
    client.cookies.clear()


@pytest.mark.slow
def test_a_bigger_store_pages_searches_and_restarts_from_its_position(store):
    """3,000 suggestions and 3,000 messages recorded through intake's own application: both
    lists page to the end, search finds by words, and a new process reads only the tail."""
    from shared.read_store import ReadModels
    from shared.clock import ManualClock
    from services.intake.read_models import ListMessages, ListSuggestions
    from tests.harness import scratch_settings

    settings = scratch_settings(store, "intake_big")
    clock = ManualClock()
    system = SimpleNamespace(clock=clock)  # what submit() and post() move
    app = IntakeApplication(settings, clock=clock)
    try:
        models = ReadModels(app, app.views, [app.suggestions_view, app.messages_view])
        models.start()
        words = ["路灯", "垃圾", "电梯", "停车", "噪音", "绿化"]
        for i in range(3000):
            submit(app, system, i, lead=1 + i % 3, title=f"{words[i % 6]}问题第{i}号")
            post(app, system, f"关于{words[(i + 1) % 6]}的留言第{i}号")
        app.suggestions_view.catch_up()
        app.messages_view.catch_up()
        now = clock.now()
        seen, cursor = [], None
        while True:
            found = app.suggestions_view.query(ListSuggestions(limit=500, cursor=cursor), now)
            assert found["total"] == 3000
            seen += [r["id"] for r in found["items"]]
            cursor = found["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 3000
        found = app.suggestions_view.query(ListSuggestions(q="电梯问题", limit=10), now)
        assert found["total"] == 500 and len(found["items"]) == 10
        found = app.messages_view.query(ListMessages(q="电梯的留言", limit=10), now)
        assert found["total"] == 500
        assert all("电梯的留言" in r["content"] for r in found["items"])
        position = app.messages_view.position
    finally:
        app.close()

    app = IntakeApplication(settings, clock=clock)
    try:
        assert app.messages_view.ready and app.messages_view.position == position
        models = ReadModels(app, app.views, [app.suggestions_view, app.messages_view])
        models.start()
        assert models.builds == {}  # nothing built again
        post(app, system, "重启以后的留言")
        assert app.messages_view.catch_up() == 1  # the tail only
        found = app.messages_view.query(ListMessages(q="重启以后", limit=10), clock.now())
        assert [r["content"] for r in found["items"]] == ["重启以后的留言"]
    finally:
        app.close()

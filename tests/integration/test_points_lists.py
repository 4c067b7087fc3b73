"""Points' lists at city scale, on the real system (real nats-server, SQLite and PostgreSQL):
activities, a deputy's ledger lines, rankings and recalculations page with opaque cursors
(follow Link to the end: every row once, in a stable order, X-Total-Count right), filters and
Chinese word search compose with paging, ``year=`` selects, bad cursors and limits are 422;
the read models are tables that a restart follows from their stored position; the
duty-points export streams page by page.

Objects are made through points' own application (its commands and ledgers), as the
service makes them."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from services.gateway.deps import Services
from services.points.application import ActivityRef, PointsApplication, SubmitActivity
from services.points.read_models import PointsViews
from shared.clock import CHINA_TZ, ManualClock
from shared.eventstore import Actor
from tests.harness import scratch_settings

OFFICE = Actor("office", "office")
PLACES = ["东山街道", "西湖社区", "南门广场", "北城小学"]


async def follow(api, user: str, path: str, **params: Any) -> tuple[list[dict], list[int]]:
    """Every page of a list by its Link headers: the rows and each page's X-Total-Count."""
    r = await api.get(user, path, **params)
    rows, totals = [], []
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body if isinstance(body, list) else body.get("lines", body.get("rows"))
        totals.append(int(r.headers["X-Total-Count"]))
        link = r.headers.get("Link")
        if not link:
            return rows, totals
        url = link[1:link.index(">")]
        r = await api.client.get(url, headers=await api.login(user))


def submit_activities(app: PointsApplication, count: int, year: int = 2026) -> list[dict]:
    made = []
    for i in range(count):
        deputy = f"deputy-{i % 3 + 1}"
        actor = Actor(deputy, "deputy", deputy_id=deputy)
        on = date(year, 1, 1) + timedelta(days=i % 60)
        made.append(app.submit_activity(SubmitActivity(
            deputy_id=deputy, kind="training" if i % 2 else "reception_day", date=on,
            description=f"在{PLACES[i % 4]}接待群众第{i}次"), actor))
    return made


async def test_activities_page_filter_search_and_year(api, system):
    app = system.app("points")
    made = submit_activities(app, 150)
    for a in made[:40]:
        app.approve_activity(ActivityRef(activity_id=a["id"]), OFFICE)

    rows, totals = await follow(api, "office", "/api/v1/activities", limit=17)
    assert sorted(r["id"] for r in rows) == sorted(a["id"] for a in made)  # each once
    keys = [(r["date"], r["submitted_at"], r["id"]) for r in rows]
    assert keys == sorted(keys) and set(totals) == {150}

    # filters compose with paging
    rows, totals = await follow(api, "office", "/api/v1/activities", limit=7,
                                status="approved", deputy_id="deputy-2")
    expected = {a["id"] for a in made[:40] if a["deputy_id"] == "deputy-2"}
    assert {r["id"] for r in rows} == expected and set(totals) == {len(expected)}
    # a deputy sees only their own, paged
    rows, _ = await follow(api, "deputy-3", "/api/v1/activities", limit=9)
    assert {r["deputy_id"] for r in rows} == {"deputy-3"} and len(rows) == 50

    # q: words of the description in Chinese (3+ characters: trigram index; shorter: LIKE)
    rows, totals = await follow(api, "office", "/api/v1/activities", q="西湖社区", limit=10)
    assert len(rows) == 150 // 4 + (1 if 150 % 4 > 1 else 0) == totals[0]
    assert all("西湖社区" in r["description"] for r in rows)
    rows, _ = await follow(api, "office", "/api/v1/activities", q="南门", status="approved")
    assert {r["id"] for r in rows} == {a["id"] for a in made[:40] if "南门" in a["description"]}
    rows, _ = await follow(api, "office", "/api/v1/activities", q="第7次 东山")
    assert [r["description"] for r in rows] == []  # 第7次 is at 西湖社区... both words needed
    rows, _ = await follow(api, "office", "/api/v1/activities", q="第8次 东山")
    assert [r["description"] for r in rows] == ["在东山街道接待群众第8次"]

    # year: the activity date's; default this year (the clock's, 2026); all
    old = submit_activities(app, 5, year=2025)
    assert len((await follow(api, "office", "/api/v1/activities", limit=500))[0]) == 150
    rows, _ = await follow(api, "office", "/api/v1/activities", year=2025)
    assert {r["id"] for r in rows} == {a["id"] for a in old}
    assert len((await follow(api, "office", "/api/v1/activities", year="all"))[0]) == 155

    # bad cursors and limits
    assert (await api.get("office", "/api/v1/activities", cursor="nonsense")).status_code == 422
    assert (await api.get("office", "/api/v1/activities", limit=501)).status_code == 422
    assert (await api.get("office", "/api/v1/activities", year="20x6")).status_code == 422
    r = await api.get("office", "/api/v1/points/recalculations", limit=1)
    assert r.status_code == 200 and r.json() == []


def award_lines(app: PointsApplication, deputy: str, count: int, year: int = 2026) -> None:
    ledger = app.ledger(deputy, year)
    at = datetime(year, 3, 1, 9, tzinfo=CHINA_TZ)
    for i in range(count):
        ledger.award(points=0.5 if i % 2 else 1.0, cause_kind="message_answered",
                     cause_ref=f"{deputy}-m-{i}", case_id=f"{deputy}-m-{i}",
                     rule_version="2026.1", awarded_at=at,
                     details={"station_id": "station-fengjie"})
    app.save(ledger)


async def test_a_deputys_lines_and_the_rankings_page(api, system):
    app = system.app("points")
    award_lines(app, "deputy-2", 230)
    award_lines(app, "deputy-1", 3)

    r = await api.get("office", "/api/v1/deputies/deputy-2/points", year=2026)
    body = r.json()
    assert body["total"] == 115 * 1.0 + 115 * 0.5 and body["lines_total"] == 230
    assert body["by_cause"] == {"message_answered": 172.5}
    assert len(body["lines"]) == 50 and body["lines_next_cursor"]
    lines, totals = await follow(api, "office", "/api/v1/deputies/deputy-2/points",
                                 year=2026, limit=40)
    assert [l["line_no"] for l in lines] == list(range(1, 231)) and set(totals) == {230}
    assert lines == app.ledger("deputy-2", 2026).lines  # the table shows the ledger's lines
    r = await api.get("office", "/api/v1/deputies/deputy-2/points", cursor="nonsense")
    assert r.status_code == 422

    rows, totals = await follow(api, "deputy-3", "/api/v1/rankings", year=2026, limit=2)
    assert [(r["deputy_id"], r["rank"]) for r in rows][:2] == [("deputy-2", 1), ("deputy-1", 2)]
    # the rest have no points: they share rank 3 on every page (并列)
    assert [r["rank"] for r in rows] == [1, 2] + [3] * (len(rows) - 2)
    assert len(rows) == totals[0]
    assert len({r["deputy_id"] for r in rows}) == len(rows)
    assert all(r["tied_on_points"] for r in rows[2:])  # the rest have 0 points
    assert (await api.get("office", "/api/v1/rankings", limit=501)).status_code == 422


async def test_the_points_export_streams_page_by_page(api, system, monkeypatch):
    app = system.app("points")
    for d in range(1, 6):  # 20,000 lines: 5 deputies x 4,000
        for _ in range(4):
            award_lines(app, f"deputy-{d}", 1000)
    await asyncio.to_thread(system.runtimes["points"].catch_up)  # not within a request's 3 s
    calls: list[dict] = []
    real = Services._request  # every request the gateway sends, typed or by name

    async def counted(self, service, command, payload, principal, timeout):
        if command == "ledger_lines":
            calls.append(dict(payload or {}))
        return await real(self, service, command, payload, principal, timeout)

    monkeypatch.setattr(Services, "_request", counted)
    # 40 pages of 500 lines, each page a request: on a busy machine one may take over the
    # fixture's 3 s (a timeout here would measure the machine, not the streaming)
    api.app.state.services.timeout = 15
    token = (await api.login("office"))["Authorization"].split()[1]
    headers = {"Cookie": f"duty_session={token}"}  # the web application's session
    buffer = io.BytesIO()
    async with api.client.stream("GET", "/app/exports/points.csv", params={"year": 2026},
                                 headers=headers) as r:
        assert r.status_code == 200, await r.aread()
        async for chunk in r.aiter_bytes():
            buffer.write(chunk)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue().decode("utf-8-sig"))))
    assert len(rows) == 20_000
    assert len({(r["代表ID"], r["行号"]) for r in rows}) == 20_000  # every line once
    assert len(calls) == 40 and all(c["limit"] == 500 for c in calls)  # one page at a time
    assert calls[0]["cursor"] is None and all(c["cursor"] for c in calls[1:])

    r = await api.client.get("/app/exports/points.xlsx", params={"year": 2026, "group": "城建环保组"},
                             headers=headers)
    assert r.status_code == 200
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    ids = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert ids == {"deputy-1", "deputy-3"}


def test_a_restart_applies_only_the_tail(store):
    settings = scratch_settings(store, "ptl")
    clock = ManualClock(datetime(2026, 3, 20, 9, tzinfo=CHINA_TZ))
    app = PointsApplication(settings, clock=clock)
    views = app.views = PointsViews(app)
    try:
        views.start()
        submit_activities(app, 30)
        award_lines(app, "deputy-1", 20)
        assert views.catch_up() > 0
        position = views.lines.position
    finally:
        views.close()
        app.close()

    app = PointsApplication(settings, clock=clock)
    views = app.views = PointsViews(app)
    try:
        assert all(p.ready and p.position == position for p in views.read_models.projections)
        seen: list[int] = []
        real = views.lines.apply
        views.lines.apply = lambda e, n: (seen.append(n), real(e, n))  # type: ignore
        views.start()
        award_lines(app, "deputy-1", 2)
        views.catch_up()
        assert seen and min(seen) > position  # the tail only
        summary = views.lines.summary("deputy-1", 2026)
        assert summary["lines"] == 22
    finally:
        views.close()
        app.close()

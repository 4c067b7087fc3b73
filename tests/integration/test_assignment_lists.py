"""Assignment's lists at scale: the persisted task index pages the units' workload (units, and
a unit's open tasks by deadline, found by number or words of the title) and the bus list of
tasks, filters by the year a task was assigned, refuses foreign cursors and over-large pages, and a restart applies only the tail of
the log. A case's audit history pages across the four services (each once, in order), its
verification is a bounded summary and its export is gathered page by page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager

from services.assignment.domain import Task
from services.gateway.app import GatewaySettings, create_app
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.intake import SuggestionRegisteredV1
from tests.harness import InProcessSystem, build, eventually, rpc
from tests.integration.conftest import Api

# category → lead unit (and co units) by config/routing.yaml, all automatic
CATEGORIES = {"urban_construction": ("unit-a", []), "ecology": ("unit-c", ["unit-a"]),
              "livelihood": ("unit-b", [])}
TITLES = ("修缮社区道路", "治理河道污染", "增设养老服务站", "老旧小区加装电梯")


@pytest.fixture
async def assignment(fresh_nats, store) -> AsyncIterator[InProcessSystem]:
    """Assignment alone on the bus (with accounts, for signing in), its clock in December 2025."""
    system = InProcessSystem(fresh_nats.url, store,
                             clock=ManualClock(datetime(2025, 12, 1, 9, tzinfo=CHINA_TZ)))
    await system.start("assignment", "accounts")  # accounts: the gateway signs users in there
    yield system
    await system.stop()


@pytest.fixture
async def gateway(assignment) -> AsyncIterator[Api]:
    app = create_app(GatewaySettings(nats_url=assignment.nats_url, rpc_timeout_seconds=10.0))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Api(client)


def open_cases(app: Any, count: int, start: int) -> None:
    """Registrations as intake publishes them, handled by assignment's own application (its
    routing rules assign automatically)."""
    for i in range(start, start + count):
        category = list(CATEGORIES)[i % len(CATEGORIES)]
        event = SuggestionRegisteredV1(
            event_id=f"intake:{i}", case_id=str(uuid4()), occurred_at=app.clock.now(),
            actor={"username": "office", "role": "office"}, source_service="intake",
            source_notification_id=i, number=f"{app.clock.now().year}-{i:04d}",
            title=f"{TITLES[i % len(TITLES)]}（第{i}件）", category=category, urgency="blue",
            lead_deputy_id="deputy-1")
        app.save(*app.on_suggestion_registered(event))


def expected_tasks(app: Any, unit_id: str, year: int | None) -> int:
    """Open tasks of a unit from the store itself (every Task aggregate)."""
    count = 0
    for notification in app.recorder.select_notifications(start=1, limit=100_000):
        event = app.mapper.to_domain_event(notification)
        if isinstance(event, Task.Assigned) and event.unit_id == unit_id and \
                (year is None or event.assigned_at.astimezone(CHINA_TZ).year == year):
            count += 1
    return count


async def follow(api: Api, user: str, path: str, field: str | None = None,
                 **params: Any) -> tuple[list[Any], list[str]]:
    """Every page of a list by its Link headers: the rows, and each page's X-Total-Count."""
    rows: list[Any] = []
    totals: list[str] = []
    r = await api.get(user, path, **params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        page = body[field] if field else body
        assert len(page) <= params.get("limit", 50)
        rows += page
        totals.append(r.headers.get("X-Total-Count"))
        link = r.links.get("next")
        if not link:
            return rows, totals
        r = await api.client.get(link["url"], headers=await api.login(user))


async def populated(assignment: InProcessSystem) -> Any:
    app = assignment.app("assignment")
    await asyncio.to_thread(open_cases, app, 45, 1)  # December 2025
    assignment.clock.advance(timedelta(days=91))  # 2 March 2026
    await asyncio.to_thread(open_cases, app, 120, 100)
    return app


async def test_a_units_open_tasks_page_in_deadline_order_by_year(assignment, gateway):
    app = await populated(assignment)
    api = gateway
    for year, expected in ((None, expected_tasks(app, "unit-a", 2026)),
                           ("2025", expected_tasks(app, "unit-a", 2025)),
                           ("all", expected_tasks(app, "unit-a", None))):
        params = {"limit": 17, **({"year": year} if year else {})}
        tasks, totals = await follow(api, "office", "/api/v1/units/unit-a/workload", "tasks",
                                     **params)
        keys = [(t["deadline"] or "9999-12-31", t["task_id"]) for t in tasks]
        assert keys == sorted(keys) and len(set(keys)) == len(keys) == expected > 17
        assert set(totals) == {str(expected)}
        assert all(t["unit_id"] == "unit-a" and "working_days_left" in t for t in tasks)
        if year == "2025":
            assert all(t["assigned_at"].startswith("2025") for t in tasks)
        one = (await api.get("office", "/api/v1/units/unit-a/workload", **params)).json()
        assert one["open_tasks"] == expected
        assert one["nearest_deadlines"] == tasks[:5]
        assert one["nearest_deadline"] == tasks[0]["deadline"]
    # A unit sees its own; the same page as the office sees.
    own = await api.get("unit-a", "/api/v1/units/unit-a/workload", limit=5)
    assert own.status_code == 200 and len(own.json()["tasks"]) == 5
    assert (await api.get("unit-a", "/api/v1/units/unit-b/workload")).status_code == 403


async def test_a_units_open_tasks_are_found_by_words_of_the_title_or_the_number(assignment,
                                                                             gateway):
    await populated(assignment)
    every, _ = await follow(gateway, "office", "/api/v1/units/unit-a/workload", "tasks",
                            limit=500, year="all")
    for q in ("河道污染", "养老", "2026-01", "第10"):  # FTS (3+ characters) and LIKE (2)
        expected = [t["task_id"] for t in every if q in t["title"] or q in (t["number"] or "")]
        found, totals = await follow(gateway, "office", "/api/v1/units/unit-a/workload",
                                     "tasks", limit=4, year="all", q=q)
        assert [t["task_id"] for t in found] == expected and expected, q
        assert set(totals) == {str(len(expected))}
    r = await gateway.get("office", "/api/v1/units/unit-a/workload", q="不存在的标题")
    assert r.json()["tasks"] == [] and r.headers["X-Total-Count"] == "0"


async def test_the_units_list_pages_over_units_with_their_counts(assignment, gateway):
    app = await populated(assignment)
    units, totals = await follow(gateway, "office", "/api/v1/units/workload", "units",
                                 limit=3, nearest=2, year="all")
    assert [u["unit_id"] for u in units] == ["unit-a", "unit-b", "unit-c", "unit-d"]
    assert set(totals) == {"4"}
    counts = {u["unit_id"]: u["open_tasks"] for u in units}
    assert counts == {u: expected_tasks(app, u, None) for u in counts}
    assert all(len(u["nearest_deadlines"]) == min(2, u["open_tasks"]) for u in units)
    this_year = (await gateway.get("office", "/api/v1/units/workload")).json()
    assert this_year["year"] == 2026
    assert {u["unit_id"]: u["open_tasks"] for u in this_year["units"]} == \
        {u: expected_tasks(app, u, 2026) for u in counts}
    a = next(u for u in this_year["units"] if u["unit_id"] == "unit-a")
    assert (a["lead_tasks"] + a["co_tasks"], a["overdue"]) == (a["open_tasks"], 0)


async def test_bad_cursors_large_pages_and_bad_years_are_refused(assignment, gateway):
    await populated(assignment)
    api = gateway
    for path in ("/api/v1/units/workload", "/api/v1/units/unit-a/workload"):
        assert (await api.get("office", path, cursor="not-a-cursor")).status_code == 422
        assert (await api.get("office", path, limit=501)).status_code == 422
        assert (await api.get("office", path, year="20x6")).status_code == 422
    # a cursor of the units list is not one of a unit's task list
    first = await api.get("office", "/api/v1/units/workload", limit=1)
    cursor = first.links["next"]["url"].split("cursor=")[1]
    r = await api.get("office", "/api/v1/units/unit-a/workload", cursor=cursor)
    assert r.status_code == 422


async def test_the_bus_list_of_tasks_pages_and_filters(assignment):
    app = await populated(assignment)
    url = assignment.nats_url
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await rpc(url, "assignment", "list_tasks",
                      {"limit": 40, "cursor": cursor, "year": "all", "unit_id": "unit-a"})
        assert r["ok"], r
        seen += r["result"]["items"]
        cursor = r["result"]["next_cursor"]
        if not cursor:
            break
    assert len({t["task_id"] for t in seen}) == len(seen) == r["result"]["total"] \
        == expected_tasks(app, "unit-a", None)
    unit = {"username": "unit-b", "role": "unit", "unit_id": "unit-b"}
    r = await rpc(url, "assignment", "list_tasks", {"unit_id": "unit-a", "limit": 500}, unit)
    assert {t["unit_id"] for t in r["result"]["items"]} == {"unit-b"}
    case_id = seen[0]["case_id"]
    r = await rpc(url, "assignment", "list_tasks", {"case_id": case_id, "year": 1999})
    assert r["result"]["items"] == []
    r = await rpc(url, "assignment", "list_tasks", {"case_id": case_id})  # a case: all years
    assert {t["case_id"] for t in r["result"]["items"]} == {case_id}
    assert (await rpc(url, "assignment", "list_tasks", {"limit": 501}))["status"] == 422


async def test_a_restart_applies_only_the_tail_of_the_log(assignment):
    app = await populated(assignment)
    head = app.max_notification_id()
    assert (await rpc(assignment.nats_url, "assignment", "list_tasks", {}))["ok"]
    await assignment.stop("assignment")

    runtime = build("assignment", assignment.settings(), clock=assignment.clock)
    index = runtime.read_models.projections[0]
    try:
        assert index.ready and index.position == head  # kept with the tables
        open_cases(runtime.app, 3, 500)
        applied: list[int] = []
        real = index.apply

        def counting(event: Any, notification_id: int) -> None:
            applied.append(notification_id)
            real(event, notification_id)

        index.apply = counting  # type: ignore[method-assign]
        await runtime.start()
        assert applied and min(applied) == head + 1  # the tail only
        assert index.position == runtime.app.max_notification_id()
        r = await rpc(assignment.nats_url, "assignment", "list_tasks",
                      {"year": "all", "limit": 500})
        assert r["result"]["total"] == expected_tasks(runtime.app, "unit-a", None) + \
            expected_tasks(runtime.app, "unit-b", None) + expected_tasks(runtime.app, "unit-c", None)
    finally:
        await runtime.stop()


# --- a case's history, verification and export (all four services) -------------------------

async def test_a_case_history_pages_across_services_each_entry_once_in_order(api, system):
    from tests.integration.test_supervision import assigned_case

    case_id, task = await assigned_case(api)
    for i in range(6):  # each pause and resume: events in assignment and in supervision
        r = await api.post("office", f"/api/v1/tasks/{task['task_id']}/clock/pause",
                           {"reason": f"等待材料{i}"})
        assert r.status_code == 200, r.text
        r = await api.post("office", f"/api/v1/tasks/{task['task_id']}/clock/resume")
        assert r.status_code == 200, r.text

    async def settled() -> Any:  # supervision and points have followed
        counts = []
        for _ in range(2):
            r = await api.get("office", f"/api/v1/cases/{case_id}/history", limit=1)
            counts.append(r.headers.get("X-Total-Count"))
            await asyncio.sleep(0.5)
        return counts[0] == counts[1]

    await eventually(settled)
    whole = await api.get("office", f"/api/v1/cases/{case_id}/history", limit=500)
    assert whole.status_code == 200 and "Link" not in whole.headers
    everything = whole.json()["events"]
    assert len(everything) == int(whole.headers["X-Total-Count"]) > 30
    assert {e["service"] for e in everything} == {"intake", "assignment", "supervision", "points"}

    paged, totals = [], set()
    r = await api.get("office", f"/api/v1/cases/{case_id}/history", limit=7)
    while True:
        assert r.status_code == 200, r.text
        assert len(r.json()["events"]) <= 7 and r.json()["verified"] is True
        paged += r.json()["events"]
        totals.add(r.headers["X-Total-Count"])
        if "next" not in r.links:
            break
        r = await api.client.get(r.links["next"]["url"], headers=await api.login("office"))
    key = [(e["service"], e["aggregate_id"], e["version"]) for e in paged]
    assert key == [(e["service"], e["aggregate_id"], e["version"]) for e in everything]
    assert len(set(key)) == len(key) and totals == {str(len(everything))}
    times = [e["time"] for e in paged]
    assert times == sorted(times)

    assert (await api.get("office", f"/api/v1/cases/{case_id}/history",
                          cursor="bm90IGEgY3Vyc29y")).status_code == 422
    assert (await api.get("office", f"/api/v1/cases/{case_id}/history",
                          limit=501)).status_code == 422

    verified = (await api.get("office", f"/api/v1/cases/{case_id}/verify")).json()
    assert verified["ok"] is True and verified["broken"] == [] and verified["broken_total"] == 0
    assert verified["chains_total"] == len(verified["chains"]) >= 4
    assert verified["events"] >= len(everything)

    # The export is gathered a page of records at a time: the same records as one big page.
    small, after = {}, None
    while True:
        r = await rpc(system.nats_url, "assignment", "case_records",
                      {"case_id": case_id, "limit": 3, "after": after})
        assert r["ok"], r
        assert sum(len(v) for v in r["result"]["aggregates"].values()) <= 3
        for aggregate_id, records in r["result"]["aggregates"].items():
            small.setdefault(aggregate_id, []).extend(records)
        after = r["result"]["next"]
        if not after:
            break
    export = (await api.get("office", f"/api/v1/cases/{case_id}/export")).json()
    assert small == export["services"]["assignment"]
    assert sum(len(v) for v in small.values()) > 12

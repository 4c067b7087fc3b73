"""Supervision's lists at scale: the persisted tasks and cases page the task list (by the
stored deadline, filters, year of opening, Chinese search), the case ids behind
``/suggestions?unit_id=&overdue=``, the board (every task counted, its case lists capped) and
the statistics of a year; foreign cursors and over-large pages are refused, the deadline
clock's candidates are an indexed query, and a restart applies only the tail of the log.

Supervision runs alone on a real nats-server (both stores); its upstream events are handed to
its application as its consumers would."""

from __future__ import annotations

import asyncio
from html import unescape
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import GatewaySettings, create_app
from services.supervision.application import (CaseRef, RateCase, ReplyToTask,
                                                  SubmitOpinion, TaskNote)
from services.supervision.bootstrap import build_runtime
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.assignment import (TaskAssignedV1, TaskDeadlineChangedV1,
                                         TaskWithdrawnV1)
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import Actor
from tests.harness import InProcessSystem, rpc, service_settings
from tests.integration.conftest import Api

UNITS = ("unit-a", "unit-b", "unit-c")
TITLES = ("修缮社区道路", "治理河道污染", "增设养老服务站", "老旧小区加装电梯")
TODAY = date(2026, 3, 20)
OFFICE = {"username": "office", "role": "office"}


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), CHINA_TZ).replace(hour=10)


def unit_actor(unit_id: str) -> Actor:
    return Actor(username=unit_id, role="unit", unit_id=unit_id)


@pytest.fixture
async def supervision(fresh_nats, store) -> AsyncIterator[InProcessSystem]:
    system = InProcessSystem(fresh_nats.url, store, clock=ManualClock(at(date(2025, 12, 1))))
    await system.start("supervision", "accounts")  # accounts: the gateway signs users in there
    yield system
    await system.stop()


@pytest.fixture
async def gateway(supervision) -> AsyncIterator[Api]:
    app = create_app(GatewaySettings(nats_url=supervision.nats_url, rpc_timeout_seconds=10.0))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Api(client)


class Fixture:
    """What was handed to supervision, to compute the expected answers."""

    def __init__(self, app: Any, clock: ManualClock) -> None:
        self.app = app
        self.clock = clock
        self.tasks: dict[str, dict[str, Any]] = {}
        self.n = 0

    def assign(self, case_id: str, unit_id: str, role: str, deadline: date, title: str,
               number: str, category: str) -> str:
        self.n += 1
        task_id = str(uuid4())
        event = TaskAssignedV1(
            event_id=f"assignment:{self.n}", case_id=case_id, occurred_at=self.clock.now(),
            actor={"username": "office", "role": "office"}, source_service="assignment",
            source_notification_id=self.n, task_id=task_id, unit_id=unit_id, role=role,
            assigned_at=self.clock.now(), deadline=deadline, title=title, category=category,
            urgency="blue", number=number)
        self.app.save(*self.app.on_task_assigned(event))
        self.tasks[task_id] = {"task_id": task_id, "case_id": case_id, "unit_id": unit_id,
                               "role": role, "deadline": deadline, "title": title,
                               "number": number, "category": category,
                               "year": self.clock.now().year, "status": "open"}
        return task_id

    def withdraw(self, task_id: str) -> None:
        self.n += 1
        t = self.tasks[task_id]
        self.app.save(*self.app.on_task_withdrawn(TaskWithdrawnV1(
            event_id=f"assignment:{self.n}", case_id=t["case_id"], occurred_at=self.clock.now(),
            actor={"username": "office", "role": "office"}, source_service="assignment",
            source_notification_id=self.n, task_id=task_id, unit_id=t["unit_id"],
            reason="职责不符")))
        t["status"] = "withdrawn"

    def move_deadline(self, task_id: str, deadline: date) -> None:
        self.n += 1
        t = self.tasks[task_id]
        self.app.save(*self.app.on_task_deadline_changed(TaskDeadlineChangedV1(
            event_id=f"assignment:{self.n}", case_id=t["case_id"], occurred_at=self.clock.now(),
            actor={"username": "office", "role": "office"}, source_service="assignment",
            source_notification_id=self.n, task_id=task_id, unit_id=t["unit_id"],
            paused=False, deadline=deadline)))
        t["deadline"] = deadline

    def reply(self, task_id: str) -> None:
        t = self.tasks[task_id]
        actor = unit_actor(t["unit_id"])
        self.app.record_contact(TaskNote(task_id=task_id, note="已电话联系代表"), actor)
        self.app.reply(ReplyToTask(task_id=task_id, result_class="A", text="已办理"), actor)
        t["status"] = "replied"

    def red(self, t: dict[str, Any]) -> bool:
        return t["status"] == "open" and t["deadline"] < TODAY

    def live(self, **where: Any) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if t["status"] != "withdrawn"
                and all(t[k] == v for k, v in where.items())]


def populate(system: InProcessSystem) -> Fixture:
    """40 cases opened in December 2025 (deadlines in January: overdue by 20 March) and 120
    in March 2026, every fourth with a co-handling unit; a tenth of the 2026 lead tasks
    withdrawn, a seventh replied on 4 March; the clock then on 20 March 2026."""
    f = Fixture(system.app("supervision"), system.clock)
    for i in range(1, 41):
        f.assign(str(uuid4()), UNITS[i % 3], "lead", date(2026, 1, 5) + timedelta(days=i % 10),
                 f"{TITLES[i % 4]}（第{i}件）", f"2025-{i:04d}",
                 "livelihood" if i % 2 else "ecology")
    system.clock.set(at(date(2026, 3, 2)))
    leads = []
    for i in range(1, 121):
        case_id = str(uuid4())
        title, category = f"{TITLES[i % 4]}（第{i}件）", "livelihood" if i % 2 else "ecology"
        lead_unit = UNITS[i % 3]
        leads.append(f.assign(case_id, lead_unit, "lead",
                              date(2026, 3, 9) + timedelta(days=i % 40), title,
                              f"2026-{i:04d}", category))
        if i % 4 == 0:
            f.assign(case_id, "unit-a" if lead_unit != "unit-a" else "unit-b", "co",
                     date(2026, 3, 9) + timedelta(days=i % 40), title, f"2026-{i:04d}",
                     category)
    for i, task_id in enumerate(leads):
        if i % 10 == 3:
            f.withdraw(task_id)
    system.clock.set(at(date(2026, 3, 4)))
    for i, task_id in enumerate(leads):
        if i % 7 == 2 and f.tasks[task_id]["status"] == "open":
            f.reply(task_id)
    system.clock.set(at(TODAY))
    return f


async def populated(system: InProcessSystem) -> Fixture:
    return await asyncio.to_thread(populate, system)


async def follow(api: Api, user: str, path: str, **params: Any) -> tuple[list[Any], set[str]]:
    """Every page of a list by its Link headers: the rows, and the X-Total-Counts seen."""
    rows: list[Any] = []
    totals: set[str] = set()
    r = await api.get(user, path, **params)
    while True:
        assert r.status_code == 200, r.text
        assert len(r.json()) <= params.get("limit", 50)
        rows += r.json()
        totals.add(r.headers.get("X-Total-Count"))
        link = r.links.get("next")
        if not link:
            return rows, totals
        r = await api.client.get(link["url"], headers=await api.login(user))


async def test_tasks_page_by_deadline_with_filters_years_and_search(supervision, gateway):
    f = await populated(supervision)
    api = gateway
    cases = [
        ({}, [t for t in f.tasks.values() if t["year"] == 2026]),
        ({"year": "2025"}, [t for t in f.tasks.values() if t["year"] == 2025]),
        ({"year": "all"}, list(f.tasks.values())),
        ({"unit_id": "unit-b"}, [t for t in f.tasks.values()
                                 if t["year"] == 2026 and t["unit_id"] == "unit-b"]),
        ({"status": "withdrawn", "year": "all"}, [t for t in f.tasks.values()
                                                  if t["status"] == "withdrawn"]),
        ({"unit_id": "unit-a", "status": "replied"},
         [t for t in f.tasks.values() if t["unit_id"] == "unit-a" and t["status"] == "replied"]),
    ]
    for params, expected in cases:
        rows, totals = await follow(api, "office", "/api/v1/tasks", limit=23, **params)
        keys = [(r["deadline"], r["task_id"]) for r in rows]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), params
        assert {r["task_id"] for r in rows} == {t["task_id"] for t in expected}, params
        assert totals == {str(len(expected))}, params
    assert len(f.tasks) > 150

    # The colour and deadline of each row are the task's own (its aggregate's view).
    app = supervision.app("supervision")
    rows, _ = await follow(api, "office", "/api/v1/tasks", limit=500, year="all")
    for row in rows:
        view = app.task_view(app._task(row["task_id"]))
        assert (row["colour"], row["deadline"], row["status"], row["working_days_left"]) == \
            (view["colour"], view["deadline"], view["status"], view["working_days_left"])
    assert {r["colour"] for r in rows} >= {"red", "green", "withdrawn"}

    # By task id; a cursor of the other order is refused.
    by_id, totals = await follow(api, "office", "/api/v1/tasks", limit=40, order="task_id",
                                 year="all")
    assert [r["task_id"] for r in by_id] == sorted(f.tasks) and totals == {str(len(f.tasks))}
    first = await api.get("office", "/api/v1/tasks", limit=5)
    cursor = httpx.URL(first.links["next"]["url"]).params["cursor"]
    r = await api.get("office", "/api/v1/tasks", limit=5, order="task_id", cursor=cursor)
    assert r.status_code == 422, r.text
    assert (await api.get("office", "/api/v1/tasks", cursor="not-a-cursor")).status_code == 422
    assert (await api.get("office", "/api/v1/tasks", limit=501)).status_code == 422
    assert (await api.get("office", "/api/v1/tasks", year="26")).status_code == 422

    # Search in Chinese: words of the title (3+ characters, and 2), or the number.
    elevator = {t["task_id"] for t in f.tasks.values() if "加装电梯" in t["title"]}
    for q in ("加装电梯", "电梯"):
        found, totals = await follow(api, "office", "/api/v1/tasks", limit=9, q=q, year="all")
        assert {r["task_id"] for r in found} == elevator and totals == {str(len(elevator))}
    found, _ = await follow(api, "office", "/api/v1/tasks", q="第12件", unit_id="unit-a",
                            year="all")
    assert {r["task_id"] for r in found} == {
        t["task_id"] for t in f.tasks.values() if "（第12件）" in t["title"]
        and t["unit_id"] == "unit-a"}
    found, _ = await follow(api, "office", "/api/v1/tasks", q="2025-0007")
    assert found == []  # opened in 2025: not this year's
    found, _ = await follow(api, "office", "/api/v1/tasks", q="2025-0007", year="2025")
    assert [r["number"] for r in found] == ["2025-0007"]

    # A case's tasks: every year of the case.
    old = next(t for t in f.tasks.values() if t["year"] == 2025)
    found, _ = await follow(api, "office", "/api/v1/tasks", case_id=old["case_id"])
    assert [r["task_id"] for r in found] == [old["task_id"]]

    # A unit sees its own tasks only.
    own, totals = await follow(api, "unit-c", "/api/v1/tasks", limit=50, year="all")
    assert {r["task_id"] for r in own} == {t["task_id"] for t in f.tasks.values()
                                           if t["unit_id"] == "unit-c"}
    assert (await api.get("unit-c", "/api/v1/tasks", unit_id="unit-a")).status_code == 403


async def test_a_moved_deadline_moves_the_task_in_the_list(supervision, gateway):
    f = await populated(supervision)
    task = next(t for t in f.tasks.values() if t["year"] == 2026 and f.red(t))
    old = task["deadline"].isoformat()
    before = (await gateway.get("office", "/api/v1/board")).json()["totals"]
    await asyncio.to_thread(f.move_deadline, task["task_id"], date(2026, 12, 31))
    rows, _ = await follow(gateway, "office", "/api/v1/tasks", limit=500)
    assert rows[-1]["task_id"] == task["task_id"] and rows[-1]["deadline"] == "2026-12-31"
    assert rows[-1]["colour"] == "green"
    keys = [(r["deadline"], r["task_id"]) for r in rows]
    assert keys == sorted(keys)
    after = (await gateway.get("office", "/api/v1/board")).json()["totals"]
    assert (after["red"], after["green"]) == (before["red"] - 1, before["green"] + 1)
    # The board as on a day before the move still has the old deadline.
    then = (await gateway.get("office", "/api/v1/board", as_of="2026-03-19",
                              limit=500)).json()
    [listed] = [c for cell in then["cells"] for c in cell["cases"]
                if c["task_id"] == task["task_id"]]
    assert listed["deadline"] == old


async def test_case_ids_of_a_units_overdue_cases_page_by_case_id(supervision, gateway):
    f = await populated(supervision)
    url = supervision.nats_url

    def expected(unit_id: str | None, overdue: bool | None, year: int | None) -> list[str]:
        by_case: dict[str, bool] = {}
        for t in f.live():
            if (unit_id is None or t["unit_id"] == unit_id) and (year is None
                                                                  or t["year"] == year):
                by_case[t["case_id"]] = by_case.get(t["case_id"], False) or f.red(t)
        return sorted(c for c, red in by_case.items() if overdue is None or red == overdue)

    async def every_page(payload: dict[str, Any], actor: dict[str, Any] = OFFICE
                         ) -> tuple[list[str], set[int]]:
        ids: list[str] = []
        totals: set[int] = set()
        cursor = None
        while True:
            r = await rpc(url, "supervision", "case_ids", {**payload, "cursor": cursor}, actor)
            assert r["ok"], r
            page = r["result"]
            assert len(page["items"]) <= payload["limit"]
            ids += [i["case_id"] for i in page["items"]]
            totals.add(page["total"])
            cursor = page["next_cursor"]
            if not cursor:
                return ids, totals

    for unit_id, overdue, year in ((None, None, "all"), ("unit-b", True, None),
                                   ("unit-b", False, 2026), ("unit-a", True, 2025),
                                   (None, False, "all"), (None, True, None)):
        want = expected(unit_id, overdue, None if year == "all" else year or 2026)
        ids, totals = await every_page({"unit_id": unit_id, "overdue": overdue, "year": year,
                                        "limit": 7})
        assert ids == want and totals == {len(want)}, (unit_id, overdue, year)
    assert expected("unit-b", True, 2026) and expected("unit-b", False, 2026)

    # A unit asks for its own cases only, whatever it names.
    unit_c = {"username": "unit-c", "role": "unit", "unit_id": "unit-c"}
    ids, _ = await every_page({"unit_id": "unit-a", "overdue": True, "year": "all",
                               "limit": 500}, unit_c)
    assert ids == expected("unit-c", True, None)
    r = await rpc(url, "supervision", "case_ids", {"cursor": "nonsense"})
    assert r["status"] == 422, r
    r = await rpc(url, "supervision", "case_ids", {"limit": 501})
    assert r["status"] == 422, r
    r = await rpc(url, "supervision", "case_ids", {})  # defaults: this year, 50
    assert r["ok"] and len(r["result"]["items"]) == 50
    assert r["result"]["total"] == len(expected(None, None, 2026))


async def test_closed_cases_page_by_case_id(supervision):
    f = Fixture(supervision.app("supervision"), supervision.clock)
    supervision.clock.set(at(date(2026, 3, 2)))

    def close_some() -> list[str]:
        closed = []
        for i in range(12):
            task_id = f.assign(str(uuid4()), UNITS[i % 3], "lead", date(2026, 4, 1),
                               f"建议{i}", f"2026-{i:04d}", "livelihood")
            f.reply(task_id)
            case_id = f.tasks[task_id]["case_id"]
            f.app.close_case(CaseRef(case_id=case_id), Actor(username="office", role="office"))
            closed.append(case_id)
        f.assign(str(uuid4()), "unit-a", "lead", date(2026, 4, 1), "未办结", "2026-0100",
                 "ecology")
        return sorted(closed)

    closed = await asyncio.to_thread(close_some)
    seen, cursor = [], None
    while True:
        r = await rpc(supervision.nats_url, "supervision", "closed_cases",
                      {"limit": 5, "cursor": cursor})
        assert r["ok"] and r["result"]["total"] == 12, r
        seen += r["result"]["items"]
        cursor = r["result"]["next_cursor"]
        if not cursor:
            break
    assert [c["case_id"] for c in seen] == closed
    assert all(c["result_class"] == "A" and c["case_kind"] == "suggestion" for c in seen)
    bare = await rpc(supervision.nats_url, "supervision", "closed_cases")
    assert bare["result"] == seen  # a caller written before lists paged: at most 500


def test_the_colours_of_the_tables_are_the_aggregates_on_every_day(store):
    """Deadlines moved and paused, replies and opinions, re-handling rounds, close-out and
    withdrawals over two months: on each day, the board from the tables counts and lists
    exactly what each task aggregate's own colour and deadline on that day give."""
    clock = ManualClock(at(date(2026, 3, 2)))
    runtime = build_runtime(service_settings("nats://127.0.0.1:1", store), clock=clock)
    app = runtime.app
    f = Fixture(app, clock)
    deputy = Actor(username="deputy-1", role="deputy", deputy_id="deputy-1")
    office = Actor(username="office", role="office")
    try:
        leads, cos = {}, {}
        for i in range(60):
            case_id = str(uuid4())
            f.n += 1
            app.save(*app.on_suggestion_registered(SuggestionRegisteredV1(
                event_id=f"intake:{f.n}", case_id=case_id, occurred_at=clock.now(),
                actor={"username": "office", "role": "office"}, source_service="intake",
                source_notification_id=f.n, number=f"2026-{i:04d}", title=f"建议{i}",
                category="livelihood", urgency="blue", lead_deputy_id="deputy-1")))
            deadline = date(2026, 3, 6) + timedelta(days=i % 45)
            leads[i] = f.assign(case_id, UNITS[i % 3], "lead", deadline, f"建议{i}",
                                f"2026-{i:04d}", "livelihood" if i % 2 else "ecology")
            if i % 3 == 0:
                cos[i] = f.assign(case_id, "unit-c" if i % 2 else "unit-a", "co", deadline,
                                  f"建议{i}", f"2026-{i:04d}", "livelihood" if i % 2
                                  else "ecology")
        clock.set(at(date(2026, 3, 5)))
        for i in range(0, 60, 5):
            f.move_deadline(leads[i], f.tasks[leads[i]]["deadline"] + timedelta(days=10))
        for i in range(0, 60, 10):  # paused: green while the clock stands
            f.n += 1
            t = f.tasks[leads[i]]
            app.save(*app.on_task_deadline_changed(TaskDeadlineChangedV1(
                event_id=f"assignment:{f.n}", case_id=t["case_id"], occurred_at=clock.now(),
                actor={"username": "office", "role": "office"}, source_service="assignment",
                source_notification_id=f.n, task_id=leads[i], unit_id=t["unit_id"],
                paused=True, deadline=t["deadline"])))
        clock.set(at(date(2026, 3, 10)))
        for i in range(0, 60, 3):
            f.reply(leads[i])
        for i, task_id in cos.items():
            if i % 2 == 0:
                app.submit_opinion(SubmitOpinion(task_id=task_id, text="会办意见"),
                                   unit_actor(f.tasks[task_id]["unit_id"]))
        clock.set(at(date(2026, 3, 12)))
        for i in range(0, 60, 3):
            if i % 6 == 0:  # re-handling: a new round with a new deadline
                app.rate(RateCase(case_id=f.tasks[leads[i]]["case_id"],
                                  rating="unsatisfied"), deputy)
            else:
                app.rate(RateCase(case_id=f.tasks[leads[i]]["case_id"], rating="satisfied"),
                         deputy)
        clock.set(at(date(2026, 3, 13)))
        for i in range(3, 60, 6):
            app.close_case(CaseRef(case_id=f.tasks[leads[i]]["case_id"]), office)
        clock.set(at(date(2026, 3, 20)))
        for i in range(1, 60, 7):
            f.withdraw(leads[i])
        clock.set(at(date(2026, 4, 15)))
        for i in [i for i in range(0, 60, 12) if f.tasks[leads[i]]["status"] != "withdrawn"]:
            app.reply(ReplyToTask(task_id=leads[i], result_class="A", text="再次答复"),
                      unit_actor(f.tasks[leads[i]]["unit_id"]))
        clock.set(at(date(2026, 5, 1)))
        runtime.catch_up()
        views = runtime.read_models.projections[0]
        aggregates = [app._task(t) for t in f.tasks]
        for day in (date(2026, 3, 1), date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 11),
                    date(2026, 3, 12), date(2026, 3, 16), date(2026, 3, 25),
                    date(2026, 4, 10), date(2026, 4, 20), date(2026, 5, 1)):
            expected: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
            for task in aggregates:
                colour = app.task_colour(task, day)
                if task.opened_at.date() > day or colour == "withdrawn":
                    continue
                expected.setdefault((task.unit_id, task.category, colour), []).append(
                    (task.deadline_on(day).isoformat(), str(task.id)))
            board = views.board(day, None, limit=500)
            got = {(c["unit_id"], c["category"], c["colour"]):
                   [(i["deadline"], i["task_id"]) for i in c["cases"]] for c in board["cells"]}
            assert got == {k: sorted(v) for k, v in expected.items()}, day
            assert {c for c in board["totals"] if board["totals"][c]} <= set(
                k[2] for k in expected)
        route = runtime.routes["list_tasks"]
        rows = route.fn(route.model(limit=500, year="all"), office)["items"]
        assert len(rows) == len(aggregates)
        assert {"open", "replied", "closed", "withdrawn"} <= {r["status"] for r in rows}
        assert any(r["round"] == 2 for r in rows) and any(r["paused"] for r in rows)
        for row in rows:
            view = app.task_view(app._task(row["task_id"]))
            assert {k: row[k] for k in row} == {k: view[k] for k in row}
    finally:
        app.close()
        runtime.read_models.store.close()


async def test_the_board_counts_every_task_and_caps_its_lists(supervision, gateway):
    f = await populated(supervision)
    rows, _ = await follow(gateway, "office", "/api/v1/tasks", limit=500, year="all")
    colour = {r["task_id"]: r["colour"] for r in rows}
    for year, tasks in (("all", f.live()), (None, f.live(year=2026)),
                        ("2025", f.live(year=2025))):
        params = {"limit": 3, **({"year": year} if year else {})}
        r = await gateway.get("office", "/api/v1/board", **params)
        assert r.status_code == 200, r.text
        board = r.json()
        assert board["as_of"] == TODAY.isoformat() and board["cases_limit"] == 3
        assert sum(board["totals"].values()) == len(tasks)
        for c in ("green", "yellow", "red", "closed"):
            assert board["totals"][c] == sum(colour[t["task_id"]] == c for t in tasks)
        for cell in board["cells"]:
            members = sorted((t["deadline"].isoformat(), t["task_id"]) for t in tasks
                             if colour[t["task_id"]] == cell["colour"]
                             and t["unit_id"] == cell["unit_id"]
                             and t["category"] == cell["category"])
            assert cell["count"] == len(members)
            assert [(c["deadline"], c["task_id"]) for c in cell["cases"]] == members[:3]
        red = sorted((t["deadline"].isoformat(), t["task_id"]) for t in tasks
                     if colour[t["task_id"]] == "red")
        assert board["overdue_count"] == len(red) > 3
        assert [(c["deadline"], c["task_id"]) for c in board["overdue"]] == red[:3]
        for unit_id in UNITS:
            assert sum(board["by_unit"][unit_id].values()) == len(
                [t for t in tasks if t["unit_id"] == unit_id])
    default = (await gateway.get("office", "/api/v1/board")).json()
    assert default["cases_limit"] == 50 and len(default["overdue"]) == min(
        50, default["overdue_count"])
    assert (await gateway.get("office", "/api/v1/board", limit=501)).status_code == 422
    unit = (await gateway.get("unit-b", "/api/v1/board", year="all")).json()
    assert set(unit["by_unit"]) == {"unit-b"}


async def test_the_web_board_and_the_units_inbox_show_full_counts_and_capped_lists(
        supervision, gateway):
    f = await populated(supervision)
    await supervision.start("intake", "assignment")  # the pages' names of units, categories
    supervision.clock.set(at(date(2026, 4, 30)))  # past every 2026 deadline: most are red
    board = (await gateway.get("office", "/api/v1/board")).json()

    async def page(user: str, path: str) -> str:
        token = (await gateway.login(user))["Authorization"].split()[1]
        r = await gateway.client.get(path, cookies={"duty_session": token})
        assert r.status_code == 200, r.text
        return r.text

    html = await page("office", "/app/board")
    assert f"超期清单（{board['overdue_count']}）" in html and board["overdue_count"] > 50
    assert "仅列出时限最早的 50 件" in html
    assert f'<strong id="total-red">{board["totals"]["red"]}</strong>' in html
    # the unit's inbox: every task still to act on is on a page of its tab (pages of 20,
    # followed by their 下一页 links), and no closed one is among them
    shown: set[str] = set()
    pages = 0
    for tab in ("open", "signed_for", "replied"):
        path: str | None = f"/app/unit?status={tab}"
        while path:
            inbox = await page("unit-b", path)
            pages += 1
            shown |= set(re.findall(r'data-task="([^"]+)"', inbox))
            more = re.search(r'href="([^"]+)" id="next-page"', inbox)
            path = unescape(more.group(1)) if more else None
    assert shown == {t["task_id"] for t in f.live(unit_id="unit-b") if t["status"] != "closed"}
    assert pages > 3  # some tab had more than one page


async def test_statistics_of_a_year_and_of_a_period(supervision, gateway):
    f = await populated(supervision)
    replied = [t for t in f.tasks.values() if t["status"] == "replied"]
    year = (await gateway.get("office", "/api/v1/stats")).json()
    assert year["from"] == "2026-01-01" and year["to"] == "2026-12-31"
    assert year["cases"] == len(replied) > 0 and year["on_time_reply_rate"] == 1.0
    period = (await gateway.get("office", "/api/v1/stats",
                                **{"from": "2026-01-01", "to": "2026-12-31"})).json()
    assert period == year
    assert (await gateway.get("office", "/api/v1/stats", year="2025")).json()["cases"] == 0
    assert (await gateway.get("office", "/api/v1/stats", year="all")).json()["cases"] == \
        len(replied)
    r = await gateway.get("office", "/api/v1/stats", year="2026", **{"from": "2026-01-01",
                                                                     "to": "2026-02-01"})
    assert r.status_code == 422
    assert (await gateway.get("office", "/api/v1/stats", to="2026-02-01")).status_code == 422


async def test_the_deadline_clock_asks_only_for_what_is_due(supervision, gateway):
    await populated(supervision)
    runtime = supervision.runtimes["supervision"]
    views = runtime.read_models.projections[0]
    sweep = runtime.routes["sweep_now"]
    runtime.catch_up()
    due = views.tasks_to_sweep(TODAY, None, limit=500)
    assert due  # the overdue tasks and those near their deadline
    first = sweep.fn(sweep.model(), Actor(username="office", role="office"))["recorded"]
    assert first == len(due)
    runtime.catch_up()
    assert views.tasks_to_sweep(TODAY, None) == []
    assert sweep.fn(sweep.model(), Actor(username="office", role="office"))["recorded"] == 0


def test_a_restart_reads_only_the_tail_of_the_log(store):
    settings = service_settings("nats://127.0.0.1:1", store)
    clock = ManualClock(at(date(2026, 3, 2)))
    runtime = build_runtime(settings, clock=clock)
    try:
        f = Fixture(runtime.app, clock)
        for i in range(30):
            f.assign(str(uuid4()), UNITS[i % 3], "lead", date(2026, 4, 1), f"建议{i}",
                     f"2026-{i:04d}", "livelihood")
        runtime.catch_up()
        position = runtime.read_models.projections[0].position
        assert position == runtime.app.max_notification_id() > 0
    finally:
        runtime.app.close()
        runtime.read_models.store.close()

    again = build_runtime(settings, clock=clock)
    try:
        views = again.read_models.projections[0]
        assert views.ready and views.position == position  # nothing read at start
        seen = []
        real = views.apply
        views.apply = lambda event, nid: (seen.append(nid), real(event, nid))  # type: ignore
        g = Fixture(again.app, clock)
        g.n = 100
        for i in range(2):
            g.assign(str(uuid4()), "unit-a", "lead", date(2026, 4, 2), f"新建议{i}",
                     f"2026-{100 + i:04d}", "ecology")
        again.catch_up()
        assert seen == list(range(position + 1, again.app.max_notification_id() + 1))
        route = again.routes["list_tasks"]
        found = route.fn(route.model(limit=500), Actor(username="office", role="office"))
        assert found["total"] == 32 and len(found["items"]) == 32
    finally:
        again.app.close()
        again.read_models.store.close()

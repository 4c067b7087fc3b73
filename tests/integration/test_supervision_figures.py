"""The board and the statistics against a hand-computed fixture of 50 cases, and a bulletin
that later events do not change. Supervision's application over a real event store (SQLite and
PostgreSQL); upstream events are handed to it as its consumers would."""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, uuid5

import pytest

from services.supervision.application import CaseRef, RateCase, ReplyToTask, TaskNote
from services.supervision.bootstrap import build_runtime
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.assignment import TaskAssignedV1
from shared.contracts.base import ActorRef
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import Actor
from tests.harness import eventually, service_settings

OFFICE = Actor(username="office", role="office")
DEPUTY = Actor(username="deputy-1", role="deputy", deputy_id="deputy-1")


def unit(i: int) -> Actor:
    u = "unit-a" if i % 2 == 0 else "unit-b"
    return Actor(username=u, role="unit", unit_id=u)


def at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CHINA_TZ).replace(hour=10)


def case_id(i: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"fixture-case-{i}"))


def task_id(i: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"fixture-task-{i}"))


def envelope(i: int, n: int) -> dict:
    return {"event_id": f"upstream:{n}", "case_id": case_id(i), "source_service": "upstream",
            "source_notification_id": n, "occurred_at": at("2026-03-02"),
            "actor": ActorRef(username="office", role="office")}


@pytest.fixture
def supervision(store, tmp_path):
    clock = ManualClock(at("2026-03-02"))
    runtime = build_runtime(service_settings("nats://127.0.0.1:1", store), clock=clock)
    yield runtime, clock
    runtime.app.close()


def build_fixture(runtime, clock) -> None:
    """50 cases (see the module's expected figures for how each is handled):
    - case i's lead unit is unit-a for even i, unit-b for odd i; category livelihood for
      i < 25, ecology otherwise; deadline 2026-04-30, except 45..49: 2026-05-19;
    - cases 0..39 are replied: late (2026-05-05) when i % 4 == 0, else on 2026-04-20;
      class B when i % 5 == 0, C when i % 5 == 1, else A;
    - cases 0..29 are rated by their one deputy on 2026-05-10: unsatisfied when i % 3 == 0
      (re-handling starts), satisfied when i % 3 == 1, basically satisfied when i % 3 == 2;
    - cases 1 and 7 are closed out on 2026-05-12.
    """
    app = runtime.app
    for i in range(50):
        deadline = date(2026, 5, 19) if i >= 45 else date(2026, 4, 30)
        registered = SuggestionRegisteredV1(
            **envelope(i, 2 * i + 1), number=f"2026-{i + 1:04d}", title=f"建议{i}",
            category="livelihood" if i < 25 else "ecology", urgency="blue",
            lead_deputy_id="deputy-1")
        app.save(*app.on_suggestion_registered(registered))
        assigned = TaskAssignedV1(
            **envelope(i, 2 * i + 2), task_id=task_id(i), unit_id=unit(i).unit_id, role="lead",
            assigned_at=at("2026-03-02"), deadline=deadline, title=f"建议{i}",
            category="livelihood" if i < 25 else "ecology", urgency="blue",
            number=f"2026-{i + 1:04d}")
        app.save(*app.on_task_assigned(assigned))

    def reply(i: int) -> None:
        app.record_contact(TaskNote(task_id=task_id(i), note="已联系"), unit(i))
        klass = "B" if i % 5 == 0 else "C" if i % 5 == 1 else "A"
        app.reply(ReplyToTask(task_id=task_id(i), result_class=klass, text="答复",
                              commitment_date=date(2026, 6, 30) if klass == "B" else None), unit(i))

    clock.set(at("2026-04-20"))
    for i in range(40):
        if i % 4:
            reply(i)
    clock.set(at("2026-05-05"))
    for i in range(0, 40, 4):
        reply(i)
    clock.set(at("2026-05-10"))
    for i in range(30):
        rating = ("unsatisfied", "satisfied", "basically_satisfied")[i % 3]
        app.rate(RateCase(case_id=case_id(i), rating=rating), DEPUTY)
    clock.set(at("2026-05-12"))
    for i in (1, 7):
        app.close_case(CaseRef(case_id=case_id(i)), OFFICE)
    clock.set(at("2026-05-15"))
    runtime.catch_up()


def route(runtime, name: str, actor: Actor = OFFICE, **payload):
    r = runtime.routes[name]
    return r.fn(r.model.model_validate(payload), actor)


def test_board_matches_the_hand_computed_fixture(supervision):
    runtime, clock = supervision
    build_fixture(runtime, clock)
    board = route(runtime, "board")
    # red: unreplied 40..44 (5) + replied late and not reopened: {4,8,16,20,28,32,36} (7)
    # yellow: unreplied 45..49, two working days before 2026-05-19; closed: 1 and 7
    # green: the rest, including the ten reopened cases (new deadline 20 working days on)
    assert board["totals"] == {"green": 31, "yellow": 5, "red": 12, "closed": 2}
    # unit-a has every even case: late replies are all even (i % 4 == 0)
    assert board["by_unit"]["unit-a"] == {"green": 13, "yellow": 2, "red": 10, "closed": 0}
    assert board["by_unit"]["unit-b"] == {"green": 18, "yellow": 3, "red": 2, "closed": 2}
    assert sorted(c["number"] for c in board["overdue"]) == [
        f"2026-{i + 1:04d}" for i in (4, 8, 16, 20, 28, 32, 36, 40, 41, 42, 43, 44)]
    red_cell = [c for c in board["cells"] if c["unit_id"] == "unit-b" and c["colour"] == "red"][0]
    assert sorted(c["number"] for c in red_cell["cases"]) == ["2026-0042", "2026-0044"]
    only_ecology_red = route(runtime, "board", category="ecology", colour="red")
    assert only_ecology_red["totals"]["red"] == 8  # 28, 32, 36 and 40..44


def test_statistics_match_the_hand_computed_fixture(supervision):
    runtime, clock = supervision
    build_fixture(runtime, clock)
    stats = route(runtime, "stats", **{"from": "2026-04-01", "to": "2026-05-31"})
    # 40 replied; 10 late; 24 class A; 30 ratings of which 20 (basically) satisfied; 10 reopened
    assert (stats["cases"], stats["ratings"]) == (40, 30)
    assert stats["on_time_reply_rate"] == 0.75
    assert stats["resolution_rate"] == 0.6
    assert stats["satisfaction_rate"] == round(20 / 30, 4)
    assert stats["rehandling_rate"] == 0.25
    assert stats["per_unit"]["unit-a"]["on_time_reply_rate"] == 0.5
    assert stats["per_unit"]["unit-b"]["on_time_reply_rate"] == 1.0
    assert stats["per_unit"]["unit-a"]["resolution_rate"] == 0.6
    assert stats["per_category"]["livelihood"]["on_time_reply_rate"] == 0.72
    assert stats["per_category"]["ecology"]["on_time_reply_rate"] == 0.8
    assert stats["per_category"]["livelihood"]["rehandling_rate"] == 0.36
    assert stats["per_category"]["ecology"]["rehandling_rate"] == round(1 / 15, 4)
    # A period before any reply has no cases and no rates.
    empty = route(runtime, "stats", **{"from": "2026-03-01", "to": "2026-03-31"})
    assert empty["cases"] == 0 and empty["on_time_reply_rate"] is None


def test_a_published_bulletin_is_not_changed_by_later_events(supervision):
    runtime, clock = supervision
    build_fixture(runtime, clock)
    clock.set(at("2026-06-02"))
    expected_stats = route(runtime, "stats", **{"from": "2026-05-01", "to": "2026-05-31"})
    published = route(runtime, "publish_bulletin", period="2026-05")
    assert published["stats"] == expected_stats
    assert published["board"]["as_of"] == "2026-05-31"

    # June: the unreplied cases are answered and rated; the reopened ones reply again.
    app = runtime.app
    clock.set(at("2026-06-03"))
    for i in range(40, 50):
        app.record_contact(TaskNote(task_id=task_id(i), note="已联系"), unit(i))
        app.reply(ReplyToTask(task_id=task_id(i), result_class="A", text="答复"), unit(i))
        app.rate(RateCase(case_id=case_id(i), rating="satisfied"), DEPUTY)
    runtime.catch_up()

    again = route(runtime, "get_bulletin", period="2026-05")
    assert again == published
    republished = route(runtime, "publish_bulletin", period="2026-05")
    assert republished["already_published"] is True and republished["stats"] == published["stats"]
    # A bulletin generated now for a later period does see June.
    clock.set(at("2026-07-01"))
    june = route(runtime, "publish_bulletin", period="2026-06")
    assert june["stats"]["cases"] == 10 and june["stats"]["resolution_rate"] == 1.0
    page = route(runtime, "bulletin_html", period="2026-05")["html"]
    assert "月度督办通报" in page and "<svg" in page and "超期件清单" in page


async def test_board_and_statistics_end_to_end_through_the_gateway(api, system):
    """The same board and statistics, on the real system: three suggestions submitted,
    registered and assigned through the gateway and handled there, moving the shared clock."""
    from datetime import timedelta

    from tests.integration.test_supervision import assigned_case, reply as reply_to

    start = system.clock.now().date()
    closed_id, closed_task = await assigned_case(api)
    late_id, late_task = await assigned_case(api)
    assert closed_task["deadline"] == late_task["deadline"]
    deadline = date.fromisoformat(late_task["deadline"])

    # One replied A on time, rated satisfied by both deputies and closed out; the handling
    # attitude (办理态度) pleased one of them, not the other, which reopens nothing.
    await api.post("unit-b", f"/api/v1/tasks/{closed_task['task_id']}/contact", {"note": "已联系"})
    assert (await reply_to(api, closed_task["task_id"], "A")).status_code == 200
    r = await api.post("deputy-1", f"/api/v1/suggestions/{closed_id}/rating",
                       {"rating": "satisfied", "attitude": "bad"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "attitude", r.text
    for deputy, attitude in (("deputy-1", "basically_satisfied"), ("deputy-2", "unsatisfied")):
        r = await api.post(deputy, f"/api/v1/suggestions/{closed_id}/rating",
                           {"rating": "satisfied", "attitude": attitude})
        assert r.status_code == 200, r.text
    assert [(x["deputy_id"], x["attitude"]) for x in r.json()["ratings"]] == [
        ("deputy-1", "basically_satisfied"), ("deputy-2", "unsatisfied")]
    r = await api.post("office", f"/api/v1/suggestions/{closed_id}/close")
    assert r.status_code == 200, r.text

    # Two working days past the deadline the other one is overdue; a third arrives then.
    overdue_day = system.app("supervision").days.add(deadline, 2)
    system.clock.set(datetime.combine(overdue_day, datetime.min.time(), CHINA_TZ).replace(hour=9))
    open_id, open_task = await assigned_case(api)
    assert date.fromisoformat(open_task["deadline"]) > overdue_day + timedelta(days=30)

    r = await api.get("office", "/api/v1/board")
    assert r.status_code == 200, r.text
    board = r.json()
    counts = {"green": 1, "yellow": 0, "red": 1, "closed": 1}
    assert board["as_of"] == overdue_day.isoformat()
    assert board["totals"] == counts
    assert board["by_unit"] == {"unit-b": counts}
    assert board["by_category"] == {"livelihood": counts}
    assert [(c["case_id"], c["deadline"]) for c in board["overdue"]] == [(late_id, deadline.isoformat())]
    assert {c["colour"]: [x["case_id"] for x in c["cases"]] for c in board["cells"]} == {
        "green": [open_id], "red": [late_id], "closed": [closed_id]}
    r = await api.get("office", "/api/v1/board", colour="red")
    assert r.json()["totals"] == {"green": 0, "yellow": 0, "red": 1, "closed": 0}
    r = await api.get("unit-a", "/api/v1/board")
    assert r.json()["totals"] == {"green": 0, "yellow": 0, "red": 0, "closed": 0}

    # The next day the overdue one is answered late (class C) and deputy-1 is unsatisfied:
    # it is reopened for re-handling with a new deadline.
    system.clock.advance(timedelta(days=1))
    today = system.clock.now().date()
    await api.post("unit-b", f"/api/v1/tasks/{late_task['task_id']}/contact", {"note": "已联系"})
    r = await reply_to(api, late_task["task_id"], "C")
    assert r.status_code == 200 and r.json()["replies"][0]["on_time"] is False, r.text
    r = await api.post("deputy-1", f"/api/v1/suggestions/{late_id}/rating", {"rating": "unsatisfied"})
    assert r.status_code == 200 and r.json()["round"] == 2, r.text

    async def board_now():
        r = await api.get("office", "/api/v1/board")
        return r.json()["totals"] == {"green": 2, "yellow": 0, "red": 0, "closed": 1} and r.json()

    await eventually(board_now)
    # The board as on the overdue day is unchanged by what happened since.
    r = await api.get("office", "/api/v1/board", as_of=overdue_day.isoformat())
    assert r.json()["totals"] == counts and [c["case_id"] for c in r.json()["overdue"]] == [late_id]

    # Statistics: the two replied cases (first replies on the start day and today).
    r = await api.get("office", "/api/v1/stats", **{"from": start.isoformat(), "to": today.isoformat()})
    assert r.status_code == 200, r.text
    stats = r.json()
    both = {"cases": 2, "ratings": 3, "on_time_reply_rate": 0.5, "resolution_rate": 0.5,
            "satisfaction_rate": round(2 / 3, 4), "rehandling_rate": 0.5,
            "attitude_ratings": 2, "attitude_satisfaction_rate": 0.5}
    assert {k: stats[k] for k in both} == both
    assert stats["per_unit"] == {"unit-b": both}
    assert stats["per_category"] == {"livelihood": both}
    r = await api.get("office", "/api/v1/stats", **{"from": start.isoformat(), "to": start.isoformat()})
    first_day = {k: r.json()[k] for k in both}
    assert first_day == {"cases": 1, "ratings": 2, "on_time_reply_rate": 1.0, "resolution_rate": 1.0,
                         "satisfaction_rate": 1.0, "rehandling_rate": 0.0,
                         "attitude_ratings": 2, "attitude_satisfaction_rate": 0.5}
    r = await api.get("office", "/api/v1/stats", **{"from": today.isoformat(), "to": start.isoformat()})
    assert r.status_code == 422

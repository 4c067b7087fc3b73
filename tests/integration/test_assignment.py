"""Assignment (交办) through the gateway against the real system: forwarded messages with
working-day deadlines, co-unit offsets, return requests and reassignment (申请退回 / 改办),
leadership, concurrent assignment and the units' workload.

The system's clock starts on Monday 2 March 2026, 09:00 in China (``ManualClock``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import nats

from tests.harness import eventually, rpc
from tests.integration.test_end_to_end import SUGGESTION, submit_and_register

STATION = "station-fengjie"


async def published(nats_url: str, stream: str = "DUTY_ASSIGNMENT",
                    with_msg_id: bool = False) -> list[tuple]:
    """Every (subject, body) on a stream so far, in order; (subject, body, Nats-Msg-Id) with
    ``with_msg_id``."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(">", durable=None, stream=stream)
        found = []
        try:
            while True:
                for m in await sub.fetch(100, timeout=0.5):
                    found.append((m.subject, json.loads(m.data), m.headers["Nats-Msg-Id"])
                                 if with_msg_id else (m.subject, json.loads(m.data)))
                    await m.ack()
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            pass
        return found
    finally:
        await nc.close()


async def supervised_tasks(api, unit: str, case_id: str) -> list[dict]:
    r = await api.get(unit, "/api/v1/tasks")
    assert r.status_code == 200, r.text
    return [t for t in r.json() if t["case_id"] == case_id]


async def eventually_task(api, unit: str, case_id: str) -> dict:
    async def found():
        r = await api.get(unit, "/api/v1/tasks")
        if r.status_code == 504:  # a loaded machine: the gateway said so; ask again
            return None
        assert r.status_code == 200, r.text
        tasks = [t for t in r.json() if t["case_id"] == case_id]
        return tasks[0] if tasks else None

    return await eventually(found)


async def assignment_of(api, case_id: str, as_user: str = "office") -> dict:
    async def assigned():
        r = await api.get(as_user, f"/api/v1/cases/{case_id}/assignment")
        return r.status_code == 200 and r.json()["status"] == "assigned" and r.json()

    return await eventually(assigned)


async def forwarded_message(api, unit_id: str, **fields) -> str:
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages",
                              json={"content": "小区路灯长期不亮，夜间出行不便", **fields})
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]
    r = await api.post("office", f"/api/v1/messages/{message_id}/forward", {"unit_id": unit_id})
    assert r.status_code == 200, r.text
    return message_id


async def test_a_forwarded_message_becomes_a_task_due_in_working_days(api, system):
    plain = await forwarded_message(api, "unit-a")
    urgent = await forwarded_message(api, "unit-a", category="safety_hazard")

    task = await eventually_task(api, "unit-a", plain)
    assert task["case_kind"] == "message" and task["role"] == "lead"
    assert task["title"] == "群众意见" and task["category"] == "other"
    assert task["urgency"] == "blue"
    assert task["deadline"] == "2026-03-23"  # 15 working days after Monday 2 March
    task = await eventually_task(api, "unit-a", urgent)
    assert (task["urgency"], task["category"], task["deadline"]) == ("red", "safety_hazard", "2026-03-05")

    view = await assignment_of(api, plain)
    assert view["case_kind"] == "message" and view["lead_unit_id"] == "unit-a"
    assert view["tasks"][0]["deadline_rule"] == {"kind": "working_days", "working_days": 15,
                                                 "urgency": "blue"}
    # The message's task is announced once, as a message; no suggestion_assigned for it.
    events = await published(system.nats_url)
    assert [s for s, e in events if e["case_id"] == plain] == [
        "duty.assignment.task_assigned.v1", "duty.assignment.task_assigned.v2"]
    assert [e["case_kind"] for s, e in events if e["case_id"] == plain] == ["message", "message"]
    # Another unit does not see the case.
    r = await api.get("unit-b", f"/api/v1/cases/{plain}/assignment")
    assert r.status_code == 404


async def test_a_co_unit_is_due_five_working_days_before_the_lead(api, system):
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {**SUGGESTION, "category": "grassroots_governance"})
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "yellow"})
    assert r.status_code == 200, r.text

    view = await assignment_of(api, sid)
    deadlines = {t["unit_id"]: (t["role"], t["deadline"]) for t in view["tasks"]}
    # Lead: three months after 2 March; co: 6/1, 5/29, 5/28, 5/27, 5/26.
    assert deadlines == {"unit-b": ("lead", "2026-06-02"), "unit-a": ("co", "2026-05-26")}
    co = await eventually_task(api, "unit-a", sid)
    assert (co["role"], co["deadline"]) == ("co", "2026-05-26")
    lead = await eventually_task(api, "unit-b", sid)
    assert lead["deadline"] == "2026-06-02"


async def test_title_keywords_route_before_the_category_rule(api, system):
    """config/routing.yaml: a livelihood suggestion about heating goes to the housing bureau
    (rule-utilities, with civil affairs as co-unit); another livelihood one to civil affairs."""
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {**SUGGESTION, "title": "关于解决幸福里小区冬季供暖不热的建议"})
    heating = r.json()["id"]
    r = await api.post("deputy-1", "/api/v1/suggestions", SUGGESTION)
    lift = r.json()["id"]
    for sid in (heating, lift):
        r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
        assert r.status_code == 200, r.text
    view = await assignment_of(api, heating)
    assert (view["routing_rule_id"], view["lead_unit_id"], view["co_unit_ids"]) == (
        "rule-utilities", "unit-a", ["unit-b"])
    assert view["automatic"] is True
    view = await assignment_of(api, lift)
    assert (view["routing_rule_id"], view["lead_unit_id"], view["co_unit_ids"]) == (
        "rule-livelihood", "unit-b", [])


async def test_a_proposal_waits_for_the_office_who_confirms_it_with_an_empty_body(api, system):
    """rule-relocation is not automatic: the assignment stays proposed until the office
    confirms; an empty body takes the proposed units."""
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {**SUGGESTION, "title": "关于城东征地拆迁安置房尽快交付的建议"})
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "yellow"})
    assert r.status_code == 200, r.text

    async def proposed():
        r = await api.get("office", f"/api/v1/cases/{sid}/assignment")
        return r.status_code == 200 and r.json()

    view = await eventually(proposed)
    assert (view["status"], view["routing_rule_id"]) == ("proposed", "rule-relocation")
    assert (view["proposed_lead_unit_id"], view["proposed_co_unit_ids"]) == ("unit-b", ["unit-a"])
    assert view["tasks"] == [] and await supervised_tasks(api, "unit-b", sid) == []

    r = await api.post("office", f"/api/v1/suggestions/{sid}/assignment", {})
    assert r.status_code == 200, r.text
    assert (r.json()["lead_unit_id"], r.json()["co_unit_ids"], r.json()["automatic"]) == (
        "unit-b", ["unit-a"], False)
    assert (await eventually_task(api, "unit-b", sid))["role"] == "lead"
    assert (await eventually_task(api, "unit-a", sid))["role"] == "co"


async def test_a_return_within_the_window_is_accepted_by_reassignment(api, system):
    sid, _ = await submit_and_register(api)  # livelihood: assigned to unit-b at once
    old = await eventually_task(api, "unit-b", sid)
    system.clock.advance(timedelta(days=2))  # Wednesday 4 March

    r = await api.post("unit-a", f"/api/v1/tasks/{old['task_id']}/return-request", {"reason": "x"})
    assert r.status_code == 404  # not its task
    r = await api.post("office", f"/api/v1/tasks/{old['task_id']}/return-request", {"reason": "x"})
    assert r.status_code == 403
    r = await api.post("unit-b", f"/api/v1/tasks/{old['task_id']}/return-request",
                       {"reason": "加装电梯属于区住建局职责"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "return_requested"
    assert r.json()["return_window_end"] == "2026-03-09"

    r = await api.post("office", f"/api/v1/tasks/{old['task_id']}/reassign", {"unit_id": "unit-x"})
    assert r.status_code == 422
    r = await api.post("office", f"/api/v1/tasks/{old['task_id']}/reassign", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text
    new = r.json()["task"]
    assert r.json()["withdrawn"]["status"] == "withdrawn"
    assert r.json()["withdrawn"]["withdrawn_reason"] == "退回改办: 加装电梯属于区住建局职责"
    assert (new["unit_id"], new["role"], new["replaces_task_id"]) == ("unit-a", "lead", old["task_id"])
    assert new["deadline"] == "2026-06-04"  # the clock restarts on 4 March

    # Supervision opens the new task for unit-a with the restarted clock.
    task = await eventually_task(api, "unit-a", sid)
    assert (task["task_id"], task["deadline"]) == (new["task_id"], "2026-06-04")

    # The withdrawal is published before the new task, and the history keeps both.
    events = await published(system.nats_url)
    mine = [(s.split(".")[2], e.get("task_id")) for s, e in events
            if e["case_id"] == sid and s.endswith(".v1")]
    assert mine[-2:] == [("task_withdrawn", old["task_id"]), ("task_assigned", new["task_id"])]
    withdrawn = next(e for s, e in events if s.endswith("task_withdrawn.v1"))
    assert withdrawn["replaced_by_task_id"] == new["task_id"] and withdrawn["unit_id"] == "unit-b"
    assert ("task_return_requested", old["task_id"]) in mine
    view = (await api.get("office", f"/api/v1/suggestions/{sid}/assignment")).json()
    assert view["lead_unit_id"] == "unit-a" and view["task_ids"] == [new["task_id"]]
    assert [(t["unit_id"], t["status"]) for t in view["tasks"]] == [("unit-b", "withdrawn"),
                                                                     ("unit-a", "assigned")]
    assert view["reassignments"][0]["old_unit_id"] == "unit-b"
    r = await api.post("office", f"/api/v1/tasks/{old['task_id']}/reassign", {"unit_id": "unit-c"})
    assert r.status_code == 409  # a withdrawn task stays withdrawn


async def test_a_return_after_the_window_is_refused_with_its_end_date(api, system):
    sid, _ = await submit_and_register(api)
    task = await eventually_task(api, "unit-b", sid)
    path = f"/api/v1/tasks/{task['task_id']}/return-request"

    r = await api.post("office", f"{path}/refuse", {"reason": "无待处理申请"})
    assert r.status_code == 409  # nothing to refuse
    r = await api.post("unit-b", path, {"reason": "不属于本单位职责"})
    assert r.status_code == 200
    r = await api.post("unit-b", path, {"reason": "再次申请"})
    assert r.status_code == 409 and "already waiting" in r.json()["detail"]
    r = await api.post("office", f"{path}/refuse", {"reason": "由贵单位牵头办理"})
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    assert r.json()["return_requests"][0]["outcome"] == "refused"

    system.clock.advance(timedelta(days=8))  # Tuesday 10 March: the window ended on 9 March
    r = await api.post("unit-b", path, {"reason": "不属于本单位职责"})
    assert r.status_code == 409
    problem = r.json()
    assert "5 working days" in problem["detail"] and "2026-03-09" in problem["detail"]
    assert problem["window_end"] == "2026-03-09" and problem["window_working_days"] == 5
    r = await api.post("unit-b", path, {"reason": ""})
    assert r.status_code == 422
    # The task is still unit-b's, with its original deadline.
    r = await api.get("unit-b", f"/api/v1/cases/{sid}/assignment")
    assert [(t["unit_id"], t["status"], t["deadline"]) for t in r.json()["tasks"]] == [
        ("unit-b", "assigned", "2026-06-02")]


async def test_leadership_shows_on_the_assignment_and_on_later_tasks(api, system):
    sid, _ = await submit_and_register(api)
    old = await eventually_task(api, "unit-b", sid)
    path = f"/api/v1/suggestions/{sid}/leadership"

    r = await api.post("unit-b", path, {"designee_id": "leader-1", "designee_kind": "leader",
                                        "mode": "lead"})
    assert r.status_code == 403
    r = await api.post("office", path, {"designee_id": "leader-9", "designee_kind": "leader",
                                        "mode": "lead"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "designee_id"]
    r = await api.post("office", path, {"designee_id": "committee-1", "designee_kind": "leader",
                                        "mode": "lead"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "designee_kind"]
    r = await api.post("office", path, {"designee_id": "leader-1", "designee_kind": "leader",
                                        "mode": "lead"})
    assert r.status_code == 200, r.text
    assert r.json()["leadership"]["designee_name"] == "常委会副主任"
    r = await api.post("office", path, {"designee_id": "leader-1", "designee_kind": "leader",
                                        "mode": "lead"})
    assert r.status_code == 409

    r = await api.get("unit-b", f"/api/v1/suggestions/{sid}/assignment")
    view = r.json()
    assert view["leadership"]["designee_id"] == "leader-1" and view["leadership"]["mode"] == "lead"
    # Assigned before the designation, the task is flagged too, on every view of it.
    assert view["tasks"][0]["leadership"]["designee_id"] == "leader-1"
    r = await api.get("leader", "/api/v1/leaders")
    assert {d["id"] for d in r.json()} >= {"leader-1", "committee-1"}

    r = await api.post("office", f"/api/v1/tasks/{old['task_id']}/reassign", {"unit_id": "unit-a"})
    assert r.status_code == 200  # the office may reassign without a return request
    assert r.json()["task"]["leadership"]["designee_id"] == "leader-1"

    async def designation_published():
        events = await published(system.nats_url)
        return [e for s, e in events if s == "duty.assignment.leadership_designated.v1"]

    (event,) = await eventually(designation_published)
    assert (event["case_id"], event["designee_kind"], event["mode"]) == (sid, "leader", "lead")


async def test_two_office_staff_assigning_at_once_get_one_assignment(api, system):
    system.app("assignment").routing.rules = []  # no automatic rule: the office assigns
    sid, _ = await submit_and_register(api)
    await eventually(lambda: _opened(api, sid))

    first, second = await asyncio.gather(
        api.post("office", f"/api/v1/suggestions/{sid}/assignment",
                 {"lead_unit_id": "unit-a", "co_unit_ids": ["unit-c"]}),
        api.post("office", f"/api/v1/suggestions/{sid}/assignment", {"lead_unit_id": "unit-b"}),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 409], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    current = loser.json()["current"]
    assert current["status"] == "assigned"
    assert current["lead_unit_id"] == winner.json()["lead_unit_id"]
    assert current["task_ids"] == winner.json()["task_ids"]

    r = await api.post("office", f"/api/v1/suggestions/{sid}/assignment", {"lead_unit_id": "unit-d"})
    assert r.status_code == 409 and r.json()["current"]["lead_unit_id"] == winner.json()["lead_unit_id"]

    async def supervised():
        tasks = (await rpc(system.nats_url, "supervision", "list_tasks", {"case_id": sid}))["result"]
        return len(tasks) == len(winner.json()["task_ids"]) and tasks

    await eventually(supervised)
    await asyncio.sleep(0.3)
    assert len(await supervised()) == len(winner.json()["task_ids"])


async def _opened(api, sid: str) -> bool:
    r = await api.get("office", f"/api/v1/suggestions/{sid}/assignment")
    return r.status_code == 200


async def test_an_office_set_deadline_must_be_an_earlier_working_day(api, system):
    system.app("assignment").routing.rules = []
    sid, _ = await submit_and_register(api)
    await eventually(lambda: _opened(api, sid))
    url = f"/api/v1/suggestions/{sid}/assignment"
    for bad in ("2026-03-07", "2026-07-01", "2026-03-02", "soon"):
        r = await api.post("office", url, {"lead_unit_id": "unit-a", "deadline": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["loc"] == ["body", "deadline"]
    r = await api.post("office", url, {"lead_unit_id": "unit-a", "deadline": "2026-04-30"})
    assert r.status_code == 200, r.text
    assert r.json()["tasks"][0]["deadline"] == "2026-04-30"
    task = await eventually_task(api, "unit-a", sid)
    assert task["deadline"] == "2026-04-30"


async def test_the_workload_counts_open_tasks_and_nearest_deadlines(api, system):
    m1 = await forwarded_message(api, "unit-a", category="safety_hazard")  # red: 5 March
    await forwarded_message(api, "unit-a")  # blue: 23 March
    sid, _ = await submit_and_register(api)  # unit-b lead: 2 June
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {**SUGGESTION, "category": "grassroots_governance"})
    gov = r.json()["id"]
    await api.post("office", f"/api/v1/suggestions/{gov}/register", {"urgency": "red"})

    async def counted():
        r = await api.get("office", "/api/v1/units/workload")
        units = {u["unit_id"]: u for u in r.json()["units"]}
        return (units["unit-a"]["open_tasks"] == 3 and units["unit-b"]["open_tasks"] == 2
                and r.json())

    workload = await eventually(counted)
    units = {u["unit_id"]: u for u in workload["units"]}
    a = units["unit-a"]
    assert (a["lead_tasks"], a["co_tasks"], a["overdue"]) == (2, 1, 0)
    assert a["nearest_deadline"] == "2026-03-05"
    assert [t["deadline"] for t in a["nearest_deadlines"]] == ["2026-03-05", "2026-03-23", "2026-05-26"]
    assert a["nearest_deadlines"][0]["working_days_left"] == 3
    assert units["unit-c"]["open_tasks"] == 0 and units["unit-c"]["nearest_deadlines"] == []
    assert workload["as_of"] == "2026-03-02"

    system.clock.advance(timedelta(days=4))  # Friday 6 March: the red message is overdue
    r = await api.get("unit-a", "/api/v1/units/unit-a/workload", nearest=1)
    assert r.status_code == 200
    own = r.json()
    assert (own["unit_id"], own["open_tasks"], own["overdue"]) == ("unit-a", 3, 1)
    assert own["nearest_deadlines"][0]["case_id"] == m1
    assert own["nearest_deadlines"][0]["working_days_left"] == -1
    assert len(own["nearest_deadlines"]) == 1
    assert (await api.get("unit-a", "/api/v1/units/unit-b/workload")).status_code == 403
    assert (await api.get("unit-a", "/api/v1/units/workload")).status_code == 403
    assert (await api.get("deputy-1", "/api/v1/units/workload")).status_code == 403
    assert (await api.get("leader", "/api/v1/units/workload")).status_code == 200
    assert (await api.get("office", "/api/v1/units/unit-z/workload")).status_code == 404

    # A reply (reported by supervision) takes the lead task off unit-b's open work.
    task = await eventually_task(api, "unit-b", sid)
    r = await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已电话联系"})
    assert r.status_code == 200, r.text
    r = await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/reply",
                       {"result_class": "A", "text": "已办理，情况如下……"})
    assert r.status_code == 200, r.text

    async def replied_not_open():
        r = await api.get("unit-b", "/api/v1/units/unit-b/workload")
        return r.json()["open_tasks"] == 1 and r.json()

    own = await eventually(replied_not_open)
    assert [t["case_id"] for t in own["nearest_deadlines"]] == [gov]


async def test_a_paused_clock_moves_the_deadline_on_by_the_paused_working_days(api, system):
    """暂停计时: the office pauses a task's clock and resumes it later; assignment derives the
    new deadline from the pause events and supervision follows it (no warning while paused)."""
    from datetime import date, timedelta

    from tests.integration.test_supervision import assigned_case

    case_id, task = await assigned_case(api)
    task_id, deadline = task["task_id"], date.fromisoformat(task["deadline"])
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/clock/pause", {"reason": "x"})
    assert r.status_code == 403
    r = await api.post("office", f"/api/v1/tasks/{task_id}/clock/resume")
    assert r.status_code == 409 and "not paused" in r.json()["detail"]
    r = await api.post("office", f"/api/v1/tasks/{task_id}/clock/pause", {"reason": "等待代表补充材料"})
    assert r.status_code == 200, r.text
    assert r.json()["paused_since"] and r.json()["deadline"] == deadline.isoformat()

    async def supervision_paused():
        r = await api.get("office", f"/api/v1/tasks/{task_id}")
        return r.json()["paused"]

    await eventually(supervision_paused)
    system.clock.advance(timedelta(days=14))  # two weeks: ten working days in March 2026
    r = await api.post("office", f"/api/v1/tasks/{task_id}/clock/resume")
    assert r.status_code == 200, r.text
    calendar = system.app("assignment").calendar
    expected = calendar.add_working_days(deadline, 10)
    assert r.json()["deadline"] == expected.isoformat() and r.json()["paused_since"] is None

    async def supervision_follows():
        r = await api.get("office", f"/api/v1/tasks/{task_id}")
        return r.json()["deadline"] == expected.isoformat() and not r.json()["paused"]

    await eventually(supervision_follows)


async def test_a_co_units_opinion_ends_its_open_work(api, system):
    """Supervision publishes the co-unit's opinion; assignment stops counting the task as open."""
    from tests.integration.test_delivery import register_one

    case_id = await register_one(system.nats_url, category="ecology")  # a lead and a co-unit

    async def co_task():
        r = await api.get("office", "/api/v1/tasks")
        found = [t for t in r.json() if t["case_id"] == case_id and t["role"] == "co"]
        return found[0] if found else None

    task = await eventually(co_task)
    unit = task["unit_id"]
    r = await api.post(unit, f"/api/v1/tasks/{task['task_id']}/opinion", {"text": "建议结合河道整治统筹安排"})
    assert r.status_code == 200, r.text

    async def no_longer_open():
        r = await rpc(system.nats_url, "assignment", "get_task", {"task_id": task["task_id"]})
        return r["result"]["handling"] == "replied"

    await eventually(no_longer_open)


async def test_replaying_the_assignment_store_from_scratch_gives_the_same_tasks_and_deadlines(api, system):
    """Lead and co tasks with different deadlines, a paused and resumed clock, a reassignment
    and a leadership designation; then a new application replays the store from scratch (and
    the running one rebuilds its read models): the same tasks, deadlines and workload."""
    from services.assignment.application import AssignmentApplication, CaseRef
    from shared.eventstore import Actor

    r = await api.post("deputy-1", "/api/v1/suggestions", {**SUGGESTION, "category": "grassroots_governance"})
    co_case = r.json()["id"]
    await api.post("office", f"/api/v1/suggestions/{co_case}/register", {"urgency": "red"})
    moved_case, _ = await submit_and_register(api)
    lead = await eventually_task(api, "unit-b", co_case)
    moved = await eventually_task(api, "unit-b", moved_case)
    r = await api.post("office", f"/api/v1/tasks/{lead['task_id']}/clock/pause", {"reason": "等待材料"})
    assert r.status_code == 200, r.text
    system.clock.advance(timedelta(days=7))
    r = await api.post("office", f"/api/v1/tasks/{lead['task_id']}/clock/resume")
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/tasks/{moved['task_id']}/reassign", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{moved_case}/leadership",
                       {"designee_id": "leader-1", "designee_kind": "leader", "mode": "supervise"})
    assert r.status_code == 200, r.text

    cases = (co_case, moved_case)
    before = {c: (await api.get("office", f"/api/v1/cases/{c}/assignment")).json() for c in cases}
    workload = (await api.get("office", "/api/v1/units/workload")).json()
    deadlines = {c: sorted((t["unit_id"], t["role"], t["status"], t["deadline"])
                           for t in before[c]["tasks"]) for c in cases}
    assert deadlines[co_case][0][:2] == ("unit-a", "co") and deadlines[co_case][1][:2] == ("unit-b", "lead")
    assert deadlines[co_case][0][3] < deadlines[co_case][1][3]  # the co-unit is due earlier
    assert [t[:3] for t in deadlines[moved_case]] == [("unit-a", "lead", "assigned"),
                                                      ("unit-b", "lead", "withdrawn")]

    office = Actor(username="office", role="office")
    replayed = AssignmentApplication(
        system.settings().model_copy(update={"service_name": "assignment"}), clock=system.clock)
    try:
        for c in cases:
            assert replayed.case_assignment(CaseRef(case_id=c), office) == before[c]
    finally:
        replayed.close()
    assert (await rpc(system.nats_url, "assignment", "rebuild_read_models"))["ok"]
    assert (await api.get("office", "/api/v1/units/workload")).json() == workload
    for c in cases:
        assert (await api.get("office", f"/api/v1/cases/{c}/assignment")).json() == before[c]


async def test_every_assignment_event_is_published_in_v2_flagged_with_the_leadership(api, system):
    """Each assignment event goes out as v1 (unchanged) and as v2 with ``leadership``: null
    before a designation, the designation in force afterwards, also for tasks assigned before
    it. Both versions carry one event_id under two message ids (the stream keeps both)."""
    sid, _ = await submit_and_register(api)  # rule-livelihood: unit-b leads, automatically
    task = await eventually_task(api, "unit-b", sid)
    r = await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/return-request",
                       {"reason": "不属本单位职责"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/tasks/{task['task_id']}/return-request/refuse",
                       {"reason": "属本单位职责"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{sid}/leadership",
                       {"designee_id": "committee-2", "designee_kind": "committee",
                        "mode": "supervise"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/tasks/{task['task_id']}/clock/pause",
                       {"reason": "等待规划调整"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/tasks/{task['task_id']}/reassign", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text

    async def all_published():
        events = [(s, e) for s, e in await published(system.nats_url) if e["case_id"] == sid]
        return len([s for s, _ in events if s.endswith(".v2")]) >= 7 and events

    events = await eventually(all_published)
    v1 = {e["event_id"]: (s, e) for s, e in events if s.endswith(".v1")}
    v2 = [(s, e) for s, e in events if s.endswith(".v2")]
    names = [s.split(".")[2] for s, _ in v2]
    assert names == ["suggestion_assigned", "task_assigned", "task_return_requested",
                     "task_return_refused", "task_deadline_changed", "task_withdrawn",
                     "task_assigned"], names
    designated = next(e for s, e in events
                      if s == "duty.assignment.leadership_designated.v1")
    for subject, event in v2:
        # the same fact as its v1, field for field, plus the flag
        v1_subject, v1_event = v1[event["event_id"]]
        assert v1_subject == subject.replace(".v2", ".v1")
        assert {k: v for k, v in event.items() if k != "leadership"} == v1_event
        after = event["source_notification_id"] > designated["source_notification_id"]
        if after:
            assert event["leadership"]["designee_id"] == "committee-2", (subject, event)
            assert event["leadership"]["mode"] == "supervise"
        else:
            assert event["leadership"] is None, (subject, event)
    assert sum(1 for _, e in v2 if e["leadership"]) == 3  # pause, withdrawal, new task

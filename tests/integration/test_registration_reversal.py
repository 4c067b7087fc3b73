"""A registration reversed (撤销立案) through the gateway on the real system: intake publishes
``suggestion_registration_reversed``; assignment withdraws the case's tasks (supervision stops
following them) and points revokes the registration points. Registered again, the suggestion
gets a new number, new tasks and its points back, once."""

from __future__ import annotations

from tests.harness import eventually
from tests.integration.test_assignment import published, supervised_tasks

HEATING = {
    "title": "关于解决幸福里小区冬季供暖不热的建议",  # rule-utilities: unit-a leads, unit-b co-handles
    "body": "幸福里小区多栋楼室温不足十六度，老人孩子受冻，建议排查管网并加强供热。",
    "category": "livelihood",
    "co_signers": ["deputy-2"],
}


async def points_of(api, deputy: str) -> dict:
    r = await api.get("office", f"/api/v1/deputies/{deputy}/points")
    assert r.status_code == 200, r.text
    return r.json()


async def wait_totals(api, lead: float, co: float) -> None:
    async def reached():
        return ((await points_of(api, "deputy-1"))["total"] == lead
                and (await points_of(api, "deputy-2"))["total"] == co)

    await eventually(reached)


async def live_tasks(api, unit: str, case_id: str) -> list[dict]:
    return [t for t in await supervised_tasks(api, unit, case_id) if t["status"] != "withdrawn"]


async def test_a_reversed_registration_withdraws_tasks_revokes_points_and_can_be_redone(api, system):
    r = await api.post("deputy-1", "/api/v1/suggestions", HEATING)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "yellow"})
    assert r.status_code == 200, r.text
    first_number = r.json()["number"]

    async def assigned_with_tasks():
        r = await api.get("office", f"/api/v1/cases/{sid}/assignment")
        if r.status_code != 200 or r.json()["status"] != "assigned":
            return None
        lead = await live_tasks(api, "unit-a", sid)
        co = await live_tasks(api, "unit-b", sid)
        return lead and co and r.json()

    first = await eventually(assigned_with_tasks)
    first_tasks = set(first["task_ids"])
    assert len(first_tasks) == 2
    await wait_totals(api, 3.0, 1.0)

    # Who may reverse, and what a bad request gets.
    reverse = f"/api/v1/suggestions/{sid}/registration/reverse"
    assert (await api.post("unit-a", reverse, {"reason": "x"})).status_code == 403
    assert (await api.post("deputy-1", reverse, {"reason": "x"})).status_code == 403
    r = await api.post("office", reverse, {"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "reason"]

    r = await api.post("office", reverse, {"reason": "误将供暖合同纠纷立案，应走司法程序"})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "submitted" and view["number"] is None
    [reversal] = view["reversed_registrations"]
    assert reversal["number"] == first_number and "司法程序" in reversal["reason"]
    r = await api.post("office", reverse, {"reason": "again"})
    assert r.status_code == 409 and "only a registered suggestion" in r.json()["detail"]

    # Assignment withdraws both tasks; supervision stops following them; the units' open
    # work no longer counts them.
    async def withdrawn_everywhere():
        r = await api.get("office", f"/api/v1/cases/{sid}/assignment")
        if r.json()["status"] != "reversed":
            return None
        tasks = [*await supervised_tasks(api, "unit-a", sid),
                 *await supervised_tasks(api, "unit-b", sid)]
        return all(t["status"] == "withdrawn" for t in tasks) and len(tasks) == 2 and r.json()

    case = await eventually(withdrawn_everywhere)
    assert case["task_ids"] == [] and set(case["withdrawn_task_ids"]) == first_tasks
    assert case["reversals"][0]["number"] == first_number
    [task] = await supervised_tasks(api, "unit-a", sid)
    assert "撤销" in task["withdrawn_reason"] and first_number in task["withdrawn_reason"]
    r = await api.get("unit-a", "/api/v1/units/unit-a/workload")
    assert r.status_code == 200, r.text
    assert all(sid not in str(row) for row in r.json())
    # The office cannot assign it again until it is registered again.
    r = await api.post("office", f"/api/v1/suggestions/{sid}/assignment",
                       {"lead_unit_id": "unit-c"})
    assert r.status_code == 409 and "reversed" in r.json()["detail"]

    # Points: both registration awards revoked, naming the number and the reason.
    await wait_totals(api, 0.0, 0.0)
    lines = (await points_of(api, "deputy-1"))["lines"]
    revocation = lines[-1]
    assert revocation["type"] == "revocation" and revocation["points"] == -3.0
    assert first_number in revocation["reason"] and "司法程序" in revocation["reason"]
    assert revocation["event_id"].startswith("intake:")

    subjects = [s for s, body in await published(system.nats_url, "DUTY_INTAKE")
                if body["case_id"] == sid]
    assert subjects.count("duty.intake.suggestion_registration_reversed.v1") == 1

    # Registered again: a new number (the old one is never reused), new tasks, points once.
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "red"})
    assert r.status_code == 200, r.text
    second_number = r.json()["number"]
    assert second_number != first_number and second_number > first_number

    async def assigned_again():
        r = await api.get("office", f"/api/v1/cases/{sid}/assignment")
        body = r.json()
        return body["status"] == "assigned" and len(body["task_ids"]) == 2 and body

    again = await eventually(assigned_again)
    assert not set(again["task_ids"]) & first_tasks
    assert again["number"] == second_number and again["urgency"] == "red"

    async def new_tasks_followed():
        lead = await live_tasks(api, "unit-a", sid)
        co = await live_tasks(api, "unit-b", sid)
        return len(lead) == 1 and len(co) == 1 and lead[0]

    lead_task = await eventually(new_tasks_followed)
    assert lead_task["task_id"] in again["task_ids"] and lead_task["number"] == second_number
    await wait_totals(api, 3.0, 1.0)

    r = await api.get("office", f"/api/v1/suggestions/{sid}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "registered" and r.json()["number"] == second_number
    assert r.json()["reversed_registrations"][0]["number"] == first_number


async def test_only_a_registered_suggestion_without_merged_sources_can_be_reversed(api, system):
    r = await api.post("deputy-1", "/api/v1/suggestions", HEATING)
    submitted = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{submitted}/registration/reverse",
                       {"reason": "误立案"})
    assert r.status_code == 409 and r.json()["status_now"] == "submitted"

    r = await api.post("deputy-3", "/api/v1/suggestions", {**HEATING, "co_signers": []})
    source = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{submitted}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{source}/merge", {"into": submitted})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{submitted}/registration/reverse",
                       {"reason": "误立案"})
    assert r.status_code == 409 and "undo those merges" in r.json()["detail"]
    r = await api.post("office", "/api/v1/suggestions/00000000-0000-0000-0000-000000000000"
                                 "/registration/reverse", {"reason": "误立案"})
    assert r.status_code == 404


async def test_a_registration_is_not_reversed_once_the_handling_unit_replied(api, system):
    r = await api.post("deputy-1", "/api/v1/suggestions", HEATING)
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text

    async def lead_task():
        tasks = await live_tasks(api, "unit-a", sid)
        return tasks and tasks[0]

    task_id = (await eventually(lead_task))["task_id"]
    for step, body in (("acknowledge", None), ("contact", {"note": "已电话联系王代表"}),
                       ("reply", {"result_class": "A", "text": "已完成管网改造，室温达标。"})):
        r = await api.post("unit-a", f"/api/v1/tasks/{task_id}/{step}", body)
        assert r.status_code == 200, r.text

    async def reply_known_to_intake():
        r = await api.get("office", f"/api/v1/suggestions/{sid}")
        return r.json()["replied_at"]

    await eventually(reply_known_to_intake)
    r = await api.post("office", f"/api/v1/suggestions/{sid}/registration/reverse",
                       {"reason": "误立案"})
    assert r.status_code == 409 and "already replied" in r.json()["detail"]
    await wait_totals(api, 3.0, 1.0)  # nothing revoked

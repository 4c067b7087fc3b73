"""50 concurrent conflicting commands on one aggregate: exactly one wins, the rest get 409."""

from __future__ import annotations

import asyncio

from tests.harness import eventually, rpc

DEPUTY = {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"}
OFFICE = {"username": "office", "role": "office"}


async def test_fifty_concurrent_registrations_of_one_suggestion(system):
    url = system.nats_url
    r = await rpc(url, "intake", "submit_suggestion",
                  {"title": "同一件事", "body": "内容", "category": "urban_construction"}, DEPUTY)
    sid = r["result"]["id"]
    replies = await asyncio.gather(*(
        rpc(url, "intake", "register_suggestion",
            {"suggestion_id": sid, "urgency": ("red", "yellow", "blue")[i % 3]}, OFFICE, timeout=20)
        for i in range(50)))
    winners = [r for r in replies if r["ok"]]
    assert len(winners) == 1
    assert all(r["status"] == 409 for r in replies if not r["ok"])
    current = (await rpc(url, "intake", "get_suggestion", {"suggestion_id": sid}))["result"]
    assert current["number"] == winners[0]["result"]["number"]
    assert current["version"] == 2  # submitted + registered, nothing else


async def test_fifty_concurrent_assignments_of_one_suggestion(system):
    url = system.nats_url
    system.app("assignment").routing.rules = []  # no automatic rule: the office assigns
    r = await rpc(url, "intake", "submit_suggestion",
                  {"title": "由办公室交办", "body": "内容", "category": "economy"}, DEPUTY)
    sid = r["result"]["id"]
    await rpc(url, "intake", "register_suggestion", {"suggestion_id": sid, "urgency": "red"}, OFFICE)

    async def opened():
        return (await rpc(url, "assignment", "case_assignment", {"case_id": sid}))["ok"]

    await eventually(opened)
    units = ["unit-a", "unit-b", "unit-c", "unit-d"]
    replies = await asyncio.gather(*(
        rpc(url, "assignment", "assign_suggestion",
            {"suggestion_id": sid, "lead_unit_id": units[i % 4]}, OFFICE, timeout=20)
        for i in range(50)))
    winners = [r for r in replies if r["ok"]]
    losers = [r for r in replies if not r["ok"]]
    assert len(winners) == 1 and len(losers) == 49
    assert all(r["status"] == 409 for r in losers)
    assert all(r["current"]["lead_unit_id"] == winners[0]["result"]["lead_unit_id"] for r in losers)

    async def one_task():
        tasks = (await rpc(url, "supervision", "list_tasks", {"case_id": sid}))["result"]
        return tasks

    tasks = await eventually(one_task)
    await asyncio.sleep(0.5)
    tasks = await one_task()
    assert [t["unit_id"] for t in tasks] == [winners[0]["result"]["lead_unit_id"]]

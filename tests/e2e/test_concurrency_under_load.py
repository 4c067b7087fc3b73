"""Concurrent conflicting commands under load: while a background workload registers a thousand
suggestions (CONCURRENCY_TEST_SUGGESTIONS), K suggestions (CONCURRENCY_TEST_AGGREGATES, 40) that
are submitted but not registered each get 50 concurrent registration commands, and K other
suggestions, registered and waiting for the office (no routing rule assigns their category),
each get 50 concurrent assignment commands naming different units — 2 × 50 × K commands, sent
through the services' request/reply routes as tests/integration/test_concurrency.py sends them,
each exactly once (a retry could not tell a lost win from a loss).

Proven, at the end of the run:
- per suggestion exactly one registration wins and the other 49 get 409 carrying the current
  state (registered); the suggestion holds the winner's number and was registered once;
- per suggestion exactly one assignment wins and the other 49 get 409 carrying the current
  assignment (the winner's unit and tasks); supervision has the winner's task only;
- the yearly registration numbers of ALL registered suggestions (background and contended)
  are unique and gap-free: 1 … total, read from intake's event store;
- the downstream reconciliation is exact: each registered suggestion has exactly one
  assignment, one task, one supervised task and one points award in the services' stores.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from typing import Any

import nats
import pytest

from shared.identity import signed_request
from tests.e2e.cluster import DEPUTY, OFFICE, Workload, settled, topic_counts
from tests.harness import InProcessSystem, eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

N = int(os.environ.get("CONCURRENCY_TEST_SUGGESTIONS", "1000"))
K = int(os.environ.get("CONCURRENCY_TEST_AGGREGATES", "40"))
RACERS = 50
REPLY_TIMEOUT = 600.0  # generous: every command is sent once and its answer is needed
MANUAL_CATEGORY = "economy"  # its routing rule is removed: the office assigns these
UNITS = ("unit-a", "unit-b", "unit-c", "unit-d")


async def once(nc: Any, service: str, command: str, payload: dict[str, Any],
               actor: dict[str, Any]) -> dict[str, Any]:
    """One request on a service's request/reply route, never retried."""
    msg = await nc.request(f"duty.rpc.{service}.{command}",
                           signed_request(service, payload, actor), timeout=REPLY_TIMEOUT)
    return json.loads(msg.data)


def registration_numbers(app: Any) -> dict[str, str]:
    """Suggestion id → number, from every Suggestion.Registered event in intake's store (a
    suggestion registered twice fails here)."""
    numbers: dict[str, str] = {}
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=5000)
        for n in page:
            if n.topic.endswith("Suggestion.Registered"):
                event = app.mapper.to_domain_event(n)
                assert str(event.originator_id) not in numbers, f"registered twice: {event}"
                numbers[str(event.originator_id)] = event.number
        if len(page) < 5000:
            break
        start = page[-1].id + 1
    return numbers


async def test_concurrent_conflicting_registrations_and_assignments_under_load(fresh_nats, sqlite_store):
    url = fresh_nats.url
    system = InProcessSystem(url, sqlite_store)
    await system.start()
    nc = await nats.connect(url)  # the contended commands' own connection
    try:
        routing = system.app("assignment").routing
        routing.rules = [r for r in routing.rules if r["category"] != MANUAL_CATEGORY]
        async with Workload([url]) as workload:

            async def submit(i: int, category: str) -> str:
                r = await workload.request("intake", "submit_suggestion",
                                           {"title": f"争议第{i}号", "body": "同一件事，多人同时处理。",
                                            "category": category}, DEPUTY)
                assert r["ok"], r
                return r["result"]["id"]

            # K suggestions to register, and K others registered once and waiting for the office.
            to_register = [await submit(i, "livelihood") for i in range(K)]
            to_assign = [await submit(K + i, MANUAL_CATEGORY) for i in range(K)]
            for sid in to_assign:
                r = await workload.request("intake", "register_suggestion",
                                           {"suggestion_id": sid, "urgency": "yellow"}, OFFICE)
                assert r["ok"] or r.get("status_now") == "registered", r  # a lost reply's retry

            async def all_opened():
                for sid in to_assign:
                    r = await once(nc, "assignment", "case_assignment", {"case_id": sid}, OFFICE)
                    if not r["ok"]:
                        return False
                    assert r["result"]["status"] != "assigned", r  # the office's to assign
                return True

            await eventually(all_opened, timeout=600, interval=0.5)

            # The background workload, and once it is under way, both storms at once.
            background = asyncio.create_task(workload.run(N))

            async def under_way():
                return len(workload.registered) >= N // 10 or background.done()

            await eventually(under_way, timeout=600, interval=0.1)
            at_dispatch = len(workload.registered)
            assert at_dispatch < N, "the background workload was over before the storms began"
            register_pairs = [(i, sid) for i in range(RACERS) for sid in to_register]
            assign_pairs = [(i, sid) for i in range(RACERS) for sid in to_assign]
            register_replies, assign_replies = await asyncio.gather(
                asyncio.gather(*(
                    once(nc, "intake", "register_suggestion",
                         {"suggestion_id": sid, "urgency": ("red", "yellow", "blue")[i % 3]}, OFFICE)
                    for i, sid in register_pairs)),
                asyncio.gather(*(
                    once(nc, "assignment", "assign_suggestion",
                         {"suggestion_id": sid, "lead_unit_id": UNITS[i % len(UNITS)]}, OFFICE)
                    for i, sid in assign_pairs)))
            await background
        assert len(set(workload.registered)) == N
        registrations: dict[str, list[dict[str, Any]]] = {sid: [] for sid in to_register}
        for (_, sid), r in zip(register_pairs, register_replies):
            registrations[sid].append(r)
        assignments: dict[str, list[dict[str, Any]]] = {sid: [] for sid in to_assign}
        for (_, sid), r in zip(assign_pairs, assign_replies):
            assignments[sid].append(r)

        # --- registrations: one winner each, 49 conflicts carrying the current state ---
        winning_numbers = {}
        for sid, replies in registrations.items():
            assert len(replies) == RACERS
            winners = [r for r in replies if r["ok"]]
            losers = [r for r in replies if not r["ok"]]
            assert len(winners) == 1, (sid, Counter(r.get("status", 200) for r in replies), winners)
            assert len(losers) == RACERS - 1
            assert all(r["status"] == 409 and r.get("status_now") == "registered" for r in losers), (
                sid, [r for r in losers if r["status"] != 409 or r.get("status_now") != "registered"][:3])
            winning_numbers[sid] = winners[0]["result"]["number"]
            current = await once(nc, "intake", "get_suggestion", {"suggestion_id": sid}, OFFICE)
            assert current["ok"], current
            assert current["result"]["number"] == winning_numbers[sid], (current, winners)
            assert current["result"]["version"] == 2, current  # submitted + registered, nothing else

        # --- assignments: one winner each, 49 conflicts carrying the current assignment ---
        winning_units = {}
        for sid, replies in assignments.items():
            assert len(replies) == RACERS
            winners = [r for r in replies if r["ok"]]
            losers = [r for r in replies if not r["ok"]]
            assert len(winners) == 1, (sid, Counter(r.get("status", 200) for r in replies), winners)
            assert len(losers) == RACERS - 1
            won = winners[0]["result"]
            for r in losers:
                assert r["status"] == 409, (sid, r)
                assert r["current"]["status"] == "assigned", (sid, r)
                assert r["current"]["lead_unit_id"] == won["lead_unit_id"], (sid, r, won)
                assert r["current"]["task_ids"] == won["task_ids"], (sid, r, won)
            winning_units[sid] = won["lead_unit_id"]

        # --- wait for everything to settle downstream ---
        total = N + 2 * K

        await eventually(settled(system.runtimes, [url]), timeout=900, interval=0.5)

        # --- the yearly numbers of ALL registered suggestions: unique and gap-free ---
        numbers = registration_numbers(system.app("intake"))
        assert len(numbers) == total, (len(numbers), total)
        assert set(workload.registered) | set(to_register) | set(to_assign) == set(numbers)
        years = {n.split("-")[0] for n in numbers.values()}
        assert years == {str(system.clock.now().year)}, years
        sequence = sorted(int(n.split("-")[1]) for n in numbers.values())
        duplicates = [n for n, c in Counter(sequence).items() if c > 1]
        assert not duplicates, f"numbers given twice: {duplicates[:20]}"
        gaps = sorted(set(range(1, total + 1)) - set(sequence))
        assert sequence == list(range(1, total + 1)), f"gaps: {gaps[:20]}, max {sequence[-1]}"
        for sid, number in winning_numbers.items():
            assert numbers[sid] == number, (sid, number, numbers[sid])

        # --- downstream: each registered suggestion → one assignment, task, supervised task, award ---
        counts = {s: topic_counts(system.app(s)) for s in ("intake", "assignment", "supervision", "points")}
        assert counts["intake"]["Suggestion.Registered"] == (total, total), counts["intake"]
        assert counts["intake"]["RegistrationSequence.NumberAllocated"] == (total, 1), counts["intake"]
        assert counts["assignment"]["Assignment.Opened"] == (total, total), counts["assignment"]
        assert counts["assignment"]["Assignment.Assigned"] == (total, total), counts["assignment"]
        assert counts["assignment"]["Task.Assigned"] == (total, total), counts["assignment"]
        assert counts["supervision"]["SupervisedTask.Opened"] == (total, total), counts["supervision"]
        assert counts["points"]["DutyLedger.PointsAwarded"][0] == total, counts["points"]
        for sid, unit in winning_units.items():
            tasks = (await once(nc, "supervision", "list_tasks", {"case_id": sid}, OFFICE))["result"]
            assert [(t["unit_id"], t["role"]) for t in tasks] == [(unit, "lead")], (sid, unit, tasks)
    finally:
        await nc.close()
        await system.stop()

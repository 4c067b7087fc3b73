"""Supervision through the gateway, on a real nats-server and real stores, moving the clock:
handling to close-out, re-handling, follow-up reviews, deadline warnings exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import nats

from shared.contracts.supervision import CaseClosedV1, DeadlineWarningV1
from tests.harness import build, eventually
from tests.integration.test_end_to_end import submit_and_register


async def assigned_case(api) -> tuple[str, dict]:
    """A registered suggestion (deputy-1 with co-signer deputy-2), auto-assigned to unit-b."""
    suggestion_id, _ = await submit_and_register(api)

    async def task_opened():
        r = await api.get("unit-b", "/api/v1/tasks")
        found = [t for t in r.json() if t["case_id"] == suggestion_id]
        return found[0] if found else None

    task = await eventually(task_opened)

    async def deputies_known():  # intake's registration reached supervision too
        r = await api.get("office", f"/api/v1/cases/{suggestion_id}/supervision")
        return r.status_code == 200 and r.json()["raters"] == ["deputy-1", "deputy-2"]

    await eventually(deputies_known)
    return suggestion_id, task


async def reply(api, task_id: str, result_class: str = "A", **extra):
    return await api.post("unit-b", f"/api/v1/tasks/{task_id}/reply",
                          {"result_class": result_class, "text": "已办理，情况如下……", **extra})


async def stream_subjects(nats_url: str, subject: str) -> list[bytes]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject, durable=None, stream="DUTY_SUPERVISION")
        found = []
        try:
            while True:
                for m in await sub.fetch(50, timeout=0.5):
                    found.append(m.data)
                    await m.ack()
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            pass  # nothing more to fetch
        return found
    finally:
        await nc.close()


async def test_full_case_from_assignment_to_close_out(api, system):
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]

    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/acknowledge")
    assert r.status_code == 200 and r.json()["status"] == "signed_for"
    r = await api.post("unit-a", f"/api/v1/tasks/{task_id}/acknowledge")
    assert r.status_code == 404  # another unit's task does not exist for it

    # A reply needs the contact with the deputy first (办前联系).
    r = await reply(api, task_id)
    assert r.status_code == 409 and "办前联系" in r.json()["detail"]
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已电话联系王代表"})
    assert r.status_code == 200
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/progress", {"note": "已现场查看"})
    assert len(r.json()["progress"]) == 1
    r = await reply(api, task_id, "B")
    assert r.status_code == 422
    assert any(e["loc"][-1] == "commitment_date" or "commitment_date" in e["msg"]
               for e in r.json()["errors"])
    r = await reply(api, task_id, "A")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "replied" and r.json()["replies"][0]["on_time"] is True

    # Close-out names what is missing: both deputies' ratings.
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 409
    assert [m["item"] for m in r.json()["missing"]] == ["rating"]
    assert "deputy-1" in r.json()["missing"][0]["detail"] and "deputy-2" in r.json()["missing"][0]["detail"]

    r = await api.post("deputy-3", f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
    assert r.status_code == 403
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
        assert r.status_code == 200, r.text
    r = await api.post("deputy-1", f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
    assert r.status_code == 409  # once per round

    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    r = await api.get("unit-b", f"/api/v1/tasks/{task_id}")
    assert r.json()["status"] == "closed" and r.json()["colour"] == "closed"
    r = await api.get("office", f"/api/v1/suggestions/{case_id}")
    assert r.json()["reply"]["result_class"] == "A"
    assert r.json()["rating"] == {"deputy-1": "satisfied", "deputy-2": "satisfied"}

    async def closed_published():
        found = await stream_subjects(system.nats_url, CaseClosedV1.subject())
        return [CaseClosedV1.model_validate_json(b) for b in found]

    closed = await eventually(closed_published)
    assert len(closed) == 1 and closed[0].case_id == case_id
    assert closed[0].all_satisfied and closed[0].result_class == "A"
    assert closed[0].lead_deputy_id == "deputy-1" and closed[0].co_signer_ids == ["deputy-2"]


async def test_unsatisfied_reopens_for_rehandling_then_satisfied_closes(api, system):
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact/waiver", {"reason": "代表书面表示无需联系"})
    assert (await reply(api, task_id, "C")).status_code == 200

    system.clock.advance(timedelta(days=1))
    r = await api.post("deputy-2", f"/api/v1/suggestions/{case_id}/rating",
                       {"rating": "unsatisfied", "comment": "未解决实际问题"})
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["round"] == 2 and case["status"] == "rehandling"
    assert case["rehandling_rounds"][0]["reason"] == "unsatisfied"
    new_deadline = case["rehandling_rounds"][0]["deadline"]

    r = await api.get("unit-b", f"/api/v1/tasks/{task_id}")
    assert r.json()["status"] in ("open", "signed_for") and r.json()["round"] == 2
    assert r.json()["deadline"] == new_deadline

    # The other deputy can no longer rate round 1; round 2 has no reply yet.
    r = await api.post("deputy-1", f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
    assert r.status_code == 409 and "round 2" in r.json()["detail"]
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert [m["item"] for m in r.json()["missing"]] == ["reply"]

    assert (await reply(api, task_id, "A")).status_code == 200
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
        assert r.status_code == 200
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 200 and r.json()["round"] == 2


async def test_class_b_reply_review_due_blocks_close_out_and_not_kept_reopens(api, system):
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已联系"})
    commitment = (system.clock.now() + timedelta(days=20)).date().isoformat()
    r = await reply(api, task_id, "B", commitment_date=commitment)
    assert r.status_code == 200, r.text
    for deputy in ("deputy-1", "deputy-2"):
        await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})

    r = await api.get("office", f"/api/v1/cases/{case_id}/supervision")
    reviews = r.json()["follow_up_reviews"]
    assert [(v["due_on"], v["reason"]) for v in reviews] == [(commitment, "class_b_commitment")]

    system.clock.advance(timedelta(days=21))  # the review is now due
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 409
    assert [m["item"] for m in r.json()["missing"]] == ["follow_up_review"]

    review_id = reviews[0]["review_id"]
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/{review_id}",
                       {"outcome": "not_kept", "note": "承诺事项未完成"})
    assert r.status_code == 200, r.text
    assert r.json()["round"] == 2 and r.json()["status"] == "rehandling"
    assert r.json()["rehandling_rounds"][0]["reason"] == "review_not_kept"
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/{review_id}",
                       {"outcome": "kept", "note": "again"})
    assert r.status_code == 409


async def _warnings_in_store(system, task_id: str) -> list[str]:
    from uuid import UUID

    return system.app("supervision").repository.get(UUID(task_id)).warnings


async def test_warnings_and_escalation_once_across_restart_and_two_replicas(api, system):
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    second = build("supervision", system.settings(), clock=system.clock)
    await second.start()
    try:
        jobs = [fn for rt in (system.runtimes["supervision"], second)
                for (_s, name, fn) in rt._periodic if name == "deadline-clock"]
        assert len(jobs) == 2

        async def both_replicas_sweep():
            await asyncio.gather(*(asyncio.to_thread(job) for job in jobs))

        from datetime import date, datetime

        from shared.clock import CHINA_TZ
        deadline = date.fromisoformat(task["deadline"])
        days = system.app("supervision").days
        # Three working days before the deadline: yellow.
        system.clock.set(datetime.combine(days.add(deadline - timedelta(days=10), 7),
                                          datetime.min.time(), CHINA_TZ).replace(hour=9))
        for _ in range(3):
            await both_replicas_sweep()
        # Overdue: red; and well overdue: escalated.
        system.clock.set(datetime.combine(deadline + timedelta(days=1), datetime.min.time(), CHINA_TZ))
        await both_replicas_sweep()
        await both_replicas_sweep()
        system.clock.set(datetime.combine(days.add(deadline, 8), datetime.min.time(), CHINA_TZ))
        await both_replicas_sweep()
        await both_replicas_sweep()
    finally:
        await second.stop()

    # A restart of supervision replays its state and raises nothing again.
    await system.stop("supervision")
    await system.start("supervision")
    for (_s, name, fn) in system.runtimes["supervision"]._periodic:
        if name == "deadline-clock":
            await asyncio.to_thread(fn)

    assert await _warnings_in_store(system, task_id) == [
        f"yellow@{deadline}", f"red@{deadline}"]
    r = await api.get("office", f"/api/v1/tasks/{task_id}")
    assert r.json()["escalated"] is True and r.json()["colour"] == "red"

    async def published():
        found = [DeadlineWarningV1.model_validate_json(b)
                 for b in await stream_subjects(system.nats_url, DeadlineWarningV1.subject())]
        return len(found) >= 2 and found

    warnings = await eventually(published)
    await asyncio.sleep(0.5)
    warnings = [DeadlineWarningV1.model_validate_json(b)
                for b in await stream_subjects(system.nats_url, DeadlineWarningV1.subject())]
    assert sorted(w.level for w in warnings) == ["red", "yellow"]
    escalations = await stream_subjects(system.nats_url, "duty.supervision.case_escalated.v1")
    assert len(escalations) == 1


async def test_board_bulletin_and_reply_templates(api, system):
    case_id, task = await assigned_case(api)
    r = await api.get("office", "/api/v1/board")
    assert r.status_code == 200
    board = r.json()
    assert board["by_unit"]["unit-b"]["green"] >= 1
    cell = [c for c in board["cells"] if c["unit_id"] == "unit-b" and c["colour"] == "green"][0]
    assert case_id in [c["case_id"] for c in cell["cases"]]
    r = await api.get("unit-a", "/api/v1/board")
    assert r.json()["by_unit"] == {}  # a unit sees its own row only

    r = await api.get("unit-b", "/api/v1/reply-templates", result_class="B", category="safety_hazard")
    assert r.json()["source"] == "safety_hazard" and "整改" in r.json()["text"]
    r = await api.get("unit-b", "/api/v1/reply-templates", result_class="C", category="safety_hazard")
    assert r.json()["source"] == "default"

    r = await api.post("office", "/api/v1/bulletins", {"period": "2026-03"})
    assert r.status_code == 409  # the clock is in March 2026: the period has not ended
    system.clock.advance(timedelta(days=40))
    r = await api.post("office", "/api/v1/bulletins", {"period": "2026-03"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["board"]["totals"]["green"] >= 1
    r = await api.get("office", "/api/v1/bulletins/2026-03/page")
    assert r.status_code == 200 and "<svg" in r.text and "月度督办通报" in r.text
    r = await api.post("deputy-1", "/api/v1/bulletins", {"period": "2026-03"})
    assert r.status_code == 403


async def test_a_forwarded_citizen_message_is_followed_to_feedback_rating_and_close_out(api, system):
    from tests.integration.test_citizen_messages import post_message

    message = await post_message(api)
    r = await api.post("office", f"/api/v1/messages/{message['id']}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text

    async def feedback_task():
        r = await api.get("unit-a", "/api/v1/tasks")
        found = [t for t in r.json() if t["case_id"] == message["id"]]
        return found[0] if found else None

    task = await eventually(feedback_task)
    assert task["case_kind"] == "message" and task["colour"] == "green"
    # The unit's time-limited feedback (no contact with a deputy is needed for a message).
    r = await api.post("unit-a", f"/api/v1/tasks/{task['task_id']}/reply",
                       {"result_class": "A", "text": "已安排维修，三日内完成"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{message['id']}/close")
    assert r.status_code == 409 and "citizen" in r.json()["detail"]

    async def feedback_reached_the_citizen():  # the citizen rates once there is feedback
        r = await api.client.get(f"/api/v1/follow-up/{message['follow_up_token']}")
        return r.json()["can_rate"]

    await eventually(feedback_reached_the_citizen)
    r = await api.client.post(f"/api/v1/messages/{message['id']}/rating",
                              json={"rating": "satisfied", "token": message["follow_up_token"]})
    assert r.status_code == 200, r.text

    async def citizen_rating_arrived():
        r = await api.get("office", f"/api/v1/cases/{message['id']}/supervision")
        return r.json()["rating"] == {"citizen": "satisfied"}

    await eventually(citizen_rating_arrived)
    r = await api.post("office", f"/api/v1/suggestions/{message['id']}/close")
    assert r.status_code == 200 and r.json()["case_kind"] == "message"


async def test_suggestions_filter_by_handling_unit_and_overdue(api, system):
    case_id, task = await assigned_case(api)  # unit-b
    r = await api.get("office", "/api/v1/suggestions", unit_id="unit-b")
    assert [s["id"] for s in r.json()] == [case_id]
    r = await api.get("office", "/api/v1/suggestions", unit_id="unit-a")
    assert r.json() == []
    r = await api.get("office", "/api/v1/suggestions", overdue="true")
    assert r.json() == []
    system.clock.advance(timedelta(days=120))  # past the three-month deadline
    r = await api.get("office", "/api/v1/suggestions", overdue="true")
    assert [s["id"] for s in r.json()] == [case_id]
    r = await api.get("office", "/api/v1/suggestions", overdue="false")
    assert r.json() == []


async def test_basically_satisfied_review_is_due_at_the_commitment_date_else_the_default(api, system):
    # A class-B reply: the basically-satisfied ratings' review (回头看) is due at its commitment
    # date, which the reply's own review already covers — one review, not one at today + 90.
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已联系"})
    commitment = (system.clock.now() + timedelta(days=45)).date()
    r = await reply(api, task_id, "B", commitment_date=commitment.isoformat())
    assert r.status_code == 200, r.text
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating",
                           {"rating": "basically_satisfied"})
        assert r.status_code == 200, r.text
    reviews = r.json()["follow_up_reviews"]
    assert [(v["review_id"], v["due_on"], v["outcome"]) for v in reviews] == [
        ("r1", commitment.isoformat(), None)]

    # The day after the commitment date the review is due and blocks close-out; recorded, the
    # case closes (no other review is pending: none was scheduled 90 days on).
    system.clock.set(system.clock.now() + timedelta(days=46))
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 409 and [m["item"] for m in r.json()["missing"]] == ["follow_up_review"]
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/r1",
                       {"outcome": "kept", "note": "承诺事项已完成"})
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 200, r.text
    assert [(v["due_on"], v["outcome"]) for v in r.json()["follow_up_reviews"]] == [
        (commitment.isoformat(), "kept")]

    # A class-A reply has no commitment date: the configured default, 90 days after the rating.
    other_id, other = await assigned_case(api)
    await api.post("unit-b", f"/api/v1/tasks/{other['task_id']}/contact", {"note": "已联系"})
    assert (await reply(api, other["task_id"], "A")).status_code == 200
    rated_on = system.clock.now().date()
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{other_id}/rating",
                           {"rating": "basically_satisfied"})
        assert r.status_code == 200, r.text
    r = await api.get("office", f"/api/v1/cases/{other_id}/supervision")
    assert [(v["due_on"], v["reason"]) for v in r.json()["follow_up_reviews"]] == [
        ((rated_on + timedelta(days=90)).isoformat(), "basically_satisfied")]


async def test_overdue_escalation_goes_to_the_designated_leader_else_the_office(api, system):
    from datetime import date, datetime

    from shared.clock import CHINA_TZ
    from shared.contracts.supervision import CaseEscalatedV1

    led_id, led = await assigned_case(api)
    plain_id, plain = await assigned_case(api)
    r = await api.post("office", f"/api/v1/suggestions/{led_id}/leadership",
                       {"designee_id": "leader-1", "designee_kind": "leader", "mode": "supervise"})
    assert r.status_code == 200, r.text

    async def leader_known():  # assignment's leadership_designated reached supervision
        r = await api.get("office", f"/api/v1/cases/{led_id}/supervision")
        return (r.json()["leadership"] or {}).get("id") == "leader-1" and r.json()["leadership"]

    leadership = await eventually(leader_known)
    assert (leadership["kind"], leadership["mode"]) == ("leader", "supervise")

    deadline = date.fromisoformat(led["deadline"])
    assert plain["deadline"] == led["deadline"]
    days = system.app("supervision").days
    # Overdue by five working days: red, not escalated yet (more than five are needed).
    system.clock.set(datetime.combine(days.add(deadline, 5), datetime.min.time(), CHINA_TZ))
    r = await api.post("office", "/api/v1/supervision/deadline-clock")
    assert r.status_code == 200, r.text
    r = await api.get("office", f"/api/v1/tasks/{led['task_id']}")
    assert (r.json()["colour"], r.json()["escalated"], r.json()["escalated_to"]) == ("red", False, None)
    # Overdue by six: both tasks escalate, each once, to their recipients.
    system.clock.set(datetime.combine(days.add(deadline, 6), datetime.min.time(), CHINA_TZ))
    r = await api.post("office", "/api/v1/supervision/deadline-clock")
    assert r.status_code == 200, r.text
    r = await api.post("office", "/api/v1/supervision/deadline-clock")
    assert r.json()["recorded"] == 0  # each threshold once

    r = await api.get("office", f"/api/v1/tasks/{led['task_id']}")
    assert (r.json()["escalated"], r.json()["escalated_to"]) == (True, "leader-1")
    r = await api.get("office", f"/api/v1/tasks/{plain['task_id']}")
    assert (r.json()["escalated"], r.json()["escalated_to"]) == (True, "office")

    async def escalations_published():
        found = [CaseEscalatedV1.model_validate_json(b)
                 for b in await stream_subjects(system.nats_url, CaseEscalatedV1.subject())]
        return len(found) >= 2 and found

    found = await eventually(escalations_published)
    assert sorted((e.case_id, e.task_id, e.reason, e.escalated_to) for e in found) == sorted([
        (led_id, led["task_id"], "overdue", "leader-1"),
        (plain_id, plain["task_id"], "overdue", "office"),
    ])

    # The leader's own list (我的督办件): the case they supervise, escalated to them too; not
    # the plain case (escalated to the office). Another leader's list is empty of it.
    r = await api.get("leader", "/api/v1/leader/cases")
    assert r.status_code == 200, r.text
    assert [(c["case_id"], c["relations"], c["colour"]) for c in r.json()] == [
        (led_id, ["escalated", "supervised"], "red")]
    assert r.json()[0]["tasks"][0]["task_id"] == led["task_id"] and r.json()[0]["number"]
    r = await api.get("leader", "/api/v1/leader/cases", relation="led")
    assert r.json() == []
    r = await api.get("office", "/api/v1/leader/cases", leader_id="leader-2")
    assert r.status_code == 200 and r.json() == []
    r = await api.get("office", "/api/v1/leader/cases")
    assert r.status_code == 422  # the office names whose
    r = await api.get("unit-b", "/api/v1/leader/cases")
    assert r.status_code == 403


async def test_every_supervision_event_is_published_in_v2_flagged_with_the_leadership(api, system):
    """Supervision publishes each event as v1 (unchanged) and as v2 with ``leadership``: null
    before the office's designation reached it, the designation afterwards, on the task's
    events and the case's alike."""
    from tests.integration.test_assignment import published

    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/acknowledge")
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/leadership",
                       {"designee_id": "committee-1", "designee_kind": "committee",
                        "mode": "supervise"})
    assert r.status_code == 200, r.text

    async def designation_known():
        r = await api.get("office", f"/api/v1/cases/{case_id}/supervision")
        return (r.json().get("leadership") or {}).get("id") == "committee-1"

    await eventually(designation_known)
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已电话联系"})
    assert r.status_code == 200, r.text
    assert (await reply(api, task_id, "A")).status_code == 200
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
        assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 200, r.text

    async def published_pairs():
        found = [(s, e, mid) for s, e, mid in
                 await published(system.nats_url, "DUTY_SUPERVISION", with_msg_id=True)
                 if e["case_id"] == case_id]
        return any(s.endswith("case_closed.v2") for s, _, _ in found) and found

    found = await eventually(published_pairs)
    v1 = {e["event_id"]: (s, e, mid) for s, e, mid in found if s.endswith(".v1")}
    flags = {}
    for subject, event, msg_id in found:
        if not subject.endswith(".v2"):
            continue
        v1_subject, v1_event, v1_msg_id = v1[event["event_id"]]
        assert v1_subject == subject.removesuffix(".v2") + ".v1"
        assert {k: v for k, v in event.items() if k != "leadership"} == v1_event
        assert (v1_msg_id, msg_id) == (event["event_id"], event["event_id"] + ".v2")
        flags.setdefault(subject.split(".")[2], []).append(
            event["leadership"] and (event["leadership"]["designee_id"], event["leadership"]["mode"]))
    flagged = ("committee-1", "supervise")
    assert flags["task_opened"] == [None] and flags["task_signed_for"] == [None]
    assert flags["reply_submitted"] == [flagged]
    assert flags["suggestion_rated"] == [flagged, flagged]
    assert flags["case_closed"] == [flagged]


"""Intake through the gateway on the real system: similar matters, merge and undo (published on
JetStream), the personal-data access log, and erasure of the content."""

from __future__ import annotations

import json
from uuid import UUID

import nats
import pytest

from shared.identity import signed_request
from tests.harness import eventually, rpc
from tests.unit.test_intake_similarity import generate_corpus

STATION = "station-fengjie"
LAMP = "鱼复-01网格幸福小区3号楼的路灯坏了两个多月，晚上一片漆黑，老人不敢出门，希望尽快修复。"
LAMP_AGAIN = "幸福小区3号楼路灯坏了三个多月，晚上一片漆黑，老人都不敢出门，请尽快修复。"
RUBBISH = "阳光花园东门垃圾堆了五天没人清运，臭气熏天，招来很多苍蝇。"


async def submit(api, title: str, body: str, deputy: str = "deputy-1") -> str:
    r = await api.post(deputy, "/api/v1/suggestions",
                       {"title": title, "body": body, "category": "safety_hazard"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def post_message(api, content: str, **extra) -> dict:
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages",
                              json={"content": content, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def test_similar_lists_the_best_earlier_candidates_open_or_handled(api, system):
    """Always the best earlier candidates (default 5), handled ones too (a rated message is
    closed, shown with its status), each with its score and whether it is likely the same
    matter; a declined suggestion and later matters are not candidates."""
    lamp_message = (await post_message(api, LAMP))["id"]
    lamp_suggestion = await submit(api, "幸福小区路灯不亮", LAMP_AGAIN, "deputy-2")
    declined = await submit(api, "幸福小区3号楼路灯坏了", LAMP)
    r = await api.post("office", f"/api/v1/suggestions/{declined}/decline", {"reason": "重复"})
    assert r.status_code == 200
    rubbish = await submit(api, "阳光花园垃圾清运", RUBBISH)
    closed = await post_message(api, LAMP_AGAIN)  # answered and rated: closed, still shown
    r = await api.post("deputy-1", f"/api/v1/messages/{closed['id']}/claim")
    r = await api.post("deputy-1", f"/api/v1/messages/{closed['id']}/answer", {"text": "已修复"})
    r = await api.client.post(f"/api/v1/messages/{closed['id']}/rating",
                              json={"rating": "satisfied", "token": closed["follow_up_token"]})
    assert r.status_code == 200, r.text

    me = await submit(api, "关于修复幸福小区3号楼路灯的建议",
                      "幸福小区3号楼路灯坏了，晚上一片漆黑，老人不敢出门，建议尽快修复。", "deputy-3")
    later = await post_message(api, LAMP)  # after this suggestion: not listed

    r = await api.get("office", f"/api/v1/suggestions/{me}/similar")
    assert r.status_code == 200, r.text
    found = r.json()
    ids = [f["id"] for f in found]
    assert set(ids) == {lamp_message, lamp_suggestion, closed["id"], rubbish}, found
    scores = [f["score"] for f in found]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    kinds = {f["id"]: f for f in found}
    assert kinds[lamp_message]["kind"] == "message" and kinds[lamp_message]["excerpt"]
    assert kinds[lamp_suggestion]["kind"] == "suggestion"
    assert kinds[lamp_suggestion]["title"] == "幸福小区路灯不亮"
    assert {f["id"]: f["status"] for f in found} == {
        lamp_message: "open", lamp_suggestion: "open", closed["id"]: "closed", rubbish: "open"}
    assert {f["id"] for f in found if f["likely_same"]} == {
        lamp_message, lamp_suggestion, closed["id"]}
    assert ids[-1] == rubbish and declined not in ids and later["id"] not in ids
    r = await api.get("office", f"/api/v1/suggestions/{me}/similar", limit=2)
    assert [f["id"] for f in r.json()] == ids[:2]
    r = await api.get("office", f"/api/v1/suggestions/{me}/similar", limit=21)
    assert r.status_code == 422

    r = await api.get("deputy-3", f"/api/v1/suggestions/{me}/similar")
    assert r.status_code == 403
    r = await api.get("office", f"/api/v1/suggestions/{lamp_message}/similar")
    assert r.status_code == 404
    # The index is a read model: rebuilt from the log it answers the same.
    from tests.harness import rpc

    assert (await rpc(system.nats_url, "intake", "rebuild_read_models"))["ok"]
    r = await api.get("office", f"/api/v1/suggestions/{me}/similar")
    assert r.json() == found


async def test_merge_publishes_links_both_ways_and_undo_restores(api, system):
    target = await submit(api, "幸福小区路灯不亮", LAMP, "deputy-2")
    source = await submit(api, "关于幸福小区路灯的建议", LAMP_AGAIN, "deputy-1")
    r = await api.post("office", f"/api/v1/suggestions/{source}/register", {"urgency": "yellow"})
    assert r.status_code == 200
    number = r.json()["number"]

    nc = await nats.connect(system.nats_url)
    try:
        js = nc.jetstream()
        merged_sub = await js.subscribe("duty.intake.suggestion_merged.v1")
        undone_sub = await js.subscribe("duty.intake.suggestion_merge_undone.v1")

        r = await api.post("deputy-1", f"/api/v1/suggestions/{source}/merge", {"into": target})
        assert r.status_code == 403
        r = await api.post("office", f"/api/v1/suggestions/{source}/merge", {"into": target})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "merged" and r.json()["merged_into"] == target
        assert r.json()["target"]["merged_sources"] == [source]

        msg = await merged_sub.next_msg(timeout=15)
        event = json.loads(msg.data)
        assert event["case_id"] == source and event["into_suggestion_id"] == target
        assert event["lead_deputy_id"] == "deputy-1" and event["source_number"] == number
        assert event["score"] is not None and event["score"] > 0.3

        r = await api.get("office", f"/api/v1/suggestions/{source}")
        assert r.json()["status"] == "merged" and r.json()["merged_into"] == target
        r = await api.get("office", f"/api/v1/suggestions/{target}")
        assert r.json()["merged_sources"] == [source]
        r = await api.get("office", "/api/v1/suggestions", status="merged")
        assert [s["id"] for s in r.json()] == [source]

        # Refusals, each with a clear message.
        third = await submit(api, "另一件事", RUBBISH, "deputy-3")
        r = await api.post("office", f"/api/v1/suggestions/{third}/merge", {"into": third})
        assert r.status_code == 409 and "itself" in r.json()["detail"]
        r = await api.post("office", f"/api/v1/suggestions/{third}/merge", {"into": source})
        assert r.status_code == 409 and "merged" in r.json()["detail"]
        r = await api.post("office", f"/api/v1/suggestions/{target}/merge", {"into": third})
        assert r.status_code == 409 and "merged into this one" in r.json()["detail"]
        r = await api.post("office", f"/api/v1/suggestions/{source}/merge", {"into": third})
        assert r.status_code == 409  # already merged
        r = await api.post("office", f"/api/v1/suggestions/{third}/merge",
                           {"into": "00000000-0000-0000-0000-000000000000"})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "into"]
        r = await api.post("office", f"/api/v1/suggestions/{third}/decline", {"reason": "不是建议"})
        r = await api.post("office", f"/api/v1/suggestions/{target}/merge", {"into": third})
        assert r.status_code == 409
        r = await api.post("office", f"/api/v1/suggestions/{third}/merge", {"into": target})
        assert r.status_code == 409 and "declined" in r.json()["detail"]

        # Undo: the source is registered again with its number, the target forgets it.
        r = await api.post("office", f"/api/v1/suggestions/{source}/merge/undo", {})
        assert r.status_code == 422
        r = await api.post("office", f"/api/v1/suggestions/{source}/merge/undo",
                           {"reason": "不是同一件事"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["number"]) == ("registered", number)
        assert r.json()["merged_into"] is None and r.json()["target"]["merged_sources"] == []
        msg = await undone_sub.next_msg(timeout=15)
        event = json.loads(msg.data)
        assert event["case_id"] == source and event["reason"] == "不是同一件事"
        r = await api.post("office", f"/api/v1/suggestions/{source}/merge/undo",
                           {"reason": "again"})
        assert r.status_code == 409
    finally:
        await nc.close()


async def test_access_log_grows_on_unmasked_reads_only(api, system):
    message = await post_message(api, LAMP, contact_name="赵小明", contact_phone="13812345678")
    anonymous = await post_message(api, RUBBISH)
    mid = message["id"]
    log_url = f"/api/v1/messages/{mid}/access-log"
    r = await api.get("office", log_url)
    assert r.status_code == 200 and r.json() == []

    r = await api.get("deputy-1", f"/api/v1/messages/{mid}")
    assert r.json()["contact_phone"] == "138****5678"
    r = await api.client.get(f"/api/v1/messages/{mid}",
                             headers={"X-Follow-Up-Token": message["follow_up_token"]})
    assert r.json()["contact_phone"] == "138****5678"
    r = await api.get("office", "/api/v1/messages", station_id=STATION)
    assert r.status_code == 200
    assert (await api.get("office", log_url)).json() == []

    r = await api.get("office", f"/api/v1/messages/{mid}", purpose="回访群众")
    assert r.json()["contact_phone"] == "13812345678" and r.json()["contact_name"] == "赵小明"
    r = await api.get("office", f"/api/v1/messages/{mid}")
    log = (await api.get("office", log_url)).json()
    assert len(log) == 2
    assert log[0]["username"] == "office" and log[0]["role"] == "office"
    assert log[0]["fields"] == ["contact_name", "contact_phone"]
    assert log[0]["route"] == "get_message" and log[0]["purpose"] == "回访群众"
    assert log[0]["read_at"] and log[1]["purpose"] is None

    r = await api.post("office", f"/api/v1/messages/{mid}/forward", {"unit_id": "unit-a"})
    assert r.json()["contact_phone"] == "13812345678"
    log = (await api.get("office", log_url)).json()
    assert [e["route"] for e in log] == ["get_message", "get_message", "forward_message"]

    # Nothing to record: no contact left, or erased.
    await api.get("office", f"/api/v1/messages/{anonymous['id']}")
    assert (await api.get("office", f"/api/v1/messages/{anonymous['id']}/access-log")).json() == []
    r = await api.post("office", f"/api/v1/messages/{mid}/erasure")
    assert r.json()["contact_phone"] == "[erased]"
    await api.get("office", f"/api/v1/messages/{mid}")
    assert len((await api.get("office", log_url)).json()) == 3

    assert (await api.get("deputy-1", log_url)).status_code == 403
    assert (await api.get("office", "/api/v1/messages/nope/access-log")).status_code == 404


async def test_erasure_makes_content_and_contact_unreadable_but_events_stay(api, system):
    message = await post_message(api, LAMP, contact_phone="13912345678")
    mid = message["id"]
    me = await submit(api, "关于修复幸福小区3号楼路灯的建议",
                      "幸福小区3号楼路灯坏了，晚上一片漆黑，老人不敢出门，建议尽快修复。")
    r = await api.get("office", f"/api/v1/suggestions/{me}/similar")
    assert [f["id"] for f in r.json()] == [mid]

    r = await api.post("office", f"/api/v1/messages/{mid}/erasure")
    assert r.status_code == 200, r.text
    for who in ("office", "deputy-1"):
        view = (await api.get(who, f"/api/v1/messages/{mid}")).json()
        assert view["content"] == "[erased]" and view["contact_phone"] == "[erased]"
        assert view["contact_name"] == "[erased]" and view["personal_data_erased"] is True
    view = (await api.client.get(f"/api/v1/messages/{mid}",
                                 headers={"X-Follow-Up-Token": message["follow_up_token"]})).json()
    assert view["content"] == "[erased]"
    # Gone from the similar-matters index too.
    r = await api.get("office", f"/api/v1/suggestions/{me}/similar")
    assert r.json() == []

    from services.intake.domain import CitizenMessage

    app = system.app("intake")
    events = list(app.repository.event_store.get(UUID(mid)))
    assert [type(e).__name__ for e in events] == ["Received", "PersonalDataErased"]
    assert isinstance(app.repository.get(UUID(mid)), CitizenMessage)
    assert events[0].sealed_content and events[0].content is None

    async def erasure_published():
        nc = await nats.connect(system.nats_url)
        try:
            js = nc.jetstream()
            sub = await js.subscribe("duty.intake.personal_data_erased.v1")
            msg = await sub.next_msg(timeout=5)
            return json.loads(msg.data)["case_id"] == mid
        finally:
            await nc.close()

    await eventually(erasure_published, timeout=20)


@pytest.mark.slow
async def test_similar_precision_and_recall_through_the_gateway(api, system):
    """The 1000 generated messages posted at a station, each one's similar list read back."""
    corpus = generate_corpus(1000)
    ids, truth = [], {}
    # Posted straight to intake (the gateway limits anonymous posts per address).
    nc = await nats.connect(system.nats_url)
    try:
        for text, matter in corpus:
            reply = await nc.request("duty.rpc.intake.post_message", signed_request(
                "intake", {"station_id": STATION, "content": text},
                {"username": "anonymous", "role": "anonymous"}), timeout=10)
            body = json.loads(reply.data)
            assert body["ok"], body
            ids.append(body["result"]["id"])
            truth[ids[-1]] = matter
    finally:
        await nc.close()
    # Each message's 5 candidates: the first is of the same matter whenever an earlier one is
    # (recall@1), the 5 hold as many of the same matter as fit (up to 5 earlier ones), and
    # likely_same is mostly right. Measured: 1.0, 0.997 and 0.88 (the generated corpus has the
    # same fault at other places; the threshold was chosen on tests/data/similar_pairs.tsv).
    first = asked = in_five = could = flagged = flagged_right = 0
    for i, mid in enumerate(ids):
        r = await api.get("office", f"/api/v1/messages/{mid}/similar")
        assert r.status_code == 200, r.text
        found = r.json()
        expected = {o for o in ids[:i] if truth[o] == truth[mid]}
        if expected:
            asked += 1
            first += found[0]["id"] in expected
            could += min(len(expected), 5)
            in_five += len({f["id"] for f in found} & expected)
        for f in found:
            if f["likely_same"]:
                flagged += 1
                flagged_right += f["id"] in expected
    recall_1, coverage = first / asked, in_five / could
    precision = flagged_right / max(flagged, 1)
    assert recall_1 >= 0.95 and coverage >= 0.95 and precision >= 0.85, (
        recall_1, coverage, precision)


async def test_a_case_closed_out_in_supervision_is_closed_in_intake_and_shown_as_handled(api, system):
    """Supervision's case_closed reaches intake: the suggestion reads closed (with the result
    class), and similar matters show it as closed (the office answers "already handled")."""
    from tests.integration.test_end_to_end import SUGGESTION
    from tests.integration.test_supervision import assigned_case, reply

    case_id, task = await assigned_case(api)
    before = await submit(api, "老旧小区加装电梯", SUGGESTION["body"], "deputy-3")
    r = await api.get("office", f"/api/v1/suggestions/{before}/similar")
    assert case_id in [f["id"] for f in r.json()], r.json()

    task_id = task["task_id"]
    for step, body in (("acknowledge", None), ("contact", {"note": "已联系代表"})):
        r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/{step}", body)
        assert r.status_code == 200, r.text
    assert (await reply(api, task_id, "A")).status_code == 200
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
        assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 200, r.text

    async def closed_in_intake():
        r = await api.get("office", f"/api/v1/suggestions", status="closed")
        return case_id in [s["id"] for s in r.json()]

    await eventually(closed_in_intake)
    app = system.app("intake")
    suggestion = app.repository.get(UUID(case_id))
    assert (suggestion.status, suggestion.result_class) == ("closed", "A")
    assert suggestion.case_closed_at is not None
    after = await submit(api, "老旧小区加装电梯", SUGGESTION["body"], "deputy-3")
    r = await api.get("office", f"/api/v1/suggestions/{before}/similar")
    assert case_id in [f["id"] for f in r.json()], r.json()  # earlier: still a candidate
    r = await api.get("office", f"/api/v1/suggestions/{after}/similar")
    shown = {f["id"]: f for f in r.json()}
    assert shown[case_id]["status"] == "closed" and shown[case_id]["likely_same"], r.json()
    # Recorded once, with the upstream position: the same event again changes nothing.
    closings = [e for e in app.repository.event_store.get(UUID(case_id))
                if type(e).__name__ == "CaseClosed"]
    assert len(closings) == 1
    assert (await rpc(system.nats_url, "intake", "rebuild_read_models"))["ok"]
    r = await api.get("office", f"/api/v1/suggestions/{after}/similar")
    assert {f["id"]: f["status"] for f in r.json()}[case_id] == "closed"

"""Merging citizen messages (the same matter from many people), through the gateway against
the real in-process system: the source leaves the pool, its citizen follows the target's
answer, the similar-matters candidates show it merged, and the merge is undone with a reason,
each step in the messages' histories."""

from __future__ import annotations

from tests.harness import eventually
from tests.integration.test_citizen_messages import post_message

SAME = "鱼复-01网格小区门口的路灯坏了好几天，晚上黑漆漆的，老人出门很不方便。"


async def test_merge_a_message_into_another_and_undo_it(api, system):
    target = await post_message(api)
    source = await post_message(api, content=SAME, contact_phone="13900001111")
    third = await post_message(api, content=SAME + "请尽快处理。", contact_phone="13900002222")
    tid, sid, cid = target["id"], source["id"], third["id"]

    # Only the office merges; a message cannot be merged into itself or into nothing.
    r = await api.post("deputy-1", f"/api/v1/messages/{sid}/merge", {"into": tid})
    assert r.status_code == 403
    r = await api.post("office", f"/api/v1/messages/{sid}/merge", {"into": sid})
    assert r.status_code == 409
    r = await api.post("office", f"/api/v1/messages/{sid}/merge",
                       {"into": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "into"]
    r = await api.post("office", f"/api/v1/messages/{sid}/merge", {})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "into"]

    r = await api.post("office", f"/api/v1/messages/{sid}/merge", {"into": tid})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "merged" and body["merged_into"] == tid
    assert body["target"]["merged_sources"] == [sid]
    r = await api.post("office", f"/api/v1/messages/{sid}/merge", {"into": tid})
    assert r.status_code == 409  # already merged

    # Merges never chain: nothing into a merged message, and a target is not merged away.
    r = await api.post("office", f"/api/v1/messages/{cid}/merge", {"into": sid})
    assert r.status_code == 409, r.text
    r = await api.post("office", f"/api/v1/messages/{tid}/merge", {"into": cid})
    assert r.status_code == 409, r.text

    # The merged message left the pool: nobody claims it, the deputies' list does not offer it.
    r = await api.post("deputy-1", f"/api/v1/messages/{sid}/claim")
    assert r.status_code == 409

    async def pool_without_source():
        r = await api.get("deputy-1", "/api/v1/messages", status="received")
        ids = {m["id"] for m in r.json()}
        return tid in ids and sid not in ids and ids

    await eventually(pool_without_source)
    r = await api.get("office", "/api/v1/messages", status="merged")
    assert [(m["id"], m["merged_into"]) for m in r.json()] == [(sid, tid)]

    # The similar-matters candidates of the third message show the source as merged.
    async def candidates():
        r = await api.get("office", f"/api/v1/messages/{cid}/similar")
        assert r.status_code == 200, r.text
        found = {c["id"]: c["status"] for c in r.json()}
        return found if found.get(sid) == "merged" else None

    await eventually(candidates)

    # A claimed message is not merged (its deputy holds it).
    r = await api.post("deputy-1", f"/api/v1/messages/{cid}/claim")
    assert r.status_code == 200
    r = await api.post("office", f"/api/v1/messages/{cid}/merge", {"into": tid})
    assert r.status_code == 409
    r = await api.post("deputy-1", f"/api/v1/messages/{cid}/release")
    assert r.status_code == 200, r.text

    # The target is answered: the source's citizen sees that answer on their follow-up.
    r = await api.post("deputy-1", f"/api/v1/messages/{tid}/claim")
    assert r.status_code == 200
    r = await api.post("deputy-1", f"/api/v1/messages/{tid}/answer",
                       {"text": "已联系物业，路灯本周内修复。"})
    assert r.status_code == 200, r.text
    r = await api.client.get(f"/api/v1/follow-up/{source['follow_up_token']}")
    assert r.status_code == 200, r.text
    follow = r.json()
    assert follow["status"] == "merged"
    assert follow["answer"] == "已联系物业，路灯本周内修复。"
    assert "合并办理" in follow["status_text"] and follow["can_rate"] is False
    page = await api.client.get(f"/f/{source['follow_up_token']}")
    assert page.status_code == 200 and "已联系物业" in page.text

    # The third message is merged, then the merge is undone with a reason: back in the pool.
    r = await api.post("office", f"/api/v1/messages/{cid}/merge", {"into": tid})
    assert r.status_code == 200, r.text
    assert r.json()["target"]["merged_sources"] == [sid, cid]
    r = await api.post("office", f"/api/v1/messages/{cid}/merge/undo", {})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "reason"]
    r = await api.post("deputy-1", f"/api/v1/messages/{cid}/merge/undo", {"reason": "不是同一事项"})
    assert r.status_code == 403
    r = await api.post("office", f"/api/v1/messages/{cid}/merge/undo",
                       {"reason": "所说的不是同一个小区"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "received" and r.json()["merged_into"] is None
    assert r.json()["target"]["merged_sources"] == [sid]
    r = await api.post("office", f"/api/v1/messages/{cid}/merge/undo", {"reason": "再撤销一次"})
    assert r.status_code == 409
    r = await api.post("deputy-2", f"/api/v1/messages/{cid}/claim")
    assert r.status_code == 200, r.text

    # Each side is in its message's history.
    async def history(case_id: str) -> list[str]:
        r = await api.get("office", f"/api/v1/cases/{case_id}/history")
        assert r.status_code == 200, r.text
        return [e["event_type"] for e in r.json()["events"]]

    assert {"MergedInto", "MergeUndone"} <= set(await history(cid))
    assert {"SourceMerged", "SourceUnmerged"} <= set(await history(tid))

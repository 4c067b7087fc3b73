"""A case's history through the gateway, gathered from all four services' own event stores:
in order, as of an instant before and after the reply, verified, and an edited stored event
found by the verify endpoint and by the offline verifier of an export."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timezone

from tests.harness import ROOT, eventually
from tests.integration.test_audit_chains import tamper
from tests.integration.test_supervision import assigned_case, reply


async def closed_case(api, system) -> tuple[str, str, datetime]:
    case_id, task = await assigned_case(api)
    await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
    before_reply = datetime.now(timezone.utc)
    await asyncio.sleep(0.05)
    assert (await reply(api, task["task_id"], "A")).status_code == 200
    for deputy in ("deputy-1", "deputy-2"):
        await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
    assert (await api.post("office", f"/api/v1/suggestions/{case_id}/close")).status_code == 200

    async def resolved_points():
        r = await api.get("office", f"/api/v1/suggestions/{case_id}")
        return any(p.get("cause_kind") == "suggestion_resolved" for p in r.json()["points_awarded"])

    await eventually(resolved_points)
    return case_id, task["task_id"], before_reply


async def test_history_spans_every_service_in_order_and_as_of_before_the_reply(api, system):
    case_id, task_id, before_reply = await closed_case(api, system)
    r = await api.get("office", f"/api/v1/cases/{case_id}/history")
    assert r.status_code == 200, r.text
    history = r.json()
    assert history["verified"] is True
    events = history["events"]
    assert {e["service"] for e in events} == {"intake", "assignment", "supervision", "points"}
    times = [e["time"] for e in events]
    assert times == sorted(times)
    kinds = [f'{e["service"]}:{e["aggregate"]}.{e["event_type"]}' for e in events]
    causal = ["intake:Suggestion.Registered", "assignment:Task.Assigned",
              "supervision:SupervisedTask.Opened", "supervision:SupervisedTask.Replied",
              "supervision:SupervisedCase.Closed", "points:DutyLedger.PointsAwarded"]
    positions = [kinds.index(k) for k in causal[:5]]
    assert positions == sorted(positions), kinds
    assert max(i for i, k in enumerate(kinds) if k == causal[5]) > positions[4]  # resolved points
    replied = next(e for e in events if e["event_type"] == "Replied")
    assert replied["actor"]["username"] == "unit-b" and replied["data"]["result_class"] == "A"
    assert all(e["hash"] and e["chain_ok"] for e in events)

    r = await api.get("office", f"/api/v1/cases/{case_id}/history",
                      as_of=before_reply.isoformat())
    earlier = r.json()
    assert "Replied" not in [e["event_type"] for e in earlier["events"]]
    assert earlier["state"]["supervision"][task_id]["status"] in ("open", "signed_for")
    assert history["state"]["supervision"][task_id]["status"] == "closed"

    # Who may read it: the unit that handled it, its deputies; not another unit or deputy.
    assert (await api.get("unit-b", f"/api/v1/cases/{case_id}/history")).status_code == 200
    assert (await api.get("deputy-2", f"/api/v1/cases/{case_id}/history")).status_code == 200
    assert (await api.get("unit-a", f"/api/v1/cases/{case_id}/history")).status_code == 404
    assert (await api.get("deputy-3", f"/api/v1/cases/{case_id}/history")).status_code == 404


async def test_verify_and_the_offline_verifier_find_an_edited_event(api, system, tmp_path):
    case_id, task_id, _ = await closed_case(api, system)
    r = await api.get("office", f"/api/v1/cases/{case_id}/verify")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert {c["service"] for c in r.json()["chains"]} == {"intake", "assignment", "supervision", "points"}

    export = (await api.get("office", f"/api/v1/cases/{case_id}/export")).json()
    path = tmp_path / "case.json"
    path.write_text(json.dumps(export, ensure_ascii=False))

    def verify_offline() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ops", "verify-export", str(path), "--json"],
                              cwd=ROOT, capture_output=True, text=True)

    ok = await asyncio.to_thread(verify_offline)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True

    # Someone changes the suggestion's title directly in intake's store.
    tamper(system.app("intake"), case_id, 1, lambda s: s.update(title="被改过的标题"))
    r = await api.get("office", f"/api/v1/cases/{case_id}/verify")
    assert r.json()["ok"] is False
    [broken] = r.json()["broken"]
    assert broken["service"] == "intake" and broken["aggregate_id"] == case_id
    assert broken["broken_at"] == 1

    # The export taken before the edit still verifies; an edited export does not.
    supervision_chain = export["services"]["supervision"][task_id]
    supervision_chain[-1]["state"]["closed_on"] = "2099-01-01"
    path.write_text(json.dumps(export, ensure_ascii=False))
    bad = await asyncio.to_thread(verify_offline)
    assert bad.returncode == 1
    assert not json.loads(bad.stdout)["ok"]



async def test_personal_fields_in_a_history_are_masked_per_role(api, system):
    r = await api.client.post("/api/v1/stations/station-fengjie/messages", json={
        "content": "小区路灯长期不亮", "category": "safety_hazard", "contact_name": "李女士",
        "contact_phone": "13812345678"})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    office = (await api.get("office", f"/api/v1/cases/{mid}/history")).json()
    leader = (await api.get("leader", f"/api/v1/cases/{mid}/history")).json()
    received = [e for e in office["events"] if e["event_type"] == "Received"][0]["data"]
    masked = [e for e in leader["events"] if e["event_type"] == "Received"][0]["data"]
    # The office sees what the store keeps (the contact sealed, never the clear phone) ...
    assert received["personal_data"] not in (None, "***")
    assert received["personal_data_ref"] not in (None, "***")
    # ... any other role sees the personal fields masked, in the events and the state.
    assert masked["personal_data"] == "***" and masked["personal_data_ref"] == "***"
    assert masked["station_id"] == received["station_id"] == "station-fengjie"
    state = leader["state"]["intake"][mid]
    assert state["personal_data"] == "***" and state["personal_data_ref"] == "***"
    for history in (office, leader):
        text = json.dumps(history, ensure_ascii=False)
        assert "13812345678" not in text and "李女士" not in text
    # A deputy does not read a citizen message's case history at all.
    r = await api.get("deputy-1", f"/api/v1/cases/{mid}/history")
    assert r.status_code == 404


async def test_history_as_of_after_the_reply_has_the_reply_and_nothing_later(api, system):
    case_id, task = await assigned_case(api)
    await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
    assert (await reply(api, task["task_id"], "A")).status_code == 200
    await asyncio.sleep(0.05)
    after_reply = datetime.now(timezone.utc)
    await asyncio.sleep(0.05)
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating", {"rating": "satisfied"})
        assert r.status_code == 200, r.text
    assert (await api.post("office", f"/api/v1/suggestions/{case_id}/close")).status_code == 200

    full = (await api.get("office", f"/api/v1/cases/{case_id}/history")).json()
    kinds = [e["event_type"] for e in full["events"]]
    assert "Replied" in kinds and "Closed" in kinds
    r = await api.get("office", f"/api/v1/cases/{case_id}/history", as_of=after_reply.isoformat())
    assert r.status_code == 200, r.text
    then = r.json()
    kinds_then = [e["event_type"] for e in then["events"]]
    assert "Replied" in kinds_then
    assert all(e["time"] <= after_reply.isoformat() for e in then["events"])
    later = [e for e in full["events"] if e["time"] > after_reply.isoformat()]
    assert later and {e["event_type"] for e in later} >= {"Closed"}
    assert not {(e["service"], e["aggregate_id"], e["version"]) for e in later} & \
        {(e["service"], e["aggregate_id"], e["version"]) for e in then["events"]}
    assert len(then["events"]) == len(full["events"]) - len(later)

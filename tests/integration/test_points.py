"""Duty points through the gateway on the real system (real nats-server, real stores).

Upstream events not yet emitted by their producers (merge, case closed) are published to
JetStream here exactly as the producers' outbox would publish them."""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import count

import nats

from services.points.rules import ScoringRules
from shared.contracts.intake import SuggestionMergedV1, SuggestionMergeUndoneV1
from shared.contracts.supervision import CaseClosedV1
from shared.streams import stream_name
from tests.harness import eventually, rpc

# Far above any notification id the real producers reach in a test.
fake_positions = count(1_000_001)


async def publish(url: str, contract, **fields) -> None:
    n = next(fake_positions)
    producer = contract.producer
    event = contract(event_id=f"{producer}:{n}", source_service=producer,
                     source_notification_id=n, occurred_at=datetime.now(timezone.utc),
                     actor={"username": "office", "role": "office"}, **fields)
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(contract.subject(), event.to_bytes(),
                                     stream=stream_name(producer),
                                     headers={"Nats-Msg-Id": event.event_id})
    finally:
        await nc.close()


async def total(api, deputy: str, as_user: str = "office") -> float:
    r = await api.get(as_user, f"/api/v1/deputies/{deputy}/points")
    assert r.status_code == 200, r.text
    return r.json()["total"]


async def wait_total(api, deputy: str, expected: float) -> dict:
    async def check():
        r = await api.get("office", f"/api/v1/deputies/{deputy}/points")
        return r.json()["total"] == expected and r.json()

    return await eventually(check)


async def register(api, lead: str = "deputy-1", co: list[str] | None = None,
                   title: str = "老旧小区加装电梯") -> str:
    r = await api.post(lead, "/api/v1/suggestions",
                       {"title": title, "body": "老人上下楼困难，建议纳入加装计划。",
                        "category": "livelihood", "co_signers": co or []})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text
    return sid


async def report_activity(api, deputy: str = "deputy-1", kind: str = "reception_day",
                          on: str = "2026-02-16", description: str = "进站接待群众 6 人次"):
    return await api.post(deputy, f"/api/v1/deputies/{deputy}/activities",
                          {"kind": kind, "date": on, "description": description,
                           "evidence": "签到表 2026-02-16"})


async def test_an_activity_is_reported_approved_and_scores(api, system):
    r = await report_activity(api)
    assert r.status_code == 201, r.text
    activity = r.json()
    assert activity["status"] == "pending" and activity["deputy_id"] == "deputy-1"

    r = await api.get("office", "/api/v1/activities", status="pending")
    assert [a["id"] for a in r.json()] == [activity["id"]]
    assert (await api.get("deputy-2", "/api/v1/activities")).json() == []
    assert (await api.get("unit-a", "/api/v1/activities")).status_code == 403

    # Only the office reviews; the deputy cannot approve their own.
    r = await api.post("deputy-1", f"/api/v1/activities/{activity['id']}/approve")
    assert r.status_code == 403
    assert await total(api, "deputy-1") == 0.0  # pending scores nothing

    r = await api.post("office", f"/api/v1/activities/{activity['id']}/approve")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["points"] == 2.0
    points = (await api.get("deputy-1", "/api/v1/deputies/deputy-1/points", year=2026)).json()
    assert points["total"] == 2.0
    [line] = points["lines"]
    assert (line["cause_kind"], line["cause_ref"], line["activity_kind"]) == (
        "activity", activity["id"], "reception_day")
    assert line["rule_version"] == "2026.1" and line["earned_on"] == "2026-02-16"
    assert (await api.get("office", "/api/v1/activities", status="pending")).json() == []
    r = await api.post("office", f"/api/v1/activities/{activity['id']}/approve")
    assert r.status_code == 409

    # A second reception day in the same month is recorded with 0 points and the cap named.
    second = (await report_activity(api, on="2026-02-20")).json()
    r = await api.post("office", f"/api/v1/activities/{second['id']}/approve")
    assert r.json()["points"] == 0.0 and "reception_day" in r.json()["capped_by"]
    assert await total(api, "deputy-1") == 2.0

    # Who sees whose points.
    assert (await api.get("deputy-2", "/api/v1/deputies/deputy-1/points")).status_code == 403
    assert (await api.get("unit-a", "/api/v1/deputies/deputy-1/points")).status_code == 403
    assert (await api.get("leader", "/api/v1/deputies/deputy-1/points")).status_code == 200


async def test_an_office_clerk_who_is_also_the_deputy_cannot_review_their_own_activity(api, system):
    """config/users.yaml: ``office-deputy-3`` works in the office and is deputy-3."""
    r = await report_activity(api, deputy="deputy-3", kind="training", on="2026-02-01")
    assert r.status_code == 201, r.text
    activity = r.json()
    for action, body in (("approve", None), ("reject", {"reason": "自己审自己"})):
        r = await api.post("office-deputy-3", f"/api/v1/activities/{activity['id']}/{action}", body)
        assert r.status_code == 403, r.text
        assert "own" in r.json()["detail"]
    r = await api.get("office", f"/api/v1/activities/{activity['id']}")
    assert r.json()["status"] == "pending"
    # The same clerk reviews another deputy's report; another clerk reviews theirs.
    other = (await report_activity(api, deputy="deputy-1", kind="training", on="2026-02-01")).json()
    r = await api.post("office-deputy-3", f"/api/v1/activities/{other['id']}/approve")
    assert r.status_code == 200, r.text
    r = await api.post("office", f"/api/v1/activities/{activity['id']}/approve")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert r.json()["reviewed_by"] == "office"
    assert await total(api, "deputy-3") > 0


async def test_a_rejection_has_a_reason_and_bad_reports_get_field_errors(api, system):
    activity = (await report_activity(api, kind="training", on="2026-02-01")).json()
    r = await api.post("office", f"/api/v1/activities/{activity['id']}/reject", {"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "reason"]
    r = await api.post("office", f"/api/v1/activities/{activity['id']}/reject",
                       {"reason": "无佐证材料"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = await api.get("deputy-1", f"/api/v1/activities/{activity['id']}")
    assert r.json()["reason"] == "无佐证材料"
    assert await total(api, "deputy-1", "deputy-1") == 0.0

    r = await report_activity(api, kind="karaoke", on="2099-01-01", description="  ")
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert locs == {("body", "date"), ("body", "description")}
    r = await report_activity(api, kind="karaoke")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "kind"]
    assert "unknown activity kind" in r.json()["errors"][0]["msg"]
    r = await report_activity(api, on="not-a-date")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "date"]
    # A deputy reports only their own; the office does not report for them.
    r = await api.post("deputy-2", "/api/v1/deputies/deputy-1/activities",
                       {"kind": "training", "date": "2026-02-01", "description": "培训"})
    assert r.status_code == 403


async def test_registration_scores_lead_and_co_signers_and_a_merge_revokes_it(api, system):
    url = system.nats_url
    source = await register(api, lead="deputy-1", co=["deputy-2"])
    target = await register(api, lead="deputy-3", title="加装电梯资金补贴")
    lead = await wait_total(api, "deputy-1", 3.0)
    await wait_total(api, "deputy-2", 1.0)
    await wait_total(api, "deputy-3", 3.0)
    line = lead["lines"][0]
    assert (line["cause_kind"], line["cause_ref"]) == ("suggestion_registered", source)
    assert line["event_id"].startswith("intake:")

    await publish(url, SuggestionMergedV1, case_id=source, into_suggestion_id=target,
                  lead_deputy_id="deputy-1", co_signer_ids=["deputy-2"], source_number="2026-0001")
    lead = await wait_total(api, "deputy-1", 0.0)
    await wait_total(api, "deputy-2", 0.0)
    revocation = lead["lines"][-1]
    assert revocation["type"] == "revocation" and revocation["points"] == -3.0
    assert target in revocation["reason"] and revocation["refers_to_line"] == 1
    view = (await api.get("office", f"/api/v1/suggestions/{source}")).json()
    assert sorted(p["points"] for p in view["points_awarded"]) == [-3.0, -1.0, 1.0, 3.0]

    await publish(url, SuggestionMergeUndoneV1, case_id=source, into_suggestion_id=target,
                  lead_deputy_id="deputy-1", co_signer_ids=["deputy-2"], reason="误合并")
    await wait_total(api, "deputy-1", 3.0)
    await wait_total(api, "deputy-2", 1.0)

    # Points' part of the case history (GET /cases/{id}/history): the lines and facts about
    # the source, from points' own log (asked directly: other services' parts are not ours).
    r = await rpc(url, "points", "case_history", {"case_id": source})
    assert r["ok"], r
    assert all(c["ok"] for c in r["result"]["chains"])
    points_events = [e["event_type"] for e in r["result"]["events"]]
    assert points_events.count("PointsAwarded") == 4 and points_events.count("PointsRevoked") == 2
    assert "FactRecorded" in points_events and "Opened" not in points_events

    # The target is closed resolved (A) with every deputy satisfied: its lead scores again.
    await publish(url, CaseClosedV1, case_id=target, result_class="A", lead_deputy_id="deputy-3",
                  ratings={"deputy-3": "satisfied"}, all_satisfied=True, rounds=1,
                  replied_on_time=True)
    points = await wait_total(api, "deputy-3", 7.0)
    assert points["lines"][-1]["cause_kind"] == "suggestion_resolved"

    record = (await api.get("deputy-3", "/api/v1/deputies/deputy-3/record")).json()
    [suggestion] = record["suggestions"]
    assert suggestion["case_id"] == target and suggestion["result_class"] == "A"
    assert suggestion["points"] == 7.0 and suggestion["registered_on"] and suggestion["closed_on"]
    indicators = {i["code"]: i["value"] for i in record["indicators"]}
    assert indicators["suggestions"] == 1 and indicators["problem_solving_rate"] == 1.0


async def test_rankings_are_the_same_after_the_read_models_are_rebuilt(api, system):
    await register(api, lead="deputy-3", co=["deputy-1"])
    for deputy in ("deputy-1", "deputy-2"):
        activity = (await report_activity(api, deputy=deputy, kind="inspection_research",
                                          on="2026-02-10")).json()
        r = await api.post("office", f"/api/v1/activities/{activity['id']}/approve")
        assert r.status_code == 200, r.text
    await wait_total(api, "deputy-3", 3.0)
    await wait_total(api, "deputy-1", 4.0)

    r = await api.get("deputy-2", "/api/v1/rankings", year=2026)
    assert r.status_code == 200, r.text
    before = r.json()
    assert [(row["deputy_id"], row["total"]) for row in before["rows"]] == [
        ("deputy-1", 4.0), ("deputy-2", 3.0), ("deputy-3", 3.0), ("deputy-4", 0.0), ("deputy-5", 0.0)]
    # deputy-2 and deputy-3 tie on points and share rank 2 (deputy-2, with an approved
    # activity, is listed first); deputy-4 and deputy-5 share rank 4.
    assert [row["rank"] for row in before["rows"]] == [1, 2, 2, 4, 4]
    group = (await api.get("office", "/api/v1/rankings", year=2026, group="城建环保组")).json()
    assert [row["deputy_id"] for row in group["rows"]] == ["deputy-1", "deputy-3"]
    assert (await api.get("unit-a", "/api/v1/rankings")).status_code == 403

    rebuilt = await rpc(system.nats_url, "points", "rebuild_read_models")
    assert rebuilt["ok"] and rebuilt["result"]["events_applied"]["Rankings"] > 0
    assert (await api.get("deputy-2", "/api/v1/rankings", year=2026)).json() == before
    assert (await api.get("office", "/api/v1/rankings", year=2026,
                          group="城建环保组")).json() == group


async def test_recalculation_under_a_new_rule_version_adds_adjustment_lines(api, system):
    activity = (await report_activity(api, kind="inspection_research", on="2026-02-10")).json()
    await api.post("office", f"/api/v1/activities/{activity['id']}/approve")
    assert await total(api, "deputy-1") == 3.0
    app = system.app("points")
    base = app.rules.version("2026.1")
    app.rules = ScoringRules([*app.rules.versions, {
        **base, "version": "2026.2", "effective_from": "2026-02-20",
        "activities": {**base["activities"], "inspection_research": {"points": 5.0}}}])
    r = await api.post("office", "/api/v1/points/recalculations",
                       {"year": 2026, "rule_version": "2099.1"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "rule_version"]
    r = await api.post("deputy-1", "/api/v1/points/recalculations",
                       {"year": 2026, "rule_version": "2026.2"})
    assert r.status_code == 403
    r = await api.post("office", "/api/v1/points/recalculations",
                       {"year": 2026, "rule_version": "2026.2", "reason": "视察调研分值上调"})
    assert r.status_code == 201, r.text
    recalculation = r.json()
    assert recalculation["total_delta"] == 2.0
    points = (await api.get("deputy-1", "/api/v1/deputies/deputy-1/points")).json()
    assert points["total"] == 5.0
    original, adjustment = points["lines"]
    assert original["rule_version"] == "2026.1" and original["current_rule_version"] == "2026.2"
    assert adjustment["type"] == "adjustment" and adjustment["points"] == 2.0
    assert adjustment["recalculation_id"] == recalculation["id"]
    listed = (await api.get("leader", "/api/v1/points/recalculations", year=2026)).json()
    assert [r["id"] for r in listed] == [recalculation["id"]]


async def test_the_annual_report_is_a_printable_chinese_page(api, system):
    activity = (await report_activity(api, kind="training", on="2026-01-20",
                                      description="参加代表履职培训班")).json()
    await api.post("office", f"/api/v1/activities/{activity['id']}/approve")
    r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/report", year=2026)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "2026年度履职报告" in html and "王建国" in html and "参加代表履职培训班" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    record = (await api.get("office", "/api/v1/deputies/deputy-1/record", year=2026)).json()
    assert record["activities"][0]["date"] == "2026-01-20" and record["total"] == 1.5
    assert len(record["indicators"]) == 8
    assert (await api.get("deputy-2", "/api/v1/deputies/deputy-1/report")).status_code == 403
    assert (await api.get("unit-a", "/api/v1/deputies/deputy-1/record")).status_code == 403
    assert (await api.get("leader", "/api/v1/deputies/deputy-1/report")).status_code == 200
    rules = (await api.get("deputy-1", "/api/v1/points/rules")).json()
    in_force = next(v for v in rules if v["version"] == "2026.1")
    assert in_force["activities"]["reception_day"]["cap"] == {"period": "month", "max_points": 2.0}
    assert len(in_force["indicators"]) == 8


async def test_a_merge_through_intake_revokes_the_sources_points_and_undo_restores_them(api, system):
    """The real upstream flow: intake publishes suggestion_merged / _merge_undone."""
    from tests.harness import eventually

    async def registered(deputy: str, title: str) -> str:
        r = await api.post(deputy, "/api/v1/suggestions",
                           {"title": title, "body": f"{title}，请尽快处理。", "category": "livelihood"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
        assert r.status_code == 200, r.text
        return sid

    async def total(deputy: str) -> float:
        r = await api.get("office", f"/api/v1/deputies/{deputy}/points")
        return r.json()["total"]

    target = await registered("deputy-1", "幸福小区加装电梯")
    source = await registered("deputy-3", "幸福小区老楼加装电梯")

    async def both_scored():
        return await total("deputy-1") == 3.0 and await total("deputy-3") == 3.0

    await eventually(both_scored)
    r = await api.post("office", f"/api/v1/suggestions/{source}/merge", {"into": target})
    assert r.status_code == 200, r.text

    async def source_revoked():
        return await total("deputy-3") == 0.0

    await eventually(source_revoked)
    r = await api.get("office", "/api/v1/deputies/deputy-3/points")
    revoked = [line for line in r.json()["lines"] if line.get("revoked") or line["points"] < 0]
    assert revoked, r.json()
    assert await total("deputy-1") == 3.0

    r = await api.post("office", f"/api/v1/suggestions/{source}/merge/undo", {"reason": "并案有误"})
    assert r.status_code == 200, r.text

    async def restored():
        return await total("deputy-3") == 3.0

    await eventually(restored)

"""Duty points: scoring rules, caps, effective dates, tie-breaking and the ledger aggregate."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.points import rules as R
from services.points.domain import Activity, DomainError, DutyLedger, NotPending, SelfReviewRefused
from shared.clock import CHINA_TZ

V1 = {"version": "2026.1", "effective_from": "2026-01-01",
      "activities": {"reception_day": {"points": 2.0, "cap": {"period": "month", "max_points": 2.0}},
                     "inspection_research": {"points": 3.0, "cap": {"period": "month", "max_points": 6.0}},
                     "training": {"points": 1.5}},
      "automatic": {"suggestion_registered": {"lead": 3.0, "co_signer": 1.0}}}
V2 = {"version": "2026.2", "effective_from": "2026-07-01",
      "activities": {"reception_day": {"points": 3.0, "cap": {"period": "month", "max_points": 3.0}},
                     "inspection_research": {"points": 4.0, "cap": {"period": "month", "max_points": 4.0}}},
      "automatic": {"suggestion_registered": {"lead": 5.0, "co_signer": 2.0}}}
AT = datetime(2026, 3, 10, 9, 0, tzinfo=CHINA_TZ)


def test_the_version_in_force_follows_effective_dates():
    rules = R.ScoringRules([V2, V1])
    assert rules.in_force(date(2026, 1, 1))["version"] == "2026.1"
    assert rules.in_force(date(2026, 6, 30))["version"] == "2026.1"
    assert rules.in_force(date(2026, 7, 1))["version"] == "2026.2"
    with pytest.raises(LookupError, match="no scoring rule"):
        rules.in_force(date(2025, 12, 31))
    assert rules.effective_until("2026.1") == date(2026, 6, 30)
    assert rules.effective_until("2026.2") is None
    assert rules.version("2026.2") is V2 and rules.version("nope") is None


def test_the_configured_rules_have_every_activity_kind_and_eight_indicators():
    from shared.settings import ServiceSettings, load_config

    rules = R.ScoringRules(load_config(ServiceSettings(), "points"))
    rule = rules.in_force(date(2026, 5, 1))
    assert {"meeting_attendance", "standing_committee_observer", "inspection_research",
            "voter_contact", "reception_day", "training", "report_to_voters"} <= set(R.activities(rule))
    assert len(R.indicators(rule)) == 8
    assert {"participation_frequency", "suggestion_quality", "problem_solving_rate"} <= {
        i["code"] for i in R.indicators(rule)}


def test_a_cap_scores_what_is_left_then_zero_and_names_itself():
    cap = {"period": "month", "max_points": 5.0}
    assert R.capped(2.0, cap, "voter_contact", date(2026, 3, 1), 0.0) == (2.0, None)
    points, named = R.capped(2.0, cap, "voter_contact", date(2026, 3, 1), 4.0)
    assert points == 1.0 and "voter_contact" in named and "2026-03" in named
    points, named = R.capped(2.0, cap, "voter_contact", date(2026, 3, 1), 5.0)
    assert points == 0.0 and "per month" in named
    assert R.capped(2.0, None, "training", date(2026, 3, 1), 99.0) == (2.0, None)


def test_period_keys():
    assert R.period_key("month", date(2026, 3, 31)) == "2026-03"
    assert R.period_key("quarter", date(2026, 4, 1)) == "2026-Q2"
    assert R.period_key("year", date(2026, 4, 1)) == "2026"


def _activity_line(ledger: DutyLedger, kind: str, on: date, rule=V1) -> dict:
    spec = rule["activities"][kind]
    cap = spec.get("cap")
    already = ledger.used_in_period(f"activity:{kind}", cap["period"], on) if cap else 0.0
    points, capped_by = R.capped(spec["points"], cap, kind, on, already)
    ledger.award(points=points, cause_kind="activity", cause_ref=f"act-{len(ledger.lines)}",
                 case_id=None, rule_version=rule["version"], awarded_at=AT, earned_on=on,
                 activity_kind=kind, capped_by=capped_by)
    return ledger.lines[-1]


def test_caps_count_per_period_in_the_ledger():
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    first = _activity_line(ledger, "reception_day", date(2026, 3, 16))
    second = _activity_line(ledger, "reception_day", date(2026, 3, 20))
    april = _activity_line(ledger, "reception_day", date(2026, 4, 16))
    assert (first["points"], first["capped_by"]) == (2.0, None)
    assert second["points"] == 0.0 and "reception_day" in second["capped_by"]
    assert april["points"] == 2.0
    assert ledger.total == 4.0 and ledger.approved_activities() == 3
    # A revoked line no longer uses the cap.
    ledger.revoke_line(first["line_no"], "重复登记", AT)
    assert _activity_line(ledger, "reception_day", date(2026, 3, 25))["points"] == 2.0


def test_revocation_is_a_line_with_a_reason_and_only_once():
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    ledger.award(points=3.0, cause_kind="suggestion_registered", cause_ref="case-1",
                 case_id="case-1", rule_version="2026.1", awarded_at=AT,
                 details={"role": "lead"})
    line = ledger.revoke_line(1, "merged", AT, event_id="intake:9")
    assert line["type"] == "revocation" and line["points"] == -3.0 and line["reason"] == "merged"
    assert line["refers_to_line"] == 1 and ledger.lines[0]["revoked_by"] == 2
    assert ledger.total == 0.0
    assert ledger.live_award("suggestion_registered", "case-1") is None
    assert ledger.revoked_award("suggestion_registered", "case-1")["line_no"] == 1
    with pytest.raises(DomainError, match="already revoked"):
        ledger.revoke_line(1, "again", AT)
    with pytest.raises(DomainError, match="not an award"):
        ledger.revoke_line(2, "a revocation", AT)


def test_recalculation_prices_lines_again_under_a_new_version_with_caps():
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    _activity_line(ledger, "reception_day", date(2026, 3, 16))          # 2.0
    _activity_line(ledger, "inspection_research", date(2026, 3, 1))     # 3.0
    _activity_line(ledger, "inspection_research", date(2026, 3, 2))     # 3.0
    _activity_line(ledger, "training", date(2026, 3, 3))                # 1.5
    ledger.award(points=3.0, cause_kind="suggestion_registered", cause_ref="case-1",
                 case_id="case-1", rule_version="2026.1", awarded_at=AT,
                 details={"role": "lead"})
    assert ledger.total == 12.5
    results = {r["line_no"]: r for r in R.recalculate(V2, ledger.lines)}
    assert results[1]["new"] == 3.0                     # reception day: 3 under 2026.2
    assert results[2]["new"] == 4.0                     # first inspection: 4, the cap
    assert results[3]["new"] == 0.0 and results[3]["capped_by"]  # second one: capped
    assert results[4]["new"] == 0.0                     # training is not scored by 2026.2
    assert results[5]["new"] == 5.0                     # registration, lead
    ledger.recalculated(recalculation_id="r1", rule_version="2026.2",
                        adjustments=list(results.values()), reason="新规则", recalculated_at=AT)
    adjustments = [l for l in ledger.lines if l["type"] == "adjustment"]
    assert [a["refers_to_line"] for a in adjustments] == [1, 2, 3, 4, 5]
    assert all(a["recalculation_id"] == "r1" and a["rule_version"] == "2026.2" for a in adjustments)
    assert ledger.total == 3.0 + 4.0 + 0 + 0 + 5.0
    # The original lines keep the version they were earned under; they now count under 2026.2.
    assert ledger.lines[0]["rule_version"] == "2026.1"
    assert ledger.lines[0]["current_rule_version"] == "2026.2"
    # Recalculating again under the same version changes nothing.
    assert all(r["delta"] == 0 for r in R.recalculate(V2, ledger.lines))


def test_equal_totals_share_a_rank_and_are_listed_by_activities_then_deputy_id():
    rows = [
        {"deputy_id": "deputy-3", "total": 5.0, "approved_activities": 2},
        {"deputy_id": "deputy-1", "total": 5.0, "approved_activities": 2},
        {"deputy_id": "deputy-2", "total": 5.0, "approved_activities": 3},
        {"deputy_id": "deputy-4", "total": 7.0, "approved_activities": 0},
        {"deputy_id": "deputy-5", "total": 0.0, "approved_activities": 0},
    ]
    ranked = R.rank(rows)
    assert [r["deputy_id"] for r in ranked] == ["deputy-4", "deputy-2", "deputy-1", "deputy-3", "deputy-5"]
    assert [r["rank"] for r in ranked] == [1, 2, 2, 2, 5]  # 并列第二, then fifth
    assert [r["tied_on_points"] for r in ranked] == [False, True, True, True, False]
    assert R.rank(list(reversed(rows))) == ranked


def test_a_deputy_can_never_review_their_own_activity():
    activity = Activity(deputy_id="deputy-1", kind="training", on=date(2026, 3, 1),
                        description="培训", evidence=None, submitted_by="deputy-1",
                        submitted_at=AT)
    with pytest.raises(SelfReviewRefused):
        activity.check_reviewable_by("deputy-1", "deputy-1")
    with pytest.raises(SelfReviewRefused):  # even under another account of the same deputy
        activity.check_reviewable_by("wang-office", "deputy-1")
    activity.check_reviewable_by("office", None)
    activity.reject(reviewed_by="office", reviewed_at=AT, reason="无佐证")
    with pytest.raises(NotPending):
        activity.check_reviewable_by("office", None)


def test_indicators_from_lines_and_facts():
    rule = {"indicators": [
        {"code": "participation_frequency", "measure": "activities", "kinds": "all"},
        {"code": "inspection_research", "measure": "activities", "kinds": ["inspection_research"]},
        {"code": "citizen_messages", "measure": "messages_answered"},
        {"code": "suggestions", "measure": "suggestions_registered"},
        {"code": "suggestion_quality", "measure": "suggestion_satisfied_rate"},
        {"code": "problem_solving_rate", "measure": "suggestion_resolved_rate"},
    ]}
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    _activity_line(ledger, "inspection_research", date(2026, 3, 1))
    _activity_line(ledger, "training", date(2026, 3, 2))
    on = date(2026, 3, 5)
    for case in ("c1", "c2", "c3"):
        ledger.record_fact("suggestion_registered", case, on, {"role": "lead"})
    ledger.record_fact("suggestion_merged", "c3", on, {"into": "c1"})
    ledger.record_fact("message_answered", "m1", on, {})
    ledger.record_fact("case_closed", "c1", on, {"result_class": "A", "all_satisfied": True})
    ledger.record_fact("case_closed", "c2", on, {"result_class": "B", "all_satisfied": True})
    values = {i["code"]: i["value"] for i in R.compute_indicators(rule, ledger.lines, ledger.facts)}
    assert values == {"participation_frequency": 2, "inspection_research": 1, "citizen_messages": 1,
                      "suggestions": 2, "suggestion_quality": 1.0, "problem_solving_rate": 0.5}
    empty = DutyLedger(deputy_id="deputy-2", year=2026)
    assert {i["code"]: i["value"] for i in R.compute_indicators(rule, [], [])}[
        "problem_solving_rate"] is None
    assert empty.total == 0


def test_a_version_1_snapshot_is_upcast():
    from eventsourcing.domain import Snapshot

    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    ledger.award(points=3.0, cause_kind="suggestion_registered", cause_ref="case-1",
                 case_id="case-1", rule_version="2026.1", awarded_at=AT)
    snapshot = Snapshot.take(ledger)
    old_state = {"deputy_id": "deputy-1", "year": 2026, "lines": [{
        "points": 3.0, "cause_kind": "suggestion_registered", "cause_ref": "case-1",
        "case_id": "case-1", "rule_version": "2026.1", "awarded_at": AT.isoformat()}]}
    old = Snapshot(originator_id=snapshot.originator_id, originator_version=2,
                   timestamp=snapshot.timestamp, topic=snapshot.topic, state=old_state)
    restored = old.mutate(None)
    assert restored.facts == [] and restored.lines[0]["line_no"] == 1
    assert restored.live_award("suggestion_registered", "case-1")["current_points"] == 3.0
    restored.revoke_line(1, "merged", AT)
    assert restored.total == 0.0

"""Domain rules, without infrastructure."""

from __future__ import annotations

from copy import deepcopy
from datetime import date, datetime, timedelta, timezone

import pytest

from services.assignment.domain import Assignment, deadline_after
from services.intake.domain import RegistrationSequence, Suggestion
from services.points.application import ScoringRules
from services.points.domain import DutyLedger
from shared.clock import CHINA_TZ
from shared.errors import NotAllowedInState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)


def a_suggestion() -> Suggestion:
    return Suggestion(title="t", body="b", category="livelihood", lead_deputy_id="deputy-1",
                      co_signer_ids=["deputy-2"], station_id=None, submitted_at=NOW)


def test_registration_gives_the_number_category_and_urgency():
    s = a_suggestion()
    s.register(number="2026-0007", category="ecology", urgency="red", registered_at=NOW)
    assert (s.status, s.number, s.category, s.urgency) == ("registered", "2026-0007", "ecology", "red")
    assert s.deputy_ids == ["deputy-1", "deputy-2"]


@pytest.mark.parametrize("first", ["register", "decline"])
def test_a_reviewed_suggestion_cannot_be_reviewed_again(first):
    s = a_suggestion()
    if first == "register":
        s.register(number="2026-0001", category="livelihood", urgency="blue", registered_at=NOW)
    else:
        s.decline(reason="不属于建议范围", declined_at=NOW)
    with pytest.raises(NotAllowedInState):
        s.register(number="2026-0002", category="livelihood", urgency="blue", registered_at=NOW)
    with pytest.raises(NotAllowedInState):
        s.decline(reason="again", declined_at=NOW)


def test_the_yearly_sequence_counts_without_gaps_and_per_year():
    seq = RegistrationSequence(year=2026)
    numbers = []
    for i in range(3):
        seq.allocate(suggestion_id=str(i))
        numbers.append(seq.last_number)
    assert numbers == ["2026-0001", "2026-0002", "2026-0003"]
    assert RegistrationSequence.create_id(2026) != RegistrationSequence.create_id(2027)


def test_an_assignment_happens_once():
    a = Assignment(case_id="c1", number="2026-0001", title="t", category="ecology", urgency="red",
                   district=None, proposed_lead_unit_id="unit-c", proposed_co_unit_ids=["unit-a"],
                   routing_rule_id="rule-ecology")
    tasks = a.assign("unit-c", ["unit-a"], assigned_at=NOW, automatic=True)
    assert [(t.unit_id, t.role) for t in tasks] == [("unit-c", "lead"), ("unit-a", "co")]
    assert a.task_ids == [str(t.id) for t in tasks]
    with pytest.raises(NotAllowedInState):
        a.assign("unit-b", [], assigned_at=NOW, automatic=False)


@pytest.mark.parametrize(
    ("assigned_at", "deadline"),
    [
        (datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ), date(2026, 6, 2)),
        (datetime(2026, 11, 30, 9, 0, tzinfo=CHINA_TZ), date(2027, 2, 28)),  # month end
        # 20:00 UTC on 31 Dec is already 1 Jan in China.
        (datetime(2026, 12, 31, 20, 0, tzinfo=timezone.utc), date(2027, 4, 1)),
    ],
)
def test_a_suggestion_is_due_three_months_after_assignment(assigned_at, deadline):
    assert deadline_after(assigned_at, 3) == deadline


def test_a_ledger_totals_its_lines_and_knows_their_causes():
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    ledger.award(points=3.0, cause_kind="suggestion_registered", cause_ref="c1", case_id="c1",
                 rule_version="2026.1", awarded_at=NOW)
    ledger.award(points=1.5, cause_kind="activity", cause_ref="a1", case_id=None,
                 rule_version="2026.1", awarded_at=NOW + timedelta(days=1))
    assert ledger.total == 4.5
    assert ledger.has_cause("suggestion_registered", "c1")
    assert not ledger.has_cause("suggestion_registered", "c2")


def test_a_copy_of_a_ledger_shares_nothing_a_command_changes():
    ledger = DutyLedger(deputy_id="deputy-1", year=2026)
    ledger.award(points=3.0, cause_kind="suggestion_registered", cause_ref="c1", case_id="c1",
                 rule_version="2026.1", awarded_at=NOW, details={"role": "lead"})
    ledger.record_fact("suggestion_registered", "c1", NOW.date(), {"role": "lead"})
    ledger.collect_events()
    copy = deepcopy(ledger)
    copy.revoke_line(1, "entered twice", NOW + timedelta(days=1))
    copy.award(points=1.0, cause_kind="activity", cause_ref="a1", case_id=None,
               rule_version="2026.1", awarded_at=NOW)
    copy.record_fact("case_closed", "c1", NOW.date(), {})

    later = deepcopy(copy)
    later.recalculated(recalculation_id="r1", rule_version="2026.2", reason="new rules",
                       adjustments=[{"line_no": 3, "delta": 0.5, "new": 1.5}],
                       recalculated_at=NOW)
    assert later.lines[2]["current_points"] == 1.5 and later.lines[3]["type"] == "adjustment"
    assert later.lines[2]["current_rule_version"] == "2026.2"

    assert [l["type"] for l in copy.lines] == ["award", "revocation", "award"]
    assert copy.lines[0]["revoked_by"] == 2 and copy.total == 1.0
    assert copy.lines[2]["current_points"] == 1.0
    assert copy.lines[2]["current_rule_version"] == "2026.1"
    assert len(copy.pending_events) == 3 and copy.version == ledger.version + 3
    # the original is as it was
    assert len(ledger.lines) == 1 and ledger.lines[0]["revoked_by"] is None
    assert ledger.lines[0]["current_points"] == 3.0 and ledger.total == 3.0
    assert len(ledger.facts) == 1 and not ledger.pending_events
    assert ledger.live_award("suggestion_registered", "c1") is not None


def test_scoring_rules_apply_from_their_effective_date():
    rules = ScoringRules([
        {"version": "2026.1", "effective_from": "2026-01-01"},
        {"version": "2026.2", "effective_from": "2026-07-01"},
    ])
    assert rules.in_force(date(2026, 6, 30))["version"] == "2026.1"
    assert rules.in_force(date(2026, 7, 1))["version"] == "2026.2"
    with pytest.raises(LookupError):
        rules.in_force(date(2025, 12, 31))

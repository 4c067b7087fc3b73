"""The livelihood-project aggregates alone: the ballot's tally, its close (counted once,
ties at the cut-off), a deputy's one ballot and a project's milestones and evaluation."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.projects.domain import Ballot, DeputyBallot, FollowedProject
from services.projects.errors import (AlreadyEvaluated, InvalidChoice, NotTheUnit,
                                      WrongState)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def ballot(seats: int = 2, max_choices: int = 2) -> Ballot:
    b = Ballot(session="区第七届人大第五次会议", year=2026, title="票决", max_choices=max_choices,
               seats=seats, candidates=[{"proposal_id": p, "title": t, "unit_id": None}
                                        for p, t in (("a", "甲"), ("b", "乙"), ("c", "丙"))],
               drafted_at=NOW)
    return b


def test_votes_are_counted_only_while_open_and_within_the_ballots_rules():
    b = ballot()
    with pytest.raises(WrongState, match="not open"):
        b.count(["a"])
    b.open(NOW)
    for bad in ([], ["a", "a"], ["a", "b", "c"], ["z"]):
        with pytest.raises(InvalidChoice):
            b.count(bad)
    b.count(["a", "b"])
    b.count(["a"])
    assert b.tally == {"a": 2, "b": 1, "c": 0} and b.ballots_cast == 2
    results = b.close(NOW)
    assert results["chosen"] == ["a", "b"] and results["ties"] == []
    with pytest.raises(WrongState, match="closed"):
        b.count(["c"])
    with pytest.raises(WrongState):
        b.close(NOW)  # once


def test_a_tie_at_the_cut_off_is_reported_not_chosen():
    b = ballot(seats=2, max_choices=1)
    b.open(NOW)
    for choice in ("a", "a", "b", "c"):
        b.count([choice])
    results = b.close(NOW)
    assert results["chosen"] == ["a"] and sorted(results["ties"]) == ["b", "c"]
    rows = {r["proposal_id"]: r for r in results["rows"]}
    assert rows["b"]["rank"] == rows["c"]["rank"] == 2 and rows["b"]["tied"]


def test_the_replayed_ballot_has_the_same_frozen_results():
    b = ballot()
    b.open(NOW)
    b.count(["c"])
    b.close(NOW)
    events = b.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed.results == b.results and replayed.status == "closed"
    assert not any("deputy" in k for e in events for k in vars(e))  # no voter on the ballot


def test_one_deputy_ballot_per_ballot_and_deputy():
    assert DeputyBallot.create_id("b1", "d1") == DeputyBallot.create_id("b1", "d1")
    assert DeputyBallot.create_id("b1", "d1") != DeputyBallot.create_id("b1", "d2")
    marker = DeputyBallot(ballot_id="b1", deputy_id="d1", cast_at=NOW)
    assert marker.id == DeputyBallot.create_id("b1", "d1") and not hasattr(marker, "choices")


def test_a_project_is_reported_by_its_unit_completed_and_evaluated_once_per_deputy():
    p = FollowedProject(ballot_id="b1", proposal_id="a", title="甲", unit_id="unit-a",
                        session="s", year=2026, votes=3, adopted_at=NOW)
    p.plan_milestone("m1", "开工", date(2026, 6, 30))
    with pytest.raises(NotTheUnit):
        p.report("m1", "unit-b", "进展", True, NOW, date(2026, 5, 1))
    with pytest.raises(WrongState):
        p.complete(NOW)  # a milestone is not done
    p.report("m1", "unit-a", "已开工", True, NOW, date(2026, 7, 2))
    assert p.milestones[0]["done_on"] == "2026-07-02"
    with pytest.raises(WrongState):
        p.report("m1", "unit-a", "again", True, NOW, date(2026, 7, 3))
    with pytest.raises(WrongState):
        p.evaluate("d1", "satisfied", "", NOW)  # not completed yet
    p.complete(NOW)
    p.evaluate("d1", "satisfied", "", NOW)
    with pytest.raises(AlreadyEvaluated):
        p.evaluate("d1", "unsatisfied", "", NOW)
    p.evaluate("d2", "basically_satisfied", "", NOW)
    summary = p.close_evaluation(NOW)
    assert summary == {"evaluations": 2, "satisfied": 1, "basically_satisfied": 1,
                       "unsatisfied": 0, "satisfaction_rate": 1.0}
    with pytest.raises(WrongState):
        p.evaluate("d3", "satisfied", "", NOW)

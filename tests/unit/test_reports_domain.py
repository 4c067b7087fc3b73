"""A report to voters alone: codes evaluate once, only while held, and the close summarises."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.reports.domain import VoterReport
from services.reports.errors import AlreadyEvaluated, UnknownParticipant, WrongState

NOW = datetime(2026, 5, 16, 2, 0, tzinfo=timezone.utc)
YES = {"overall": "satisfied", "duty": "satisfied", "contact": "basically_satisfied"}


def test_each_code_evaluates_once_while_held_and_the_close_is_final():
    r = VoterReport(deputy_id="deputy-1", title="述职", scheduled_on=date(2026, 5, 16),
                    place="站", year=2026, code_hashes=["h1", "h2"], scheduled_at=NOW)
    with pytest.raises(WrongState):
        r.evaluate("h1", YES, "", NOW)  # not held yet
    r.hold(date(2026, 5, 16), 30)
    with pytest.raises(UnknownParticipant):
        r.evaluate("h9", YES, "", NOW)
    with pytest.raises(WrongState):
        r.evaluate("h1", {"overall": "satisfied"}, "", NOW)  # every question
    r.evaluate("h1", YES, "", NOW)
    with pytest.raises(AlreadyEvaluated):
        r.evaluate("h1", YES, "", NOW)
    r.evaluate("h2", {**YES, "contact": "unsatisfied"}, "", NOW)
    summary = r.close_evaluation()
    assert summary["evaluations"] == 2
    assert summary["contact"] == {"satisfied": 0, "basically_satisfied": 1, "unsatisfied": 1,
                                  "satisfaction_rate": 0.5}
    with pytest.raises(WrongState):
        r.close_evaluation()
    replayed = None
    for e in r.collect_events():
        replayed = e.mutate(replayed)
    assert replayed.summary == summary and replayed.status == "evaluated"

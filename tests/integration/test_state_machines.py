"""Random command sequences keep each aggregate's invariants, and state rebuilt from the stored
events equals the live state — on SQLite and PostgreSQL (hypothesis state machines)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from services.intake.application import (
    DeclineSuggestion,
    IntakeApplication,
    RegisterSuggestion,
    SubmitSuggestion,
)
from services.points.application import PointsApplication
from services.points.domain import DutyLedger
from shared.clock import CHINA_TZ, ManualClock
from shared.eventstore import Actor
from shared.errors import DomainError
from shared.rpc import Conflict
from shared.settings import ServiceSettings

# refused, answered 409: by the application (Conflict) or by the domain's rules
REFUSED = (Conflict, DomainError)

DEPUTIES = ["deputy-1", "deputy-2", "deputy-3", "deputy-4", "deputy-5"]
CATEGORIES = ["safety_hazard", "livelihood", "ecology", "economy"]
RUN = settings(max_examples=12, stateful_step_count=15, deadline=None,
               suppress_health_check=list(HealthCheck))


def test_suggestion_lifecycle(store, tmp_path):
    counter = iter(range(10**6))

    class SuggestionMachine(RuleBasedStateMachine):
        suggestions = Bundle("suggestions")

        def __init__(self) -> None:
            super().__init__()
            n = next(counter)
            extra = ({"var_dir": tmp_path / f"run{n}"} if store["event_store"] == "sqlite"
                     else {"postgres_schema_prefix": f"{store['postgres_schema_prefix']}sm{n}_"})
            self.settings = ServiceSettings(service_name="intake", **{**store, **extra})
            self.clock = ManualClock(datetime(2026, 5, 1, 9, tzinfo=CHINA_TZ))
            self.app = IntakeApplication(self.settings, clock=self.clock)
            self.model: dict[str, str] = {}
            self.numbers: list[str] = []

        @rule(target=suggestions, lead=st.sampled_from(DEPUTIES), category=st.sampled_from(CATEGORIES),
              co=st.lists(st.sampled_from(DEPUTIES), max_size=3, unique=True))
        def submit(self, lead, category, co):
            co = [d for d in co if d != lead]
            result = self.app.submit_suggestion(
                SubmitSuggestion(title="建议", body="内容", category=category, co_signers=co),
                Actor(lead, "deputy", deputy_id=lead))
            self.model[result["id"]] = "submitted"
            return result["id"]

        @rule(sid=suggestions, urgency=st.sampled_from(["red", "yellow", "blue"]))
        def register(self, sid, urgency):
            self.clock.advance(timedelta(hours=1))
            try:
                result = self.app.register_suggestion(
                    RegisterSuggestion(suggestion_id=sid, urgency=urgency), Actor("office", "office"))
            except REFUSED:
                assert self.model[sid] != "submitted"
                return
            assert self.model[sid] == "submitted"
            self.model[sid] = "registered"
            self.numbers.append(result["number"])

        @rule(sid=suggestions)
        def decline(self, sid):
            try:
                self.app.decline_suggestion(DeclineSuggestion(suggestion_id=sid, reason="不予立案"),
                                            Actor("office", "office"))
            except REFUSED:
                assert self.model[sid] != "submitted"
                return
            assert self.model[sid] == "submitted"
            self.model[sid] = "declined"

        @invariant()
        def numbers_are_gap_free_and_unique(self):
            assert self.numbers == [f"2026-{i:04d}" for i in range(1, len(self.numbers) + 1)]

        def teardown(self):
            rebuilt = IntakeApplication(self.settings, clock=self.clock)
            try:
                for sid, status in self.model.items():
                    live = self.app.get_suggestion(type("R", (), {"suggestion_id": sid})(),
                                                   Actor("office", "office"))
                    again = rebuilt.get_suggestion(type("R", (), {"suggestion_id": sid})(),
                                                   Actor("office", "office"))
                    assert live == again
                    assert live["status"] == status
                    assert (live["number"] is not None) == (status == "registered")
            finally:
                rebuilt.close()
                self.app.close()

    run_state_machine_as_test(SuggestionMachine, settings=RUN)


def test_duty_ledger(store, tmp_path):
    counter = iter(range(10**6))

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            n = next(counter)
            extra = ({"var_dir": tmp_path / f"run{n}"} if store["event_store"] == "sqlite"
                     else {"postgres_schema_prefix": f"{store['postgres_schema_prefix']}lm{n}_"})
            self.settings = ServiceSettings(service_name="points", **{**store, **extra})
            self.app = PointsApplication(self.settings)
            self.expected: dict[str, float] = {}

        @rule(deputy=st.sampled_from(DEPUTIES), points=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
              cause=st.integers(0, 5))
        def award(self, deputy, points, cause):
            ledger = self.app.ledger(deputy, 2026)
            if ledger.has_cause("activity", str(cause)):
                return  # a cause scores once
            ledger.award(points=points, cause_kind="activity", cause_ref=str(cause), case_id=None,
                         rule_version="2026.1", awarded_at=datetime(2026, 6, 1, tzinfo=CHINA_TZ))
            self.app.save(ledger)
            self.expected[deputy] = self.expected.get(deputy, 0) + points

        @invariant()
        def totals_match(self):
            for deputy, total in self.expected.items():
                assert self.app.ledger(deputy, 2026).total == pytest.approx(total)

        def teardown(self):
            rebuilt = PointsApplication(self.settings)
            try:
                for deputy in self.expected:
                    live = self.app.repository.get(DutyLedger.create_id(deputy, 2026))
                    again = rebuilt.repository.get(DutyLedger.create_id(deputy, 2026))
                    assert live.lines == again.lines and live.version == again.version
            finally:
                rebuilt.close()
                self.app.close()

    run_state_machine_as_test(LedgerMachine, settings=RUN)

"""Random sequences of supervision commands on one case (replies, ratings, reviews, close-out,
time passing) keep the case's invariants, and the state rebuilt from the stored events equals
the live state — on SQLite and PostgreSQL (a hypothesis state machine over the task and case)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from services.supervision.application import (
    CaseRef,
    RateCase,
    RecordReview,
    ReplyToTask,
    TaskNote,
    TaskRef,
)
from services.supervision.bootstrap import build_runtime
from shared.clock import ManualClock
from shared.eventstore import Actor
from services.supervision.errors import RuleViolation
from shared.rpc import Conflict
from tests.harness import service_settings
from tests.integration.test_supervision_rules import UNIT_A, at, case_id, open_case, task_id

# refused, answered 409: by the application (Conflict) or by the domain's rules
REFUSED = (Conflict, RuleViolation)

OFFICE = Actor(username="office", role="office")
DEPUTIES = {d: Actor(username=d, role="deputy", deputy_id=d) for d in ("deputy-1", "deputy-2")}
RUN = settings(max_examples=10, stateful_step_count=20, deadline=None,
               suppress_health_check=list(HealthCheck))


def test_supervised_case_lifecycle(store):
    counter = iter(range(10**6))
    clock = ManualClock(at("2026-03-02"))
    runtime = build_runtime(service_settings("nats://127.0.0.1:1", store), clock=clock)
    app = runtime.app
    max_rounds = 1 + app.rules.max_rehandling_rounds

    class CaseMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.i = next(counter)
            clock.set(at("2026-03-02"))
            open_case(app, self.i, co_signers=["deputy-2"])
            app.record_contact(TaskNote(task_id=task_id(self.i), note="已联系"), UNIT_A)
            self.closed = False

        def case(self) -> dict:
            return app.get_case(CaseRef(case_id=case_id(self.i)), OFFICE)

        @rule(klass=st.sampled_from(["A", "B", "C"]))
        def reply(self, klass: str) -> None:
            commitment = clock.now().date() + timedelta(days=10) if klass == "B" else None
            before = self.case()
            try:
                app.reply(ReplyToTask(task_id=task_id(self.i), result_class=klass, text="答复",
                                      commitment_date=commitment), UNIT_A)
            except REFUSED:
                # only refused when this round was already replied to or the case is closed
                assert before["reply"] is not None and before["reply"]["round"] == before["round"] \
                    or before["status"] == "closed"
                return
            assert self.case()["status"] == "replied"

        @rule(deputy=st.sampled_from(sorted(DEPUTIES)),
              rating=st.sampled_from(["satisfied", "basically_satisfied", "unsatisfied"]))
        def rate(self, deputy: str, rating: str) -> None:
            before = self.case()
            try:
                after = app.rate(RateCase(case_id=case_id(self.i), rating=rating), DEPUTIES[deputy])
            except REFUSED:
                return
            assert before["status"] == "replied"
            if rating == "unsatisfied":
                reopened = after["round"] == before["round"] + 1
                escalated = len(after["escalations"]) == len(before["escalations"]) + 1
                assert reopened != escalated  # exactly one of them
                assert escalated == (before["round"] == max_rounds)

        @rule(outcome=st.sampled_from(["kept", "partly_kept", "not_kept"]))
        def review(self, outcome: str) -> None:
            open_reviews = [r for r in self.case()["follow_up_reviews"] if r["outcome"] is None]
            if not open_reviews:
                return
            try:
                app.record_review(RecordReview(case_id=case_id(self.i),
                                               review_id=open_reviews[0]["review_id"],
                                               outcome=outcome, note="回头看"), OFFICE)
            except REFUSED:
                pass  # a not-kept review with the rounds used up has nothing to reopen

        @rule()
        def close(self) -> None:
            before = self.case()
            try:
                after = app.close_case(CaseRef(case_id=case_id(self.i)), OFFICE)
            except REFUSED:
                assert before["missing_for_close_out"] or before["status"] == "closed"
                return
            assert not before["missing_for_close_out"] and after["status"] == "closed"

        @precondition(lambda self: clock.now().date() < date(2026, 12, 1))
        @rule(days=st.integers(min_value=1, max_value=40))
        def time_passes(self, days: int) -> None:
            clock.advance(timedelta(days=days))
            runtime.catch_up()
            app.sweep([task_id(self.i)], [case_id(self.i)])

        @invariant()
        def rounds_are_consistent(self) -> None:
            case = self.case()
            task = app.get_task(TaskRef(task_id=task_id(self.i)), OFFICE)
            assert case["round"] == 1 + len(case["rehandling_rounds"]) <= max_rounds
            assert task["round"] == case["round"]
            per_round = [(r["deputy_id"], r["round"]) for r in case["ratings"]]
            assert len(per_round) == len(set(per_round))  # one rating per deputy and round
            if case["status"] == "closed":
                assert task["status"] == "closed"

        @invariant()
        def rebuilt_state_equals_live_state(self) -> None:
            again = build_runtime(service_settings("nats://127.0.0.1:1", store), clock=clock)
            try:
                ref = CaseRef(case_id=case_id(self.i))
                assert again.app.get_case(ref, OFFICE) == app.get_case(ref, OFFICE)
                t = TaskRef(task_id=task_id(self.i))
                assert again.app.get_task(t, OFFICE) == app.get_task(t, OFFICE)
            finally:
                again.app.close()

    try:
        run_state_machine_as_test(CaseMachine, settings=RUN)
    finally:
        app.close()

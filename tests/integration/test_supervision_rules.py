"""Supervision rules over a real event store: lapsed ratings, the cap on re-handling rounds,
co-unit opinions, withdrawn tasks, leadership escalation target, rebuilt state equals live."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from services.supervision.application import (
    CaseRef,
    RateCase,
    RecordReview,
    ReplyToTask,
    SubmitOpinion,
    TaskNote,
    TaskRef,
)
from services.supervision.bootstrap import build_runtime
from shared.clock import ManualClock
from shared.contracts.assignment import LeadershipDesignatedV1, TaskAssignedV1, TaskWithdrawnV1
from shared.contracts.intake import SuggestionMergedV1, SuggestionRegisteredV1
from shared.eventstore import Actor
from services.supervision.errors import RuleViolation
from shared.rpc import Conflict
from tests.harness import service_settings
from tests.integration.test_supervision_figures import (
    DEPUTY,
    OFFICE,
    at,
    case_id,
    envelope,
    task_id,
)

UNIT_A = Actor(username="unit-a", role="unit", unit_id="unit-a")
UNIT_C = Actor(username="unit-c", role="unit", unit_id="unit-c")
DEPUTY_2 = Actor(username="deputy-2", role="deputy", deputy_id="deputy-2")


@pytest.fixture
def supervision(store):
    clock = ManualClock(at("2026-03-02"))
    runtime = build_runtime(service_settings("nats://127.0.0.1:1", store), clock=clock)
    yield runtime, clock
    runtime.app.close()


def open_case(app, i: int = 0, co_unit: bool = False, co_signers=()) -> None:
    app.save(*app.on_suggestion_registered(SuggestionRegisteredV1(
        **envelope(i, 100 * i + 1), number=f"2026-{i + 1:04d}", title="建议", category="livelihood",
        urgency="red", lead_deputy_id="deputy-1", co_signer_ids=list(co_signers))))
    app.save(*app.on_task_assigned(TaskAssignedV1(
        **envelope(i, 100 * i + 2), task_id=task_id(i), unit_id="unit-a", role="lead",
        assigned_at=at("2026-03-02"), deadline=date(2026, 4, 30), title="建议",
        category="livelihood", urgency="red")))
    if co_unit:
        app.save(*app.on_task_assigned(TaskAssignedV1(
            **envelope(i, 100 * i + 3), task_id=task_id(1000 + i), unit_id="unit-c", role="co",
            assigned_at=at("2026-03-02"), deadline=date(2026, 4, 20), title="建议",
            category="livelihood", urgency="red")))


def reply(app, i: int = 0, klass: str = "A", **kw) -> None:
    app.record_contact(TaskNote(task_id=task_id(i), note="已联系"), UNIT_A)
    app.reply(ReplyToTask(task_id=task_id(i), result_class=klass, text="答复", **kw), UNIT_A)


def test_a_rating_not_given_in_time_is_recorded_as_lapsed_and_close_out_proceeds(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app, co_signers=["deputy-2"])
    clock.set(at("2026-04-01"))
    reply(app)
    app.rate(RateCase(case_id=case_id(0), rating="satisfied"), DEPUTY)
    with pytest.raises(Conflict, match="deputy-2"):
        app.close_case(CaseRef(case_id=case_id(0)), OFFICE)
    runtime.catch_up()
    clock.set(at("2026-05-01"))  # 30 days after the reply: the period has not ended yet
    assert app.sweep([], runtime.projections[0].case_ids_awaiting_ratings()) == 0
    clock.set(at("2026-05-02"))
    assert app.sweep([], runtime.projections[0].case_ids_awaiting_ratings()) == 1
    assert app.sweep([], [case_id(0)]) == 0  # recorded once
    closed = app.close_case(CaseRef(case_id=case_id(0)), OFFICE)
    assert closed["status"] == "closed" and closed["rating_lapsed"] == ["deputy-2"]
    case = app.repository.get(UUID(case_id(0)))
    assert case.final["ratings"] == {"deputy-1": "satisfied", "deputy-2": None}
    assert case.final["all_satisfied"] is True


def test_rehandling_rounds_are_capped_and_then_escalate_to_the_designee(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app)
    app.save(*app.on_leadership_designated(LeadershipDesignatedV1(
        **envelope(0, 50), designee_id="leader-1", designee_name="常委会副主任",
        designee_kind="leader", mode="supervise")))
    for round_ in (1, 2, 3):
        reply(app)
        view = app.rate(RateCase(case_id=case_id(0), rating="unsatisfied"), DEPUTY)
        if round_ < 3:
            assert view["round"] == round_ + 1 and view["status"] == "rehandling"
    # max_rehandling_rounds is 2: the third unsatisfied rating escalates instead of reopening
    assert view["round"] == 3 and view["status"] == "replied"
    assert view["escalations"] == [{"reason": "rehandling_cap", "escalated_to": "leader-1", "round": 3}]
    assert [r["round"] for r in view["rehandling_rounds"]] == [2, 3]


def test_co_unit_sends_an_opinion_and_only_the_lead_replies(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app, co_unit=True)
    with pytest.raises(RuleViolation, match="opinion"):
        app.reply(ReplyToTask(task_id=task_id(1000), result_class="A", text="x"), UNIT_C)
    with pytest.raises(RuleViolation, match="lead unit replies"):
        app.submit_opinion(SubmitOpinion(task_id=task_id(0), text="x"), UNIT_A)
    clock.set(at("2026-04-25"))  # after the co-unit's deadline: its opinion is late
    view = app.submit_opinion(SubmitOpinion(task_id=task_id(1000), text="会办意见"), UNIT_C)
    assert view["status"] == "replied" and view["colour"] == "red"
    assert app.get_case(CaseRef(case_id=case_id(0)), OFFICE)["co_opinions"][0]["text"] == "会办意见"


def test_a_withdrawn_task_stops_and_the_replacement_is_followed(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app)
    app.save(*app.on_task_withdrawn(TaskWithdrawnV1(
        **envelope(0, 60), task_id=task_id(0), unit_id="unit-a", reason="职责不符",
        replaced_by_task_id=task_id(2000))))
    with pytest.raises(RuleViolation, match="withdrawn"):
        reply(app)
    app.save(*app.on_task_assigned(TaskAssignedV1(
        **envelope(0, 61), task_id=task_id(2000), unit_id="unit-c", role="lead",
        assigned_at=at("2026-03-05"), deadline=date(2026, 6, 5), title="建议",
        category="livelihood", urgency="red")))
    case = app.get_case(CaseRef(case_id=case_id(0)), OFFICE)
    assert case["lead_task_id"] == task_id(2000)
    runtime.catch_up()
    board = runtime.projections[0].board(date(2026, 3, 10))
    assert board["by_unit"] == {"unit-c": {"green": 1, "yellow": 0, "red": 0, "closed": 0}}


def test_merged_sources_deputies_rate_the_target(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app)
    app.save(*app.on_suggestion_merged(SuggestionMergedV1(
        **{**envelope(9, 70), "case_id": case_id(9)}, into_suggestion_id=case_id(0),
        lead_deputy_id="deputy-2", co_signer_ids=[])))
    reply(app)
    view = app.rate(RateCase(case_id=case_id(0), rating="basically_satisfied"), DEPUTY_2)
    assert view["raters"] == ["deputy-1", "deputy-2"]
    assert view["follow_up_reviews"][0]["reason"] == "basically_satisfied"
    assert view["follow_up_reviews"][0]["due_on"] == "2026-05-31"  # 90 days on


def test_partly_kept_review_reopens_only_when_asked(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app)
    reply(app, klass="B", commitment_date=date(2026, 3, 20))
    app.rate(RateCase(case_id=case_id(0), rating="satisfied"), DEPUTY)
    clock.set(at("2026-03-21"))
    view = app.record_review(RecordReview(case_id=case_id(0), review_id="r1",
                                          outcome="partly_kept", note="部分完成"), OFFICE)
    assert view["round"] == 1 and view["status"] == "replied"
    assert app.close_case(CaseRef(case_id=case_id(0)), OFFICE)["status"] == "closed"


def test_state_rebuilt_from_stored_events_equals_the_live_state(supervision, store):
    runtime, clock = supervision
    app = runtime.app
    open_case(app, co_unit=True, co_signers=["deputy-2"])
    app.acknowledge(TaskRef(task_id=task_id(0)), UNIT_A)
    reply(app)
    app.rate(RateCase(case_id=case_id(0), rating="unsatisfied"), DEPUTY)
    live_case = app.get_case(CaseRef(case_id=case_id(0)), OFFICE)
    live_task = app.get_task(TaskRef(task_id=task_id(0)), OFFICE)
    again = build_runtime(service_settings("nats://127.0.0.1:1", store), clock=clock)
    try:
        assert again.app.get_case(CaseRef(case_id=case_id(0)), OFFICE) == live_case
        assert again.app.get_task(TaskRef(task_id=task_id(0)), OFFICE) == live_task
        runtime.catch_up()
        again.catch_up()
        assert again.projections[0].board(date(2026, 3, 10)) == runtime.projections[0].board(date(2026, 3, 10))
    finally:
        again.app.close()


def test_basically_satisfied_review_is_due_at_the_rated_replys_commitment_date(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app, co_signers=["deputy-2"])
    clock.set(at("2026-04-01"))
    # A class-A reply that names a completion date: no review of its own, but the
    # basically-satisfied rating's review is due at that date, not 90 days on (2026-06-30).
    reply(app, commitment_date=date(2026, 5, 15))
    view = app.get_case(CaseRef(case_id=case_id(0)), OFFICE)
    assert view["follow_up_reviews"] == []
    view = app.rate(RateCase(case_id=case_id(0), rating="basically_satisfied"), DEPUTY)
    assert [(r["review_id"], r["due_on"], r["reason"]) for r in view["follow_up_reviews"]] == [
        ("r1", "2026-05-15", "basically_satisfied")]
    # The co-signer's basically-satisfied rating is covered by the same pending review.
    view = app.rate(RateCase(case_id=case_id(0), rating="basically_satisfied"), DEPUTY_2)
    assert len(view["follow_up_reviews"]) == 1

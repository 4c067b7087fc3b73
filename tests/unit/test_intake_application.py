"""Intake: the application's commands and upstream reactions on a real SQLite store, no
NATS (reactions are called directly, as the runtime's consumer would, and what they return
is saved). The rules a user notices: who submits and with which fields, the year's
registration numbers, declining and reversing, the citizen message's claim, hand-over,
rating and erasure."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from uuid import UUID, uuid4

import pytest

from services.intake.application import (
    DeclineSuggestion,
    ForwardMessage,
    IntakeApplication,
    MessageRef,
    PostMessage,
    RateMessage,
    RegisterSuggestion,
    ReverseRegistration,
    SubmitSuggestion,
    SuggestionRef,
)
from services.intake.errors import AlreadyDone, HeldByAnother, IntakeRefusal, NotAllowedInState
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.supervision import CaseClosedV1, ReplySubmittedV1
from shared.eventstore import Actor
from shared.read_store import ReadModels
from shared.rpc import Forbidden, Invalid, NotFound
from shared.runtime import refusal_reply
from shared.settings import ServiceSettings

OFFICE = Actor("office", "office")
DEPUTY_1 = Actor("deputy-1", "deputy", deputy_id="deputy-1")
DEPUTY_2 = Actor("deputy-2", "deputy", deputy_id="deputy-2")
STATION = "station-fengjie"  # deputies 1 and 2 receive its messages
NOW = datetime(2026, 5, 6, 9, 0, tzinfo=CHINA_TZ)
positions = count(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def app(tmp_path, clock):
    settings = ServiceSettings(service_name="intake", event_store="sqlite", var_dir=tmp_path)
    application = IntakeApplication(settings, clock=clock)
    # the read models the commands below need (not similar matters: no sentence model here)
    ReadModels(application, application.views,
               [application.suggestions_view, application.messages_view]).start()
    yield application
    application.close()


def submit(app, actor=DEPUTY_1, **fields) -> str:
    cmd = SubmitSuggestion(**{"title": "老旧小区加装电梯", "body": "建议财政补贴加装电梯",
                              "category": "livelihood", "co_signers": ["deputy-2"], **fields})
    return app.submit_suggestion(cmd, actor)["id"]


def register(app, sid: str, urgency: str = "blue") -> dict:
    return app.register_suggestion(RegisterSuggestion(suggestion_id=sid, urgency=urgency), OFFICE)


def suggestion(app, sid: str, actor=OFFICE) -> dict:
    return app.get_suggestion(SuggestionRef(suggestion_id=sid), actor)


def supervision_envelope(case_id: str) -> dict:
    n = next(positions)
    return {"event_id": f"supervision:{n}", "case_id": case_id, "source_service": "supervision",
            "source_notification_id": n, "occurred_at": NOW + timedelta(days=30),
            "actor": {"username": "unit-b", "role": "unit"}}


def react(app, handler, event) -> list:
    changed = handler(event)
    app.save(*changed)
    return changed


# --- suggestions ----------------------------------------------------------------------------

def test_only_a_deputy_submits_and_every_bad_field_is_named(app):
    with pytest.raises(Forbidden):
        submit(app, actor=OFFICE)
    with pytest.raises(Invalid) as invalid:
        submit(app, category="weather", co_signers=["deputy-1", "deputy-404"])
    assert [e["loc"] for e in invalid.value.errors] == [
        ["body", "category"], ["body", "co_signers", 0], ["body", "co_signers", 1]]
    shown = suggestion(app, submit(app), DEPUTY_2)  # a co-signer sees it
    assert (shown["status"], shown["lead_deputy_id"], shown["co_signers"]) == (
        "submitted", "deputy-1", ["deputy-2"])
    with pytest.raises(NotFound):  # a deputy not on it does not
        suggestion(app, shown["id"], Actor("deputy-3", "deputy", deputy_id="deputy-3"))


def test_registrations_take_the_years_numbers_in_order_once_each(app):
    first, second = submit(app), submit(app)
    assert register(app, second)["number"] == "2026-0001"
    assert register(app, first)["number"] == "2026-0002"
    with pytest.raises(AlreadyDone) as refused:
        register(app, first)
    reply = refusal_reply(refused.value).to_reply()
    assert (reply["status"], reply["status_now"]) == (409, "registered")
    with pytest.raises(AlreadyDone):
        app.decline_suggestion(DeclineSuggestion(suggestion_id=first, reason="x"), OFFICE)


def test_a_declined_suggestion_is_not_registered(app):
    sid = submit(app)
    app.decline_suggestion(DeclineSuggestion(suggestion_id=sid, reason="不属于建议范围"), OFFICE)
    shown = suggestion(app, sid)
    assert (shown["status"], shown["decline_reason"]) == ("declined", "不属于建议范围")
    with pytest.raises(IntakeRefusal, match="already declined"):
        register(app, sid)


def test_a_reversed_registration_keeps_its_number_and_a_new_one_takes_the_next(app):
    sid = submit(app)
    register(app, sid)
    reversed_ = app.reverse_registration(ReverseRegistration(suggestion_id=sid, reason="误立案"),
                                         OFFICE)
    assert (reversed_["status"], reversed_["number"]) == ("submitted", None)
    assert reversed_["reversed_registrations"][0]["number"] == "2026-0001"
    with pytest.raises(NotAllowedInState, match="only a registered"):
        app.reverse_registration(ReverseRegistration(suggestion_id=sid, reason="x"), OFFICE)
    assert register(app, sid)["number"] == "2026-0002"  # 0001 is never reused


def test_once_the_unit_replied_the_registration_stands_and_close_out_is_recorded(app):
    sid = submit(app)
    register(app, sid)
    replied = ReplySubmittedV1(**supervision_envelope(sid), task_id="t-1", unit_id="unit-b",
                               result_class="B", round=1, on_time=True)
    assert react(app, app.on_reply_submitted, replied)
    assert react(app, app.on_reply_submitted, replied) == []  # noted once
    with pytest.raises(NotAllowedInState, match="already replied"):
        app.reverse_registration(ReverseRegistration(suggestion_id=sid, reason="x"), OFFICE)
    closed = CaseClosedV1(**supervision_envelope(sid), result_class="A", all_satisfied=True,
                          rounds=1, replied_on_time=True)
    react(app, app.on_case_closed, closed)
    shown = suggestion(app, sid)
    assert shown["replied_at"] is not None and shown["case_closed_at"] is not None
    assert shown["result_class"] == "A"
    other = CaseClosedV1(**supervision_envelope("not-ours"), result_class="A",
                         all_satisfied=True, rounds=1, replied_on_time=True)
    assert react(app, app.on_case_closed, other) == []


# --- citizen messages -----------------------------------------------------------------------

def post(app, **fields) -> dict:
    return app.post_message(PostMessage(**{"station_id": STATION, "content": "路灯坏了三个月",
                                           "contact_name": "张三",
                                           "contact_phone": "13800138000", **fields}),
                            Actor("anonymous", "anonymous"))


def test_one_deputy_holds_a_message_until_it_gives_up_or_the_claim_lapses(app, clock):
    posted = post(app)
    assert posted["status"] == "received" and posted["follow_up_token"]
    mid = posted["id"]
    claimed = app.claim_message(MessageRef(message_id=mid), DEPUTY_1)
    assert (claimed["status"], claimed["claimed_by"]) == ("claimed", "deputy-1")
    with pytest.raises(HeldByAnother) as refused:
        app.claim_message(MessageRef(message_id=mid), DEPUTY_2)
    assert refusal_reply(refused.value).status == 409
    with pytest.raises(AlreadyDone, match="already hold"):
        app.claim_message(MessageRef(message_id=mid), DEPUTY_1)
    app.give_up_message(MessageRef(message_id=mid), DEPUTY_1)
    app.claim_message(MessageRef(message_id=mid), DEPUTY_2)
    assert app.release_expired_claims() == {"released": []}
    clock.advance(timedelta(hours=24))  # the claim time limit
    assert app.release_expired_claims() == {"released": [mid]}
    assert app.claim_message(MessageRef(message_id=mid), DEPUTY_1)["claimed_by"] == "deputy-1"


def test_a_forwarded_message_is_rated_with_its_token_only_after_the_units_feedback(app):
    posted = post(app)
    mid, token = posted["id"], posted["follow_up_token"]
    with pytest.raises(Invalid):
        app.forward_message(ForwardMessage(message_id=mid, unit_id="unit-x"), OFFICE)
    forwarded = app.forward_message(ForwardMessage(message_id=mid, unit_id="unit-b"), OFFICE)
    assert (forwarded["status"], forwarded["unit_id"]) == ("forwarded", "unit-b")
    with pytest.raises(NotAllowedInState, match="nothing to rate yet"):
        app.rate_message(RateMessage(message_id=mid, rating="satisfied", token=token), OFFICE)
    with pytest.raises((Forbidden, NotFound)):
        app.rate_message(RateMessage(message_id=mid, rating="satisfied", token="wrong"), OFFICE)


def test_erasing_a_posters_personal_data_is_done_once_and_leaves_no_contact(app):
    mid = post(app)["id"]
    shown = app.get_message(MessageRef(message_id=mid, purpose="回访"), OFFICE)
    assert (shown["contact_name"], shown["contact_phone"]) == ("张三", "13800138000")
    erased = app.erase_personal_data(MessageRef(message_id=mid), OFFICE)
    assert erased["personal_data_erased"] is True
    assert "张三" not in str(erased) and "13800138000" not in str(erased)
    assert "路灯" not in str(erased["content"])  # the free text is unreadable too
    with pytest.raises(AlreadyDone, match="already erased"):
        app.erase_personal_data(MessageRef(message_id=mid), OFFICE)


# --- merging citizen messages (services/intake/message_merging.py) ---------------------------

def test_a_message_is_merged_only_from_the_pool_never_chained_and_the_merge_undone(app):
    from services.intake.message_merging import merge_message, undo_message_merge
    from shared.contracts.requests.intake import MergeMessage, UndoMessageMerge

    target, source, other = (post(app)["id"] for _ in range(3))
    with pytest.raises(Forbidden):
        merge_message(app, MergeMessage(message_id=source, into=target), DEPUTY_1)
    merged = merge_message(app, MergeMessage(message_id=source, into=target), OFFICE)
    assert (merged["status"], merged["merged_into"]) == ("merged", target)
    assert merged["target"]["merged_sources"] == [source]
    # nobody claims it; nothing chains onto it; a target is not merged away
    with pytest.raises(AlreadyDone):
        app.claim_message(MessageRef(message_id=source), DEPUTY_1)
    with pytest.raises(NotAllowedInState):
        merge_message(app, MergeMessage(message_id=other, into=source), OFFICE)
    with pytest.raises(NotAllowedInState):
        merge_message(app, MergeMessage(message_id=target, into=other), OFFICE)
    # a claimed message is its deputy's: not merged
    app.claim_message(MessageRef(message_id=other), DEPUTY_1)
    with pytest.raises(NotAllowedInState):
        merge_message(app, MergeMessage(message_id=other, into=target), OFFICE)
    with pytest.raises(Invalid):
        merge_message(app, MergeMessage(message_id=source, into=str(uuid4())), OFFICE)

    undone = undo_message_merge(app, UndoMessageMerge(message_id=source, reason="不是同一事项"),
                                OFFICE)
    assert (undone["status"], undone["merged_into"]) == ("received", None)
    assert undone["target"]["merged_sources"] == []
    with pytest.raises(IntakeRefusal):
        undo_message_merge(app, UndoMessageMerge(message_id=source, reason="再来"), OFFICE)
    assert app.claim_message(MessageRef(message_id=source), DEPUTY_2)["status"] == "claimed"
    events = [e.topic.rsplit(".", 1)[-1] for e in app.recorder.select_events(UUID(source))]
    assert events[-3:] == ["MergedInto", "MergeUndone", "Claimed"]

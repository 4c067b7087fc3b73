"""Merging suggestions (one class of matters) and the events intake publishes for merges,
answers, ratings and erasure, without infrastructure."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from services.intake.bus import translate
from services.intake.domain import CitizenMessage, Suggestion, merge_refusal
from shared.clock import CHINA_TZ
from shared.contracts import ActorRef
from shared.contracts.intake import (
    MessageAnsweredV1,
    MessageRatedV1,
    PersonalDataErasedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
)
from services.intake.errors import IntakeRefusal

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)


def a_suggestion(lead: str = "deputy-1", co: list[str] | None = None) -> Suggestion:
    return Suggestion(title="路灯", body="路灯不亮", category="safety_hazard", lead_deputy_id=lead,
                      co_signer_ids=co or [], station_id=None, submitted_at=NOW)


def test_merge_links_both_ways_and_undo_restores_the_state_before():
    source, target = a_suggestion(co=["deputy-3"]), a_suggestion("deputy-2")
    source.register(number="2026-0001", category="safety_hazard", urgency="red", registered_at=NOW)
    source.merge_into(str(target.id), merged_at=NOW, score=0.8)
    target.source_merged(str(source.id), merged_at=NOW)
    assert (source.status, source.merged_into) == ("merged", str(target.id))
    assert target.merged_sources == [str(source.id)]
    with pytest.raises(IntakeRefusal):
        source.register(number="x", category="c", urgency="red", registered_at=NOW)
    source.undo_merge("not the same matter", NOW)
    target.source_unmerged(str(source.id), "not the same matter", NOW)
    assert (source.status, source.number, source.merged_into) == ("registered", "2026-0001", None)
    assert target.merged_sources == []
    with pytest.raises(IntakeRefusal):
        source.undo_merge("again", NOW)


def test_merge_is_refused_into_itself_into_merged_or_declined_and_for_heads_of_a_class():
    a, b, c = a_suggestion(), a_suggestion(), a_suggestion()
    with pytest.raises(IntakeRefusal, match="itself"):
        a.merge_into(str(a.id), merged_at=NOW)
    declined = a_suggestion()
    declined.decline("not a matter for the congress", NOW)
    with pytest.raises(IntakeRefusal, match="declined"):
        declined.ensure_merge_target()
    with pytest.raises(IntakeRefusal, match="declined"):
        declined.merge_into(str(a.id), merged_at=NOW)
    b.merge_into(str(a.id), merged_at=NOW)
    a.source_merged(str(b.id), merged_at=NOW)
    with pytest.raises(IntakeRefusal, match="merged"):
        b.ensure_merge_target()  # into a merged one
    with pytest.raises(IntakeRefusal, match="merged into this one"):
        a.merge_into(str(c.id), merged_at=NOW)  # a heads a class: undo its merges first
    with pytest.raises(IntakeRefusal, match="already merged"):
        a.source_merged(str(b.id), merged_at=NOW)


def test_cycles_are_found():
    assert merge_refusal("a", "b", {"b": None}) is None
    assert merge_refusal("a", "b", {"b": "c", "c": "a"}) == "merging these would make a cycle"
    assert merge_refusal("a", "b", {"b": "c", "c": "b"}) == "the target is part of a merge cycle"


class FakeApp:
    """Just what translate() reads: a repository of aggregates at a version, and stations."""

    def __init__(self, *aggregates: Any) -> None:
        self.stations: dict[str, Any] = {}
        self.history = {a.id: a for a in aggregates}
        self.repository = SimpleNamespace(get=lambda id_, version=None: self.history[id_])


def envelope(event: Any) -> dict[str, Any]:
    return {"event_id": "intake:1", "case_id": str(event.originator_id),
            "actor": ActorRef(username="office", role="office"), "occurred_at": NOW,
            "source_service": "intake", "source_notification_id": 1}


def test_merge_and_undo_are_published_with_the_source_deputies_and_number():
    source, target = a_suggestion(co=["deputy-3"]), a_suggestion("deputy-2")
    source.register(number="2026-0007", category="safety_hazard", urgency="red", registered_at=NOW)
    source.merge_into(str(target.id), merged_at=NOW, score=0.91)
    source.undo_merge("different streets", NOW)
    events = source.collect_events()
    app = FakeApp(source)
    merged = translate(app, events[2], envelope(events[2]))
    assert isinstance(merged, SuggestionMergedV1)
    assert (merged.case_id, merged.into_suggestion_id) == (str(source.id), str(target.id))
    assert (merged.lead_deputy_id, merged.co_signer_ids) == ("deputy-1", ["deputy-3"])
    assert (merged.source_number, merged.score) == ("2026-0007", 0.91)
    undone = translate(app, events[3], envelope(events[3]))
    assert isinstance(undone, SuggestionMergeUndoneV1) and undone.reason == "different streets"
    target.source_merged(str(source.id), merged_at=NOW)
    assert translate(FakeApp(target), target.collect_events()[-1], envelope(events[3])) is None


def a_message() -> CitizenMessage:
    return CitizenMessage(station_id="station-fengjie", grid=None, content=None, category=None,
                          follow_up_token_hash="h", personal_data_ref="s", personal_data=None,
                          received_at=NOW, sealed_content="sealed")


@pytest.mark.parametrize("how, expected", [("answer", "deputy"), ("convert", "suggestion"),
                                           ("forward", "unit")])
def test_answer_rating_and_erasure_are_published(how, expected):
    m = a_message()
    m.claim("deputy-1", claimed_at=NOW, time_limit=__import__("datetime").timedelta(hours=1))
    if how == "answer":
        m.answer_directly("deputy-1", "已修复", NOW)
    elif how == "convert":
        m.convert("deputy-1", "s-1", NOW)
    else:
        m.forward("unit-a", NOW, by_office=True)
    if how != "answer":  # rated once the handling unit's feedback is in
        m.record_feedback("unit-a", "A", None, 1, NOW, "supervision:1")
    m.rate("satisfied", NOW)
    m.erase_personal_data(NOW)
    assert m.handled_by == expected
    events = m.collect_events()
    app = FakeApp(m)
    published = [translate(app, e, envelope(e)) for e in events]
    rated = next(p for p in published if isinstance(p, MessageRatedV1))
    assert (rated.rating, rated.handled_by, rated.deputy_id) == ("satisfied", expected, "deputy-1")
    assert isinstance(published[-1], PersonalDataErasedV1)
    answered = [p for p in published if isinstance(p, MessageAnsweredV1)]
    assert len(answered) == (how == "answer")
    if answered:
        assert (answered[0].deputy_id, answered[0].station_id) == ("deputy-1", "station-fengjie")
    for p in published:
        if p is not None:
            assert "已修复" not in p.model_dump_json() and "sealed" not in p.model_dump_json()


def test_an_old_received_event_with_plain_content_still_replays():
    m = CitizenMessage(station_id="s", grid=None, content="路灯不亮", category=None,
                       follow_up_token_hash="h", personal_data_ref=None, personal_data=None,
                       received_at=NOW)
    assert (m.content, m.sealed_content) == ("路灯不亮", None)

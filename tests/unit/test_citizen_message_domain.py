"""The citizen message's status machine and personal-data helpers, without infrastructure."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from services.intake.domain import CitizenMessage, Suggestion
from services.intake.personal_data import mask_name, mask_phone
from shared.clock import CHINA_TZ
from services.intake.errors import IntakeRefusal

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)
LIMIT = timedelta(hours=24)


def a_message() -> CitizenMessage:
    return CitizenMessage(station_id="station-fengjie", grid="鱼复-01", content="路灯不亮",
                          category="safety_hazard", follow_up_token_hash="h",
                          personal_data_ref=None, personal_data=None, received_at=NOW)


def test_claim_expires_after_the_time_limit_and_returns_to_the_pool():
    m = a_message()
    m.claim("deputy-1", claimed_at=NOW, time_limit=LIMIT)
    assert m.claim_expires_at == NOW + LIMIT
    assert not m.claim_expired(NOW + LIMIT - timedelta(seconds=1))
    assert m.claim_expired(NOW + LIMIT)
    with pytest.raises(IntakeRefusal):
        m.claim("deputy-2", claimed_at=NOW, time_limit=LIMIT)
    m.release_claim("expired", released_at=NOW + LIMIT)
    assert (m.status, m.claimed_by) == ("received", None)
    m.claim("deputy-2", claimed_at=NOW + LIMIT, time_limit=LIMIT)
    assert m.claimed_by == "deputy-2"


def test_only_the_holder_handles_a_claimed_message():
    m = a_message()
    with pytest.raises(IntakeRefusal):
        m.answer_directly("deputy-1", "x", NOW)
    m.claim("deputy-1", claimed_at=NOW, time_limit=LIMIT)
    for act in (lambda: m.answer_directly("deputy-2", "x", NOW),
                lambda: m.convert("deputy-2", "s-1", NOW),
                lambda: m.forward("unit-a", NOW, by_deputy="deputy-2"),
                lambda: m.give_up("deputy-2", NOW)):
        with pytest.raises(IntakeRefusal):
            act()
    m.convert("deputy-1", "s-1", NOW)
    assert (m.status, m.suggestion_id) == ("converted", "s-1")
    with pytest.raises(IntakeRefusal):
        m.forward("unit-a", NOW, by_office=True)


def test_rating_only_after_handling_and_only_once():
    m = a_message()
    with pytest.raises(IntakeRefusal):
        m.rate("satisfied", NOW)
    m.forward("unit-a", NOW, by_office=True)
    with pytest.raises(IntakeRefusal):  # forwarded, but nothing to rate until the unit's feedback
        m.rate("satisfied", NOW)
    m.record_feedback("unit-a", "B", None, 1, NOW, "supervision:7")
    with pytest.raises(ValueError):
        m.rate("great", NOW)
    m.rate("unsatisfied", NOW)
    assert (m.status, m.rating) == ("closed", "unsatisfied")
    with pytest.raises(IntakeRefusal):
        m.rate("satisfied", NOW)


def test_erasure_is_recorded_once():
    m = a_message()
    m.erase_personal_data(NOW)
    assert m.personal_data_erased
    with pytest.raises(IntakeRefusal):
        m.erase_personal_data(NOW)


def test_an_old_submitted_event_without_from_message_id_still_replays():
    app = Application()
    s = Suggestion(title="t", body="b", category="livelihood", lead_deputy_id="deputy-1",
                   co_signer_ids=[], station_id=None, submitted_at=NOW)
    stored = app.mapper.to_stored_event(s.collect_events()[0])
    state = app.mapper.transcoder.decode(stored.state)
    state.pop("from_message_id")
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      app.mapper.transcoder.encode(state))
    replayed = app.mapper.to_domain_event(old).mutate(None)
    assert replayed.from_message_id is None and replayed.title == "t"


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("023-12345678") == "023*****5678"
    assert mask_name("赵小明") == "赵**" and mask_name("赵") == "赵*"
    assert mask_phone(None) is None

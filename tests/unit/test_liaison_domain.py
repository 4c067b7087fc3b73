"""The liaison service's rules, without a bus or store: bookings (capacity, one per phone,
closed once held), attendance once, links once, and the contact obligations' pace."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.liaison.domain import (ObligationYear, ReceptionSession, behind_of, expected_by,
                                     mask_name, mask_phone)
from services.liaison.errors import AlreadyDone, BookingClosed, RuleViolation, SessionFull

NOW = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)


def session(capacity: int = 2) -> ReceptionSession:
    return ReceptionSession(station_id="station-fengjie", title="人大代表接待选民日",
                            day=date(2026, 3, 10), starts="09:00", ends="11:30",
                            deputy_ids=["deputy-1", "deputy-2"], capacity=capacity,
                            online=False, scheduled_at=NOW)


def test_bookings_respect_capacity_one_per_phone_and_close_when_held():
    s = session(capacity=2)
    s.book("b1", "digest-1", "赵小明", "13812345678", today=date(2026, 3, 2), booked_at=NOW)
    assert s.bookings[0]["name_masked"] == "赵**"
    assert s.bookings[0]["phone_masked"] == "138****5678"
    assert "13812345678" not in repr(s.bookings) and "小明" not in repr(s.bookings)
    with pytest.raises(AlreadyDone):
        s.book("b2", "digest-1", "赵小明", "13812345678", today=date(2026, 3, 2), booked_at=NOW)
    s.book("b3", "digest-3", "钱多", "13900000001", today=date(2026, 3, 2), booked_at=NOW)
    with pytest.raises(SessionFull):
        s.book("b4", "digest-4", "孙三", "13900000002", today=date(2026, 3, 2), booked_at=NOW)
    assert s.places_left == 0
    late = session()
    with pytest.raises(BookingClosed):
        late.book("b5", "digest-5", "孙三", "13900000002", today=date(2026, 3, 11), booked_at=NOW)
    s.record_attendance(["deputy-1", "deputy-1"], 5, recorded_at=NOW)
    assert s.attendance["deputies_present"] == ["deputy-1"]
    with pytest.raises(AlreadyDone):
        s.record_attendance(["deputy-2"], 6, recorded_at=NOW)
    with pytest.raises(BookingClosed):  # held: no more bookings, even on its day
        s.book("b6", "d6", "李四", "13900000003", today=date(2026, 3, 10), booked_at=NOW)


def test_a_message_is_linked_once():
    s = session()
    assert s.link_message("m1", NOW) is True
    assert s.link_message("m1", NOW) is False
    assert s.message_ids == ["m1"]


def test_masks():
    assert mask_name("李秀英") == "李**" and mask_name("王") == "王*"
    assert mask_phone("13812345678") == "138****5678"


def test_the_pace_and_who_is_behind():
    # two contacts a year, all due by the end of October
    assert [expected_by(2, m, 10) for m in (1, 4, 5, 9, 10, 12)] == [0, 0, 1, 1, 2, 2]
    assert [expected_by(1, m, 10) for m in (9, 10, 11)] == [0, 1, 1]
    year = ObligationYear(obligation_id="committee:deputy-2", kind="committee_deputies",
                          holder_id="deputy-2", year=2026)
    year.record_contact("c1", "deputy-1", "visit", "座谈", date(2026, 3, 1), "deputy-2", NOW)
    people = {"deputy-1": "王建国", "deputy-3": "张伟"}
    assert [b["counterpart_id"] for b in behind_of(year, people, 2, 6, 10)] == ["deputy-3"]
    assert [b["counterpart_id"] for b in behind_of(year, people, 2, 11, 10)] == [
        "deputy-1", "deputy-3"]
    with pytest.raises(RuleViolation):
        year.record_contact("c2", "deputy-1", "email", "x", date(2026, 3, 1), "deputy-2", NOW)
    with pytest.raises(RuleViolation):
        year.record_contact("c3", "deputy-1", "visit", "x", date(2025, 12, 1), "deputy-2", NOW)
    assert year.notice("2026-11", date(2026, 11, 2), [{"counterpart_id": "deputy-3"}]) is True
    assert year.notice("2026-11", date(2026, 11, 3), [{"counterpart_id": "deputy-3"}]) is False
    assert year.notice("2026-12", date(2026, 12, 1), []) is False


def test_a_group_activity_sign_up_once_attendance_once_and_findings_into_one_suggestion():
    from services.liaison.domain import GroupActivity
    from services.liaison.errors import ActivityFull, SignUpClosed

    a = GroupActivity(group="城建环保组", title="无废社区专题调研", kind="topic_research",
                      day=date(2026, 3, 10), place="鱼复街道", capacity=2, call_month="2026-03",
                      planned_by="office", planned_at=NOW)
    before, day = date(2026, 3, 9), date(2026, 3, 10)
    a.sign_up("deputy-1", before, NOW)
    with pytest.raises(AlreadyDone):
        a.sign_up("deputy-1", before, NOW)
    a.sign_up("deputy-3", before, NOW)
    with pytest.raises(ActivityFull):
        a.sign_up("deputy-9", before, NOW)
    a.withdraw("deputy-3", before, NOW)
    a.sign_up("deputy-3", before, NOW)
    with pytest.raises(SignUpClosed):
        a.withdraw("deputy-3", day, NOW)
    with pytest.raises(RuleViolation):  # no findings before it took place
        a.record_findings("x", "office", NOW)
    with pytest.raises(RuleViolation):  # nor attendance before its day
        a.record_attendance(["deputy-1"], before, "office", NOW)
    a.record_attendance(["deputy-3", "deputy-1", "deputy-1"], day, "office", NOW)
    assert a.present == ["deputy-1", "deputy-3"]
    with pytest.raises(AlreadyDone):
        a.record_attendance(["deputy-1"], day, "office", NOW)

    with pytest.raises(RuleViolation):  # findings first
        a.claim_suggestion("deputy-1", NOW)
    a.record_findings("可回收物去向不清", "deputy-1", NOW)
    with pytest.raises(RuleViolation):  # only a participant present leads
        a.claim_suggestion("deputy-9", NOW)
    assert a.claim_suggestion("deputy-3", NOW) == ["deputy-1"]
    assert a.claim_suggestion("deputy-3", NOW) == ["deputy-1"]  # the same lead may retry
    with pytest.raises(AlreadyDone):
        a.claim_suggestion("deputy-1", NOW)
    with pytest.raises(RuleViolation):
        a.link_suggestion("deputy-1", "S-1", NOW)
    a.link_suggestion("deputy-3", "S-1", NOW)
    assert a.suggestion == {"lead_id": "deputy-3", "suggestion_id": "S-1"}
    with pytest.raises(AlreadyDone):
        a.claim_suggestion("deputy-3", NOW)
    with pytest.raises(AlreadyDone):
        a.record_findings("改写", "office", NOW)

    visit = GroupActivity(group="城建环保组", title="视察", kind="inspection",
                          day=date(2026, 3, 10), place="x", capacity=None,
                          call_month="2026-03", planned_by="office", planned_at=NOW)
    visit.record_attendance([], day, "office", NOW)
    with pytest.raises(RuleViolation):  # only research records findings
        visit.record_findings("x", "office", NOW)

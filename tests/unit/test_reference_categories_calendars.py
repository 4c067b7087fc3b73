"""A service's replica of the registry's categories and working-day calendars
(shared/reference.py, shared/calendar.py ReplicaCalendar): seeded from config/categories.yaml
and holidays.yaml, replicated from ``record_changed`` v2 (v1 and v2 of one change are the same
registry notification: applied once), the calendar built from the replica's records; a calendar
change counts for deadlines computed after it, while the calendar in force at an earlier moment
stays what it was, rebuilt from the service's own log too."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.calendar import CalendarNotConfigured, ReplicaCalendar
from shared.contracts.base import ActorRef
from shared.contracts.registry import RecordChangedV1, RecordChangedV2
from shared.event_validation import EventValidator
from shared.eventstore import ServiceApplication
from shared.reference import ReferenceData, on_record_changed
from shared.settings import ServiceSettings

CONFIG = Path(__file__).resolve().parents[2] / "config"
T0 = datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)


def changed(position: int, kind: str, key: str, record: dict, at: datetime = T0,
            active: bool = True, version: type = RecordChangedV2) -> RecordChangedV1:
    return version(
        event_id=f"registry:{position}", case_id=f"{kind}:{key}",
        actor=ActorRef(username="office", role="office"), occurred_at=at,
        source_service="registry", source_notification_id=position, kind=kind, key=key,
        change="changed", record=record, active=active)


@pytest.fixture
def app(tmp_path):
    app = ServiceApplication(ServiceSettings(var_dir=tmp_path, service_name="probe",
                                             config_dir=CONFIG))
    yield app
    app.close()


def consume(app: ServiceApplication, event: RecordChangedV1) -> int:
    aggregates = on_record_changed(app, event)
    if aggregates:
        app.save(*aggregates)
    return len(aggregates)


def year_2026(reference: ReferenceData) -> dict:
    return dict(reference.table("calendar")["2026"])


def test_categories_are_seeded_and_a_new_one_is_known_to_the_validator(app):
    reference = ReferenceData(app, app.settings)
    categories = reference.table("category")
    assert categories["livelihood"]["name_zh"] == "民生服务"  # config/categories.yaml
    validator = EventValidator.from_config(app.settings, reference)
    assert "road_safety" not in validator.known["category"]
    assert "other" in validator.known["category"]  # EXTRA_CATEGORIES
    consume(app, changed(1, "category", "road_safety",
                         {"code": "road_safety", "name_zh": "道路安全", "name_en": None}))
    reference.catch_up()
    assert categories["road_safety"]["name_zh"] == "道路安全"
    assert "road_safety" in validator.known["category"]
    consume(app, changed(2, "category", "road_safety",
                         {"code": "road_safety", "name_zh": "道路安全"}, active=False))
    reference.catch_up()
    assert not reference.active("category", "road_safety")
    assert categories["road_safety"]["name_zh"] == "道路安全"  # old cases still show it
    assert "road_safety" in validator.known["category"]  # their events go on


def test_v1_and_v2_of_one_change_are_applied_once(app):
    record = {"id": "deputy-9", "name": "李明"}
    assert consume(app, changed(4, "deputy", "deputy-9", record, version=RecordChangedV1)) == 1
    assert consume(app, changed(4, "deputy", "deputy-9", record)) == 0
    with pytest.raises(ValueError):  # a v1 consumer never sees a category
        changed(5, "category", "road_safety", {"code": "road_safety", "name_zh": "道路安全"},
                version=RecordChangedV1)


def test_the_calendar_is_built_from_the_replicas_records(app):
    reference = ReferenceData(app, app.settings)
    calendar = ReplicaCalendar(reference)
    assert 2026 in calendar.configured_years  # config/holidays.yaml, the seed
    tuesday = date(2026, 12, 8)
    assert calendar.is_working_day(tuesday)
    assert calendar.add_working_days(date(2026, 12, 7), 1) == tuesday

    before = T0 - timedelta(hours=1)
    record = year_2026(reference)
    record["holidays"] = sorted([*record["holidays"], tuesday.isoformat()])
    consume(app, changed(1, "calendar", "2026", record, at=T0))
    reference.catch_up()
    # a deadline computed now skips the new holiday
    assert not calendar.is_working_day(tuesday)
    assert calendar.add_working_days(date(2026, 12, 7), 1) == date(2026, 12, 9)
    # one derived again from an earlier moment keeps the calendar in force then
    assert calendar.as_of(before).add_working_days(date(2026, 12, 7), 1) == tuesday
    assert not calendar.as_of(T0).is_working_day(tuesday)
    with pytest.raises(CalendarNotConfigured):
        calendar.add_working_days(date(2031, 1, 1), 1)

    # a year the registry adds later counts for earlier moments too (it was not known then)
    consume(app, changed(2, "calendar", "2031", {
        "year": 2031, "holidays": ["2031-01-01"], "makeup_workdays": [], "source": "通知",
        "provisional": False}, at=T0 + timedelta(days=1)))
    reference.catch_up()
    assert not calendar.as_of(before).is_working_day(date(2031, 1, 1))
    assert calendar.as_of(before).add_working_days(date(2031, 1, 1), 1) == date(2031, 1, 2)

    # rebuilt from the service's own log alone: the same history
    again = ReplicaCalendar(ReferenceData(app, app.settings))
    again.reference.catch_up()
    assert not again.is_working_day(tuesday)
    assert again.as_of(before).is_working_day(tuesday)


def test_a_provisional_year_is_replaced_for_earlier_moments_too(app):
    reference = ReferenceData(app, app.settings)
    calendar = ReplicaCalendar(reference)
    provisional = {"year": 2030, "holidays": ["2030-01-01"], "makeup_workdays": [],
                   "source": "法定节日（暂定）", "provisional": True}
    consume(app, changed(1, "calendar", "2030", provisional, at=T0))
    consume(app, changed(2, "calendar", "2030", {**provisional, "provisional": False,
                                                  "holidays": ["2030-01-01", "2030-01-02"]},
                         at=T0 + timedelta(days=30)))
    reference.catch_up()
    # a deadline set while 2030 was provisional is derived again with the notice
    assert not calendar.as_of(T0 + timedelta(days=1)).is_working_day(date(2030, 1, 2))

"""Categories and working-day calendars as registry records (issue 29, point 1): their shape
checked field by field, the key in the record (a category's code, a calendar's year), the
configuration files as their seed, and their changes published as v2 only (v1 consumers do not
know these kinds), while a deputy's change is published as v1 and v2."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.registry.bus import translate
from services.registry.domain import ReferenceRecord, normalize, record_id
from services.registry.errors import InvalidRecord
from shared.calendar import WorkingCalendar, calendar_records
from shared.contracts.registry import RecordChangedV1, RecordChangedV2

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)
YEAR = {"year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知",
        "holidays": ["2027-01-01", "2027-10-01"], "makeup_workdays": ["2027-09-26"]}


def fields(refused: pytest.ExceptionInfo[InvalidRecord]) -> dict[str, str]:
    return {e["field"]: e["msg"] for e in refused.value.errors}


def test_a_category_is_its_code_and_chinese_name():
    record = normalize("category", "road_safety", {"name_zh": " 道路安全 "})
    assert record == {"code": "road_safety", "name_zh": "道路安全", "name_en": None}
    assert ReferenceRecord.create("category", record, "office", NOW).id == \
        record_id("category", "road_safety")
    with pytest.raises(InvalidRecord) as refused:
        normalize("category", None, {"code": "Road-Safety", "name_zh": ""})
    assert set(fields(refused)) == {"code", "name_zh"}
    assert "必填" in fields(refused)["name_zh"]
    with pytest.raises(InvalidRecord) as refused:
        normalize("category", "road_safety", {"code": "ecology", "name_zh": "生态"})
    assert set(fields(refused)) == {"code"}  # stored under another key


def test_a_calendar_is_one_year_of_iso_dates_in_that_year():
    record = normalize("calendar", "2027", {**YEAR, "holidays": "2027-10-01\n2027-01-01\n"})
    assert record == {**YEAR, "provisional": False}  # lines of text, sorted
    created = ReferenceRecord.create("calendar", {k: v for k, v in YEAR.items() if k != "year"},
                                     "office", NOW, key="2027")
    assert created.key == "2027" and created.record["year"] == 2027
    with pytest.raises(InvalidRecord) as refused:
        normalize("calendar", "2027", {**YEAR, "holidays": ["2026-12-31", "2027-02-30"]})
    assert set(fields(refused)) == {"holidays"} and "2027-02-30" in fields(refused)["holidays"]
    with pytest.raises(InvalidRecord) as refused:
        normalize("calendar", "2027", {**YEAR, "holidays": ["2026-12-31"],
                                       "makeup_workdays": ["2027-09-27"]})  # a Monday
    assert set(fields(refused)) == {"holidays", "makeup_workdays"}
    assert "不在 2027 年" in fields(refused)["holidays"]
    assert "周六或周日" in fields(refused)["makeup_workdays"]
    with pytest.raises(InvalidRecord) as refused:
        normalize("calendar", "2027", {**YEAR, "holidays": ["2027-09-26"]})
    assert "既是节假日又是调休上班日" in fields(refused)["makeup_workdays"]
    with pytest.raises(InvalidRecord) as refused:
        normalize("calendar", "2028", YEAR)
    assert set(fields(refused)) == {"year"}
    with pytest.raises(InvalidRecord) as refused:
        normalize("calendar", None, {**YEAR, "year": "27"})
    assert set(fields(refused)) == {"year"}


def test_a_change_of_a_calendar_records_the_dates_before_and_after():
    calendar = ReferenceRecord.create("calendar", YEAR, "system", NOW)
    assert calendar.change({**YEAR, "holidays": [*YEAR["holidays"], "2027-10-08"]}, "office",
                           NOW)
    changed = calendar.pending_events[-1]
    assert changed.before == {"holidays": ["2027-01-01", "2027-10-01"]}
    assert changed.after == {"holidays": ["2027-01-01", "2027-10-01", "2027-10-08"]}


def test_the_holidays_file_is_the_seed_of_the_calendar_records():
    import yaml

    from tests.harness import ROOT

    years = yaml.safe_load((ROOT / "config" / "holidays.yaml").read_text(encoding="utf-8"))
    records = calendar_records(years)
    assert [r["year"] for r in records] == sorted(int(y) for y in years)
    for record in records:  # each one a valid registry record, equal once made canonical
        assert normalize("calendar", str(record["year"]), record) == record
    from_records = WorkingCalendar.from_records(records)
    assert from_records.configured_years == WorkingCalendar(years).configured_years
    day = datetime(2026, 10, 1).date()
    assert not from_records.is_working_day(day)


ENVELOPE = {"event_id": "registry:7", "case_id": "x", "source_service": "registry",
            "source_notification_id": 7, "occurred_at": NOW,
            "actor": {"username": "office", "role": "office"}}


def test_v1_is_published_beside_v2_only_for_the_kinds_v1_knows():
    deputy = ReferenceRecord.create("deputy", {"id": "deputy-9", "name": "李明",
                                               "level": "district"}, "office", NOW)
    published = translate(None, deputy.pending_events[0], ENVELOPE)  # type: ignore[arg-type]
    assert [type(e) for e in published] == [RecordChangedV1, RecordChangedV2]
    assert published[0].message_id() != published[1].message_id()
    category = ReferenceRecord.create("category", {"code": "road_safety", "name_zh": "道路安全"},
                                      "office", NOW)
    published = translate(None, category.pending_events[0], ENVELOPE)  # type: ignore[arg-type]
    assert [type(e) for e in published] == [RecordChangedV2]
    assert published[0].kind == "category" and published[0].key == "road_safety"
    with pytest.raises(ValueError):  # v1 does not know the kind
        RecordChangedV1(**ENVELOPE, kind="category", key="road_safety", change="created",
                        record={}, active=True)

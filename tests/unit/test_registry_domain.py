"""A reference record alone (services/registry/domain.py): its kind's shape checked field by
field, a change recorded only when something differs (before and after of those fields), and
closing and reopening once."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.registry.domain import ReferenceRecord, normalize, record_id
from services.registry.errors import InvalidRecord

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)
UNIT = {"id": "unit-a", "name": "区住房和城乡建设局", "parent": "区人民政府",
        "categories": ["urban_construction"]}


def test_the_id_is_the_kind_and_key_so_one_key_is_one_aggregate():
    unit = ReferenceRecord.create("unit", UNIT, "system", NOW)
    assert unit.id == record_id("unit", "unit-a") == ReferenceRecord.create(
        "unit", UNIT, "office", NOW).id
    assert record_id("deputy", "unit-a") != unit.id


def test_a_record_is_checked_field_by_field():
    with pytest.raises(InvalidRecord) as refused:
        normalize("deputy", "deputy-9", {"name": "", "level": "village", "terms": "x",
                                         "voters": "many", "shoe_size": 42})
    fields = {e["field"] for e in refused.value.errors}
    assert fields == {"name", "level", "voters", "shoe_size"}
    with pytest.raises(InvalidRecord) as refused:
        normalize("term", None, {"id": "term-18", "name": "第十八届", "number": 0,
                                 "start": "2026-13-01"})
    assert {e["field"] for e in refused.value.errors} == {"number", "start"}
    with pytest.raises(InvalidRecord) as refused:
        normalize("unit", "unit-b", UNIT)  # stored under another key
    assert refused.value.errors[0]["field"] == "id"


def test_the_canonical_shape_fills_defaults_and_dates():
    deputy = normalize("deputy", None, {"id": "deputy-9", "name": "张三", "level": "district"})
    assert deputy["level_zh"] == "县" and deputy["terms"] == [] and deputy["constituency"] is None
    term = normalize("term", None, {"id": "term-17", "name": "第十七届", "number": "17",
                                    "start": date(2021, 10, 1), "end": None})
    assert term == {"id": "term-17", "name": "第十七届", "number": 17, "start": "2021-10-01",
                    "end": None}


def test_a_change_records_only_what_differs_and_nothing_when_nothing_does():
    unit = ReferenceRecord.create("unit", UNIT, "system", NOW)
    assert not unit.change(dict(UNIT), "office", NOW)
    assert len(unit.pending_events) == 1
    assert unit.change({**UNIT, "name": "区住建委"}, "office", NOW)
    changed = unit.pending_events[-1]
    assert isinstance(changed, ReferenceRecord.Changed)
    assert (changed.before, changed.after, changed.actor) == (
        {"name": "区住房和城乡建设局"}, {"name": "区住建委"}, "office")
    assert unit.record["name"] == "区住建委" and unit.record["parent"] == "区人民政府"
    with pytest.raises(InvalidRecord):
        unit.change({**UNIT, "name": ""}, "office", NOW)


def test_closing_and_reopening_happen_once():
    unit = ReferenceRecord.create("unit", UNIT, "system", NOW)
    assert unit.close("term_ended", "term-17", "office", NOW)
    assert not unit.close("term_ended", "term-17", "office", NOW)
    assert not unit.active and unit.closed_term == "term-17"
    assert unit.reopen("reelected", "office", NOW) and unit.active
    assert not unit.reopen("reelected", "office", NOW)
    assert [type(e).__name__ for e in unit.pending_events] == ["Created", "Closed", "Reopened"]

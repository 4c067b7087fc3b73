"""WorkingCalendar against the real config/holidays.yaml.

Every expected date below was worked out by hand from the State Council notices
(2026: 国务院办公厅关于2026年部分节假日安排的通知, 2025-11-04; 2025: 国办发明电〔2024〕12号)
and a paper calendar, never computed with the code under test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from shared.calendar import CalendarNotConfigured, WorkingCalendar

HOLIDAYS_YAML = Path(__file__).resolve().parents[2] / "config" / "holidays.yaml"


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.from_config(HOLIDAYS_YAML)


def d(iso: str) -> date:
    return date.fromisoformat(iso)


def test_config_has_2025_and_2026_with_sources(cal: WorkingCalendar) -> None:
    assert cal.configured_years == (2025, 2026, 2027)  # 2027 provisional, see below
    assert "2026" in cal.source(2026) and "国务院办公厅" in cal.source(2026)
    assert "2025" in cal.source(2025) and "国务院办公厅" in cal.source(2025)


@pytest.mark.parametrize(
    ("day", "expected", "why"),
    [
        ("2026-03-02", True, "plain Monday"),
        ("2026-03-06", True, "plain Friday"),
        ("2026-03-07", False, "plain Saturday"),
        ("2026-03-08", False, "plain Sunday"),
        ("2026-01-01", False, "New Year's Day (Thu)"),
        ("2026-01-02", False, "New Year block (Fri)"),
        ("2026-01-04", True, "make-up working Sunday for New Year"),
        ("2026-02-14", True, "make-up working Saturday before Spring Festival"),
        ("2026-02-16", False, "Spring Festival block (Mon)"),
        ("2026-02-23", False, "last day of Spring Festival block (Mon)"),
        ("2026-02-24", True, "first working day after Spring Festival (Tue)"),
        ("2026-02-28", True, "make-up working Saturday after Spring Festival"),
        ("2026-04-06", False, "Qingming (Mon)"),
        ("2026-05-05", False, "Labour Day block (Tue)"),
        ("2026-05-09", True, "make-up working Saturday for Labour Day"),
        ("2026-06-19", False, "Dragon Boat (Fri)"),
        ("2026-09-20", True, "make-up working Sunday before National Day"),
        ("2026-09-25", False, "Mid-Autumn (Fri)"),
        ("2026-10-01", False, "National Day (Thu)"),
        ("2026-10-03", False, "Saturday inside National Day block"),
        ("2026-10-07", False, "last day of National Day block (Wed)"),
        ("2026-10-08", True, "first working day after National Day (Thu)"),
        ("2026-10-10", True, "make-up working Saturday after National Day"),
        ("2026-10-11", False, "ordinary Sunday after the make-up Saturday"),
        ("2025-01-01", False, "New Year's Day 2025 (Wed)"),
        ("2025-01-26", True, "make-up working Sunday 2025 Spring Festival"),
        ("2025-02-04", False, "last day of 2025 Spring Festival block (Tue)"),
        ("2025-02-08", True, "make-up working Saturday 2025 Spring Festival"),
        ("2025-04-27", True, "make-up working Sunday 2025 Labour Day"),
        ("2025-10-08", False, "last day of 2025 National Day/Mid-Autumn block (Wed)"),
        ("2025-10-11", True, "make-up working Saturday 2025 National Day"),
        ("2025-12-31", True, "plain Wednesday"),
    ],
)
def test_is_working_day(cal: WorkingCalendar, day: str, expected: bool, why: str) -> None:
    assert cal.is_working_day(d(day)) is expected, why


@pytest.mark.parametrize(
    ("start", "n", "expected", "why"),
    [
        # plain week (2026-03-02 is a Monday)
        ("2026-03-02", 0, "2026-03-02", "n == 0 returns start"),
        ("2026-03-07", 0, "2026-03-07", "n == 0 returns start even on a Saturday"),
        ("2026-10-01", 0, "2026-10-01", "n == 0 returns start even on a holiday"),
        ("2026-03-02", 1, "2026-03-03", "Mon + 1"),
        ("2026-03-02", 4, "2026-03-06", "Mon + 4 = Fri"),
        ("2026-03-02", 5, "2026-03-09", "Mon + 5 = next Mon"),
        # Friday / weekend starts skip the weekend
        ("2026-03-06", 1, "2026-03-09", "Fri + 1 = Mon"),
        ("2026-03-06", 3, "2026-03-11", "Fri + 3 = Wed"),
        ("2026-03-07", 1, "2026-03-09", "Sat + 1 = Mon"),
        # National Day 2026: Oct 1-7 off, Sun Sep 20 and Sat Oct 10 worked
        ("2026-09-30", 1, "2026-10-08", "Wed before the block + 1 = Thu after it"),
        ("2026-09-30", 2, "2026-10-09", "... + 2 = Fri"),
        ("2026-09-30", 3, "2026-10-10", "... + 3 = make-up Saturday"),
        ("2026-09-30", 4, "2026-10-12", "... + 4 = Mon (Sun Oct 11 is off)"),
        ("2026-09-18", 1, "2026-09-20", "Fri + 1 = make-up Sunday Sep 20"),
        ("2026-09-18", 5, "2026-09-24", "Sep 20,21,22,23,24"),
        ("2026-09-18", 6, "2026-09-28", "Mid-Autumn Sep 25-27 skipped"),
        ("2026-09-18", 9, "2026-10-08", "Sep 28,29,30 then National Day skipped"),
        ("2026-09-18", 11, "2026-10-10", "Oct 8,9 then make-up Saturday"),
        ("2026-09-24", 1, "2026-09-28", "Thu before Mid-Autumn + 1 = Mon"),
        # Spring Festival 2026: Feb 15-23 off, Sat Feb 14 and Sat Feb 28 worked
        ("2026-02-12", 1, "2026-02-13", "Thu + 1 = Fri"),
        ("2026-02-12", 2, "2026-02-14", "... + 2 = make-up Saturday"),
        ("2026-02-12", 3, "2026-02-24", "... + 3 jumps the 9-day block"),
        ("2026-02-12", 4, "2026-02-25", "... + 4 = Wed"),
        ("2026-02-14", 1, "2026-02-24", "from the make-up Saturday itself"),
        ("2026-02-20", 1, "2026-02-24", "start inside the block"),
        ("2026-02-24", 3, "2026-02-27", "Tue + 3 = Fri"),
        ("2026-02-24", 4, "2026-02-28", "... + 4 = make-up Saturday"),
        ("2026-02-24", 5, "2026-03-02", "... + 5 = Mon"),
        # other 2026 blocks
        ("2026-04-03", 1, "2026-04-07", "Qingming Apr 4-6"),
        ("2026-04-30", 1, "2026-05-06", "Labour Day May 1-5"),
        ("2026-04-30", 3, "2026-05-08", "May 6,7,8"),
        ("2026-04-30", 4, "2026-05-09", "make-up Saturday May 9"),
        ("2026-04-30", 5, "2026-05-11", "then Mon"),
        ("2026-06-18", 1, "2026-06-22", "Dragon Boat Jun 19-21"),
        ("2026-12-30", 1, "2026-12-31", "last working day of 2026"),
        # across the 2025/2026 boundary: Jan 1-3 off, Sun Jan 4 worked
        ("2025-12-31", 1, "2026-01-04", "make-up Sunday Jan 4"),
        ("2025-12-31", 2, "2026-01-05", "then Mon"),
        # 2025
        ("2025-01-24", 1, "2025-01-26", "make-up Sunday Jan 26"),
        ("2025-01-24", 2, "2025-01-27", "Mon before the block"),
        ("2025-01-24", 3, "2025-02-05", "Spring Festival Jan 28-Feb 4"),
        ("2025-09-30", 1, "2025-10-09", "National Day/Mid-Autumn Oct 1-8"),
        ("2025-09-30", 3, "2025-10-11", "make-up Saturday Oct 11"),
    ],
)
def test_add_working_days(cal: WorkingCalendar, start: str, n: int, expected: str, why: str) -> None:
    assert cal.add_working_days(d(start), n) == d(expected), why


@pytest.mark.parametrize(
    ("a", "b", "expected", "why"),
    [
        ("2026-03-02", "2026-03-02", 0, "empty interval"),
        ("2026-03-02", "2026-03-03", 1, "(a, b] includes b, excludes a"),
        ("2026-03-01", "2026-03-08", 5, "Sun to Sun: a plain week"),
        ("2026-09-30", "2026-10-07", 0, "whole National Day block"),
        ("2026-09-30", "2026-10-12", 4, "Oct 8, 9, 10 (make-up), 12"),
        ("2026-02-13", "2026-02-27", 5, "Feb 14 (make-up), 24, 25, 26, 27"),
        ("2025-12-31", "2026-01-05", 2, "Jan 4 (make-up), Jan 5"),
        # 2026: 261 weekdays - 19 weekday holidays + 6 make-up days = 248 (Jan 1 is off)
        ("2026-01-01", "2026-12-31", 248, "all working days of 2026"),
        # 2025: 261 weekdays - 18 weekday holidays + 5 make-up days = 248 (Jan 1 is off)
        ("2025-01-01", "2025-12-31", 248, "all working days of 2025"),
    ],
)
def test_working_days_between(cal: WorkingCalendar, a: str, b: str, expected: int, why: str) -> None:
    assert cal.working_days_between(d(a), d(b)) == expected, why


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.is_working_day(date(2028, 1, 4)), id="is_working_day-2028"),
        pytest.param(lambda c: c.is_working_day(date(2024, 12, 31)), id="is_working_day-2024"),
        pytest.param(lambda c: c.add_working_days(date(2027, 12, 31), 1), id="add-runs-into-2028"),
        pytest.param(lambda c: c.add_working_days(date(2027, 12, 17), 15), id="add-15-runs-into-2028"),
        pytest.param(lambda c: c.add_working_days(date(2024, 6, 3), 0), id="add-0-from-2024"),
        pytest.param(lambda c: c.working_days_between(date(2027, 12, 1), date(2028, 1, 10)), id="between-into-2028"),
        pytest.param(lambda c: c.working_days_between(date(2024, 12, 30), date(2025, 1, 2)), id="between-from-2024"),
    ],
)
def test_unconfigured_year_raises(cal: WorkingCalendar, call) -> None:
    with pytest.raises(CalendarNotConfigured) as info:
        call(cal)
    assert isinstance(info.value, ValueError)
    assert info.value.year in (2024, 2028)
    assert str(info.value.year) in str(info.value)


@pytest.mark.parametrize("n", [1, 3, 7, 15])
def test_between_agrees_with_add_for_every_start_in_2026(cal: WorkingCalendar, n: int) -> None:
    start = date(2026, 1, 1)
    checked = 0
    while start.year == 2026:
        try:
            end = cal.add_working_days(start, n)
        except CalendarNotConfigured:
            # only allowed when fewer than n working days remain in 2026
            assert start.month == 12
            assert cal.working_days_between(start, date(2026, 12, 31)) < n
        else:
            assert end > start
            assert cal.is_working_day(end)
            assert cal.working_days_between(start, end) == n
            assert cal.working_days_between(start, end - timedelta(days=1)) == n - 1
            checked += 1
        start += timedelta(days=1)
    assert checked > 330


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({2026: {"holidays": [], "makeup_workdays": ["2026-03-04"]}}, "weekday"),
        ({2026: {"holidays": ["2025-10-01"]}}, "not in 2026"),
        ({2026: {"holidays": ["2026-03-07"], "makeup_workdays": ["2026-03-07"]}}, "both"),
        ({2026: {"holidays": [], "makeup_workday": []}}, "unknown keys"),
        ({2026: {"makeup_workdays": []}}, "'holidays' is required"),
        ({2026: {"holidays": ["2026-13-01"]}}, "not an ISO date"),
        ({"twenty": {"holidays": []}}, "not a year"),
    ],
)
def test_malformed_config_is_rejected(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(config)


def test_constructor_accepts_string_years_and_iso_strings() -> None:
    c = WorkingCalendar({"2026": {"holidays": ["2026-03-04"], "makeup_workdays": ["2026-03-07"], "source": "t"}})
    assert c.is_working_day(date(2026, 3, 4)) is False
    assert c.is_working_day(date(2026, 3, 7)) is True
    assert c.add_working_days(date(2026, 3, 3), 1) == date(2026, 3, 5)


def test_bad_arguments(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 3, 2), -1)
    with pytest.raises(ValueError):
        cal.working_days_between(date(2026, 3, 3), date(2026, 3, 2))
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 10, 1, 9, 0))


def test_the_next_year_is_provisional_until_its_notice_is_configured(cal: WorkingCalendar) -> None:
    assert cal.is_provisional(2027) and not cal.is_provisional(2026)
    assert "PROVISIONAL" in cal.source(2027)
    assert not cal.is_working_day(date(2027, 2, 8))  # 春节 (statutory days only)
    assert cal.is_working_day(date(2027, 2, 9))

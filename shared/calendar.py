"""Working-day calendar for deadlines in mainland China.

A day is a working day when it is Monday to Friday and not an official holiday, or
when it is a Saturday/Sunday that the State Council declared a make-up working day
(调休上班). The holidays and make-up days are data, one entry per year (see
``config/holidays.yaml``), because they are only published year by year.

Every computation refuses to touch a year that has no data
(:class:`CalendarNotConfigured`): silently falling back to "weekends only" would
produce deadlines that are wrong by up to a week around Spring Festival or National
Day.

Apart from :meth:`WorkingCalendar.from_config`, nothing here does I/O or reads a
clock.

Since issue 29 the calendars are reference data owned by the registry (one ``calendar`` record
per year, ``{year, holidays, makeup_workdays, source, provisional}``, seeded from
``config/holidays.yaml``): a service builds its calendar from its replica of them
(:class:`ReplicaCalendar`, over shared/reference.py). A calendar change takes effect for the
deadlines computed after it: ``ReplicaCalendar`` answers as the latest calendar, and
``as_of(moment)`` gives the calendar as it was at a moment (per year the version in force
then), so a deadline derived again from an earlier assignment stays what it was. A year that
was provisional then, or not known yet, is taken as it is now (a provisional year's deadlines
are derived again once the notice is configured).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from os import PathLike
from typing import Any

__all__ = ["CalendarNotConfigured", "ReplicaCalendar", "WorkingCalendar", "calendar_records"]

_ALLOWED_KEYS = frozenset({"holidays", "makeup_workdays", "source", "provisional"})
_SATURDAY = 5  # date.weekday(): Monday == 0 ... Sunday == 6
_ONE_DAY = timedelta(days=1)


class CalendarNotConfigured(ValueError):
    """A date falls in a year for which no holiday schedule is configured."""

    def __init__(self, day: date, configured_years: Iterable[int]) -> None:
        years = sorted(configured_years)
        self.day = day
        self.year = day.year
        self.configured_years = tuple(years)
        shown = ", ".join(str(y) for y in years) or "none"
        super().__init__(
            f"no holiday schedule configured for {day.year} (needed for {day.isoformat()}); "
            f"configured years: {shown}. Add {day.year} to config/holidays.yaml from the "
            f"国务院办公厅 notice before computing deadlines in that year."
        )


def _as_date(value: Any, where: str) -> date:
    """Parse one configured date (a ``date`` from YAML or an ISO ``YYYY-MM-DD`` string)."""
    if isinstance(value, datetime):
        raise ValueError(f"{where}: expected a date, got a datetime {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    raise ValueError(f"{where}: expected an ISO date, got {type(value).__name__} {value!r}")


def _as_year(key: Any) -> int:
    """Accept ``2026`` or ``"2026"`` as a year key."""
    if isinstance(key, bool):
        raise ValueError(f"holiday config: {key!r} is not a year")
    try:
        year = int(key)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"holiday config: {key!r} is not a year") from exc
    if not 1900 <= year <= 9999 or str(year) != str(key).strip():
        raise ValueError(f"holiday config: {key!r} is not a year")
    return year


def _check_day(value: Any) -> date:
    """Reject anything that is not a plain ``date`` (a ``datetime`` would never match)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a datetime.date, got {type(value).__name__} {value!r}")
    return value


class WorkingCalendar:
    """Working days per the configured China holiday schedule.

    Build it from the mapping ``{year: {"holidays": [...], "makeup_workdays": [...],
    "source": "..."}}`` (the shape of ``config/holidays.yaml``) or with
    :meth:`from_config`. The configuration is validated eagerly: dates must lie in
    their year, make-up working days must be Saturdays or Sundays, and no date may
    be both a holiday and a make-up working day.
    """

    def __init__(self, years: Mapping[Any, Mapping[str, Any]]) -> None:
        """Validate and index the per-year schedule; raises ``ValueError`` if malformed."""
        if not isinstance(years, Mapping):
            raise ValueError("holiday config: expected a mapping of year -> schedule")
        holidays: set[date] = set()
        makeup: set[date] = set()
        sources: dict[int, str] = {}
        provisional: set[int] = set()
        for key, entry in years.items():
            year = _as_year(key)
            if year in sources:
                raise ValueError(f"holiday config: year {year} is configured twice")
            if not isinstance(entry, Mapping):
                raise ValueError(f"holiday config {year}: expected a mapping, got {entry!r}")
            unknown = set(entry) - _ALLOWED_KEYS
            if unknown:
                raise ValueError(
                    f"holiday config {year}: unknown keys {sorted(map(str, unknown))}; "
                    f"allowed: {sorted(_ALLOWED_KEYS)}"
                )
            if "holidays" not in entry:
                raise ValueError(f"holiday config {year}: 'holidays' is required")
            year_holidays = self._dates(entry.get("holidays"), year, "holidays")
            year_makeup = self._dates(entry.get("makeup_workdays"), year, "makeup_workdays")
            for d in year_makeup:
                if d.weekday() < _SATURDAY:
                    raise ValueError(
                        f"holiday config {year}: make-up working day {d.isoformat()} is a "
                        f"weekday; only Saturdays/Sundays can be make-up working days"
                    )
            both = year_holidays & year_makeup
            if both:
                shown = ", ".join(d.isoformat() for d in sorted(both))
                raise ValueError(
                    f"holiday config {year}: {shown} listed both as holiday and make-up working day"
                )
            holidays |= year_holidays
            makeup |= year_makeup
            sources[year] = str(entry.get("source") or "")
            if entry.get("provisional"):
                provisional.add(year)
        self._holidays = frozenset(holidays)
        self._provisional = frozenset(provisional)
        self._makeup = frozenset(makeup)
        self._sources = sources

    @staticmethod
    def _dates(raw: Any, year: int, field: str) -> set[date]:
        """Parse a list of dates for ``year``; ``None`` means an empty list."""
        if raw is None:
            return set()
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
            raise ValueError(f"holiday config {year}.{field}: expected a list of dates")
        out: set[date] = set()
        for i, value in enumerate(raw):
            d = _as_date(value, f"holiday config {year}.{field}[{i}]")
            if d.year != year:
                raise ValueError(
                    f"holiday config {year}.{field}[{i}]: {d.isoformat()} is not in {year}"
                )
            out.add(d)
        return out

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> WorkingCalendar:
        """A calendar from the registry's ``calendar`` records (one per year)."""
        return cls({str(r["year"]): {k: r.get(k) for k in _ALLOWED_KEYS if k in r}
                    for r in records})

    @classmethod
    def from_config(cls, path: str | PathLike[str]) -> WorkingCalendar:
        """Load a calendar from a YAML file shaped like ``config/holidays.yaml``."""
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        if data is None:
            data = {}
        calendar = cls(data)
        for year in sorted(calendar._provisional):
            logging.getLogger(__name__).warning(
                "holiday schedule %d is provisional (statutory days only, no make-up working "
                "days): replace it with the State Council notice in %s", year, path)
        return calendar

    @property
    def configured_years(self) -> tuple[int, ...]:
        """The years with a holiday schedule, ascending."""
        return tuple(sorted(self._sources))

    def is_provisional(self, year: int) -> bool:
        """True for a year configured ahead of its official notice (statutory days only):
        deadlines in it are derived again from the events once the notice is configured."""
        return year in self._provisional

    def source(self, year: int) -> str:
        """Where the schedule of ``year`` comes from (free text from the config)."""
        if year not in self._sources:
            raise CalendarNotConfigured(date(year, 1, 1), self._sources)
        return self._sources[year]

    def _require(self, d: date) -> None:
        if d.year not in self._sources:
            raise CalendarNotConfigured(d, self._sources)

    def is_working_day(self, d: date) -> bool:
        """True for Mon–Fri that are not holidays, and for weekend make-up working days.

        Raises :class:`CalendarNotConfigured` if ``d``'s year has no schedule and
        ``TypeError`` for anything but a plain ``date`` (a ``datetime`` is refused, since
        it would never compare equal to a configured date).
        """
        _check_day(d)
        self._require(d)
        if d.weekday() >= _SATURDAY:
            return d in self._makeup
        return d not in self._holidays

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself is not counted).

        ``n == 0`` returns ``start`` unchanged (whether or not it is a working day).
        ``start``'s year and every year walked through must be configured, otherwise
        :class:`CalendarNotConfigured` is raised. ``n < 0`` raises ``ValueError``.
        """
        _check_day(start)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__} {n!r}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._require(start)
        d = start
        remaining = n
        while remaining:
            d += _ONE_DAY
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Number of working days in the half-open interval ``(a, b]``.

        So ``working_days_between(s, add_working_days(s, n)) == n`` for every ``n >= 0``.
        Returns 0 when ``a == b``; raises ``ValueError`` when ``b < a`` and
        :class:`CalendarNotConfigured` when any year from ``a`` to ``b`` is not configured.
        """
        _check_day(a)
        _check_day(b)
        if b < a:
            raise ValueError(f"b ({b.isoformat()}) is before a ({a.isoformat()})")
        self._require(a)
        self._require(b)
        count = 0
        d = a
        while d < b:
            d += _ONE_DAY
            if self.is_working_day(d):
                count += 1
        return count


def calendar_records(years: Mapping[Any, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``calendar`` records of a ``config/holidays.yaml`` mapping (dates as ISO text),
    checked as :class:`WorkingCalendar` checks them."""
    WorkingCalendar(years)
    out = []
    for key, entry in years.items():
        year = _as_year(key)
        out.append({
            "year": year, "source": str(entry.get("source") or ""),
            "holidays": sorted(_as_date(d, str(year)).isoformat()
                               for d in entry.get("holidays") or []),
            "makeup_workdays": sorted(_as_date(d, str(year)).isoformat()
                                      for d in entry.get("makeup_workdays") or []),
            "provisional": bool(entry.get("provisional"))})
    return sorted(out, key=lambda r: r["year"])


def config_calendar_records(config_dir: str | PathLike[str]) -> list[dict[str, Any]]:
    """The ``calendar`` records of ``<config_dir>/holidays.yaml`` (none without the file): the
    seed of the registry's calendars and of a replica's before any registry event."""
    import yaml
    from pathlib import Path

    path = Path(config_dir) / "holidays.yaml"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return calendar_records(yaml.safe_load(fh) or {})


class ReplicaCalendar:
    """The working-day calendar of a service's replica of the registry's ``calendar`` records
    (``reference``: a shared/reference.py ``ReferenceData``). It answers as the latest
    calendar (what a deadline computed now uses); :meth:`as_of` gives the calendar in force at
    a moment, for a deadline derived again from an assignment made then."""

    def __init__(self, reference: Any) -> None:
        self.reference = reference
        self._lock = threading.Lock()
        self._current: WorkingCalendar | None = None
        self._as_of: dict[tuple[Any, ...], WorkingCalendar] = {}
        self._version = -1

    def _fresh(self) -> None:
        version = self.reference.calendar_version
        if version != self._version:
            self._current = None
            self._as_of = {}
            self._version = version

    @staticmethod
    def _build(records: Iterable[Mapping[str, Any]]) -> WorkingCalendar:
        good = []
        for record in records:
            try:
                WorkingCalendar.from_records([record])
            except (ValueError, KeyError) as exc:  # refused by the registry; never expected
                logging.getLogger(__name__).error("calendar record left out: %s", exc)
                continue
            good.append(record)
        return WorkingCalendar.from_records(good)

    def current(self) -> WorkingCalendar:
        with self._lock:
            self._fresh()
            if self._current is None:
                self._current = self._build(self.reference.calendar_records())
            return self._current

    def as_of(self, moment: datetime | None) -> WorkingCalendar:
        """Per year the record in force at ``moment`` (the latest if it was provisional then,
        or the year was not known yet)."""
        if moment is None:
            return self.current()
        with self._lock:
            self._fresh()
            records = self.reference.calendar_records(as_of=moment)
            key = tuple((r["year"], id(r)) for r in records)
            found = self._as_of.get(key)
            if found is None:
                found = self._as_of[key] = self._build(records)
            return found

    # --- the WorkingCalendar interface, answered by the latest calendar --------------------

    @property
    def configured_years(self) -> tuple[int, ...]:
        return self.current().configured_years

    def is_provisional(self, year: int) -> bool:
        return self.current().is_provisional(year)

    def source(self, year: int) -> str:
        return self.current().source(year)

    def is_working_day(self, d: date) -> bool:
        return self.current().is_working_day(d)

    def add_working_days(self, start: date, n: int) -> date:
        return self.current().add_working_days(start, n)

    def working_days_between(self, a: date, b: date) -> int:
        return self.current().working_days_between(a, b)

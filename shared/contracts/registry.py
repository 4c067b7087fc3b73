"""Integration events of the registry service (名册: reference data as data).

``duty.registry.record_changed.v1``: one reference record (a deputy, a handling unit, a
liaison station with its grids, or a term 届) was created, changed, closed or reopened in the
registry's log. The event carries the whole record after the change, in the shape of its
configuration file (``config/deputies.yaml``, ``units.yaml``, ``stations.yaml``; a term is
``{id, name, number, start, end}``), so a consumer keeps the latest record per
``(kind, key)`` without asking the registry. ``case_id`` is ``<kind>:<key>``.

``duty.registry.record_changed.v2``: the same fields, published BESIDE v1 for every change;
its ``kind`` may also be ``category`` (a suggestion and message category, key its ``code``,
``{code, name_zh, name_en}`` as in ``config/categories.yaml``) or ``calendar`` (one year's
working-day calendar, key the year as text, ``{year, holidays, makeup_workdays, source,
provisional}`` as in ``config/holidays.yaml``, dates ISO). A change of a category or a
calendar has no v1: a consumer of v1 would park a kind it does not know (docs/events.md).

A closed record (a deputy not re-elected at a term change) stays known to consumers, since
cases and ledgers refer to it, with ``active`` false: nothing new may be addressed to it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent

RecordKind = Literal["deputy", "unit", "station", "term"]
RecordKindV2 = Literal["deputy", "unit", "station", "term", "category", "calendar"]
# the kinds v1 carries (a change of another kind is published as v2 only)
KINDS_V1: tuple[str, ...] = ("deputy", "unit", "station", "term")


class RecordChangedV1(IntegrationEvent):
    producer: ClassVar[str] = "registry"
    name: ClassVar[str] = "record_changed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = ("A reference record (deputy, unit, station, term) was created, "
                              "changed, closed or reopened: the whole record after the change.")
    # every service that uses deputies, units, stations or terms keeps its own replica of
    # them in its own log (shared/reference.py)
    consumers: ClassVar[tuple[str, ...]] = ("intake", "assignment", "supervision", "points",
                                            "notifications", "liaison", "projects", "reports",
                                            "accounts")

    kind: RecordKind
    key: str = Field(min_length=1, max_length=64, description="the record's stable key (id)")
    change: Literal["created", "changed", "closed", "reopened"]
    record: dict[str, Any] = Field(description="the whole record after the change")
    active: bool = Field(description="false once closed (a deputy not re-elected)")

    case_id_form: ClassVar[str | None] = "<kind>:<key>"

    def expected_case_id(self) -> str | None:
        return f"{self.kind}:{self.key}"


class RecordChangedV2(RecordChangedV1):
    """Version 2, published beside version 1 for every change (v1 only for its four kinds)."""

    name: ClassVar[str] = "record_changed"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = ("A reference record (deputy, unit, station, term, category, "
                              "working-day calendar of a year) was created, changed, closed or "
                              "reopened: the whole record after the change. Published beside "
                              "v1, which carries only the first four kinds.")
    # the same replicas, which handle v1 and v2 alike (shared/reference.py)
    consumers: ClassVar[tuple[str, ...]] = RecordChangedV1.consumers

    kind: RecordKindV2  # type: ignore[assignment]

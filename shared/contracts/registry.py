"""Integration events of the registry service (名册: reference data as data).

``duty.registry.record_changed.v1``: one reference record (a deputy, a handling unit, a
liaison station with its grids, or a term 届) was created, changed, closed or reopened in the
registry's log. The event carries the whole record after the change, in the shape of its
configuration file (``config/deputies.yaml``, ``units.yaml``, ``stations.yaml``; a term is
``{id, name, number, start, end}``), so a consumer keeps the latest record per
``(kind, key)`` without asking the registry. ``case_id`` is ``<kind>:<key>``.

A closed record (a deputy not re-elected at a term change) stays known to consumers, since
cases and ledgers refer to it, with ``active`` false: nothing new may be addressed to it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent

RecordKind = Literal["deputy", "unit", "station", "term"]


class RecordChangedV1(IntegrationEvent):
    producer: ClassVar[str] = "registry"
    name: ClassVar[str] = "record_changed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = ("A reference record (deputy, unit, station, term) was created, "
                              "changed, closed or reopened: the whole record after the change.")
    # every service that uses deputies, units, stations or terms keeps its own replica of
    # them in its own log (shared/reference.py)
    consumers: ClassVar[tuple[str, ...]] = ("intake", "assignment", "supervision", "points",
                                            "notifications", "liaison", "projects", "reports")

    kind: RecordKind
    key: str = Field(min_length=1, max_length=64, description="the record's stable key (id)")
    change: Literal["created", "changed", "closed", "reopened"]
    record: dict[str, Any] = Field(description="the whole record after the change")
    active: bool = Field(description="false once closed (a deputy not re-elected)")

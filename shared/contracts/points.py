"""Events published by the duty-points service."""

from __future__ import annotations

from typing import ClassVar

from shared.contracts.base import IntegrationEvent


class _Points(IntegrationEvent):
    producer: ClassVar[str] = "points"


class PointsAwardedV1(_Points):
    name: ClassVar[str] = "points_awarded"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "Duty points were added to a deputy's ledger, with their cause."
    consumers: ClassVar[tuple[str, ...]] = ()

    deputy_id: str
    year: int
    points: float
    cause_kind: str
    cause_ref: str
    rule_version: str

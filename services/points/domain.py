"""Points' aggregate: one duty-point ledger per deputy and year."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class DutyLedger(Aggregate):
    @staticmethod
    def create_id(deputy_id: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:points:ledger:{deputy_id}:{year}")

    @event("Opened")
    def __init__(self, deputy_id: str, year: int) -> None:
        self.deputy_id = deputy_id
        self.year = year
        self.lines: list[dict] = []

    @event("PointsAwarded")
    def award(
        self,
        points: float,
        cause_kind: str,
        cause_ref: str,
        case_id: str | None,
        rule_version: str,
        awarded_at: datetime,
    ) -> None:
        self.lines.append({
            "points": points,
            "cause_kind": cause_kind,
            "cause_ref": cause_ref,
            "case_id": case_id,
            "rule_version": rule_version,
            "awarded_at": awarded_at.isoformat(),
        })

    @property
    def total(self) -> float:
        return round(sum(line["points"] for line in self.lines), 2)

    def has_cause(self, cause_kind: str, cause_ref: str) -> bool:
        return any(l["cause_kind"] == cause_kind and l["cause_ref"] == cause_ref for l in self.lines)

"""Points' commands and queries over its event store."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from shared.clock import CHINA_TZ, Clock, SystemClock
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import Actor, ServiceApplication
from shared.projection import LogProjection
from shared.rpc import Command, NotFound
from shared.settings import ServiceSettings, load_config

from services.points.domain import DutyLedger


class DeputyPoints(Command):
    deputy_id: str
    year: int | None = None


class CaseRef(Command):
    case_id: str


class ScoringRules:
    """Versioned scoring rules: the version in force on a date applies to points earned then."""

    def __init__(self, versions: list[dict[str, Any]]) -> None:
        self.versions = sorted(versions, key=lambda v: str(v["effective_from"]))

    def in_force(self, on: date) -> dict[str, Any]:
        current = None
        for version in self.versions:
            if date.fromisoformat(str(version["effective_from"])) <= on:
                current = version
        if current is None:
            raise LookupError(f"no scoring rule is in force on {on}")
        return current


class PointsApplication(ServiceApplication):
    name = "points"
    # A deputy's yearly ledger grows with every line; snapshots keep loading it cheap.
    snapshotting_intervals = {DutyLedger: 50}

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.rules = ScoringRules(load_config(settings, "points"))
        self.deputies = {d["id"]: d for d in load_config(settings, "deputies")}
        super().__init__(settings, env={"IS_SNAPSHOTTING_ENABLED": "y"})

    def ledger(self, deputy_id: str, year: int) -> DutyLedger:
        try:
            return self.repository.get(DutyLedger.create_id(deputy_id, year))
        except AggregateNotFoundError:
            return DutyLedger(deputy_id=deputy_id, year=year)

    def on_suggestion_registered(self, event: SuggestionRegisteredV1) -> list[DutyLedger]:
        registered_on = event.occurred_at.astimezone(CHINA_TZ).date()
        rule = self.rules.in_force(registered_on)
        split = rule["automatic"]["suggestion_registered"]
        awards = [(event.lead_deputy_id, split["lead"])]
        awards += [(co, split["co_signer"]) for co in event.co_signer_ids]
        ledgers = []
        for deputy_id, points in awards:
            ledger = self.ledger(deputy_id, registered_on.year)
            if ledger.has_cause("suggestion_registered", event.case_id):
                continue
            ledger.award(
                points=float(points),
                cause_kind="suggestion_registered",
                cause_ref=event.case_id,
                case_id=event.case_id,
                rule_version=str(rule["version"]),
                awarded_at=event.occurred_at,
            )
            ledgers.append(ledger)
        return ledgers

    def deputy_points(self, q: DeputyPoints, actor: Actor) -> dict[str, Any]:
        if q.deputy_id not in self.deputies:
            raise NotFound(f"no deputy {q.deputy_id}")
        year = q.year or self.clock.now().astimezone(CHINA_TZ).year
        ledger = self.ledger(q.deputy_id, year)
        return {"deputy_id": q.deputy_id, "year": year, "total": ledger.total, "lines": ledger.lines}


class CasePoints(LogProjection):
    """Read model: points awarded per case (for the suggestion view)."""

    def __init__(self, app: PointsApplication) -> None:
        super().__init__(app)
        self.by_case: dict[str, list[dict[str, Any]]] = {}
        self.ledger_owner: dict[str, str] = {}

    def clear(self) -> None:
        self.by_case.clear()
        self.ledger_owner.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        key = str(domain_event.originator_id)
        if isinstance(domain_event, DutyLedger.Opened):
            self.ledger_owner[key] = domain_event.deputy_id
        elif isinstance(domain_event, DutyLedger.PointsAwarded) and domain_event.case_id:
            self.by_case.setdefault(domain_event.case_id, []).append({
                "deputy_id": self.ledger_owner.get(key),
                "points": domain_event.points,
                "cause_kind": domain_event.cause_kind,
                "rule_version": domain_event.rule_version,
            })

    def query(self, case_id: str) -> list[dict[str, Any]]:
        return list(self.by_case.get(case_id, []))

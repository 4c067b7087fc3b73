"""Intake's commands and queries over its event store."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import Field, field_validator

from shared.clock import CHINA_TZ, Clock, SystemClock
from shared.eventstore import Actor, ServiceApplication
from shared.projection import LogProjection
from shared.rpc import Command, Conflict, Forbidden, Invalid, NotFound
from shared.settings import ServiceSettings, load_config

from services.intake.domain import URGENCIES, RegistrationSequence, Suggestion


class SubmitSuggestion(Command):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20000)
    category: str
    co_signers: list[str] = Field(default_factory=list, max_length=50)
    station_id: str | None = None


class RegisterSuggestion(Command):
    suggestion_id: str
    category: str | None = None
    urgency: str

    @field_validator("urgency")
    @classmethod
    def _urgency(cls, value: str) -> str:
        if value not in URGENCIES:
            raise ValueError(f"urgency must be one of {', '.join(URGENCIES)}")
        return value


class DeclineSuggestion(Command):
    suggestion_id: str
    reason: str = Field(min_length=1, max_length=2000)


class SuggestionRef(Command):
    suggestion_id: str


class ListSuggestions(Command):
    status: str | None = None
    category: str | None = None
    urgency: str | None = None
    deputy_id: str | None = None


class IntakeApplication(ServiceApplication):
    name = "intake"
    snapshotting_intervals = {RegistrationSequence: 50}

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.categories = {c["code"]: c for c in load_config(settings, "categories")}
        self.deputies = {d["id"]: d for d in load_config(settings, "deputies")}
        self.stations = {s["id"]: s for s in load_config(settings, "stations")}
        super().__init__(settings, env={"IS_SNAPSHOTTING_ENABLED": "y"})

    # --- commands -----------------------------------------------------------------------

    def submit_suggestion(self, cmd: SubmitSuggestion, actor: Actor) -> dict[str, Any]:
        if actor.role != "deputy" or not actor.deputy_id:
            raise Forbidden("only a deputy can submit a suggestion")
        lead = actor.deputy_id
        errors: list[dict[str, Any]] = []
        if cmd.category not in self.categories:
            errors.append({"loc": ["body", "category"], "msg": f"unknown category {cmd.category!r}"})
        if lead not in self.deputies:
            errors.append({"loc": ["actor"], "msg": f"unknown deputy {lead!r}"})
        seen: set[str] = set()
        for i, co in enumerate(cmd.co_signers):
            loc = ["body", "co_signers", i]
            if co == lead:
                errors.append({"loc": loc, "msg": "a co-signer cannot be the lead deputy"})
            elif co in seen:
                errors.append({"loc": loc, "msg": f"duplicate co-signer {co!r}"})
            elif co not in self.deputies:
                errors.append({"loc": loc, "msg": f"unknown deputy {co!r}"})
            seen.add(co)
        station_id = cmd.station_id or self.deputies.get(lead, {}).get("station")
        if cmd.station_id and cmd.station_id not in self.stations:
            errors.append({"loc": ["body", "station_id"], "msg": f"unknown station {cmd.station_id!r}"})
        if errors:
            raise Invalid("the suggestion has invalid fields", errors)
        suggestion = Suggestion(
            title=cmd.title,
            body=cmd.body,
            category=cmd.category,
            lead_deputy_id=lead,
            co_signer_ids=cmd.co_signers,
            station_id=station_id,
            submitted_at=self.clock.now(),
        )
        self.save(suggestion)
        return {"id": str(suggestion.id), "status": suggestion.status}

    def register_suggestion(self, cmd: RegisterSuggestion, actor: Actor) -> dict[str, Any]:
        if cmd.category is not None and cmd.category not in self.categories:
            raise Invalid.field(["body", "category"], f"unknown category {cmd.category!r}")
        now = self.clock.now()
        year = now.astimezone(CHINA_TZ).year
        for _ in range(50):  # optimistic concurrency on the yearly sequence
            suggestion = self._suggestion(cmd.suggestion_id)
            suggestion.ensure_reviewable()
            try:
                sequence = self.repository.get(RegistrationSequence.create_id(year))
            except AggregateNotFoundError:
                sequence = RegistrationSequence(year=year)
            sequence.allocate(suggestion_id=str(suggestion.id))
            suggestion.register(
                number=sequence.last_number,
                category=cmd.category or suggestion.category,
                urgency=cmd.urgency,
                registered_at=now,
            )
            try:
                self.save(sequence, suggestion)
            except IntegrityError:
                continue
            return {"id": str(suggestion.id), "number": suggestion.number, "status": suggestion.status}
        raise Conflict("too many concurrent registrations; try again")

    def decline_suggestion(self, cmd: DeclineSuggestion, actor: Actor) -> dict[str, Any]:
        suggestion = self._suggestion(cmd.suggestion_id)
        suggestion.decline(reason=cmd.reason, declined_at=self.clock.now())
        try:
            self.save(suggestion)
        except IntegrityError:
            raise Conflict("the suggestion changed meanwhile; reload it") from None
        return {"id": str(suggestion.id), "status": suggestion.status}

    # --- queries ------------------------------------------------------------------------

    def get_suggestion(self, ref: SuggestionRef, actor: Actor) -> dict[str, Any]:
        suggestion = self._suggestion(ref.suggestion_id)
        if actor.role == "deputy" and actor.deputy_id not in suggestion.deputy_ids:
            raise NotFound(f"no suggestion {ref.suggestion_id}")
        return suggestion_view(suggestion)

    def _suggestion(self, suggestion_id: str) -> Suggestion:
        try:
            return self.repository.get(UUID(suggestion_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no suggestion {suggestion_id}") from None


def suggestion_view(s: Suggestion) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "status": s.status,
        "number": s.number,
        "title": s.title,
        "body": s.body,
        "category": s.category,
        "urgency": s.urgency,
        "lead_deputy_id": s.lead_deputy_id,
        "co_signers": s.co_signer_ids,
        "station_id": s.station_id,
        "submitted_at": s.submitted_at.isoformat(),
        "registered_at": s.registered_at.isoformat() if s.registered_at else None,
        "decline_reason": s.decline_reason,
        "version": s.version,
    }


class SuggestionIndex(LogProjection):
    """Read model: suggestions by status, category, urgency and deputy."""

    def __init__(self, app: IntakeApplication) -> None:
        super().__init__(app)
        self.rows: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        self.rows.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        key = str(domain_event.originator_id)
        if isinstance(domain_event, Suggestion.Submitted):
            self.rows[key] = {
                "id": key,
                "title": domain_event.title,
                "category": domain_event.category,
                "status": "submitted",
                "urgency": None,
                "number": None,
                "deputy_ids": [domain_event.lead_deputy_id, *domain_event.co_signer_ids],
                "submitted_at": domain_event.submitted_at.isoformat(),
            }
            return
        row = self.rows.get(key)
        if row is None:
            return
        if isinstance(domain_event, Suggestion.Registered):
            row.update(status="registered", number=domain_event.number,
                       category=domain_event.category, urgency=domain_event.urgency)
        elif isinstance(domain_event, Suggestion.Declined):
            row.update(status="declined")

    def query(self, q: ListSuggestions) -> list[dict[str, Any]]:
        rows = self.rows.values()
        out = [
            r for r in rows
            if (q.status is None or r["status"] == q.status)
            and (q.category is None or r["category"] == q.category)
            and (q.urgency is None or r["urgency"] == q.urgency)
            and (q.deputy_id is None or q.deputy_id in r["deputy_ids"])
        ]
        return sorted(out, key=lambda r: r["submitted_at"])

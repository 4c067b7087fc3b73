"""Intake's aggregates: the suggestion (代表建议) and the yearly registration sequence."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.rpc import Conflict

URGENCIES = ("red", "yellow", "blue")


class Suggestion(Aggregate):
    """A deputy's formal suggestion, from submission to registration or decline."""

    @event("Submitted")
    def __init__(
        self,
        title: str,
        body: str,
        category: str,
        lead_deputy_id: str,
        co_signer_ids: list[str],
        station_id: str | None,
        submitted_at: datetime,
    ) -> None:
        self.title = title
        self.body = body
        self.category = category
        self.lead_deputy_id = lead_deputy_id
        self.co_signer_ids = list(co_signer_ids)
        self.station_id = station_id
        self.submitted_at = submitted_at
        self.status = "submitted"
        self.number: str | None = None
        self.urgency: str | None = None
        self.registered_at: datetime | None = None
        self.decline_reason: str | None = None

    @property
    def deputy_ids(self) -> list[str]:
        return [self.lead_deputy_id, *self.co_signer_ids]

    def ensure_reviewable(self) -> None:
        if self.status != "submitted":
            raise Conflict(f"suggestion is already {self.status}", status_now=self.status)

    def register(self, number: str, category: str, urgency: str, registered_at: datetime) -> None:
        self.ensure_reviewable()
        self._registered(number=number, category=category, urgency=urgency,
                         registered_at=registered_at)

    @event("Registered")
    def _registered(self, number: str, category: str, urgency: str, registered_at: datetime) -> None:
        self.status = "registered"
        self.number = number
        self.category = category
        self.urgency = urgency
        self.registered_at = registered_at

    def decline(self, reason: str, declined_at: datetime) -> None:
        self.ensure_reviewable()
        self._declined(reason=reason, declined_at=declined_at)

    @event("Declined")
    def _declined(self, reason: str, declined_at: datetime) -> None:
        self.status = "declined"
        self.decline_reason = reason


class RegistrationSequence(Aggregate):
    """Hands out the gap-free yearly registration numbers (2026-0001, 2026-0002, ...).

    One aggregate per year: two concurrent registrations both try to record the next
    version of it, the event store lets exactly one of them commit, and the other retries.
    """

    @staticmethod
    def create_id(year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:intake:registration-sequence:{year}")

    @event("Started")
    def __init__(self, year: int) -> None:
        self.year = year
        self.last = 0

    @event("NumberAllocated")
    def allocate(self, suggestion_id: str) -> None:
        self.last += 1

    @property
    def last_number(self) -> str:
        return f"{self.year}-{self.last:04d}"

"""Points' aggregates: one duty-point ledger per deputy and year; one self-reported activity
per claim.

A ledger's lines are append-only. An award line names its cause (an activity id, or the
upstream case/message id with the kind of cause and the upstream event id) and the rule
version it was earned under. A revocation is a new line with a negative amount and a reason;
a recalculation under another rule version adds adjustment lines. Award lines carry their
live state (``current_points``, ``current_rule_version``, ``revoked_by``) so that the ledger
can answer caps and idempotency questions; that state is derived by replaying the events. A
line is never changed in place: a change of its live state replaces it with an updated copy.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.points.errors import DomainError, LineNotRevocable, NotPending, SelfReviewRefused
from services.points.rules import cap_group, period_key


class DutyLedger(Aggregate):
    # Version 2: lines carry line numbers, types and live state; the ledger keeps facts.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Bring a snapshot taken by version 1 (award lines only, no facts) up to date."""
        state.setdefault("facts", [])
        for i, line in enumerate(state.get("lines", []), start=1):
            line.setdefault("line_no", i)
            line.setdefault("type", "award")
            line.setdefault("earned_on", str(line.get("awarded_at", ""))[:10])
            for key in ("activity_kind", "capped_by", "event_id", "revoked_by"):
                line.setdefault(key, None)
            line.setdefault("details", {})
            line.setdefault("current_points", line.get("points", 0.0))
            line.setdefault("current_rule_version", line.get("rule_version"))

    @staticmethod
    def create_id(deputy_id: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:points:ledger:{deputy_id}:{year}")

    def __deepcopy__(self, memo: dict[int, Any]) -> DutyLedger:
        """A copy that shares nothing the ledger changes: its lists. Lines and facts are never
        changed in place (a line's live state changes by replacing the line with an updated
        copy), so they are shared. Much cheaper than a generic deep copy, and taken for every
        command or message that reads a kept ledger."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.lines = list(self.lines)
        clone.facts = list(self.facts)
        clone._pending_events = list(self._pending_events)
        return clone

    @event("Opened")
    def __init__(self, deputy_id: str, year: int) -> None:
        self.deputy_id = deputy_id
        self.year = year
        self.lines: list[dict] = []
        self.facts: list[dict] = []

    # --- awards ---------------------------------------------------------------------------

    def award(
        self,
        points: float,
        cause_kind: str,
        cause_ref: str,
        case_id: str | None,
        rule_version: str,
        awarded_at: datetime,
        earned_on: date | None = None,
        activity_kind: str | None = None,
        capped_by: str | None = None,
        event_id: str | None = None,
        details: dict | None = None,
    ) -> None:
        self._awarded(points=points, cause_kind=cause_kind, cause_ref=cause_ref,
                      case_id=case_id, rule_version=rule_version, awarded_at=awarded_at,
                      earned_on=earned_on, activity_kind=activity_kind, capped_by=capped_by,
                      event_id=event_id, details=details, deputy_id=self.deputy_id,
                      year=self.year)

    class PointsAwarded(Aggregate.Event):
        """An award line. Version 2 also carries the ledger's deputy and year (what its
        contract needs); version 1 events lack them (upcast to None: the relay reads the
        ledger's first event for them)."""

        class_version = 2

        points: float
        cause_kind: str
        cause_ref: str
        case_id: str | None
        rule_version: str
        awarded_at: datetime
        earned_on: date | None
        activity_kind: str | None
        capped_by: str | None
        event_id: str | None
        details: dict | None
        deputy_id: str | None
        year: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["deputy_id"] = None
            state["year"] = None

    @event(PointsAwarded)
    def _awarded(self, points: float, cause_kind: str, cause_ref: str, case_id: str | None,
                 rule_version: str, awarded_at: datetime, earned_on: date | None,
                 activity_kind: str | None, capped_by: str | None, event_id: str | None,
                 details: dict | None, deputy_id: str | None, year: int | None) -> None:
        self.lines.append({
            "line_no": len(self.lines) + 1,
            "type": "award",
            "points": points,
            "cause_kind": cause_kind,
            "cause_ref": cause_ref,
            "case_id": case_id,
            "rule_version": rule_version,
            "awarded_at": awarded_at.isoformat(),
            "earned_on": (earned_on or awarded_at.date()).isoformat(),
            "activity_kind": activity_kind,
            "capped_by": capped_by,
            "event_id": event_id,
            "details": dict(details or {}),
            "current_points": points,
            "current_rule_version": rule_version,
            "revoked_by": None,
        })

    # --- revocations ----------------------------------------------------------------------

    def revoke_line(self, line_no: int, reason: str, revoked_at: datetime,
                    event_id: str | None = None) -> dict[str, Any]:
        line = self.line(line_no)
        if line is None or line["type"] != "award":
            raise LineNotRevocable(f"line {line_no} is not an award line of this ledger")
        if line["revoked_by"]:
            raise LineNotRevocable(f"line {line_no} was already revoked by line {line['revoked_by']}")
        if not reason.strip():
            raise LineNotRevocable("a revocation needs a reason")
        self._revoked(line_no=line_no, points=round(-float(line["current_points"]), 2),
                      cause_kind=line["cause_kind"], case_id=line["case_id"],
                      reason=reason, revoked_at=revoked_at, event_id=event_id,
                      cause_ref=line["cause_ref"], deputy_id=self.deputy_id, year=self.year)
        return self.lines[-1]

    class PointsRevoked(Aggregate.Event):
        """An award line was revoked. Version 2 also carries the line's ``cause_ref``;
        version 1 events lack it (upcast to None: the relay reads the ledger for them).
        Version 3 also carries the ledger's deputy and year (None when upcast)."""

        class_version = 3

        line_no: int
        points: float
        cause_kind: str
        case_id: str | None
        reason: str
        revoked_at: datetime
        event_id: str | None
        cause_ref: str | None
        deputy_id: str | None
        year: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["cause_ref"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["deputy_id"] = None
            state["year"] = None

    @event(PointsRevoked)
    def _revoked(self, line_no: int, points: float, cause_kind: str, case_id: str | None,
                 reason: str, revoked_at: datetime, event_id: str | None,
                 cause_ref: str | None, deputy_id: str | None = None,
                 year: int | None = None) -> None:
        # cause_kind, cause_ref and case_id repeat the original line's, so readers of the
        # event alone (read models, the outbox) need not replay the ledger.
        new_no = len(self.lines) + 1
        original = self.lines[line_no - 1] = {**self.lines[line_no - 1], "revoked_by": new_no,
                                              "current_points": 0.0}
        self.lines.append({
            "line_no": new_no,
            "type": "revocation",
            "points": points,
            "cause_kind": cause_kind,
            "cause_ref": original["cause_ref"],
            "case_id": case_id,
            "rule_version": original["current_rule_version"],
            "awarded_at": revoked_at.isoformat(),
            "earned_on": revoked_at.date().isoformat(),
            "activity_kind": original["activity_kind"],
            "event_id": event_id,
            "reason": reason,
            "refers_to_line": line_no,
        })

    # --- recalculation --------------------------------------------------------------------

    def recalculated(self, recalculation_id: str, rule_version: str, adjustments: list,
                     reason: str, recalculated_at: datetime) -> None:
        self._recalculated(recalculation_id=recalculation_id, rule_version=rule_version,
                           adjustments=adjustments, reason=reason,
                           recalculated_at=recalculated_at, deputy_id=self.deputy_id,
                           year=self.year)

    class Recalculated(Aggregate.Event):
        """A recalculation applied to the ledger. Version 2 also carries the ledger's deputy
        and year; version 1 events lack them (upcast to None)."""

        class_version = 2

        recalculation_id: str
        rule_version: str
        adjustments: list
        reason: str
        recalculated_at: datetime
        deputy_id: str | None
        year: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["deputy_id"] = None
            state["year"] = None

    @event(Recalculated)
    def _recalculated(self, recalculation_id: str, rule_version: str, adjustments: list,
                      reason: str, recalculated_at: datetime, deputy_id: str | None,
                      year: int | None) -> None:
        """Apply a recalculation's result: one adjustment line per priced line whose points
        change; every priced line now counts under ``rule_version``."""
        for adj in adjustments:
            original = {**self.lines[adj["line_no"] - 1], "current_rule_version": rule_version}
            if adj["delta"]:
                original["current_points"] = adj["new"]
            self.lines[adj["line_no"] - 1] = original
            if adj["delta"] == 0:
                continue
            self.lines.append({
                "line_no": len(self.lines) + 1,
                "type": "adjustment",
                "points": adj["delta"],
                "cause_kind": original["cause_kind"],
                "cause_ref": original["cause_ref"],
                "case_id": original["case_id"],
                "rule_version": rule_version,
                "awarded_at": recalculated_at.isoformat(),
                "earned_on": original["earned_on"],
                "activity_kind": original["activity_kind"],
                "capped_by": adj.get("capped_by"),
                "event_id": None,
                "reason": reason,
                "recalculation_id": recalculation_id,
                "from_rule_version": original["rule_version"],
                "refers_to_line": adj["line_no"],
            })

    # --- facts for the duty record (no points) ----------------------------------------------

    @event("FactRecorded")
    def record_fact(self, kind: str, ref: str, on: date, details: dict,
                    event_id: str | None = None) -> None:
        self.facts.append({"kind": kind, "ref": ref, "on": on.isoformat(),
                           "details": dict(details), "event_id": event_id})

    def has_fact(self, kind: str, ref: str, event_id: str | None = None) -> bool:
        return any(f["kind"] == kind and f["ref"] == ref
                   and (event_id is None or f["event_id"] == event_id) for f in self.facts)

    # --- questions ------------------------------------------------------------------------

    @property
    def total(self) -> float:
        return round(sum(line["points"] for line in self.lines), 2)

    def line(self, line_no: int) -> dict[str, Any] | None:
        return self.lines[line_no - 1] if 1 <= line_no <= len(self.lines) else None

    def has_cause(self, cause_kind: str, cause_ref: str) -> bool:
        return any(l["cause_kind"] == cause_kind and l["cause_ref"] == cause_ref for l in self.lines)

    def live_award(self, cause_kind: str, cause_ref: str) -> dict[str, Any] | None:
        """The award line for this cause that has not been revoked, if any."""
        for l in reversed(self.lines):
            if (l["type"] == "award" and l["cause_kind"] == cause_kind
                    and l["cause_ref"] == cause_ref and not l["revoked_by"]):
                return l
        return None

    def revoked_award(self, cause_kind: str, cause_ref: str) -> dict[str, Any] | None:
        """The last award line for this cause, when it was revoked and nothing replaced it."""
        if self.live_award(cause_kind, cause_ref):
            return None
        for l in reversed(self.lines):
            if l["type"] == "award" and l["cause_kind"] == cause_kind and l["cause_ref"] == cause_ref:
                return l
        return None

    def used_in_period(self, group: str, period: str, on: date) -> float:
        """Points live in this ledger from one cap group in the period containing ``on``."""
        key = period_key(period, on)
        return round(sum(
            float(l["current_points"]) for l in self.lines
            if l["type"] == "award" and not l["revoked_by"] and cap_group(l) == group
            and period_key(period, date.fromisoformat(l["earned_on"])) == key
        ), 2)

    def approved_activities(self) -> int:
        return sum(1 for l in self.lines
                   if l["type"] == "award" and l["cause_kind"] == "activity" and not l["revoked_by"])


class Activity(Aggregate):
    """A self-reported duty activity (履职活动登记): pending until the office reviews it."""

    @event("Submitted")
    def __init__(self, deputy_id: str, kind: str, on: date, description: str,
                 evidence: str | None, submitted_by: str, submitted_at: datetime) -> None:
        self.deputy_id = deputy_id
        self.kind = kind
        self.on = on
        self.description = description
        self.evidence = evidence
        self.submitted_by = submitted_by
        self.submitted_at = submitted_at
        self.status = "pending"
        self.reviewed_by: str | None = None
        self.reviewed_at: datetime | None = None
        self.reason: str | None = None
        self.points: float | None = None
        self.rule_version: str | None = None
        self.capped_by: str | None = None
        self.line_no: int | None = None

    def record_attachment(self, attachment: dict[str, Any]) -> None:
        """An evidence file (证明材料; shared/blobs.py): its hash in the activity's chain."""
        self._attachment_recorded(attachment=attachment)

    @event("AttachmentRecorded")
    def _attachment_recorded(self, attachment: dict[str, Any]) -> None:
        self.attachments = [*getattr(self, "attachments", []), attachment]

    def check_reviewable_by(self, username: str, deputy_id: str | None) -> None:
        if deputy_id == self.deputy_id or username == self.submitted_by:
            raise SelfReviewRefused("a deputy can never review their own activity")
        if self.status != "pending":
            raise NotPending(f"the activity was already {self.status}")

    class Reviewed(Aggregate.Event):
        """Version 2 of a review also carries the activity's deputy, kind and date (for the
        published contract); version 1 events lack them (upcast with ``deputy_id`` None:
        the relay reads the activity for them)."""

        class_version = 2

        deputy_id: str | None
        kind: str | None
        on: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(deputy_id=None, kind=None, on=None)

    class Approved(Reviewed):
        reviewed_by: str
        reviewed_at: datetime
        points: float
        rule_version: str
        capped_by: str | None
        line_no: int

    class Rejected(Reviewed):
        reviewed_by: str
        reviewed_at: datetime
        reason: str

    def approve(self, reviewed_by: str, reviewed_at: datetime, points: float,
                rule_version: str, capped_by: str | None, line_no: int) -> None:
        self._approved(reviewed_by=reviewed_by, reviewed_at=reviewed_at, points=points,
                       rule_version=rule_version, capped_by=capped_by, line_no=line_no,
                       deputy_id=self.deputy_id, kind=self.kind, on=self.on)

    @event(Approved)
    def _approved(self, reviewed_by: str, reviewed_at: datetime, points: float,
                  rule_version: str, capped_by: str | None, line_no: int,
                  deputy_id: str | None, kind: str | None, on: date | None) -> None:
        self.status = "approved"
        self.reviewed_by = reviewed_by
        self.reviewed_at = reviewed_at
        self.points = points
        self.rule_version = rule_version
        self.capped_by = capped_by
        self.line_no = line_no

    def reject(self, reviewed_by: str, reviewed_at: datetime, reason: str) -> None:
        self._rejected(reviewed_by=reviewed_by, reviewed_at=reviewed_at, reason=reason,
                       deputy_id=self.deputy_id, kind=self.kind, on=self.on)

    @event(Rejected)
    def _rejected(self, reviewed_by: str, reviewed_at: datetime, reason: str,
                  deputy_id: str | None, kind: str | None, on: date | None) -> None:
        self.status = "rejected"
        self.reviewed_by = reviewed_by
        self.reviewed_at = reviewed_at
        self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "deputy_id": self.deputy_id, "kind": self.kind,
            "date": self.on.isoformat(), "description": self.description,
            "evidence": self.evidence, "status": self.status,
            "submitted_by": self.submitted_by, "submitted_at": self.submitted_at.isoformat(),
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "reason": self.reason, "points": self.points, "rule_version": self.rule_version,
            "capped_by": self.capped_by, "line_no": self.line_no,
            "attachments": list(getattr(self, "attachments", [])),
        }


class Recalculation(Aggregate):
    """The office recalculated a year's points under a rule version (an explicit record)."""

    @event("Recorded")
    def __init__(self, year: int, rule_version: str, reason: str, requested_by: str,
                 requested_at: datetime, ledgers: list) -> None:
        self.year = year
        self.rule_version = rule_version
        self.reason = reason
        self.requested_by = requested_by
        self.requested_at = requested_at
        self.ledgers = ledgers

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "year": self.year, "rule_version": self.rule_version,
            "reason": self.reason, "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(), "ledgers": self.ledgers,
            "total_delta": round(sum(l["delta"] for l in self.ledgers), 2),
        }

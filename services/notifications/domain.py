"""Notifications' aggregates.

- ``Notification``: one item in one recipient's inbox, caused by one upstream integration
  event. Its id is derived from (recipient, kind, upstream event id), so the same upstream
  event can never make a second notification for the same person, even outside tracking.
  Its events record the channels chosen when it was made (from the recipient's preferences
  then), the read mark, and each delivery attempt: ``DeliveryFailed`` (with the next attempt's
  time), ``Delivered`` or ``DeliveryParked`` per channel.
- ``Preferences``: a user's per-kind choices (in-app, e-mail, a unit's webhook URL; a kind
  with neither in-app nor e-mail is off), and their e-mail mode (immediate or a daily digest,
  at the time they choose) and quiet hours (immediate mail waits for their end).
- ``CaseFile``: what the notifications service must remember about a case to know who to
  tell later (its deputies, number and title, its units and the deputy who forwarded a
  citizen message); upstream events about later steps do not carry these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.notifications.errors import PreferencesRefused

# kind -> (who, Chinese label shown in preferences)
KINDS: dict[str, tuple[str, str]] = {
    "task_assigned": ("unit", "新交办任务"),
    "task_withdrawn": ("unit", "任务撤回或改派"),
    "return_refused": ("unit", "退回申请未获同意"),
    "deadline_warning": ("unit", "办理时限黄牌、红牌预警"),
    "rehandling_started": ("unit", "代表不满意，重新办理"),
    "follow_up_review": ("unit", "跟踪回访"),
    "message_waiting": ("deputy", "联络站有群众留言待认领"),
    "claim_lapsing": ("deputy", "认领的群众留言即将到期"),
    "reply_submitted": ("deputy", "建议已答复，请测评"),
    "rating_due": ("deputy", "建议测评即将到期"),
    "activity_reviewed": ("deputy", "履职活动审核结果"),
    "points_revoked": ("deputy", "履职积分撤销"),
    "obligation_behind": ("deputy", "联系群众、联系代表进度落后"),
    "leadership_designated": ("leader", "领导领办、重点督办"),
    "case_escalated": ("leader", "升级督办"),
    "return_requested": ("office", "承办单位申请退回"),
    "close_out_waiting": ("office", "案件待销号"),
    "message_waiting_long": ("office", "群众留言久未认领"),
    # the citizen, by the follow-up token: shown on the follow-up page (no account, no e-mail)
    "citizen_reply": ("citizen", "留言已有答复或反馈"),
}

CHANNELS = ("email", "digest", "webhook")  # digest: the item waits for the day's digest mail


class Notification(Aggregate):
    @staticmethod
    def create_id(recipient: str, kind: str, source_event_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:notifications:{recipient}:{kind}:{source_event_id}")

    @event("Created")
    def __init__(self, recipient: str, kind: str, title: str, body: str, created_at: datetime,
                 source_event_id: str, in_app: bool, deliveries: dict[str, str],
                 case_id: str | None = None, task_id: str | None = None,
                 message_id: str | None = None) -> None:
        self.recipient = recipient
        self.kind = kind
        self.title = title
        self.body = body
        self.created_at = created_at
        self.source_event_id = source_event_id
        self.in_app = in_app
        # channel -> address (e-mail address or webhook URL) to deliver to
        self.deliveries = dict(deliveries)
        self.case_id = case_id
        self.task_id = task_id
        self.message_id = message_id
        self.read_at: datetime | None = None
        # channel -> {"status": pending|delivered|parked, "attempts": n, "error": str|None}
        self.delivery_state = {c: {"status": "pending", "attempts": 0, "error": None}
                               for c in self.deliveries}

    def mark_read(self, at: datetime) -> bool:
        if self.read_at is not None:
            return False
        self._mark_read(at=at)
        return True

    @event("Read")
    def _mark_read(self, at: datetime) -> None:
        self.read_at = at

    def pending(self, channel: str) -> bool:
        state = self.delivery_state.get(channel)
        return state is not None and state["status"] == "pending"

    @event("Delivered")
    def delivered(self, channel: str, at: datetime, attempt: int) -> None:
        self.delivery_state[channel] = {"status": "delivered", "attempts": attempt,
                                        "error": None, "at": at.isoformat()}

    @event("DeliveryFailed")
    def delivery_failed(self, channel: str, at: datetime, attempt: int, error: str,
                        next_attempt_at: datetime) -> None:
        self.delivery_state[channel] = {"status": "pending", "attempts": attempt,
                                        "error": error,
                                        "next_attempt_at": next_attempt_at.isoformat()}

    def claimed(self, channel: str, now: datetime) -> bool:
        """Another attempt holds this delivery (its lease not yet over)."""
        until = self.delivery_state.get(channel, {}).get("claimed_until")
        return until is not None and datetime.fromisoformat(until) > now

    @event("DeliveryClaimed")
    def delivery_claimed(self, channel: str, at: datetime, until: datetime,
                         instance: str) -> None:
        """An attempt is under way (one replica's): the others leave it until ``until``;
        the attempt's outcome ends the claim."""
        self.delivery_state[channel] = {**self.delivery_state[channel],
                                        "claimed_until": until.isoformat(),
                                        "claimed_by": instance}

    @event("DeliveryDeferred")
    def delivery_deferred(self, channel: str, until: datetime, why: str) -> None:
        """Not tried before ``until``: the day's digest time, or the end of quiet hours."""
        self.delivery_state[channel] = {**self.delivery_state[channel],
                                        "next_attempt_at": until.isoformat(), "deferred": why}

    @event("DeliveryParked")
    def delivery_parked(self, channel: str, at: datetime, attempt: int, error: str) -> None:
        self.delivery_state[channel] = {"status": "parked", "attempts": attempt,
                                        "error": error, "at": at.isoformat()}

    def as_item(self) -> dict[str, Any]:
        return {"id": str(self.id), "kind": self.kind, "title": self.title, "body": self.body,
                "created_at": self.created_at.isoformat(),
                "read_at": self.read_at.isoformat() if self.read_at else None,
                "case_id": self.case_id, "task_id": self.task_id,
                "message_id": self.message_id}


class Preferences(Aggregate):
    HOLDERS = ("unit", "deputy", "leader", "office")  # the roles that keep preferences

    @staticmethod
    def check_holder(role: str) -> None:
        """Preferences belong to signed-in staff and deputies (a citizen has none)."""
        if role not in Preferences.HOLDERS:
            raise PreferencesRefused("preferences belong to signed-in staff and deputies")

    @staticmethod
    def create_id(username: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:notifications:preferences:{username}")

    @event("Opened")
    def __init__(self, username: str) -> None:
        self.username = username
        self.kinds: dict[str, dict[str, Any]] = {}
        # e-mail mode ("immediate" or "daily_digest"), digest time ("HH:MM", China time),
        # quiet hours ({"start": "HH:MM", "end": "HH:MM"} or None)
        self.options: dict[str, Any] = {}

    @event("Set")
    def set(self, kinds: dict[str, dict[str, Any]]) -> None:
        self.kinds = {**self.kinds, **kinds}

    @event("OptionsSet")
    def set_options(self, options: dict[str, Any]) -> None:
        self.options = {**self.options, **options}


class CaseFile(Aggregate):
    @staticmethod
    def create_id(case_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:notifications:case:{case_id}")

    @event("Opened")
    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.kind = "suggestion"
        self.number: str | None = None
        self.title: str | None = None
        self.deputies: list[str] = []
        # suggestions merged into this one: source case id -> its deputies (who rate here too)
        self.merged_sources: dict[str, list[str]] = {}
        self.forwarded_by: str | None = None
        self.units: dict[str, str] = {}  # task id -> unit id
        self.lead_unit: str | None = None
        self.result_class: str | None = None
        # reminders the service raises itself when nothing happens in time (a claim about to
        # lapse, a message waiting too long): name -> {"due_at": iso, ...}; done ones removed
        self.reminders: dict[str, dict[str, Any]] = {}
        # the deputies' ratings per handling round: round -> {deputy id: rating or "lapsed"}
        self.ratings: dict[str, dict[str, str]] = {}

    @event("Noted")
    def note(self, facts: dict[str, Any]) -> None:
        for key in ("kind", "number", "title", "forwarded_by", "lead_unit", "result_class"):
            if facts.get(key) is not None:
                setattr(self, key, facts[key])
        if facts.get("deputies") is not None:
            self.deputies = list(facts["deputies"])
        if facts.get("merged_source"):
            merged = {k: list(v) for k, v in self.merged_sources.items()}
            for source_id, deputies in facts["merged_source"].items():
                if deputies is None:
                    merged.pop(source_id, None)
                else:
                    merged[source_id] = list(deputies)
            self.merged_sources = merged
        if facts.get("task_id") and facts.get("unit_id"):
            self.units = {**self.units, facts["task_id"]: facts["unit_id"]}
        if facts.get("reminders"):
            reminders = dict(self.reminders)
            for name, reminder in facts["reminders"].items():
                if reminder is None:
                    reminders.pop(name, None)
                else:
                    reminders[name] = dict(reminder)
            self.reminders = reminders
        if facts.get("rated"):
            ratings = {k: dict(v) for k, v in self.ratings.items()}
            for round_, rated in facts["rated"].items():
                ratings.setdefault(str(round_), {}).update(rated)
            self.ratings = ratings

    def raters(self) -> list[str]:
        """The deputies who rate this suggestion's replies: its own and those of the
        suggestions merged into it (as supervision's case counts them)."""
        found: list[str] = []
        for d in [*self.deputies, *(d for ds in self.merged_sources.values() for d in ds)]:
            if d and d not in found:
                found.append(d)
        return found

    def label(self) -> str:
        if self.number and self.title:
            return f"{self.number}「{self.title}」"
        if self.title:
            return f"「{self.title}」"
        return "群众留言" if self.kind == "message" else "建议"

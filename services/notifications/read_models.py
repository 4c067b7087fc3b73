"""Notifications' read models (persisted tables, shared/read_store.py).

- ``Inbox``: each recipient's in-app notifications, newest first, with the read mark.
- ``Deliveries``: the (notification, channel) deliveries still pending, by when they are due;
  the delivery job reads its work from it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from shared.paging import checked_after, page
from shared.projection import catch_up_all, key_of
from shared.read_store import ReadModels, TableProjection, Tx, ViewStore

from services.notifications.domain import CaseFile, Notification


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


class Inbox(TableProjection):
    name = "Inbox"
    tables = ("Inbox_items",)

    def create(self, tx: Tx) -> None:
        items = self.t("Inbox_items")
        tx.execute(f"CREATE TABLE {items} (id TEXT PRIMARY KEY, recipient TEXT NOT NULL, "
                   "created_at TEXT NOT NULL, unread INTEGER NOT NULL, data TEXT NOT NULL)")
        tx.execute(f"CREATE INDEX {items}_recipient ON {items} (recipient, created_at, id)")
        tx.execute(f"CREATE INDEX {items}_unread ON {items} (recipient, unread, created_at, id)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, Notification.Event):
            return
        assert self.tx is not None
        items = self.t("Inbox_items")
        key = key_of(domain_event.originator_id)
        e = domain_event
        if isinstance(e, Notification.Created):
            if not e.in_app:
                return
            item = {"id": key, "kind": e.kind, "title": e.title, "body": e.body,
                    "created_at": e.created_at.isoformat(), "read_at": None,
                    "case_id": e.case_id, "task_id": e.task_id, "message_id": e.message_id}
            self.tx.execute(f"INSERT INTO {items} (id, recipient, created_at, unread, data) "
                            "VALUES (?, ?, ?, 1, ?) ON CONFLICT (id) DO NOTHING",
                            (key, e.recipient, _utc(e.created_at), _json(item)))
        elif isinstance(e, Notification.Read):
            row = self.tx.one(f"SELECT data FROM {items} WHERE id = ?", (key,))
            if row is None:
                return
            item = {**json.loads(row["data"]), "read_at": e.at.isoformat()}
            self.tx.execute(f"UPDATE {items} SET unread = 0, data = ? WHERE id = ?",
                            (_json(item), key))

    def query(self, recipient: str, unread: bool, q: Any) -> dict[str, Any]:
        """A recipient's notifications, newest first (created time, then id, descending)."""
        self.require_ready()
        after = checked_after(q, 2)
        items = self.t("Inbox_items")
        where, params = ["recipient = ?"], [recipient]
        if unread:
            where.append("unread = 1")
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(created_at, id) < (?, ?)")
            params += [str(a) for a in after]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT created_at, id, data FROM {items} WHERE {' AND '.join(where)} "
                          "ORDER BY created_at DESC, id DESC LIMIT ?", (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {items} WHERE {filters}",
                              filter_params)
        return page(rows, q.limit, key=lambda r: (r["created_at"], r["id"]), total=total,
                    view=lambda r: json.loads(r["data"]))

    def unread_count(self, recipient: str) -> int:
        self.require_ready()
        with self.store.read() as tx:
            return int(tx.scalar(f"SELECT COUNT(*) AS c FROM {self.t('Inbox_items')} "
                                 "WHERE recipient = ? AND unread = 1", (recipient,)) or 0)


class Deliveries(TableProjection):
    name = "Deliveries"
    version = 2  # 2: the recipient (a digest gathers one recipient's items), deferrals, claims
    tables = ("Deliveries_pending",)

    def create(self, tx: Tx) -> None:
        pending = self.t("Deliveries_pending")
        tx.execute(f"CREATE TABLE {pending} (id TEXT NOT NULL, channel TEXT NOT NULL, "
                   "due_at TEXT NOT NULL, recipient TEXT NOT NULL DEFAULT '', "
                   "PRIMARY KEY (id, channel))")
        tx.execute(f"CREATE INDEX {pending}_due ON {pending} (due_at, id, channel)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, Notification.Event):
            return
        assert self.tx is not None
        pending = self.t("Deliveries_pending")
        key = key_of(domain_event.originator_id)
        e = domain_event
        if isinstance(e, Notification.Created):
            for channel in e.deliveries:
                self.tx.execute(f"INSERT INTO {pending} (id, channel, due_at, recipient) "
                                "VALUES (?, ?, ?, ?) ON CONFLICT (id, channel) DO NOTHING",
                                (key, channel, "", e.recipient))
        elif isinstance(e, (Notification.DeliveryDeferred, Notification.DeliveryClaimed)):
            self.tx.execute(f"UPDATE {pending} SET due_at = ? WHERE id = ? AND channel = ?",
                            (_utc(e.until), key, e.channel))
        elif isinstance(e, Notification.DeliveryFailed):
            self.tx.execute(f"UPDATE {pending} SET due_at = ? WHERE id = ? AND channel = ?",
                            (_utc(e.next_attempt_at), key, e.channel))
        elif isinstance(e, (Notification.Delivered, Notification.DeliveryParked)):
            self.tx.execute(f"DELETE FROM {pending} WHERE id = ? AND channel = ?",
                            (key, e.channel))

    def due(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        self.require_ready()
        with self.store.read() as tx:
            return tx.all(f"SELECT id, channel, recipient FROM {self.t('Deliveries_pending')} "
                          "WHERE due_at <= ? ORDER BY due_at, id, channel LIMIT ?",
                          (_utc(now), limit))

    def digest_items(self, recipient: str, now: datetime) -> list[str]:
        """A recipient's digest items due now, oldest first."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT id FROM {self.t('Deliveries_pending')} WHERE "
                          "channel = 'digest' AND recipient = ? AND due_at <= ? "
                          "ORDER BY due_at, id LIMIT 500", (recipient, _utc(now)))
        return [r["id"] for r in rows]


class Reminders(TableProjection):
    """The reminders the service raises itself (a claim about to lapse, a message waiting too
    long), by when they are due; set and cleared by the case files' notes."""

    name = "Reminders"
    tables = ("Reminders_due",)

    def create(self, tx: Tx) -> None:
        due = self.t("Reminders_due")
        tx.execute(f"CREATE TABLE {due} (case_id TEXT NOT NULL, name TEXT NOT NULL, "
                   "due_at TEXT NOT NULL, due_utc TEXT NOT NULL, PRIMARY KEY (case_id, name))")
        tx.execute(f"CREATE INDEX {due}_due ON {due} (due_utc, case_id, name)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, CaseFile.Noted):
            return
        reminders = domain_event.facts.get("reminders") or {}
        if not reminders:
            return
        assert self.tx is not None
        due = self.t("Reminders_due")
        case_id = key_of(domain_event.originator_id)
        for name, reminder in reminders.items():
            self.tx.execute(f"DELETE FROM {due} WHERE case_id = ? AND name = ?", (case_id, name))
            if reminder is not None:
                at = datetime.fromisoformat(reminder["due_at"])
                self.tx.execute(f"INSERT INTO {due} (case_id, name, due_at, due_utc) "
                                "VALUES (?, ?, ?, ?)", (case_id, name, reminder["due_at"],
                                                        _utc(at)))

    def due(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        self.require_ready()
        with self.store.read() as tx:
            return tx.all(f"SELECT case_id, name, due_at FROM {self.t('Reminders_due')} "
                          "WHERE due_utc <= ? ORDER BY due_utc, case_id, name LIMIT ?",
                          (_utc(now), limit))


class NotificationViews:
    def __init__(self, app: Any, store: ViewStore | None = None) -> None:
        self.app = app
        self.store = store or ViewStore(app.settings)
        self.inbox = Inbox(app, self.store)
        self.deliveries = Deliveries(app, self.store)
        self.reminders = Reminders(app, self.store)
        self.read_models = ReadModels(app, self.store,
                                      [self.inbox, self.deliveries, self.reminders])

    def catch_up(self) -> int:
        return catch_up_all(self.read_models.projections)


__all__ = ["Deliveries", "Inbox", "NotificationViews", "Reminders"]

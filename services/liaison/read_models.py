"""The liaison service's persisted read model (tables in ``var/liaison-views.sqlite`` or the
schema ``<schema>_views``; see shared/read_store.py).

``SessionIndex`` keeps every reception session with its counts: the calendar
(``list_sessions``: by station, deputy, year and month, by day) and the station report
(``station_report``: sessions held, deputies on duty and present — 进站率 —, people received
and messages collected, by month of a year).

``ActivityIndex`` keeps every deputy group's activity by group and day (the month's call).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from shared.read_store import TableProjection, Tx, ViewStore

from services.liaison.domain import GroupActivity, ReceptionSession


class SessionIndex(TableProjection):
    name = "session_index"
    version = 1
    tables = ("session_index",)

    def __init__(self, app: Any, store: ViewStore, **kwargs: Any) -> None:
        super().__init__(app, store, **kwargs)

    def create(self, tx: Tx) -> None:
        t = self.t("session_index")
        tx.execute(f"""CREATE TABLE {t} (
            session_id TEXT PRIMARY KEY, station_id TEXT NOT NULL, day TEXT NOT NULL,
            year INTEGER NOT NULL, month INTEGER NOT NULL, deputy_ids TEXT NOT NULL,
            on_duty INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0,
            present_ids TEXT NOT NULL DEFAULT '[]', present INTEGER NOT NULL DEFAULT 0,
            people_received INTEGER NOT NULL DEFAULT 0, bookings INTEGER NOT NULL DEFAULT 0,
            walk_ins INTEGER NOT NULL DEFAULT 0, messages INTEGER NOT NULL DEFAULT 0)""")
        tx.execute(f"CREATE INDEX {t}_station ON {t} (station_id, year, month, day)")
        tx.execute(f"CREATE INDEX {t}_year ON {t} (year, month, day)")

    def _add(self, session_id: str, column: str, n: int) -> None:
        assert self.tx is not None
        self.tx.execute(f"UPDATE {self.t('session_index')} SET {column} = {column} + ? "
                        "WHERE session_id = ?", (n, session_id))

    def apply(self, domain_event: Any, notification_id: int) -> None:
        tx = self.tx
        assert tx is not None
        sid = str(domain_event.originator_id)
        t = self.t("session_index")
        if isinstance(domain_event, ReceptionSession.Scheduled):
            day: date = domain_event.day
            tx.execute(f"INSERT INTO {t} (session_id, station_id, day, year, month, deputy_ids, "
                       "on_duty) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       (sid, domain_event.station_id, day.isoformat(), day.year, day.month,
                        json.dumps(domain_event.deputy_ids), len(domain_event.deputy_ids)))
        elif isinstance(domain_event, getattr(ReceptionSession, "Booked", ())):
            self._add(sid, "bookings", 1)
        elif isinstance(domain_event, getattr(ReceptionSession, "WalkInRecorded", ())):
            self._add(sid, "walk_ins", domain_event.people)
        elif isinstance(domain_event, getattr(ReceptionSession, "MessageLinked", ())):
            self._add(sid, "messages", 1)
        elif isinstance(domain_event, getattr(ReceptionSession, "AttendanceRecorded", ())):
            tx.execute(f"UPDATE {t} SET held = 1, present_ids = ?, present = ?, "
                       "people_received = ? WHERE session_id = ?",
                       (json.dumps(domain_event.deputies_present),
                        len(domain_event.deputies_present), domain_event.people_received, sid))

    # --- queries --------------------------------------------------------------------------

    def session_ids(self, station_id: str | None, deputy_id: str | None, year: int | None,
                    month: int | None, from_day: date | None, limit: int = 500) -> list[str]:
        self.require_ready()
        t = self.t("session_index")
        where, params = [], []
        for column, value in (("station_id", station_id), ("year", year), ("month", month)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if from_day is not None:
            where.append("day >= ?")
            params.append(from_day.isoformat())
        if deputy_id is not None:  # on duty or present: the ids are JSON arrays of strings
            where.append("(deputy_ids LIKE ? OR present_ids LIKE ?)")
            params += [f'%"{deputy_id}"%'] * 2
        sql = f"SELECT session_id FROM {t}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY day, session_id LIMIT ?"
        with self.store.read() as tx:
            return [r["session_id"] for r in tx.all(sql, (*params, limit))]

    def report(self, station_id: str | None, year: int) -> list[dict[str, Any]]:
        """Per month: sessions scheduled and held, deputies on duty and present at the held
        ones, people received, bookings, walk-ins, messages collected."""
        self.require_ready()
        t = self.t("session_index")
        sql = (f"SELECT month, COUNT(*) AS scheduled, SUM(held) AS held, "
               f"SUM(CASE WHEN held = 1 THEN on_duty ELSE 0 END) AS on_duty, "
               f"SUM(present) AS present, SUM(people_received) AS people_received, "
               f"SUM(bookings) AS bookings, SUM(walk_ins) AS walk_ins, "
               f"SUM(messages) AS messages FROM {t} WHERE year = ?")
        params: list[Any] = [year]
        if station_id is not None:
            sql += " AND station_id = ?"
            params.append(station_id)
        sql += " GROUP BY month ORDER BY month"
        with self.store.read() as tx:
            return [{k: int(v or 0) for k, v in r.items()} for r in tx.all(sql, params)]


class ActivityIndex(TableProjection):
    """Every group activity by group and day: the month's call (``activity_ids``)."""

    name = "activity_index"
    version = 1
    tables = ("activity_index",)

    def create(self, tx: Tx) -> None:
        t = self.t("activity_index")
        tx.execute(f"""CREATE TABLE {t} (
            activity_id TEXT PRIMARY KEY, grp TEXT NOT NULL, day TEXT NOT NULL,
            year INTEGER NOT NULL, month INTEGER NOT NULL)""")
        tx.execute(f"CREATE INDEX {t}_year ON {t} (year, month, day)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        assert self.tx is not None
        if isinstance(domain_event, GroupActivity.Planned):
            day: date = domain_event.day
            self.tx.execute(f"INSERT INTO {self.t('activity_index')} (activity_id, grp, day, "
                            "year, month) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            (str(domain_event.originator_id), domain_event.group,
                             day.isoformat(), day.year, day.month))

    def activity_ids(self, group: str | None, year: int, month: int | None,
                     limit: int = 500) -> list[str]:
        self.require_ready()
        t = self.t("activity_index")
        where, params = ["year = ?"], [year]
        if month is not None:
            where.append("month = ?")
            params.append(month)
        if group is not None:
            where.append("grp = ?")
            params.append(group)  # type: ignore[arg-type]
        sql = (f"SELECT activity_id FROM {t} WHERE {' AND '.join(where)} "
               "ORDER BY day, activity_id LIMIT ?")
        with self.store.read() as tx:
            return [r["activity_id"] for r in tx.all(sql, (*params, limit))]

"""Reports' read models (persisted tables, shared/read_store.py): one row per report with
its view (views.py) as of its last event; and the queries answered from it."""

from __future__ import annotations

import json
from typing import Any

from shared.paging import checked_after, page
from shared.projection import catch_up_all, key_of
from shared.read_store import ReadModels, TableProjection, Tx, ViewStore
from shared.rpc import Forbidden, NotFound

from services.reports.domain import VoterReport
from services.reports.views import form_view, report_view


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class ReportRows(TableProjection):
    name = "ReportRows"
    tables = ("ReportRows_rows",)

    def create(self, tx: Tx) -> None:
        rows = self.t("ReportRows_rows")
        tx.execute(f"CREATE TABLE {rows} (id TEXT PRIMARY KEY, deputy_id TEXT NOT NULL, "
                   "year INTEGER NOT NULL, scheduled_at TEXT NOT NULL, status TEXT NOT NULL, "
                   "data TEXT NOT NULL)")
        tx.execute(f"CREATE INDEX {rows}_list ON {rows} (year, scheduled_at, id)")
        tx.execute(f"CREATE INDEX {rows}_deputy ON {rows} (deputy_id, status, year)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, VoterReport.Event):
            return
        assert self.tx is not None
        report = self.app.repository.get(domain_event.originator_id,
                                         version=domain_event.originator_version)
        data = report_view(report)
        self.tx.execute(
            f"INSERT INTO {self.t('ReportRows_rows')} (id, deputy_id, year, scheduled_at, "
            "status, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "status = excluded.status, data = excluded.data",
            (key_of(domain_event.originator_id), data["deputy_id"], data["year"],
             data["scheduled_at"], data["status"], _json(data)))

    def get(self, report_id: str) -> dict[str, Any] | None:
        self.require_ready()
        with self.store.read() as tx:
            row = tx.one(f"SELECT data FROM {self.t('ReportRows_rows')} WHERE id = ?",
                         (report_id,))
        return json.loads(row["data"]) if row else None

    def query(self, q: Any, year: int, deputy_id: str | None) -> dict[str, Any]:
        self.require_ready()
        after = checked_after(q, 2)
        rows_t = self.t("ReportRows_rows")
        where, params = ["year = ?"], [year]
        if deputy_id:
            where.append("deputy_id = ?")
            params.append(deputy_id)
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(scheduled_at < ? OR (scheduled_at = ? AND id < ?))")
            params += [str(after[0]), str(after[0]), str(after[1])]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT scheduled_at, id, data FROM {rows_t} WHERE "
                          f"{' AND '.join(where)} ORDER BY scheduled_at DESC, id DESC LIMIT ?",
                          (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {rows_t} WHERE {filters}",
                              filter_params)
        return page(rows, q.limit, key=lambda r: (r["scheduled_at"], r["id"]), total=total,
                    view=lambda r: json.loads(r["data"]))

    def reported_since(self, since: int) -> set[str]:
        """Deputies with a report held (or evaluated) in ``since`` or later."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT DISTINCT deputy_id FROM {self.t('ReportRows_rows')} "
                          "WHERE year >= ? AND status IN ('held', 'evaluated')", (since,))
        return {r["deputy_id"] for r in rows}


class ReportsViews:
    def __init__(self, app: Any, store: ViewStore | None = None) -> None:
        self.app = app
        self.store = store or ViewStore(app.settings)
        self.rows = ReportRows(app, self.store)
        self.read_models = ReadModels(app, self.store, [self.rows])

    def catch_up(self) -> int:
        return catch_up_all(self.read_models.projections)


class ReportsQueries:
    def __init__(self, app: Any, views: ReportsViews) -> None:
        self.app = app
        self.views = views

    def _visible(self, report: dict[str, Any] | None, report_id: str, actor: Any) -> dict:
        if report is None or (actor.role == "deputy" and report["deputy_id"] != actor.deputy_id):
            raise NotFound(f"no report {report_id}")  # a deputy sees only their own
        return report

    def list_reports(self, q: Any, actor: Any) -> dict[str, Any]:
        deputy_id = q.deputy_id
        if actor.role == "deputy":
            if deputy_id and deputy_id != actor.deputy_id:
                raise Forbidden("a deputy sees only their own reports")
            deputy_id = actor.deputy_id or "-"
        return self.views.rows.query(q, q.year or self.app.this_year(), deputy_id)

    def get_report(self, q: Any, actor: Any) -> dict[str, Any]:
        return self._visible(self.views.rows.get(q.report_id), q.report_id, actor)

    def report_form(self, q: Any, actor: Any) -> dict[str, Any]:
        report = self.views.rows.get(q.report_id)
        if report is None:
            raise NotFound(f"no report {q.report_id}")
        deputy = self.app.deputies.get(report["deputy_id"], {})
        return form_view(report, deputy.get("name", ""))

    def reports_due(self, q: Any, actor: Any) -> dict[str, Any]:
        reported = self.views.rows.reported_since(q.since)
        due = [{"deputy_id": d, "name": info.get("name"), "station": info.get("station")}
               for d, info in sorted(self.app.deputies.items())
               if d not in reported and self.app.reference.active("deputy", d)]
        return {"since": q.since, "due": due, "reported": sorted(reported)}

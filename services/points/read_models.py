"""Points' read models, kept as tables in points' read-model database (shared/read_store.py).

Nothing here grows in process memory with the history: each read model is a
``TableProjection`` written in the same transaction as the log position it reflects, so a
start reads only the events since that position.

- ``LedgerLines``: every ledger line (deputy, year, line number, type, cause, case, date,
  points, category, the line as the ledger shows it) with its live state (revoked, current
  points and rule version), maintained exactly as ``DutyLedger`` maintains its lines. It
  answers a deputy's points for a year (total and totals per cause, and the lines a page at a
  time) and the duty-points ledger export across deputies.
- ``Rankings``: each deputy's total and approved activities per year, and the deputies of the
  reference data (groups, levels) the rankings are filtered by.
- ``ActivityIndex``: self-reported activities with their review state; words of the
  description are searched with a trigram index (SQLite FTS5, PostgreSQL ``pg_trgm``).
- ``RecalculationIndex``: the recorded recalculations.
- ``CasePoints``: the lines about one case (the suggestion view) and the aggregates that hold
  them (the case history).
- ``DutyRecord``: the suggestions and messages of a deputy's duty record per year (from the
  facts the ledgers record), with what the indicators count.

Point amounts are summed as integer hundredths (``cents``): the scoring rules give points with
at most two decimals, so sums are exact and equal the ledger's rounded sums.

Every list pages with a keyset cursor (shared/paging.py) on a unique sort key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from shared.contracts.requests.points import ListActivities as ActivitiesQuery
from shared.contracts.requests.points import ListLedgerLines as LinesQuery
from shared.contracts.requests.points import ListRecalculations as RecalculationsQuery
from shared.contracts.requests.points import Ranking as RankingsQuery
from shared.paging import PageQuery, checked_after, page
from shared.projection import catch_up_all, key_of
from shared.read_store import (
    ReadModels,
    TableProjection,
    Tx,
    ViewStore,
    fts_match_sqlite,
    like_pattern,
)

from services.points.domain import Activity, DutyLedger, Recalculation
from services.points.rules import COUNTED_AS_ACTIVITY

def _cents(points: float) -> int:
    return int(round(float(points) * 100))


def _points(cents: int | None) -> float:
    return round(int(cents or 0) / 100, 2)  # PostgreSQL sums bigints as numeric


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def year_range(year: int) -> tuple[str, str]:
    """The ISO dates a year's rows fall between (from inclusive, to exclusive)."""
    return f"{year:04d}-01-01", f"{year + 1:04d}-01-01"


# --- ledger lines --------------------------------------------------------------------------------

class LedgerLines(TableProjection):
    """Every ledger line, as the ledger (``DutyLedger.lines``) shows it."""

    name = "LedgerLines"
    tables = ("LedgerLines_owners", "LedgerLines_lines")

    def create(self, tx: Tx) -> None:
        owners, lines = self.t("LedgerLines_owners"), self.t("LedgerLines_lines")
        tx.execute(f"CREATE TABLE {owners} (ledger_id TEXT PRIMARY KEY, deputy_id TEXT NOT NULL, "
                   "year INTEGER NOT NULL, line_count INTEGER NOT NULL)")
        tx.execute(f"CREATE TABLE {lines} (deputy_id TEXT NOT NULL, year INTEGER NOT NULL, "
                   "line_no INTEGER NOT NULL, type TEXT NOT NULL, cause_kind TEXT NOT NULL, "
                   "case_id TEXT, earned_on TEXT, cents BIGINT NOT NULL, category TEXT, "
                   "revoked_by INTEGER, data TEXT NOT NULL, "
                   "PRIMARY KEY (deputy_id, year, line_no))")
        tx.execute(f"CREATE INDEX {lines}_year ON {lines} (year, deputy_id, line_no)")

    # --- applying -----------------------------------------------------------------------

    def _owner(self, ledger_id: str) -> dict[str, Any]:
        assert self.tx is not None
        row = self.tx.one(f"SELECT deputy_id, year, line_count FROM "
                          f"{self.t('LedgerLines_owners')} WHERE ledger_id = ?", (ledger_id,))
        if row is None:
            raise LookupError(f"ledger {ledger_id} has no Opened event before its lines")
        return row

    def _line(self, owner: dict[str, Any], line_no: int) -> dict[str, Any]:
        assert self.tx is not None
        row = self.tx.one(f"SELECT data FROM {self.t('LedgerLines_lines')} WHERE deputy_id = ? "
                          "AND year = ? AND line_no = ?",
                          (owner["deputy_id"], owner["year"], line_no))
        assert row is not None, (owner, line_no)
        return json.loads(row["data"])

    def _insert(self, owner: dict[str, Any], line: dict[str, Any]) -> None:
        assert self.tx is not None
        self.tx.execute(
            f"INSERT INTO {self.t('LedgerLines_lines')} (deputy_id, year, line_no, type, "
            "cause_kind, case_id, earned_on, cents, category, revoked_by, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (owner["deputy_id"], owner["year"], line["line_no"], line["type"],
             line["cause_kind"], line.get("case_id"), line.get("earned_on"),
             _cents(line["points"]), (line.get("details") or {}).get("category"),
             line.get("revoked_by"), _json(line)))

    def _replace(self, owner: dict[str, Any], line: dict[str, Any]) -> None:
        assert self.tx is not None
        self.tx.execute(
            f"UPDATE {self.t('LedgerLines_lines')} SET revoked_by = ?, data = ? "
            "WHERE deputy_id = ? AND year = ? AND line_no = ?",
            (line.get("revoked_by"), _json(line), owner["deputy_id"], owner["year"],
             line["line_no"]))

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, DutyLedger.Event):
            return
        assert self.tx is not None
        key = key_of(domain_event.originator_id)
        if isinstance(domain_event, DutyLedger.Opened):
            self.tx.execute(f"INSERT INTO {self.t('LedgerLines_owners')} (ledger_id, deputy_id, "
                            "year, line_count) VALUES (?, ?, ?, 0)",
                            (key, domain_event.deputy_id, domain_event.year))
            return
        if not isinstance(domain_event, (DutyLedger.PointsAwarded, DutyLedger.PointsRevoked,
                                         DutyLedger.Recalculated)):
            return
        owner = self._owner(key)
        count = owner["line_count"]
        e = domain_event
        # Each branch writes what the event's method on DutyLedger writes (domain.py).
        if isinstance(e, DutyLedger.PointsAwarded):
            count += 1
            self._insert(owner, {
                "line_no": count, "type": "award", "points": e.points,
                "cause_kind": e.cause_kind, "cause_ref": e.cause_ref, "case_id": e.case_id,
                "rule_version": e.rule_version, "awarded_at": e.awarded_at.isoformat(),
                "earned_on": (e.earned_on or e.awarded_at.date()).isoformat(),
                "activity_kind": e.activity_kind, "capped_by": e.capped_by,
                "event_id": e.event_id, "details": dict(e.details or {}),
                "current_points": e.points, "current_rule_version": e.rule_version,
                "revoked_by": None,
            })
        elif isinstance(e, DutyLedger.PointsRevoked):
            count += 1
            original = {**self._line(owner, e.line_no), "revoked_by": count,
                        "current_points": 0.0}
            self._replace(owner, original)
            self._insert(owner, {
                "line_no": count, "type": "revocation", "points": e.points,
                "cause_kind": e.cause_kind, "cause_ref": original["cause_ref"],
                "case_id": e.case_id, "rule_version": original["current_rule_version"],
                "awarded_at": e.revoked_at.isoformat(),
                "earned_on": e.revoked_at.date().isoformat(),
                "activity_kind": original["activity_kind"], "event_id": e.event_id,
                "reason": e.reason, "refers_to_line": e.line_no,
            })
        else:
            for adj in e.adjustments:
                original = {**self._line(owner, adj["line_no"]),
                            "current_rule_version": e.rule_version}
                if adj["delta"]:
                    original["current_points"] = adj["new"]
                self._replace(owner, original)
                if adj["delta"] == 0:
                    continue
                count += 1
                self._insert(owner, {
                    "line_no": count, "type": "adjustment", "points": adj["delta"],
                    "cause_kind": original["cause_kind"], "cause_ref": original["cause_ref"],
                    "case_id": original["case_id"], "rule_version": e.rule_version,
                    "awarded_at": e.recalculated_at.isoformat(),
                    "earned_on": original["earned_on"],
                    "activity_kind": original["activity_kind"],
                    "capped_by": adj.get("capped_by"), "event_id": None, "reason": e.reason,
                    "recalculation_id": e.recalculation_id,
                    "from_rule_version": original["rule_version"],
                    "refers_to_line": adj["line_no"],
                })
        if count != owner["line_count"]:
            self.tx.execute(f"UPDATE {self.t('LedgerLines_owners')} SET line_count = ? "
                            "WHERE ledger_id = ?", (count, key))

    # --- queries ------------------------------------------------------------------------

    def summary(self, deputy_id: str, year: int) -> dict[str, Any]:
        """Total, totals per cause and approved activities of one deputy's ledger of a year."""
        self.require_ready()
        lines = self.t("LedgerLines_lines")
        with self.store.read() as tx:
            causes = tx.all(f"SELECT cause_kind, SUM(cents) AS cents, MIN(line_no) AS first "
                            f"FROM {lines} WHERE deputy_id = ? AND year = ? "
                            "GROUP BY cause_kind ORDER BY first", (deputy_id, year))
            activities = tx.scalar(f"SELECT COUNT(*) AS c FROM {lines} WHERE deputy_id = ? "
                                   "AND year = ? AND type = 'award' AND cause_kind = 'activity' "
                                   "AND revoked_by IS NULL", (deputy_id, year))
            count = tx.scalar(f"SELECT COUNT(*) AS c FROM {lines} WHERE deputy_id = ? "
                              "AND year = ?", (deputy_id, year))
        return {"total": _points(sum(int(c["cents"]) for c in causes)),
                "by_cause": {c["cause_kind"]: _points(c["cents"]) for c in causes},
                "approved_activities": activities or 0, "lines": count or 0}

    def totals_between(self, start: date, end: date) -> dict[str, tuple[int, int]]:
        """Each deputy's points earned between two days, both included (a term, 届): the
        award lines earned then at their current points (after revocations and
        recalculations, as the lines record them), in cents, and how many of them are
        approved activities still counted."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT deputy_id, cause_kind, revoked_by, data FROM "
                          f"{self.t('LedgerLines_lines')} WHERE year >= ? AND year <= ? "
                          "AND type = 'award' AND earned_on >= ? AND earned_on <= ?",
                          (start.year, min(end.year, 2100), start.isoformat(),
                           end.isoformat()))
        totals: dict[str, tuple[int, int]] = {}
        for r in rows:
            line = json.loads(r["data"])
            cents = _cents(line.get("current_points", line["points"]))
            counted = int(r["cause_kind"] == "activity" and r["revoked_by"] is None)
            before = totals.get(r["deputy_id"], (0, 0))
            totals[r["deputy_id"]] = (before[0] + cents, before[1] + counted)
        return totals

    def summary_between(self, deputy_id: str, start: date, end: date) -> dict[str, Any]:
        """One deputy's points earned between two days (a term): the total and totals per
        cause of the award lines earned then at their current points, approved activities
        still counted, and how many award lines."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT cause_kind, revoked_by, data FROM "
                          f"{self.t('LedgerLines_lines')} WHERE deputy_id = ? AND year >= ? "
                          "AND year <= ? AND type = 'award' AND earned_on >= ? "
                          "AND earned_on <= ? ORDER BY year, line_no",
                          (deputy_id, start.year, min(end.year, 2100), start.isoformat(),
                           end.isoformat()))
        by_cause: dict[str, int] = {}
        activities = 0
        for r in rows:
            line = json.loads(r["data"])
            cents = _cents(line.get("current_points", line["points"]))
            by_cause[r["cause_kind"]] = by_cause.get(r["cause_kind"], 0) + cents
            activities += int(r["cause_kind"] == "activity" and r["revoked_by"] is None)
        return {"total": _points(sum(by_cause.values())),
                "by_cause": {k: _points(v) for k, v in by_cause.items()},
                "approved_activities": activities, "lines": len(rows)}

    def lines_page(self, deputy_id: str, year: int, q: PageQuery,
                   total: int | None = None) -> dict[str, Any]:
        """One deputy's lines of a year, by line number."""
        self.require_ready()
        after = checked_after(q, 1)
        where, params = "deputy_id = ? AND year = ?", [deputy_id, year]
        if after:
            where += " AND line_no > ?"
            params.append(int(after[0]))
        with self.store.read() as tx:
            rows = tx.all(f"SELECT line_no, data FROM {self.t('LedgerLines_lines')} "
                          f"WHERE {where} ORDER BY line_no LIMIT ?", (*params, q.limit + 1))
        return page(rows, q.limit, key=lambda r: (r["line_no"],), total=total,
                    view=lambda r: json.loads(r["data"]))

    def all_lines(self, deputy_id: str, year: int) -> list[dict[str, Any]]:
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT data FROM {self.t('LedgerLines_lines')} WHERE deputy_id = ? "
                          "AND year = ? ORDER BY line_no", (deputy_id, year))
        return [json.loads(r["data"]) for r in rows]

    def recent(self, deputy_id: str, year: int, limit: int) -> list[dict[str, Any]]:
        """One deputy's last ``limit`` lines of a year, by line number."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT line_no, data FROM {self.t('LedgerLines_lines')} "
                          "WHERE deputy_id = ? AND year = ? ORDER BY line_no DESC LIMIT ?",
                          (deputy_id, year, limit))
        return [json.loads(r["data"]) for r in reversed(rows)]

    def approved_activities_by_kind(self, deputy_id: str, year: int) -> dict[str, int]:
        """Live (not revoked) activity award lines of one deputy's year, counted per kind (with
        the lines counted as activities: rules.COUNTED_AS_ACTIVITY)."""
        self.require_ready()
        kind = ("(data::json ->> 'activity_kind')" if self.store.dialect == "postgres"
                else "json_extract(data, '$.activity_kind')")
        with self.store.read() as tx:
            rows = tx.all(f"SELECT {kind} AS kind, COUNT(*) AS c FROM "
                          f"{self.t('LedgerLines_lines')} WHERE deputy_id = ? AND year = ? "
                          "AND type = 'award' AND cause_kind IN (?, ?) "
                          f"AND revoked_by IS NULL GROUP BY {kind}",
                          (deputy_id, year, *COUNTED_AS_ACTIVITY))
        return {r["kind"]: int(r["c"]) for r in rows}

    def points_by_case(self, deputy_id: str, year: int, cause_prefix: str,
                       case_ids: list[str]) -> dict[str, float]:
        """The sum of one deputy's lines of a year per case, for causes starting with
        ``cause_prefix`` (``suggestion_``, ``message_``), of the cases named."""
        self.require_ready()
        if not case_ids:
            return {}
        marks = ", ".join("?" for _ in case_ids)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT case_id, SUM(cents) AS cents FROM "
                          f"{self.t('LedgerLines_lines')} WHERE deputy_id = ? AND year = ? "
                          f"AND substr(cause_kind, 1, {len(cause_prefix)}) = ? "
                          f"AND case_id IN ({marks}) GROUP BY case_id",
                          (deputy_id, year, cause_prefix, *case_ids))
        return {r["case_id"]: _points(r["cents"]) for r in rows}

    def across_deputies(self, q: LinesQuery, year: int | None,
                        group_deputies: str | None) -> dict[str, Any]:
        """Lines of every deputy (of a year, a group of deputies, a category), by deputy, year
        and line number. ``group_deputies``: a sub-select of the group's deputy ids."""
        self.require_ready()
        after = checked_after(q, 3)
        lines = self.t("LedgerLines_lines")
        where, params = ["1 = 1"], []
        if year is not None:
            where.append("year = ?")
            params.append(year)
        if q.deputy_id:
            where.append("deputy_id = ?")
            params.append(q.deputy_id)
        if q.category:
            where.append("category = ?")
            params.append(q.category)
        if group_deputies:
            where.append(f"deputy_id IN ({group_deputies})")
            params.append(q.group)
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(deputy_id, year, line_no) > (?, ?, ?)")
            params += [str(after[0]), int(after[1]), int(after[2])]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT deputy_id, year, line_no, data FROM {lines} "
                          f"WHERE {' AND '.join(where)} ORDER BY deputy_id, year, line_no "
                          "LIMIT ?", (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {lines} WHERE {filters}",
                              filter_params) if not after else None
        return page(rows, q.limit, key=lambda r: (r["deputy_id"], r["year"], r["line_no"]),
                    total=total,
                    view=lambda r: {"deputy_id": r["deputy_id"], "year": r["year"],
                                    **json.loads(r["data"])})


# --- rankings -------------------------------------------------------------------------------------

class Rankings(TableProjection):
    """Each deputy's total and approved activities per year (积分排名), and the deputies of the
    reference data (written at creation and again at every start)."""

    name = "Rankings"
    tables = ("Rankings_owners", "Rankings_totals", "Rankings_deputies")
    ORDER = "total points desc, then approved activities desc, then deputy id asc"

    def create(self, tx: Tx) -> None:
        tx.execute(f"CREATE TABLE {self.t('Rankings_owners')} (ledger_id TEXT PRIMARY KEY, "
                   "deputy_id TEXT NOT NULL, year INTEGER NOT NULL)")
        totals = self.t("Rankings_totals")
        tx.execute(f"CREATE TABLE {totals} (year INTEGER NOT NULL, deputy_id TEXT NOT NULL, "
                   "cents BIGINT NOT NULL, activities INTEGER NOT NULL, "
                   "PRIMARY KEY (year, deputy_id))")
        tx.execute(f"CREATE INDEX {totals}_rank ON {totals} (year, cents, activities, deputy_id)")
        deputies = self.t("Rankings_deputies")
        tx.execute(f"CREATE TABLE {deputies} (deputy_id TEXT PRIMARY KEY, grp TEXT, level TEXT, "
                   "level_zh TEXT)")
        tx.execute(f"CREATE INDEX {deputies}_grp ON {deputies} (grp, deputy_id)")
        self._write_deputies(tx)

    def _write_deputies(self, tx: Tx) -> None:
        deputies = self.t("Rankings_deputies")
        tx.execute(f"DELETE FROM {deputies}")
        tx.executemany(f"INSERT INTO {deputies} (deputy_id, grp, level, level_zh) "
                       "VALUES (?, ?, ?, ?)",
                       [(d["id"], d.get("group"), d.get("level"), d.get("level_zh"))
                        for d in list(self.app.deputies.values())])

    def sync_deputies(self) -> None:
        """The reference data may have changed since the tables were written: at start."""
        if self.ready:
            with self.store.write() as tx:
                self._write_deputies(tx)

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, DutyLedger.Event):
            return
        assert self.tx is not None
        key = key_of(domain_event.originator_id)
        totals = self.t("Rankings_totals")
        e = domain_event
        if isinstance(e, DutyLedger.Opened):
            self.tx.execute(f"INSERT INTO {self.t('Rankings_owners')} (ledger_id, deputy_id, "
                            "year) VALUES (?, ?, ?)", (key, e.deputy_id, e.year))
            self.tx.execute(f"INSERT INTO {totals} (year, deputy_id, cents, activities) "
                            "VALUES (?, ?, 0, 0) ON CONFLICT (year, deputy_id) DO NOTHING",
                            (e.year, e.deputy_id))
            return
        if isinstance(e, DutyLedger.PointsAwarded):
            cents, activities = _cents(e.points), int(e.cause_kind == "activity")
        elif isinstance(e, DutyLedger.PointsRevoked):
            cents, activities = _cents(e.points), -int(e.cause_kind == "activity")
        elif isinstance(e, DutyLedger.Recalculated):
            cents, activities = sum(_cents(a["delta"]) for a in e.adjustments), 0
        else:
            return
        self.tx.execute(f"UPDATE {totals} SET cents = cents + ?, activities = activities + ? "
                        f"WHERE (year, deputy_id) = (SELECT year, deputy_id FROM "
                        f"{self.t('Rankings_owners')} WHERE ledger_id = ?)",
                        (cents, activities, key))

    # --- queries ------------------------------------------------------------------------

    def _ranked(self, year: int, group: str | None, level: str | None) -> tuple[str, list[Any]]:
        """The rows ranked (a sub-select): the reference deputies of the filter with their
        totals (0 without a ledger), and without a filter also the deputies with a ledger who
        are not in the reference data."""
        totals, deputies = self.t("Rankings_totals"), self.t("Rankings_deputies")
        where, params = ["1 = 1"], [year]
        if group:
            where.append("d.grp = ?")
            params.append(group)
        if level:
            where.append("(d.level = ? OR d.level_zh = ?)")
            params += [level, level]
        sql = (f"SELECT d.deputy_id, COALESCE(t.cents, 0) AS cents, "
               f"COALESCE(t.activities, 0) AS activities FROM {deputies} d "
               f"LEFT JOIN {totals} t ON t.year = ? AND t.deputy_id = d.deputy_id "
               f"WHERE {' AND '.join(where)}")
        if not group and not level:
            sql += (f" UNION ALL SELECT t.deputy_id, t.cents, t.activities FROM {totals} t "
                    f"WHERE t.year = ? AND NOT EXISTS (SELECT 1 FROM {deputies} d "
                    "WHERE d.deputy_id = t.deputy_id)")
            params.append(year)
        return sql, params

    KEY = "(-r.cents, -r.activities, r.deputy_id)"

    def ranking(self, q: RankingsQuery, year: int) -> dict[str, Any]:
        """A page of the ranking: total points desc, approved activities desc, deputy id asc;
        deputies with the same total share a rank (并列: 1, 2, 2, 4), ``tied_on_points``
        marks them."""
        self.require_ready()
        after = checked_after(q, 3)
        ranked, params = self._ranked(year, q.group, q.level)
        where, key_params = "", []
        if after:
            where = f"WHERE {self.KEY} > (?, ?, ?)"
            key_params = [int(after[0]), int(after[1]), str(after[2])]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT r.deputy_id, r.cents, r.activities FROM ({ranked}) r {where} "
                          "ORDER BY r.cents DESC, r.activities DESC, r.deputy_id LIMIT ?",
                          (*params, *key_params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM ({ranked}) r", params)
            shown = sorted({r["cents"] for r in rows[:q.limit]}, reverse=True)
            ties: dict[int, int] = {}
            above = 0
            if shown:
                marks = ", ".join("?" for _ in shown)
                ties = {t["cents"]: t["c"] for t in tx.all(
                    f"SELECT r.cents, COUNT(*) AS c FROM ({ranked}) r WHERE r.cents IN ({marks}) "
                    "GROUP BY r.cents", (*params, *shown))}
                above = tx.scalar(f"SELECT COUNT(*) AS c FROM ({ranked}) r WHERE r.cents > ?",
                                  (*params, shown[0]))
        # a page is a run of the order: every total between its first and last row is on it,
        # so a total's rank is 1 + the rows above the page + the rows of the higher totals
        places: dict[int, int] = {}
        for cents in shown:
            places[cents] = above + 1
            above += ties.get(cents, 1)
        result = page(rows, q.limit, key=lambda r: (-r["cents"], -r["activities"], r["deputy_id"]),
                      total=total)
        result["items"] = [self._row(r, places[r["cents"]], ties.get(r["cents"], 1) > 1)
                           for r in result["items"]]
        return result

    def _row(self, r: dict[str, Any], rank: int, tied: bool) -> dict[str, Any]:
        info = self.app.deputies.get(r["deputy_id"], {})
        return {"rank": rank, "deputy_id": r["deputy_id"], "name": info.get("name"),
                "group": info.get("group"), "level": info.get("level"),
                "level_zh": info.get("level_zh"), "station": info.get("station"),
                "total": _points(r["cents"]), "approved_activities": r["activities"],
                "tied_on_points": tied}

    def place(self, deputy_id: str, year: int, group: str | None = None) -> dict[str, Any]:
        """One deputy's place in a ranking: ``rank`` (None when not ranked) of ``ranked``."""
        self.require_ready()
        ranked, params = self._ranked(year, group, None)
        with self.store.read() as tx:
            own = tx.one(f"SELECT r.deputy_id, r.cents, r.activities FROM ({ranked}) r "
                         "WHERE r.deputy_id = ?", (*params, deputy_id))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM ({ranked}) r", params)
            if own is None:
                return {"rank": None, "ranked": total, "row": None}
            before = tx.scalar(f"SELECT COUNT(*) AS c FROM ({ranked}) r WHERE r.cents > ?",
                               (*params, own["cents"]))  # those with the same total share it
            same = tx.scalar(f"SELECT COUNT(*) AS c FROM ({ranked}) r WHERE r.cents = ?",
                             (*params, own["cents"]))
        return {"rank": before + 1, "ranked": total,
                "row": self._row(own, before + 1, same > 1)}

    def deputies_in(self, year: int) -> list[str]:
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT deputy_id FROM {self.t('Rankings_totals')} WHERE year = ? "
                          "ORDER BY deputy_id", (year,))
        return [r["deputy_id"] for r in rows]


# --- activities -----------------------------------------------------------------------------------

ACTIVITY_FIELDS = ("id", "deputy_id", "kind", "date", "description", "evidence", "status",
                   "submitted_by", "submitted_at", "reviewed_by", "reviewed_at", "reason",
                   "points", "rule_version", "capped_by", "line_no")


class ActivityIndex(TableProjection):
    """Every self-reported activity with its review state."""

    name = "ActivityIndex"
    tables = ("ActivityIndex_items", "ActivityIndex_text")

    def create(self, tx: Tx) -> None:
        items = self.t("ActivityIndex_items")
        tx.execute(f"CREATE TABLE {items} (id TEXT PRIMARY KEY, deputy_id TEXT NOT NULL, "
                   "date TEXT NOT NULL, submitted_at TEXT NOT NULL, status TEXT NOT NULL, "
                   "description TEXT NOT NULL, data TEXT NOT NULL)")
        tx.execute(f"CREATE INDEX {items}_date ON {items} (date, submitted_at, id)")
        tx.execute(f"CREATE INDEX {items}_status ON {items} (status, date, submitted_at, id)")
        tx.execute(f"CREATE INDEX {items}_deputy ON {items} (deputy_id, date, submitted_at, id)")
        if tx.dialect == "sqlite":
            tx.execute(f"CREATE VIRTUAL TABLE {self.t('ActivityIndex_text')} USING "
                       "fts5(id UNINDEXED, description, tokenize='trigram')")
        else:
            tx.execute(f"CREATE INDEX {items}_trgm ON {items} "
                       "USING gin (description gin_trgm_ops)")

    def _get(self, key: str) -> dict[str, Any] | None:
        assert self.tx is not None
        row = self.tx.one(f"SELECT data FROM {self.t('ActivityIndex_items')} WHERE id = ?", (key,))
        return json.loads(row["data"]) if row else None

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, Activity.Event):
            return
        assert self.tx is not None
        key = key_of(domain_event.originator_id)
        items = self.t("ActivityIndex_items")
        e = domain_event
        if isinstance(e, Activity.Submitted):
            item = {
                "id": key, "deputy_id": e.deputy_id, "kind": e.kind, "date": e.on.isoformat(),
                "description": e.description, "evidence": e.evidence, "status": "pending",
                "submitted_by": e.submitted_by, "submitted_at": e.submitted_at.isoformat(),
                "reviewed_by": None, "reviewed_at": None, "reason": None, "points": None,
                "rule_version": None, "capped_by": None, "line_no": None,
            }
            self.tx.execute(f"INSERT INTO {items} (id, deputy_id, date, submitted_at, status, "
                            "description, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (key, e.deputy_id, item["date"], item["submitted_at"], "pending",
                             e.description, _json(item)))
            if self.tx.dialect == "sqlite":
                self.tx.execute(f"INSERT INTO {self.t('ActivityIndex_text')} (id, description) "
                                "VALUES (?, ?)", (key, e.description))
            return
        item = self._get(key)
        if item is None:
            return
        if isinstance(e, Activity.Approved):
            item.update(status="approved", reviewed_by=e.reviewed_by,
                        reviewed_at=e.reviewed_at.isoformat(), points=e.points,
                        rule_version=e.rule_version, capped_by=e.capped_by, line_no=e.line_no)
        elif isinstance(e, Activity.Rejected):
            item.update(status="rejected", reviewed_by=e.reviewed_by,
                        reviewed_at=e.reviewed_at.isoformat(), reason=e.reason)
        else:
            return
        self.tx.execute(f"UPDATE {items} SET status = ?, data = ? WHERE id = ?",
                        (item["status"], _json(item), key))

    def query(self, q: ActivitiesQuery, deputy_id: str | None,
              year: int | None) -> dict[str, Any]:
        """Activities by date (then submission time, id); ``year``: the activity date's."""
        self.require_ready()
        after = checked_after(q, 3)
        items = self.t("ActivityIndex_items")
        where, params = ["1 = 1"], []
        if q.status:
            where.append("status = ?")
            params.append(q.status)
        if deputy_id:
            where.append("deputy_id = ?")
            params.append(deputy_id)
        if year is not None:
            where.append("date >= ? AND date < ?")
            params += list(year_range(year))
        for word in (q.q or "").split():
            if len(word) >= 3 and self.store.dialect == "sqlite":
                where.append(f"id IN (SELECT id FROM {self.t('ActivityIndex_text')} "
                             f"WHERE {self.t('ActivityIndex_text')} MATCH ?)")
                params.append(fts_match_sqlite(word))
            else:
                op = "ILIKE" if self.store.dialect == "postgres" else "LIKE"
                where.append(f"description {op} ? ESCAPE '\\'")
                params.append(like_pattern(word))
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(date, submitted_at, id) > (?, ?, ?)")
            params += [str(a) for a in after]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT date, submitted_at, id, data FROM {items} "
                          f"WHERE {' AND '.join(where)} ORDER BY date, submitted_at, id LIMIT ?",
                          (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {items} WHERE {filters}",
                              filter_params)
        return page(rows, q.limit, key=lambda r: (r["date"], r["submitted_at"], r["id"]),
                    total=total, view=lambda r: json.loads(r["data"]))


    def recent(self, deputy_id: str, year: int, limit: int) -> dict[str, Any]:
        """One deputy's last ``limit`` activities of a year (by date, submission time, id)
        and how many they have that year (``total``, and per review status)."""
        self.require_ready()
        items = self.t("ActivityIndex_items")
        start, end = year_range(year)
        where = "deputy_id = ? AND date >= ? AND date < ?"
        with self.store.read() as tx:
            rows = tx.all(f"SELECT data FROM {items} WHERE {where} "
                          "ORDER BY date DESC, submitted_at DESC, id DESC LIMIT ?",
                          (deputy_id, start, end, limit))
            counts = tx.all(f"SELECT status, COUNT(*) AS c FROM {items} WHERE {where} "
                            "GROUP BY status", (deputy_id, start, end))
        by_status = {r["status"]: int(r["c"]) for r in counts}
        return {"items": [json.loads(r["data"]) for r in reversed(rows)],
                "total": sum(by_status.values()), "by_status": by_status}


# --- the duty record's suggestions and messages ---------------------------------------------------

SUGGESTION_SORT = "COALESCE(registered_on, closed_on, '')"


class DutyRecord(TableProjection):
    """The suggestions and citizen messages of each deputy's duty record per year, from the
    facts their ledgers record (``DutyLedger.FactRecorded``): one row per suggestion (its
    number, title, role, registration, reversal, merge and closing) and per message (answered,
    rated), as services/points/record.py shows them, with the flags the indicators count."""

    name = "DutyRecord"
    tables = ("DutyRecord_owners", "DutyRecord_suggestions", "DutyRecord_messages")

    def create(self, tx: Tx) -> None:
        tx.execute(f"CREATE TABLE {self.t('DutyRecord_owners')} (ledger_id TEXT PRIMARY KEY, "
                   "deputy_id TEXT NOT NULL, year INTEGER NOT NULL)")
        s = self.t("DutyRecord_suggestions")
        tx.execute(f"CREATE TABLE {s} (deputy_id TEXT NOT NULL, year INTEGER NOT NULL, "
                   "case_id TEXT NOT NULL, registered_on TEXT, closed_on TEXT, "
                   "registered INTEGER NOT NULL, merged INTEGER NOT NULL, "
                   "all_satisfied INTEGER NOT NULL, resolved INTEGER NOT NULL, "
                   "data TEXT NOT NULL, PRIMARY KEY (deputy_id, year, case_id))")
        tx.execute(f"CREATE INDEX {s}_order ON {s} (deputy_id, year, "
                   f"({SUGGESTION_SORT}), case_id)")
        m = self.t("DutyRecord_messages")
        tx.execute(f"CREATE TABLE {m} (deputy_id TEXT NOT NULL, year INTEGER NOT NULL, "
                   "message_id TEXT NOT NULL, answered_on TEXT NOT NULL, "
                   "answered INTEGER NOT NULL, data TEXT NOT NULL, "
                   "PRIMARY KEY (deputy_id, year, message_id))")
        tx.execute(f"CREATE INDEX {m}_order ON {m} (deputy_id, year, answered_on, message_id)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, (DutyLedger.Opened, DutyLedger.FactRecorded)):
            return
        assert self.tx is not None
        key = key_of(domain_event.originator_id)
        e = domain_event
        if isinstance(e, DutyLedger.Opened):
            self.tx.execute(f"INSERT INTO {self.t('DutyRecord_owners')} (ledger_id, deputy_id, "
                            "year) VALUES (?, ?, ?)", (key, e.deputy_id, e.year))
            return
        owner = self.tx.one(f"SELECT deputy_id, year FROM {self.t('DutyRecord_owners')} "
                            "WHERE ledger_id = ?", (key,))
        if owner is None:
            raise LookupError(f"ledger {key} has no Opened event before its facts")
        fact = {"kind": e.kind, "ref": e.ref, "on": e.on.isoformat(),
                "details": dict(e.details or {})}
        if fact["kind"].startswith(("suggestion_", "case_")):
            self._suggestion(owner, fact)
        elif fact["kind"].startswith("message_"):
            self._message(owner, fact)

    def _suggestion(self, owner: dict[str, Any], f: dict[str, Any]) -> None:
        """What ``record._suggestions`` does with one fact, kept in a row."""
        assert self.tx is not None
        table = self.t("DutyRecord_suggestions")
        where = (owner["deputy_id"], owner["year"], f["ref"])
        row = self.tx.one(f"SELECT registered, merged, data FROM {table} WHERE deputy_id = ? "
                          "AND year = ? AND case_id = ?", where)
        s = json.loads(row["data"]) if row else {
            "case_id": f["ref"], "number": None, "title": None, "role": None,
            "registered_on": None, "reversed_on": None, "reversal_reason": None,
            "merged_into": None, "merged_on": None,
            "closed_on": None, "result_class": None, "all_satisfied": None, "rating": None,
            "history": [],
        }
        registered, merged = (row["registered"], row["merged"]) if row else (0, 0)
        d = f["details"]
        s["history"].append({"kind": f["kind"], "on": f["on"]})
        if f["kind"] == "suggestion_registered":
            s.update(number=d.get("number"), title=d.get("title"), role=d.get("role"),
                     registered_on=f["on"], reversed_on=None, reversal_reason=None)
            registered = 1
        elif f["kind"] == "suggestion_registration_reversed":
            s.update(reversed_on=f["on"], reversal_reason=d.get("reason"))
            registered = 0
        elif f["kind"] == "suggestion_merged":
            s.update(merged_into=d.get("into"), merged_on=f["on"])
            merged = 1
        elif f["kind"] == "suggestion_merge_undone":
            s.update(merged_into=None, merged_on=None)
            merged = 0
        elif f["kind"] == "case_closed":
            s.update(closed_on=f["on"], result_class=d.get("result_class"),
                     all_satisfied=d.get("all_satisfied"), rating=d.get("rating"),
                     role=s["role"] or d.get("role"))
        values = (s["registered_on"], s["closed_on"], registered, merged,
                  int(bool(s["closed_on"] and s["all_satisfied"])),
                  int(bool(s["closed_on"] and s["result_class"] == "A")), _json(s))
        if row:
            self.tx.execute(f"UPDATE {table} SET registered_on = ?, closed_on = ?, "
                            "registered = ?, merged = ?, all_satisfied = ?, resolved = ?, "
                            "data = ? WHERE deputy_id = ? AND year = ? AND case_id = ?",
                            (*values, *where))
        else:
            self.tx.execute(f"INSERT INTO {table} (registered_on, closed_on, registered, "
                            "merged, all_satisfied, resolved, data, deputy_id, year, case_id) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, *where))

    def _message(self, owner: dict[str, Any], f: dict[str, Any]) -> None:
        """What ``record._messages`` does with one fact, kept in a row."""
        assert self.tx is not None
        table = self.t("DutyRecord_messages")
        where = (owner["deputy_id"], owner["year"], f["ref"])
        row = self.tx.one(f"SELECT data FROM {table} WHERE deputy_id = ? AND year = ? "
                          "AND message_id = ?", where)
        m = json.loads(row["data"]) if row else {"message_id": f["ref"], "answered_on": None,
                                                 "rating": None, "rated_on": None}
        if f["kind"] == "message_answered":
            m["answered_on"] = f["on"]
        elif f["kind"] == "message_rated":
            m.update(rating=f["details"].get("rating"), rated_on=f["on"])
        values = (m["answered_on"] or "", int(m["answered_on"] is not None), _json(m))
        if row:
            self.tx.execute(f"UPDATE {table} SET answered_on = ?, answered = ?, data = ? "
                            "WHERE deputy_id = ? AND year = ? AND message_id = ?",
                            (*values, *where))
        else:
            self.tx.execute(f"INSERT INTO {table} (answered_on, answered, data, deputy_id, "
                            "year, message_id) VALUES (?, ?, ?, ?, ?, ?)", (*values, *where))

    # --- queries ------------------------------------------------------------------------

    def counts(self, deputy_id: str, year: int) -> dict[str, int]:
        """What the indicators count of one deputy's year: suggestions registered (not
        reversed since, not merged away), closed, closed with all satisfied, closed class A;
        messages answered; and the rows listed (``suggestions``, ``messages``)."""
        self.require_ready()
        s, m = self.t("DutyRecord_suggestions"), self.t("DutyRecord_messages")
        with self.store.read() as tx:
            row = tx.one(f"SELECT COUNT(*) AS listed, "
                         "COALESCE(SUM(CASE WHEN registered = 1 AND merged = 0 THEN 1 ELSE 0 "
                         "END), 0) AS registered, "
                         "COALESCE(SUM(CASE WHEN closed_on IS NOT NULL THEN 1 ELSE 0 END), 0) "
                         "AS closed, COALESCE(SUM(all_satisfied), 0) AS satisfied, "
                         f"COALESCE(SUM(resolved), 0) AS resolved FROM {s} "
                         "WHERE deputy_id = ? AND year = ?", (deputy_id, year)) or {}
            messages = tx.one(f"SELECT COUNT(*) AS listed, COALESCE(SUM(answered), 0) "
                              f"AS answered FROM {m} WHERE deputy_id = ? AND year = ?",
                              (deputy_id, year)) or {}
        return {"suggestions": int(row.get("listed") or 0),
                "suggestions_registered": int(row.get("registered") or 0),
                "suggestions_closed": int(row.get("closed") or 0),
                "suggestions_closed_satisfied": int(row.get("satisfied") or 0),
                "suggestions_closed_resolved": int(row.get("resolved") or 0),
                "messages": int(messages.get("listed") or 0),
                "messages_answered": int(messages.get("answered") or 0)}

    def _page(self, table: str, sort: str, id_column: str, deputy_id: str, year: int,
              q: PageQuery | None, last: int | None) -> dict[str, Any]:
        """A page (``q``) or the last ``last`` rows, in (sort, id) order."""
        where, params = ["deputy_id = ? AND year = ?"], [deputy_id, year]
        if q is not None:
            after = checked_after(q, 2)
            if after:
                where.append(f"({sort}, {id_column}) > (?, ?)")
                params += [str(after[0]), str(after[1])]
            order, limit = "", q.limit + 1
        else:
            order, limit = " DESC", int(last or 0)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT {sort} AS sort_on, {id_column} AS id, data FROM {table} "
                          f"WHERE {' AND '.join(where)} "
                          f"ORDER BY {sort}{order}, {id_column}{order} LIMIT ?",
                          (*params, limit))
        if q is None:
            return {"items": [json.loads(r["data"]) for r in reversed(rows)],
                    "next_cursor": None, "total": None}
        return page(rows, q.limit, key=lambda r: (r["sort_on"], r["id"]),
                    view=lambda r: json.loads(r["data"]))

    def suggestions(self, deputy_id: str, year: int, q: PageQuery | None = None,
                    last: int | None = None) -> dict[str, Any]:
        """One deputy's suggestions of a year by registration (else closing) date and case
        id: a page (``q``), or the last ``last`` of them."""
        self.require_ready()
        return self._page(self.t("DutyRecord_suggestions"), SUGGESTION_SORT, "case_id",
                          deputy_id, year, q, last)

    def messages(self, deputy_id: str, year: int, q: PageQuery | None = None,
                 last: int | None = None) -> dict[str, Any]:
        """One deputy's messages of a year by answer date and message id: a page (``q``),
        or the last ``last`` of them."""
        self.require_ready()
        return self._page(self.t("DutyRecord_messages"), "answered_on", "message_id",
                          deputy_id, year, q, last)


# --- recalculations -------------------------------------------------------------------------------

class RecalculationIndex(TableProjection):
    """The recorded recalculations. A listed one names at most ``LEDGERS_SHOWN`` of the
    ledgers it changed (``ledgers_total`` counts them all)."""

    name = "RecalculationIndex"
    tables = ("RecalculationIndex_items",)
    LEDGERS_SHOWN = 20

    def create(self, tx: Tx) -> None:
        items = self.t("RecalculationIndex_items")
        tx.execute(f"CREATE TABLE {items} (id TEXT PRIMARY KEY, year INTEGER NOT NULL, "
                   "requested_at TEXT NOT NULL, data TEXT NOT NULL)")
        tx.execute(f"CREATE INDEX {items}_year ON {items} (year, requested_at, id)")
        tx.execute(f"CREATE INDEX {items}_at ON {items} (requested_at, id)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, Recalculation.Recorded):
            return
        assert self.tx is not None
        e = domain_event
        item = {
            "id": str(e.originator_id), "year": e.year, "rule_version": e.rule_version,
            "reason": e.reason, "requested_by": e.requested_by,
            "requested_at": e.requested_at.isoformat(),
            "ledgers": list(e.ledgers)[:self.LEDGERS_SHOWN],
            "ledgers_total": len(e.ledgers),
            "total_delta": round(sum(l["delta"] for l in e.ledgers), 2),
        }
        self.tx.execute(f"INSERT INTO {self.t('RecalculationIndex_items')} (id, year, "
                        "requested_at, data) VALUES (?, ?, ?, ?)",
                        (item["id"], e.year, item["requested_at"], _json(item)))

    def query(self, q: RecalculationsQuery, year: int | None) -> dict[str, Any]:
        self.require_ready()
        after = checked_after(q, 2)
        items = self.t("RecalculationIndex_items")
        where, params = ["1 = 1"], []
        if year is not None:
            where.append("year = ?")
            params.append(year)
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(requested_at, id) > (?, ?)")
            params += [str(a) for a in after]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT requested_at, id, data FROM {items} "
                          f"WHERE {' AND '.join(where)} ORDER BY requested_at, id LIMIT ?",
                          (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {items} WHERE {filters}",
                              filter_params)
        return page(rows, q.limit, key=lambda r: (r["requested_at"], r["id"]), total=total,
                    view=lambda r: json.loads(r["data"]))


# --- points per case ----------------------------------------------------------------------------

class CasePoints(TableProjection):
    """The points lines about each case (for the suggestion view), and the aggregates with
    lines or facts about it (for its audit history)."""

    name = "CasePoints"
    tables = ("CasePoints_owners", "CasePoints_lines", "CasePoints_aggregates")

    def create(self, tx: Tx) -> None:
        tx.execute(f"CREATE TABLE {self.t('CasePoints_owners')} (ledger_id TEXT PRIMARY KEY, "
                   "deputy_id TEXT NOT NULL)")
        tx.execute(f"CREATE TABLE {self.t('CasePoints_lines')} (case_id TEXT NOT NULL, "
                   "seq BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (case_id, seq))")
        tx.execute(f"CREATE TABLE {self.t('CasePoints_aggregates')} (case_id TEXT NOT NULL, "
                   "aggregate_id TEXT NOT NULL, PRIMARY KEY (case_id, aggregate_id))")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, (DutyLedger.Event, Activity.Event)):
            return
        assert self.tx is not None
        key = key_of(domain_event.originator_id)
        e = domain_event
        case_ref = e.ref if isinstance(e, DutyLedger.FactRecorded) else getattr(e, "case_id", None)
        if isinstance(e, Activity.Submitted):
            case_ref = key  # an activity is its own case for the audit history
        if case_ref:
            self.tx.execute(f"INSERT INTO {self.t('CasePoints_aggregates')} (case_id, "
                            "aggregate_id) VALUES (?, ?) ON CONFLICT (case_id, aggregate_id) "
                            "DO NOTHING", (case_ref, key))
        if isinstance(e, DutyLedger.Opened):
            self.tx.execute(f"INSERT INTO {self.t('CasePoints_owners')} (ledger_id, deputy_id) "
                            "VALUES (?, ?)", (key, e.deputy_id))
            return
        if isinstance(e, DutyLedger.PointsAwarded) and e.case_id:
            line = {"points": e.points, "cause_kind": e.cause_kind,
                    "rule_version": e.rule_version}
        elif isinstance(e, DutyLedger.PointsRevoked) and e.case_id:
            line = {"points": e.points, "cause_kind": e.cause_kind, "rule_version": None,
                    "revoked": True, "reason": e.reason}
        else:
            return
        owner = self.tx.scalar(f"SELECT deputy_id FROM {self.t('CasePoints_owners')} "
                               "WHERE ledger_id = ?", (key,))
        self.tx.execute(f"INSERT INTO {self.t('CasePoints_lines')} (case_id, seq, data) "
                        "VALUES (?, ?, ?)",
                        (e.case_id, notification_id, _json({"deputy_id": owner, **line})))

    def query(self, case_id: str) -> list[dict[str, Any]]:
        """A case's lines (a few per deputy of the case)."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT data FROM {self.t('CasePoints_lines')} WHERE case_id = ? "
                          "ORDER BY seq", (case_id,))
        return [json.loads(r["data"]) for r in rows]

    def audit_scope(self, case_id: str) -> tuple[list[UUID], Callable[[dict[str, Any]], bool]]:
        """For the audit history: the ledgers with lines or facts about a case (only those
        entries are listed; each ledger's chain is still verified whole), or the activity."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT aggregate_id FROM {self.t('CasePoints_aggregates')} "
                          "WHERE case_id = ? ORDER BY aggregate_id", (case_id,))

        def include(entry: dict[str, Any]) -> bool:
            data = entry.get("data") or {}
            return (entry.get("aggregate") == "Activity" or data.get("case_id") == case_id
                    or data.get("ref") == case_id)

        return [UUID(r["aggregate_id"]) for r in rows], include


# --- all of them ----------------------------------------------------------------------------------

class PointsViews:
    """Points' read models in one read-model database, and the queries that combine them."""

    def __init__(self, app: Any, store: ViewStore | None = None) -> None:
        self.app = app
        self.store = store or ViewStore(app.settings)
        self.lines = LedgerLines(app, self.store)
        self.rankings = Rankings(app, self.store)
        self.activities = ActivityIndex(app, self.store)
        self.recalculations = RecalculationIndex(app, self.store)
        self.case_points = CasePoints(app, self.store)
        self.record = DutyRecord(app, self.store)
        self.read_models = ReadModels(app, self.store, [
            self.lines, self.rankings, self.activities, self.recalculations, self.case_points,
            self.record])

    def start(self) -> None:
        """Build what needs building (tests without a runtime; the runtime starts
        ``read_models`` itself) and write the reference deputies."""
        self.read_models.start()
        self.rankings.sync_deputies()

    def catch_up(self) -> int:
        return catch_up_all(self.read_models.projections)

    def close(self) -> None:
        self.read_models.stop()
        self.store.close()

    def ledger_lines(self, q: LinesQuery, year: int | None) -> dict[str, Any]:
        group = (f"SELECT deputy_id FROM {self.rankings.t('Rankings_deputies')} WHERE grp = ?"
                 if q.group else None)
        if q.group:
            self.rankings.require_ready()
        return self.lines.across_deputies(q, year, group)


def resolve_year(year: int | str | None, this_year: Callable[[], int]) -> int | None:
    """``year=``: a year, ``all`` (None: every year) or absent (this year)."""
    if year == "all":
        return None
    if year is None:
        return this_year()
    return int(year)


__all__ = ["ActivitiesQuery", "ActivityIndex", "CasePoints", "DutyRecord", "LedgerLines",
           "LinesQuery",
           "PointsViews", "Rankings", "RankingsQuery", "RecalculationIndex",
           "RecalculationsQuery", "resolve_year", "year_range"]

"""Assignment's persisted read models (tables in ``var/assignment-views.sqlite`` or the schema
``<schema>_views``; see shared/read_store.py).

``TaskIndex`` keeps every task with its status, handling state and derived deadline, and each
case's current leadership designation. Its queries are indexed and paged:

- ``list_tasks`` (bus ``list_tasks``): tasks by unit, case, status and year, ordered by
  deadline (no deadline last), then task id;
- ``unit_counts`` / ``nearest`` / ``open_tasks``: the units' workload (open tasks: assigned,
  not withdrawn, not yet replied or closed).

A task's year is the year (local day) it was assigned. ``q`` finds tasks by their case's
number or by words of the title (Chinese: SQLite FTS5 with the trigram tokenizer for three
characters or more, ``LIKE`` below that; PostgreSQL ``pg_trgm`` indexes with ``ILIKE``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.contracts.requests.assignment import ListTasks
from shared.paging import checked_after, page, year_filter
from shared.read_store import TableProjection, Tx, ViewStore, fts_match_sqlite, like_pattern

from services.assignment.domain import Assignment, Task, due_date, local_day

NO_DEADLINE = "9999-12-31"  # sorts a task without a deadline after every dated one


COLUMNS = ("task_id", "case_id", "case_kind", "unit_id", "role", "status", "handling",
           "assigned_at", "deadline", "title", "category", "urgency", "number",
           "replaces_task_id", "replaced_by_task_id", "paused_since")


class TaskIndex(TableProjection):
    """Read model: every task with its status and derived deadline, per unit and per case,
    and each case's current leadership designation; the units' workload."""

    name = "task_index"
    version = 2  # 2: the title search
    tables = ("task_index", "task_index_cases", "task_index_search")

    def __init__(self, app: Any, store: ViewStore, **kwargs: Any) -> None:
        super().__init__(app, store, **kwargs)
        self.assignment_app = app

    # --- definition ---------------------------------------------------------------------

    def create(self, tx: Tx) -> None:
        tasks, cases = self.t("task_index"), self.t("task_index_cases")
        tx.execute(f"""CREATE TABLE {tasks} (
            task_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, case_kind TEXT NOT NULL,
            unit_id TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL,
            handling TEXT NOT NULL, assigned_at TEXT NOT NULL, year INTEGER NOT NULL,
            deadline TEXT, sort_deadline TEXT NOT NULL, title TEXT, category TEXT,
            urgency TEXT, number TEXT, replaces_task_id TEXT, replaced_by_task_id TEXT,
            paused_since TEXT)""")
        # lists by unit (and year), by case, by year; the workload's open tasks of a unit
        tx.execute(f"CREATE INDEX {tasks}_unit ON {tasks} "
                   "(unit_id, year, sort_deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_open ON {tasks} "
                   "(unit_id, handling, status, year, sort_deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_case ON {tasks} (case_id, sort_deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_year ON {tasks} (year, sort_deadline, task_id)")
        tx.execute(f"""CREATE TABLE {cases} (
            assignment_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, designee_id TEXT,
            designee_name TEXT, designee_kind TEXT, mode TEXT)""")
        tx.execute(f"CREATE UNIQUE INDEX {cases}_case ON {cases} (case_id)")
        if tx.dialect == "sqlite":
            tx.execute(f"CREATE VIRTUAL TABLE {self.t('task_index_search')} USING fts5("
                       "task_id UNINDEXED, text, tokenize='trigram')")
        else:  # no search table: trigram indexes on the columns
            tx.execute(f"CREATE INDEX {tasks}_title ON {tasks} USING gin "
                       "(title gin_trgm_ops)")
            tx.execute(f"CREATE INDEX {tasks}_number ON {tasks} USING gin "
                       "(number gin_trgm_ops)")

    # --- applying -----------------------------------------------------------------------

    def _update(self, task_id: str, **values: Any) -> None:
        assert self.tx is not None
        sets = ", ".join(f"{k} = ?" for k in values)
        self.tx.execute(f"UPDATE {self.t('task_index')} SET {sets} WHERE task_id = ?",
                        (*values.values(), task_id))

    def apply(self, domain_event: Any, notification_id: int) -> None:
        tx = self.tx
        assert tx is not None
        originator = str(domain_event.originator_id)
        calendar = self.assignment_app.calendar
        if isinstance(domain_event, Task.Assigned):
            # version 1 events are upcast (Task.Assigned.upcast_v1_v2)
            rule = Task.rule_of(domain_event.deadline_rule, domain_event.time_limit_months)
            try:  # derived exactly as the aggregate derives it
                deadline: str | None = due_date(rule, domain_event.assigned_at,
                                                calendar).isoformat()
            except ValueError:
                deadline = None
            assigned_at: datetime = domain_event.assigned_at
            tx.execute(
                f"INSERT INTO {self.t('task_index')} (task_id, case_id, case_kind, unit_id, "
                "role, status, handling, assigned_at, year, deadline, sort_deadline, title, "
                "category, urgency, number, replaces_task_id, replaced_by_task_id, "
                "paused_since) VALUES (?, ?, ?, ?, ?, 'assigned', 'open', ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, NULL, NULL) ON CONFLICT (task_id) DO NOTHING",
                (originator, domain_event.case_id,
                 domain_event.case_kind, domain_event.unit_id,
                 domain_event.role, assigned_at.isoformat(), local_day(assigned_at).year,
                 deadline, deadline or NO_DEADLINE, domain_event.title,
                 domain_event.category, domain_event.urgency, domain_event.number,
                 domain_event.replaces_task_id))
            if tx.dialect == "sqlite":
                tx.execute(f"INSERT INTO {self.t('task_index_search')} (task_id, text) "
                           "VALUES (?, ?)", (originator, " ".join(
                               filter(None, (domain_event.number, domain_event.title)))))
        elif isinstance(domain_event, Task.ReturnRequested):
            self._update(originator, status="return_requested")
        elif isinstance(domain_event, Task.ReturnRefused):
            self._update(originator, status="assigned")
        elif isinstance(domain_event, Task.Withdrawn):
            self._update(originator, status="withdrawn",
                         replaced_by_task_id=domain_event.replaced_by_task_id)
        elif isinstance(domain_event, (Task.ClockPaused, Task.ClockResumed)):
            task = self.assignment_app.repository.get(domain_event.originator_id,
                                                      version=domain_event.originator_version)
            try:
                deadline = task.deadline(calendar).isoformat()
            except ValueError:
                deadline = None
            self._update(originator, deadline=deadline, sort_deadline=deadline or NO_DEADLINE,
                         paused_since=task.paused_since.isoformat() if task.paused_since
                         else None)
        elif isinstance(domain_event, Task.HandlingNoted):
            self._update(originator, handling=domain_event.handling)
        elif isinstance(domain_event, Assignment.Opened):
            tx.execute(f"INSERT INTO {self.t('task_index_cases')} (assignment_id, case_id) "
                       "VALUES (?, ?) ON CONFLICT (assignment_id) DO NOTHING",
                       (originator, domain_event.case_id))
        elif isinstance(domain_event, Assignment.LeadershipDesignated):
            tx.execute(f"UPDATE {self.t('task_index_cases')} SET designee_id = ?, "
                       "designee_name = ?, designee_kind = ?, mode = ? WHERE assignment_id = ?",
                       (domain_event.designee_id, domain_event.designee_name,
                        domain_event.designee_kind, domain_event.mode, originator))

    # --- queries ------------------------------------------------------------------------

    def _select(self) -> str:
        columns = ", ".join(f"t.{c}" for c in COLUMNS)
        return (f"SELECT {columns}, t.sort_deadline, c.designee_id, c.designee_name, "
                f"c.designee_kind, c.mode FROM {self.t('task_index')} t "
                f"LEFT JOIN {self.t('task_index_cases')} c ON c.case_id = t.case_id")

    @staticmethod
    def _row(row: dict[str, Any]) -> dict[str, Any]:
        view = {c: row[c] for c in COLUMNS}
        view["leadership"] = None if row["designee_id"] is None else {
            "designee_id": row["designee_id"], "designee_name": row["designee_name"],
            "designee_kind": row["designee_kind"], "mode": row["mode"]}
        return view

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[str, str]:
        return (row["sort_deadline"], row["task_id"])

    def _search(self, text: str | None) -> tuple[str, list[Any]]:
        """The condition finding ``text`` in a task's number or title (SQL, parameters)."""
        if not text:
            return "", []
        if self.store.dialect == "sqlite" and len(text) >= 3:
            return (f" AND t.task_id IN (SELECT task_id FROM {self.t('task_index_search')} "
                    f"WHERE {self.t('task_index_search')} MATCH ?)", [fts_match_sqlite(text)])
        like = "LIKE" if self.store.dialect == "sqlite" else "ILIKE"
        pattern = like_pattern(text)
        return (f" AND (t.title {like} ? ESCAPE '\\' OR t.number {like} ? ESCAPE '\\')",
                [pattern, pattern])

    def list_tasks(self, q: ListTasks, this_year: int) -> dict[str, Any]:
        """A page of tasks by deadline (none last), then task id."""
        self.require_ready()
        after = checked_after(q, 2)
        year = year_filter(q.year, this_year) if (q.case_id is None or q.year is not None) \
            else None
        where, params = [], []
        for column, value in (("unit_id", q.unit_id), ("case_id", q.case_id),
                              ("status", q.status), ("year", year)):
            if value is not None:
                where.append(f"t.{column} = ?")
                params.append(value)
        search, search_params = self._search(q.q)
        filters = (" AND ".join(where) or "1 = 1") + search
        params += search_params
        keyset, keys = "", []
        if after:
            keyset, keys = " AND (t.sort_deadline, t.task_id) > (?, ?)", list(after)
        with self.store.read() as tx:
            rows = tx.all(f"{self._select()} WHERE {filters}{keyset} "
                          "ORDER BY t.sort_deadline, t.task_id LIMIT ?",
                          (*params, *keys, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM {self.t('task_index')} t "
                              f"WHERE {filters}", params)
        return page(rows, q.limit, key=self._key, total=int(total or 0), view=self._row)

    OPEN = "t.unit_id = ? AND t.handling = 'open' AND t.status <> 'withdrawn'"

    def unit_counts(self, unit_ids: list[str], year: int | None,
                    today: date) -> dict[str, dict[str, Any]]:
        """Per unit: open tasks, by role, return requests waiting, overdue, nearest deadline
        (one indexed aggregate per unit)."""
        self.require_ready()
        year_sql = " AND t.year = ?" if year is not None else ""
        out = {}
        with self.store.read() as tx:
            for unit_id in unit_ids:
                params: list[Any] = [today.isoformat(), unit_id]
                if year is not None:
                    params.append(year)
                row = tx.one(
                    "SELECT COUNT(*) AS open_tasks, "
                    "COUNT(CASE WHEN t.role = 'lead' THEN 1 END) AS lead_tasks, "
                    "COUNT(CASE WHEN t.role = 'co' THEN 1 END) AS co_tasks, "
                    "COUNT(CASE WHEN t.status = 'return_requested' THEN 1 END) "
                    "AS return_requests_pending, "
                    "COUNT(CASE WHEN t.deadline IS NOT NULL AND t.deadline < ? THEN 1 END) "
                    "AS overdue, MIN(t.deadline) AS nearest_deadline "
                    f"FROM {self.t('task_index')} t WHERE {self.OPEN}{year_sql}", params)
                assert row is not None
                out[unit_id] = {k: (int(v) if k != "nearest_deadline" and v is not None
                                    else v) for k, v in row.items()}
        return out

    def open_tasks(self, unit_id: str, year: int | None, limit: int,
                   after: list[Any] | None = None, q: str | None = None) -> list[dict[str, Any]]:
        """A unit's open tasks by deadline (none last), then task id: ``limit`` of them after
        the key ``after`` (rows with ``sort_deadline`` for the next key), found by ``q``."""
        self.require_ready()
        params: list[Any] = [unit_id]
        sql = f"{self._select()} WHERE {self.OPEN}"
        if year is not None:
            sql += " AND t.year = ?"
            params.append(year)
        search, search_params = self._search(q)
        sql += search
        params += search_params
        if after:
            sql += " AND (t.sort_deadline, t.task_id) > (?, ?)"
            params += list(after)
        with self.store.read() as tx:
            return tx.all(f"{sql} ORDER BY t.sort_deadline, t.task_id LIMIT ?",
                          (*params, limit))

    def count_open(self, unit_id: str, year: int | None, q: str | None) -> int:
        """How many open tasks of a unit ``q`` finds."""
        self.require_ready()
        params: list[Any] = [unit_id]
        sql = f"SELECT COUNT(*) AS n FROM {self.t('task_index')} t WHERE {self.OPEN}"
        if year is not None:
            sql += " AND t.year = ?"
            params.append(year)
        search, search_params = self._search(q)
        with self.store.read() as tx:
            return int(tx.scalar(sql + search, (*params, *search_params)) or 0)

    def view(self, row: dict[str, Any]) -> dict[str, Any]:
        return self._row(row)

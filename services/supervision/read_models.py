"""Supervision's persisted read models: every task and case as rows of the service's
read-model database (``var/supervision-views.sqlite`` or the schema ``<schema>_views``; see
shared/read_store.py), the task list, the progress board (进度看板), the statistics of a period
and the deadline clock's candidates, all as indexed queries. A single task's or case's full
view is read from the event store (one aggregate per request).

Tables (``SupervisionViews``):
- ``tasks``: one row per task with what the lists, the board and the clock need: unit, role,
  status, category, urgency, number, title, the day and year it was opened (the year of a
  task), its current deadline (moved by a paused clock, a new deadline or a re-handling
  round; lists order by it), whether the warnings and escalation of that deadline were
  raised;
- ``periods``: every deadline a task had, with the days it was in force and the unit's answer
  in that round, so a task's colour on any day is one row (the board as of a past day);
- ``tasks_fts`` (SQLite): FTS5 trigram index of the number and title (PostgreSQL: ``pg_trgm``
  indexes on the tasks table);
- ``cases``: one row per case: first reply (day, on time, unit, the category of its task),
  the earliest re-handling day, round, whether a rating is still awaited and since when,
  close-out and its outcome;
- ``replies`` and ``ratings``: each case's dated replies and ratings, so the statistics of a
  period see only what was recorded by its end;
- ``case_deputies``: the deputies of each case (lead deputy and co-signers from intake's
  ``suggestion_registered``, and the deputies of suggestions merged into it from
  ``suggestion_merged``: the case's raters), so a deputy's lists, board and statistics are
  those of their own cases.

Who sees what (``Scope``): the office, leaders and the system see every task; a unit its own
tasks, and the board and statistics of them; a deputy the tasks, board and statistics of the
cases they are a deputy of. Version 2 of the definition added ``case_deputies``.

Colours (as ``SupervisionApplication.task_colour``): on a day, a task is ``closed`` once
closed out; when the unit has answered the round then in force, ``red`` if that was after the
deadline, else ``green``; otherwise ``red`` past the deadline, ``green`` while the clock is
paused, ``yellow`` within the warning's working days of the deadline, else ``green``.

Statistics definitions (also returned with the statistics, so readers need not guess):
- the cases of a period are the cases whose FIRST reply falls in the period;
- on-time reply rate: share of those whose first reply was on or before the deadline;
- resolution rate: share whose latest reply is class A;
- satisfaction rate: each rater's latest rating of those cases, share satisfied or basically
  satisfied (lapsed ratings are not counted);
- re-handling rate: share that went through at least one re-handling round.
Per unit means per lead unit; per category, the case's category.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from shared.clock import CHINA_TZ
from shared.contracts.requests.supervision import (CaseIds, ClosedCases, LeaderCases,
                                                   ListReviews, ListTasks)
from shared.paging import MAX_LIMIT, checked_after, page
from shared.read_store import TableProjection, Tx, fts_match_sqlite, like_pattern
from shared.rpc import Forbidden

from services.supervision.domain import CITIZEN, SupervisedCase, SupervisedTask

COLOURS = ("green", "yellow", "red", "closed")
ACTIVE = ("open", "signed_for")
EVER = "9999-12-31"  # a period still in force
ALWAYS = "0001-01-01"  # the first deadline is in force on every day before the next one
DEFAULT_NESTED = 50  # cases listed per board cell and in the overdue list, by default

DEFINITIONS = {
    "cases": "cases whose first reply falls in the period",
    "on_time_reply_rate": "share of those whose first reply was on or before the deadline",
    "resolution_rate": "share whose latest reply is class A (solved or adopted)",
    "satisfaction_rate": "each rater's latest rating: share satisfied or basically satisfied",
    "rehandling_rate": "share with at least one re-handling round",
    "attitude_satisfaction_rate": "each rater's latest rating that judged the handling "
                                  "attitude (办理态度): share satisfied or basically satisfied",
}


@dataclass(frozen=True)
class Scope:
    """What an actor may see of supervision's tasks and cases: everything (the office,
    leaders, the system), one unit's tasks, or the tasks of one deputy's cases."""

    unit_id: str | None = None
    deputy_id: str | None = None

    @classmethod
    def of(cls, actor: Any) -> Scope:
        role = getattr(actor, "role", None)
        if role in ("office", "leader", "system"):
            return cls()
        if role == "unit":
            return cls(unit_id=actor.unit_id or "")
        if role == "deputy":
            return cls(deputy_id=actor.deputy_id or "")
        raise Forbidden("supervision's tasks are seen by staff only")

    @property
    def everything(self) -> bool:
        return self.unit_id is None and self.deputy_id is None


EVERYTHING = Scope()


def _row_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class SupervisionViews(TableProjection):
    """Every task and case of supervision, as rows; the task list, the board, the
    statistics and the deadline clock's candidates."""

    name = "supervision"
    version = 5  # 2: case_deputies; 3: case_leaders; 4: reviews; 5: ratings' attitude
    tables = ("supervision_tasks", "supervision_periods", "supervision_tasks_fts",
              "supervision_cases", "supervision_replies", "supervision_ratings",
              "supervision_case_deputies", "supervision_case_leaders", "supervision_reviews")

    # --- definition ---------------------------------------------------------------------

    @property
    def tasks(self) -> str:
        return self.t("supervision_tasks")

    @property
    def periods(self) -> str:
        return self.t("supervision_periods")

    @property
    def fts(self) -> str:
        return self.t("supervision_tasks_fts")

    @property
    def cases(self) -> str:
        return self.t("supervision_cases")

    @property
    def replies(self) -> str:
        return self.t("supervision_replies")

    @property
    def ratings(self) -> str:
        return self.t("supervision_ratings")

    @property
    def case_deputies(self) -> str:
        return self.t("supervision_case_deputies")

    @property
    def case_leaders(self) -> str:
        return self.t("supervision_case_leaders")

    @property
    def reviews(self) -> str:
        return self.t("supervision_reviews")

    def task_scope(self, scope: Scope, alias: str = "t") -> tuple[list[str], list[Any]]:
        """Conditions on the tasks table (as ``alias``) keeping what ``scope`` may see."""
        if scope.unit_id is not None:
            return [f"{alias}.unit_id = ?"], [scope.unit_id]
        if scope.deputy_id is not None:
            return ([f"{alias}.case_id IN (SELECT case_id FROM {self.case_deputies} "
                     "WHERE deputy_id = ?)"], [scope.deputy_id])
        return [], []

    def case_scope(self, scope: Scope, alias: str = "c") -> tuple[list[str], list[Any]]:
        """Conditions on the cases table (as ``alias``): a unit's cases are those it has a
        (not withdrawn) task of, a deputy's those they are a deputy of."""
        if scope.unit_id is not None:
            return ([f"{alias}.case_id IN (SELECT case_id FROM {self.tasks} "
                     "WHERE unit_id = ? AND status <> 'withdrawn')"], [scope.unit_id])
        if scope.deputy_id is not None:
            return ([f"{alias}.case_id IN (SELECT case_id FROM {self.case_deputies} "
                     "WHERE deputy_id = ?)"], [scope.deputy_id])
        return [], []

    def deputies_of(self, case_id: str) -> set[str]:
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT deputy_id FROM {self.case_deputies} WHERE case_id = ?",
                          (case_id,))
        return {r["deputy_id"] for r in rows}

    def create(self, tx: Tx) -> None:
        tasks, periods, cases = self.tasks, self.periods, self.cases
        tx.execute(f"""CREATE TABLE {tasks} (
            task_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, case_kind TEXT NOT NULL,
            unit_id TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL,
            active INTEGER NOT NULL, category TEXT NOT NULL, urgency TEXT, number TEXT,
            title TEXT, opened_at TEXT NOT NULL, opened_on TEXT NOT NULL,
            year INTEGER NOT NULL, deadline TEXT NOT NULL, paused INTEGER NOT NULL,
            round INTEGER NOT NULL, signed_for_at TEXT, closed_on TEXT, opinion_on TEXT,
            warnings TEXT NOT NULL, escalations TEXT NOT NULL,
            warned_yellow INTEGER NOT NULL, warned_red INTEGER NOT NULL,
            escalated INTEGER NOT NULL, escalated_to TEXT, withdrawn_reason TEXT,
            replaced_by TEXT)""")
        # lists by unit and year, by year, every year (by deadline or id), by case; the board
        # (a year's rows); the deadline clock (active tasks by deadline)
        tx.execute(f"CREATE INDEX {tasks}_unit_year ON {tasks} (unit_id, year, deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_unit ON {tasks} (unit_id, deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_year ON {tasks} (year, deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_deadline ON {tasks} (deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_case ON {tasks} (case_id, deadline, task_id)")
        tx.execute(f"CREATE INDEX {tasks}_year_case ON {tasks} (year, case_id)")
        tx.execute(f"CREATE INDEX {tasks}_clock ON {tasks} (active, deadline, task_id)")
        tx.execute(f"""CREATE TABLE {periods} (
            task_id TEXT NOT NULL, k INTEGER NOT NULL, from_day TEXT NOT NULL,
            until_day TEXT NOT NULL, deadline TEXT NOT NULL, answered_on TEXT,
            PRIMARY KEY (task_id, k))""")
        tx.execute(f"CREATE INDEX {periods}_day ON {periods} (task_id, from_day, until_day)")
        if tx.dialect == "sqlite":
            tx.execute(f"CREATE VIRTUAL TABLE {self.fts} USING fts5("
                       "task_id UNINDEXED, number, title, tokenize='trigram')")
        elif tx.scalar("SELECT COUNT(*) AS n FROM pg_extension WHERE extname = 'pg_trgm'"):
            tx.execute(f"CREATE INDEX {tasks}_title_trgm ON {tasks} "
                       "USING gin (title gin_trgm_ops)")
            tx.execute(f"CREATE INDEX {tasks}_number_trgm ON {tasks} "
                       "USING gin (number gin_trgm_ops)")
        tx.execute(f"""CREATE TABLE {cases} (
            case_id TEXT PRIMARY KEY, case_kind TEXT NOT NULL, lead_deputy_id TEXT,
            co_signer_ids TEXT NOT NULL, merged TEXT NOT NULL, round INTEGER NOT NULL,
            done_raters TEXT NOT NULL, current_reply_on TEXT, awaiting_since TEXT,
            first_reply_on TEXT, first_on_time INTEGER, first_unit TEXT, first_task_id TEXT,
            category TEXT, rehandled_on TEXT, closed_on TEXT, final TEXT)""")
        tx.execute(f"CREATE INDEX {cases}_first ON {cases} (first_reply_on)")
        tx.execute(f"CREATE INDEX {cases}_awaiting ON {cases} (awaiting_since, case_id)")
        tx.execute(f"CREATE INDEX {cases}_closed ON {cases} (closed_on, case_id)")
        tx.execute(f"""CREATE TABLE {self.replies} (
            case_id TEXT NOT NULL, seq BIGINT NOT NULL, replied_on TEXT NOT NULL,
            result_class TEXT NOT NULL, PRIMARY KEY (case_id, seq))""")
        tx.execute(f"""CREATE TABLE {self.ratings} (
            case_id TEXT NOT NULL, seq BIGINT NOT NULL, deputy_id TEXT NOT NULL,
            rated_on TEXT NOT NULL, rating TEXT NOT NULL, attitude TEXT,
            PRIMARY KEY (case_id, seq))""")
        tx.execute(f"CREATE INDEX {self.ratings}_rater ON {self.ratings} "
                   "(case_id, deputy_id, seq)")
        # source: '' for the case's own deputies, else the id of a suggestion merged into it
        tx.execute(f"""CREATE TABLE {self.case_deputies} (
            case_id TEXT NOT NULL, source TEXT NOT NULL, deputy_id TEXT NOT NULL,
            PRIMARY KEY (case_id, source, deputy_id))""")
        tx.execute(f"CREATE INDEX {self.case_deputies}_deputy ON {self.case_deputies} "
                   "(deputy_id, case_id)")
        # a leader's (or committee's) cases: relation 'led' or 'supervised' (the current
        # designation, 领办 / 重点督办) and 'escalated' (升级督办 to them); seq orders them
        tx.execute(f"""CREATE TABLE {self.case_leaders} (
            leader_id TEXT NOT NULL, case_id TEXT NOT NULL, relation TEXT NOT NULL,
            seq BIGINT NOT NULL, PRIMARY KEY (leader_id, case_id, relation))""")
        tx.execute(f"CREATE INDEX {self.case_leaders}_case ON {self.case_leaders} (case_id)")
        # follow-up reviews (回头看): scheduled, then recorded (recorded_on: the China day the
        # outcome was recorded; seq: its position in the log, the newest first)
        tx.execute(f"""CREATE TABLE {self.reviews} (
            case_id TEXT NOT NULL, review_id TEXT NOT NULL, due_on TEXT NOT NULL,
            reason TEXT NOT NULL, round INTEGER NOT NULL, outcome TEXT, note TEXT,
            reopened INTEGER, recorded_on TEXT, seq BIGINT,
            PRIMARY KEY (case_id, review_id))""")
        tx.execute(f"CREATE INDEX {self.reviews}_recorded ON {self.reviews} (recorded_on, seq)")

    # --- applying -----------------------------------------------------------------------

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if isinstance(domain_event, SupervisedTask.Event):
            self._apply_task(domain_event)
        elif isinstance(domain_event, SupervisedCase.Event):
            self._apply_case(domain_event, notification_id)
        self._apply_leaders(domain_event, notification_id)

    def _apply_leaders(self, e: Any, seq: int) -> None:
        """Who leads, supervises or had a case escalated to them (not the office)."""
        tx = self.tx
        assert tx is not None
        if isinstance(e, SupervisedCase.LeadershipDesignated):
            case_id = str(e.originator_id)
            tx.execute(f"DELETE FROM {self.case_leaders} WHERE case_id = ? "
                       "AND relation IN ('led', 'supervised')", (case_id,))
            self._leader(e.designee_id, case_id, "led" if e.mode == "lead" else "supervised",
                         seq)
        elif isinstance(e, SupervisedCase.Escalated):
            self._leader(e.escalated_to, str(e.originator_id), "escalated", seq)
        elif isinstance(e, SupervisedTask.Escalated):
            self._leader(e.escalated_to, e.case_id, "escalated", seq)

    def _leader(self, leader_id: str | None, case_id: str, relation: str, seq: int) -> None:
        if not leader_id or leader_id == "office":
            return
        assert self.tx is not None
        self.tx.execute(f"INSERT INTO {self.case_leaders} (leader_id, case_id, relation, seq) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (leader_id, case_id, relation) "
                        "DO UPDATE SET seq = excluded.seq", (leader_id, case_id, relation, seq))

    def _task_row(self, task_id: str) -> dict[str, Any] | None:
        assert self.tx is not None
        return self.tx.one(f"SELECT * FROM {self.tasks} WHERE task_id = ?", (task_id,))

    def _write(self, table: str, key: str, key_value: str, row: dict[str, Any],
               before: dict[str, Any]) -> None:
        assert self.tx is not None
        changed = {k: v for k, v in row.items() if before.get(k) != v}
        if changed:
            sets = ", ".join(f"{k} = ?" for k in changed)
            self.tx.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?",
                            (*changed.values(), key_value))

    def _new_period(self, task_id: str, from_day: str, deadline: str) -> None:
        """A deadline in force from ``from_day``: each earlier one is in force until the first
        later one starts (as ``SupervisedTask.deadline_on``)."""
        tx = self.tx
        assert tx is not None
        k = tx.scalar(f"SELECT MAX(k) AS k FROM {self.periods} WHERE task_id = ?", (task_id,))
        tx.execute(f"UPDATE {self.periods} SET until_day = ? WHERE task_id = ? "
                   "AND until_day > ?", (from_day, task_id, from_day))
        tx.execute(f"INSERT INTO {self.periods} (task_id, k, from_day, until_day, deadline, "
                   "answered_on) VALUES (?, ?, ?, ?, ?, NULL)",
                   (task_id, (k or 0) + 1, from_day, EVER, deadline))

    def _apply_task(self, e: Any) -> None:
        tx = self.tx
        assert tx is not None
        task_id = str(e.originator_id)
        if isinstance(e, SupervisedTask.Opened):
            deadline = e.deadline.isoformat()
            opened_on = e.opened_at.date()
            tx.execute(
                f"INSERT INTO {self.tasks} (task_id, case_id, case_kind, unit_id, role, status, "
                "active, category, urgency, number, title, opened_at, opened_on, year, deadline, "
                "paused, round, warnings, escalations, warned_yellow, warned_red, escalated) "
                "VALUES (?, ?, ?, ?, ?, 'open', 1, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1, '[]', '[]', "
                "0, 0, 0)",
                (task_id, e.case_id, e.case_kind, e.unit_id, e.role,
                 e.category, e.urgency, e.number, e.title, e.opened_at.isoformat(),
                 opened_on.isoformat(), opened_on.year, deadline))
            tx.execute(f"INSERT INTO {self.periods} (task_id, k, from_day, until_day, "
                       "deadline, answered_on) VALUES (?, 1, ?, ?, ?, NULL)",
                       (task_id, ALWAYS, EVER, deadline))
            if tx.dialect == "sqlite":
                tx.execute(f"INSERT INTO {self.fts} (task_id, number, title) VALUES (?, ?, ?)",
                           (task_id, e.number or "", e.title or ""))
            return
        before = self._task_row(task_id)
        if before is None:
            return
        row = dict(before)
        if isinstance(e, SupervisedTask.SignedFor):
            row.update(status="signed_for", active=1, signed_for_at=e.at.isoformat())
        elif isinstance(e, SupervisedTask.Replied):
            row.update(status="replied", active=0)
            tx.execute(f"UPDATE {self.periods} SET answered_on = ? WHERE task_id = ? AND k = ?",
                       (e.replied_on.isoformat(), task_id, e.round))
        elif isinstance(e, SupervisedTask.OpinionSubmitted):
            row.update(status="replied", active=0, opinion_on=e.on.isoformat())
        elif isinstance(e, SupervisedTask.Reopened):
            row.update(round=e.round, deadline=e.deadline.isoformat(), closed_on=None,
                       status="signed_for" if row["signed_for_at"] else "open", active=1)
            self._new_period(task_id, e.at.date().isoformat(), e.deadline.isoformat())
        elif isinstance(e, SupervisedTask.DeadlineChanged):
            row["paused"] = int(bool(e.paused))
            if e.deadline.isoformat() != row["deadline"]:
                row["deadline"] = e.deadline.isoformat()
                self._new_period(task_id, e.at.date().isoformat(), e.deadline.isoformat())
        elif isinstance(e, SupervisedTask.WarningRaised):
            row["warnings"] = _row_json([*json.loads(row["warnings"]),
                                         f"{e.level}@{e.deadline.isoformat()}"])
        elif isinstance(e, SupervisedTask.Escalated):
            row.update(escalations=_row_json([*json.loads(row["escalations"]),
                                              e.deadline.isoformat()]),
                       escalated_to=e.escalated_to)
        elif isinstance(e, SupervisedTask.Withdrawn):
            row.update(status="withdrawn", active=0, withdrawn_reason=e.reason,
                       replaced_by=e.replaced_by)
        elif isinstance(e, SupervisedTask.Closed):
            row.update(status="closed", active=0, closed_on=e.closed_on.isoformat())
        else:
            return  # contacts, progress, leadership: not in the lists
        warnings = json.loads(row["warnings"])
        row.update(warned_yellow=int(f"yellow@{row['deadline']}" in warnings),
                   warned_red=int(f"red@{row['deadline']}" in warnings),
                   escalated=int(row["deadline"] in json.loads(row["escalations"])))
        self._write(self.tasks, "task_id", task_id, row, before)

    def _apply_case(self, e: Any, notification_id: int) -> None:
        tx = self.tx
        assert tx is not None
        case_id = str(e.originator_id)
        if isinstance(e, SupervisedCase.Opened):
            tx.execute(f"INSERT INTO {self.cases} (case_id, case_kind, co_signer_ids, merged, "
                       "round, done_raters) VALUES (?, ?, '[]', '{}', 1, '[]')",
                       (case_id, e.case_kind))
            return
        before = tx.one(f"SELECT * FROM {self.cases} WHERE case_id = ?", (case_id,))
        if before is None:
            return
        row = dict(before)
        done = json.loads(row["done_raters"])
        if isinstance(e, SupervisedCase.DeputiesKnown):
            row.update(lead_deputy_id=e.lead_deputy_id,
                       co_signer_ids=_row_json(list(e.co_signer_ids)))
            self._deputies(case_id, "", [e.lead_deputy_id, *e.co_signer_ids])
        elif isinstance(e, SupervisedCase.MergedSourceAdded):
            merged = json.loads(row["merged"])
            merged[e.source_id] = list(e.deputy_ids)
            row["merged"] = _row_json(merged)
            self._deputies(case_id, e.source_id, list(e.deputy_ids))
        elif isinstance(e, SupervisedCase.MergedSourceRemoved):
            merged = json.loads(row["merged"])
            merged.pop(e.source_id, None)
            row["merged"] = _row_json(merged)
            self._deputies(case_id, e.source_id, [])
        elif isinstance(e, SupervisedCase.ReplyRecorded):
            replied_on = e.replied_on.isoformat()
            tx.execute(f"INSERT INTO {self.replies} (case_id, seq, replied_on, result_class) "
                       "VALUES (?, ?, ?, ?)", (case_id, notification_id, replied_on,
                                               e.result_class))
            if row["first_reply_on"] is None:
                category = tx.scalar(f"SELECT category FROM {self.tasks} WHERE task_id = ?",
                                     (e.task_id,))
                row.update(first_reply_on=replied_on, first_on_time=int(bool(e.on_time)),
                           first_unit=e.unit_id, first_task_id=e.task_id,
                           category=category or "unknown")
            if e.round == row["round"]:
                row["current_reply_on"] = replied_on
        elif isinstance(e, SupervisedCase.Rated):
            tx.execute(f"INSERT INTO {self.ratings} (case_id, seq, deputy_id, rated_on, "
                       "rating, attitude) VALUES (?, ?, ?, ?, ?, ?)",
                       (case_id, notification_id, e.deputy_id, e.rated_on.isoformat(),
                        e.rating, e.attitude))
            if e.round == row["round"] and e.deputy_id not in done:
                done.append(e.deputy_id)
        elif isinstance(e, SupervisedCase.RatingLapsed):
            if e.round == row["round"]:
                done += [d for d in e.deputy_ids if d not in done]
        elif isinstance(e, SupervisedCase.RehandlingStarted):
            started = e.started_on.isoformat()
            row.update(round=e.round, current_reply_on=None, closed_on=None)
            done = []
            if row["rehandled_on"] is None or started < row["rehandled_on"]:
                row["rehandled_on"] = started
        elif isinstance(e, SupervisedCase.Closed):
            row.update(closed_on=e.closed_on.isoformat(), final=_row_json({
                "result_class": e.result_class, "ratings": e.ratings,
                "all_satisfied": e.all_satisfied, "replied_on_time": e.replied_on_time}))
        elif isinstance(e, SupervisedCase.ReviewScheduled):
            tx.execute(f"INSERT INTO {self.reviews} (case_id, review_id, due_on, reason, "
                       "round) VALUES (?, ?, ?, ?, ?)",
                       (case_id, e.review_id, e.due_on.isoformat(), e.reason, e.round))
            return
        elif isinstance(e, SupervisedCase.ReviewRecorded):
            day = e.recorded_on or e.timestamp.astimezone(CHINA_TZ).date()  # v2: its timestamp
            recorded_on = day.isoformat()
            tx.execute(f"UPDATE {self.reviews} SET outcome = ?, note = ?, reopened = ?, "
                       "recorded_on = ?, seq = ? WHERE case_id = ? AND review_id = ?",
                       (e.outcome, e.note, int(bool(e.reopened)), recorded_on,
                        notification_id, case_id, e.review_id))
            return
        else:
            return  # task links, leadership, escalations: not in these tables
        row["done_raters"] = _row_json(done)
        unrated = [d for d in _raters(row) if d not in done]
        row["awaiting_since"] = (row["current_reply_on"] if row["closed_on"] is None
                                 and row["current_reply_on"] is not None and unrated else None)
        self._write(self.cases, "case_id", case_id, row, before)

    def _deputies(self, case_id: str, source: str, deputy_ids: list[Any]) -> None:
        """The deputies a case has from ``source`` (its own: '', or a merged suggestion)."""
        tx = self.tx
        assert tx is not None
        tx.execute(f"DELETE FROM {self.case_deputies} WHERE case_id = ? AND source = ?",
                   (case_id, source))
        tx.executemany(f"INSERT INTO {self.case_deputies} (case_id, source, deputy_id) "
                       "VALUES (?, ?, ?)",
                       [(case_id, source, d) for d in dict.fromkeys(deputy_ids) if d])

    # --- a task's colour on a day --------------------------------------------------------

    def _on_day(self, day: date, where: str, params: list[Any],
                columns: str = "t.*") -> tuple[str, list[Any]]:
        """The tasks matching ``where`` (over ``t``, the tasks table) with the deadline in
        force on ``day`` (``day_deadline``) and their colour that day (``colour``)."""
        app = self.app
        d = day.isoformat()
        yellow_before = {kind: app.days.add(day, app.warning_days_of(kind) + 1).isoformat()
                         for kind in ("message", "suggestion")}
        sql = f"""SELECT x.*, CASE
            WHEN x.status = 'withdrawn' THEN 'withdrawn'
            WHEN x.closed_on IS NOT NULL AND x.closed_on <= ? THEN 'closed'
            WHEN x.answered IS NOT NULL AND x.answered <= ?
                THEN (CASE WHEN x.answered > x.day_deadline THEN 'red' ELSE 'green' END)
            WHEN ? > x.day_deadline THEN 'red'
            WHEN x.paused = 1 THEN 'green'
            WHEN x.day_deadline < (CASE WHEN x.case_kind = 'message' THEN ? ELSE ? END)
                THEN 'yellow'
            ELSE 'green' END AS colour
          FROM (SELECT {columns}, p.deadline AS day_deadline,
                       CASE WHEN t.role = 'lead' THEN p.answered_on ELSE t.opinion_on END
                           AS answered
                FROM {self.tasks} t JOIN {self.periods} p ON p.task_id = t.task_id
                     AND p.from_day <= ? AND p.until_day > ?
                WHERE {where}) x"""
        return sql, [d, d, d, yellow_before["message"], yellow_before["suggestion"], d, d,
                     *params]

    # --- task lists -----------------------------------------------------------------------

    def list_tasks(self, q: ListTasks, year: int | None,
                   scope: Scope = EVERYTHING) -> dict[str, Any]:
        """A page of the tasks ``scope`` may see (the list's row view; ``colour`` as today)."""
        self.require_ready()
        width = 2 if q.order == "deadline" else 1
        after = checked_after(q, width)
        where, params = self._task_filters(q, year, scope)
        sort = "x.deadline, x.task_id" if q.order == "deadline" else "x.task_id"
        key = "(x.deadline, x.task_id) > (?, ?)" if q.order == "deadline" else "x.task_id > ?"
        today = self.app.today()
        sql, all_params = self._on_day(today, " AND ".join(where) or "1 = 1", params)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT * FROM ({sql}) x WHERE {key if after else '1 = 1'} "
                          f"ORDER BY {sort} LIMIT ?",
                          (*all_params, *(after or ()), q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM {self.tasks} t WHERE "
                              + (" AND ".join(where) or "1 = 1"), params)
        key_of = ((lambda r: (r["deadline"], r["task_id"])) if q.order == "deadline"
                  else (lambda r: (r["task_id"],)))
        return page(rows, q.limit, key=key_of, total=total,
                    view=lambda r: self.row_view(r, today))

    def _task_filters(self, q: ListTasks, year: int | None,
                      scope: Scope = EVERYTHING) -> tuple[list[str], list[Any]]:
        where, params = self.task_scope(scope)
        for column in ("unit_id", "case_id", "status"):
            value = getattr(q, column)
            if value is not None:
                where.append(f"t.{column} = ?")
                params.append(value)
        if year is not None:
            where.append("t.year = ?")
            params.append(year)
        if q.q:
            text = q.q
            if self.store.dialect == "sqlite" and len(text) >= 3:
                where.append(f"t.task_id IN (SELECT task_id FROM {self.fts} "
                             f"WHERE {self.fts} MATCH ?)")
                params.append(fts_match_sqlite(text))
            else:
                op = "ILIKE" if self.store.dialect == "postgres" else "LIKE"
                where.append(f"(t.number {op} ? ESCAPE '\\' OR t.title {op} ? ESCAPE '\\')")
                params += [like_pattern(text), like_pattern(text)]
        return where, params

    def task_ids(self, q: ListTasks, year: int | None, scope: Scope = EVERYTHING) -> list[str]:
        """At most ``MAX_LIMIT + 1`` ids of the tasks matching that ``scope`` may see, in the
        list's order (the callers written before lists paged)."""
        self.require_ready()
        where, params = self._task_filters(q, year, scope)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT task_id FROM {self.tasks} t WHERE "
                          f"{' AND '.join(where) or '1 = 1'} ORDER BY t.deadline, t.task_id "
                          "LIMIT ?", (*params, MAX_LIMIT + 1))
        return [r["task_id"] for r in rows]

    def row_view(self, r: dict[str, Any], today: date) -> dict[str, Any]:
        deadline = date.fromisoformat(r["deadline"])
        return {
            "task_id": r["task_id"],
            "case_id": r["case_id"],
            "case_kind": r["case_kind"],
            "unit_id": r["unit_id"],
            "role": r["role"],
            "deadline": r["deadline"],
            "working_days_left": self.app.days.between(today, deadline) if r["active"]
            else None,
            "opened_at": r["opened_at"],
            "title": r["title"],
            "category": r["category"],
            "urgency": r["urgency"],
            "number": r["number"],
            "status": r["status"],
            "colour": r["colour"],
            "round": r["round"],
            "signed_for_at": r["signed_for_at"],
            "warnings": json.loads(r["warnings"]),
            "escalated": r["escalations"] != "[]",
            "escalated_to": r["escalated_to"],
            "paused": bool(r["paused"]),
            "withdrawn_reason": r["withdrawn_reason"],
            "replaced_by_task_id": r["replaced_by"],
        }

    def leader_cases(self, q: LeaderCases, leader_id: str) -> dict[str, Any]:
        """A page of ``leader_id``'s cases, most recently designated or escalated first."""
        self.require_ready()
        after = checked_after(q, 2)
        where, params = ["l.leader_id = ?"], [leader_id]
        if q.relation is not None:
            where.append("l.relation = ?")
            params.append(q.relation)
        if q.open_only:
            where.append(f"l.case_id NOT IN (SELECT case_id FROM {self.cases} "
                         "WHERE closed_on IS NOT NULL)")
        grouped = (f"SELECT l.case_id, MAX(l.seq) AS seq FROM {self.case_leaders} l "
                   f"WHERE {' AND '.join(where)} GROUP BY l.case_id")
        later = "(x.seq < ? OR (x.seq = ? AND x.case_id > ?))" if after else "1 = 1"
        today = self.app.today()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT * FROM ({grouped}) x WHERE {later} "
                          "ORDER BY x.seq DESC, x.case_id LIMIT ?",
                          (*params, *((after[0], after[0], after[1]) if after else ()),
                           q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM ({grouped}) x", params)
            ids = [r["case_id"] for r in rows[:q.limit]]
            marks = ", ".join("?" for _ in ids) or "NULL"
            relations = tx.all(f"SELECT case_id, relation FROM {self.case_leaders} "
                               f"WHERE leader_id = ? AND case_id IN ({marks}) "
                               "ORDER BY relation", (leader_id, *ids))
            sql, task_params = self._on_day(today, f"t.case_id IN ({marks})", list(ids))
            tasks = tx.all(f"{sql} ORDER BY x.deadline, x.task_id", task_params)
            closed = {r["case_id"]: r["closed_on"] for r in tx.all(
                f"SELECT case_id, closed_on FROM {self.cases} WHERE case_id IN ({marks})",
                list(ids))}
        by_case: dict[str, dict[str, Any]] = {
            i: {"case_id": i, "relations": [], "tasks": [], "closed_on": closed.get(i)}
            for i in ids}
        for r in relations:
            by_case[r["case_id"]]["relations"].append(r["relation"])
        for t in tasks:
            case = by_case[t["case_id"]]
            case.setdefault("number", t["number"])
            case.setdefault("title", t["title"])
            case["tasks"].append(self.row_view(t, today))
        for case in by_case.values():
            colours = [t["colour"] for t in case["tasks"] if t["colour"] != "withdrawn"]
            case.setdefault("number", None)
            case.setdefault("title", None)
            case["colour"] = next((c for c in ("red", "yellow", "green") if c in colours),
                                  "closed" if colours else None)
        return page(rows, q.limit, key=lambda r: (r["seq"], r["case_id"]), total=total,
                    view=lambda r: by_case[r["case_id"]])

    def recorded_reviews(self, q: ListReviews, start: date, end: date,
                         scope: Scope = EVERYTHING) -> dict[str, Any]:
        """A page of the follow-up reviews (回头看) ``scope`` may see whose outcome was
        recorded in [start, end], the most recently recorded first; each with its case's
        number, title and category (from the case's lead task)."""
        self.require_ready()
        after = checked_after(q, 1)
        scoped, scope_params = self.case_scope(scope, alias="v")
        where = ["v.recorded_on IS NOT NULL", "v.recorded_on >= ?", "v.recorded_on <= ?",
                 *scoped]
        params: list[Any] = [start.isoformat(), end.isoformat(), *scope_params]
        if q.outcome is not None:
            where.append("v.outcome = ?")
            params.append(q.outcome)
        condition = " AND ".join(where)
        lead = (f"(SELECT t.{{0}} FROM {self.tasks} t WHERE t.case_id = v.case_id "
                "ORDER BY CASE WHEN t.role = 'lead' THEN 0 ELSE 1 END, t.opened_at LIMIT 1)")
        with self.store.read() as tx:
            rows = tx.all(
                f"SELECT v.*, {lead.format('number')} AS number, "
                f"{lead.format('title')} AS title, {lead.format('category')} AS category, "
                f"{lead.format('unit_id')} AS unit_id FROM {self.reviews} v "
                f"WHERE {condition}{' AND v.seq < ?' if after else ''} "
                "ORDER BY v.seq DESC LIMIT ?", (*params, *(after or ()), q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM {self.reviews} v WHERE {condition}",
                              params)
        return page(rows, q.limit, key=lambda r: (r["seq"],), total=total, view=lambda r: {
            "case_id": r["case_id"], "review_id": r["review_id"], "number": r["number"],
            "title": r["title"], "category": r["category"], "unit_id": r["unit_id"],
            "reason": r["reason"], "round": r["round"], "due_on": r["due_on"],
            "outcome": r["outcome"], "note": r["note"], "reopened": bool(r["reopened"]),
            "recorded_on": r["recorded_on"]})

    def case_ids(self, q: CaseIds, year: int | None,
                 scope: Scope = EVERYTHING) -> dict[str, Any]:
        """A page of case ids with non-withdrawn tasks matching (of those ``scope`` may
        see), by case id."""
        self.require_ready()
        after = checked_after(q, 1)
        where, params = self.task_scope(scope)
        where.append("t.status <> 'withdrawn'")
        if q.unit_id is not None:
            where.append("t.unit_id = ?")
            params.append(q.unit_id)
        if year is not None:
            where.append("t.year = ?")
            params.append(year)
        sql, all_params = self._on_day(self.app.today(), " AND ".join(where), params,
                                       columns="t.task_id, t.case_id, t.status, t.closed_on, "
                                               "t.paused, t.case_kind, t.role, t.opinion_on")
        having = ""
        if q.overdue is True:
            having = "HAVING MAX(CASE WHEN colour = 'red' THEN 1 ELSE 0 END) = 1"
        elif q.overdue is False:
            having = "HAVING MAX(CASE WHEN colour = 'red' THEN 1 ELSE 0 END) = 0"
        # the total counted in the same pass (a window over every matching case)
        grouped = (f"SELECT case_id, COUNT(*) OVER () AS total FROM ({sql}) c "
                   f"GROUP BY case_id {having}")
        with self.store.read() as tx:
            rows = tx.all(f"SELECT case_id, total FROM ({grouped}) g "
                          f"{'WHERE case_id > ?' if after else ''} ORDER BY case_id LIMIT ?",
                          (*all_params, *(after or ()), q.limit + 1))
            if rows:
                total = int(rows[0]["total"])
            else:  # past the last case: counted on its own
                total = int(tx.scalar(f"SELECT COUNT(*) AS n FROM ({grouped}) g", all_params))
        return page(rows, q.limit, key=lambda r: (r["case_id"],), total=total,
                    view=lambda r: {"case_id": r["case_id"]})

    def closed_cases(self, q: ClosedCases) -> dict[str, Any]:
        self.require_ready()
        after = checked_after(q, 1)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT case_id, case_kind, final FROM {self.cases} "
                          f"WHERE closed_on IS NOT NULL {'AND case_id > ?' if after else ''} "
                          "ORDER BY case_id LIMIT ?", (*(after or ()), q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM {self.cases} "
                              "WHERE closed_on IS NOT NULL")
        return page(rows, q.limit, key=lambda r: (r["case_id"],), total=total,
                    view=lambda r: {"case_id": r["case_id"], "case_kind": r["case_kind"],
                                    **json.loads(r["final"])})

    # --- the deadline clock's candidates ---------------------------------------------------

    def tasks_to_sweep(self, today: date, after: tuple[str, str] | None,
                       limit: int = 500) -> list[dict[str, Any]]:
        """Active tasks, clock running, that need a warning or an escalation today: overdue
        without the red warning of their deadline or due for escalation without it, or
        within the warning's working days without the yellow warning."""
        self.require_ready()
        app = self.app
        escalate_until = app.escalation_due_until(today)
        yellow_before = {kind: app.days.add(today, app.warning_days_of(kind) + 1).isoformat()
                         for kind in ("message", "suggestion")}
        d = today.isoformat()
        with self.store.read() as tx:
            return tx.all(
                f"SELECT task_id, deadline FROM {self.tasks} WHERE active = 1 AND paused = 0 "
                "AND ((deadline < ? AND (warned_red = 0 OR (escalated = 0 AND deadline <= ?))) "
                "OR (deadline >= ? AND warned_yellow = 0 AND deadline < "
                "(CASE WHEN case_kind = 'message' THEN ? ELSE ? END))) "
                + ("AND (deadline, task_id) > (?, ?) " if after else "")
                + "ORDER BY deadline, task_id LIMIT ?",
                (d, escalate_until.isoformat(), d, yellow_before["message"],
                 yellow_before["suggestion"], *(after or ()), limit))

    def case_ids_awaiting_ratings(self, replied_before: date | None = None,
                                  after: str | None = None, limit: int = 500) -> list[str]:
        """Open cases with a reply in their current round that some rater has neither rated
        nor let lapse (whose reply was before ``replied_before``), by case id."""
        self.require_ready()
        where, params = ["awaiting_since IS NOT NULL"], []
        if replied_before is not None:
            where.append("awaiting_since < ?")
            params.append(replied_before.isoformat())
        if after is not None:
            where.append("case_id > ?")
            params.append(after)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT case_id FROM {self.cases} WHERE {' AND '.join(where)} "
                          "ORDER BY case_id LIMIT ?", (*params, limit))
        return [r["case_id"] for r in rows]

    # --- the board ------------------------------------------------------------------------

    def board(self, day: date, year: int | None = None, unit_id: str | None = None,
              category: str | None = None, colour: str | None = None,
              limit: int = DEFAULT_NESTED, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """Counts of tasks by unit, category and colour as on ``day`` (every task ``scope``
        may see counted), with the first ``limit`` cases of each cell and of the overdue
        list by deadline. Withdrawn tasks and tasks opened after ``day`` are not on the
        board; ``year``: the tasks opened that year (None: every year)."""
        self.require_ready()
        where, params = self.task_scope(scope)
        where += ["t.status <> 'withdrawn'", "t.opened_on <= ?"]
        params.append(day.isoformat())
        for column, value in (("year", year), ("unit_id", unit_id), ("category", category)):
            if value is not None:
                where.append(f"t.{column} = ?")
                params.append(value)
        sql, all_params = self._on_day(
            day, " AND ".join(where), params,
            columns="t.task_id, t.case_id, t.unit_id, t.category, t.number, t.title, t.role, "
                    "t.urgency, t.status, t.closed_on, t.paused, t.case_kind, t.opinion_on")
        only = ""
        if colour:
            only, all_params = "WHERE colour = ?", [*all_params, colour]
        # One pass over the selected tasks (a year's, at most): counted and listed here.
        with self.store.read() as tx:
            rows = tx.all(f"SELECT task_id, case_id, unit_id, category, number, title, role, "
                          f"urgency, day_deadline, colour FROM ({sql}) b {only}", all_params)
        totals = {c: 0 for c in COLOURS}
        by_unit: dict[str, dict[str, int]] = {}
        by_category: dict[str, dict[str, int]] = {}
        members: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in rows:
            c = r["colour"]
            totals[c] += 1
            by_unit.setdefault(r["unit_id"], {k: 0 for k in COLOURS})[c] += 1
            by_category.setdefault(r["category"], {k: 0 for k in COLOURS})[c] += 1
            members.setdefault((r["unit_id"], r["category"], c), []).append(r)

        def first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return heapq.nsmallest(limit, items, key=lambda r: (r["day_deadline"], r["task_id"]))

        cells = [{"unit_id": unit, "category": cat, "colour": c, "count": len(items),
                  "cases": [_board_item(r) for r in first(items)]}
                 for (unit, cat, c), items in sorted(members.items())]
        overdue = first([r for r in rows if r["colour"] == "red"])
        return {
            "as_of": day.isoformat(),
            "year": year if year is not None else "all",
            "cases_limit": limit,
            "overdue": [dict(_board_item(r), unit_id=r["unit_id"], category=r["category"])
                        for r in overdue],
            "overdue_count": totals["red"],
            "totals": totals,
            "by_unit": dict(sorted(by_unit.items())),
            "by_category": dict(sorted(by_category.items())),
            "cells": cells,
        }

    # --- statistics -----------------------------------------------------------------------

    def stats(self, start: date, end: date, scope: Scope = EVERYTHING) -> dict[str, Any]:
        """The statistics of the cases ``scope`` may see whose first reply falls in [start,
        end], from what was recorded by ``end`` (SQL aggregates per lead unit and
        category)."""
        self.require_ready()
        s, e = start.isoformat(), end.isoformat()
        scoped, scope_params = self.case_scope(scope)
        only = "".join(f" AND {w}" for w in scoped)
        with self.store.read() as tx:
            facts = tx.all(
                "SELECT c.first_unit AS unit, c.category AS category, COUNT(*) AS cases, "
                "SUM(c.first_on_time) AS on_time, "
                "SUM(CASE WHEN c.rehandled_on IS NOT NULL AND c.rehandled_on <= ? "
                "THEN 1 ELSE 0 END) AS rehandled, "
                f"SUM(CASE WHEN (SELECT r.result_class FROM {self.replies} r "
                "WHERE r.case_id = c.case_id AND r.replied_on <= ? "
                "ORDER BY r.seq DESC LIMIT 1) = 'A' THEN 1 ELSE 0 END) AS resolved "
                f"FROM {self.cases} c WHERE c.first_reply_on >= ? AND c.first_reply_on <= ?"
                f"{only} GROUP BY c.first_unit, c.category", (e, e, s, e, *scope_params))
            ratings = tx.all(
                "SELECT c.first_unit AS unit, c.category AS category, COUNT(*) AS ratings, "
                "SUM(CASE WHEN g.rating IN ('satisfied', 'basically_satisfied') "
                "THEN 1 ELSE 0 END) AS satisfied, "
                "SUM(CASE WHEN g.attitude IS NOT NULL THEN 1 ELSE 0 END) AS attitude_ratings, "
                "SUM(CASE WHEN g.attitude IN ('satisfied', 'basically_satisfied') "
                "THEN 1 ELSE 0 END) AS attitude_satisfied "
                f"FROM {self.cases} c JOIN {self.ratings} g ON g.case_id = c.case_id "
                "WHERE c.first_reply_on >= ? AND c.first_reply_on <= ? AND g.rated_on <= ? "
                f"AND NOT EXISTS (SELECT 1 FROM {self.ratings} l WHERE l.case_id = g.case_id "
                "AND l.deputy_id = g.deputy_id AND l.seq > g.seq AND l.rated_on <= ?)"
                f"{only} GROUP BY c.first_unit, c.category", (s, e, e, e, *scope_params))
        overall = _Tally()
        per_unit: dict[str, _Tally] = {}
        per_category: dict[str, _Tally] = {}
        for group in (facts, ratings):
            for r in group:
                for tally in (overall, per_unit.setdefault(r["unit"], _Tally()),
                              per_category.setdefault(r["category"], _Tally())):
                    tally.add(r)
        return {
            "from": s,
            "to": e,
            "definitions": DEFINITIONS,
            **overall.result(),
            "per_unit": {k: v.result() for k, v in sorted(per_unit.items())},
            "per_category": {k: v.result() for k, v in sorted(per_category.items())},
        }


def _raters(row: dict[str, Any]) -> list[str]:
    """As ``SupervisedCase.raters``."""
    if row["case_kind"] == "message":
        return [CITIZEN]
    merged = json.loads(row["merged"])
    found: list[str] = []
    for d in [row["lead_deputy_id"], *json.loads(row["co_signer_ids"]),
              *(d for ds in merged.values() for d in ds)]:
        if d and d not in found:
            found.append(d)
    return found


def _board_item(r: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": r["case_id"], "task_id": r["task_id"], "number": r["number"],
            "title": r["title"], "role": r["role"], "urgency": r["urgency"],
            "deadline": r["day_deadline"]}


class _Tally:
    FIELDS = ("cases", "on_time", "resolved", "rehandled", "ratings", "satisfied",
              "attitude_ratings", "attitude_satisfied")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.FIELDS, 0)

    def add(self, row: dict[str, Any]) -> None:
        for field in self.FIELDS:
            if field in row and row[field] is not None:
                self.counts[field] += int(row[field])

    def result(self) -> dict[str, Any]:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 4) if d else None

        c = self.counts
        return {
            "cases": c["cases"],
            "ratings": c["ratings"],
            "on_time_reply_rate": rate(c["on_time"], c["cases"]),
            "resolution_rate": rate(c["resolved"], c["cases"]),
            "satisfaction_rate": rate(c["satisfied"], c["ratings"]),
            "rehandling_rate": rate(c["rehandled"], c["cases"]),
            "attitude_ratings": c["attitude_ratings"],
            "attitude_satisfaction_rate": rate(c["attitude_satisfied"], c["attitude_ratings"]),
        }


def last_day_before(today: date, more_than: int, between: Any) -> date:
    """The latest day ``d`` before ``today`` with more than ``more_than`` working days in
    ``(d, today]`` (``between(a, b)`` counts them)."""
    d = today - timedelta(days=1)
    for _ in range(3660):
        if between(d, today) > more_than:
            return d
        d -= timedelta(days=1)
    return d

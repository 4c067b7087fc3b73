"""Supervision's read models: every task and case as a projection of the service's own log,
the progress board (进度看板) and the statistics of a period.

Definitions (also returned with the statistics, so readers need not guess):
- the cases of a period are the cases whose FIRST reply falls in the period;
- on-time reply rate: share of those whose first reply was on or before the deadline;
- resolution rate: share whose latest reply is class A;
- satisfaction rate: each rater's latest rating of those cases, share satisfied or basically
  satisfied (lapsed ratings are not counted);
- re-handling rate: share that went through at least one re-handling round.
Per unit means per lead unit; per category, the case's category.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from shared.projection import LogProjection

from services.supervision.domain import SupervisedCase, SupervisedTask

COLOURS = ("green", "yellow", "red", "closed")

DEFINITIONS = {
    "cases": "cases whose first reply falls in the period",
    "on_time_reply_rate": "share of those whose first reply was on or before the deadline",
    "resolution_rate": "share whose latest reply is class A (solved or adopted)",
    "satisfaction_rate": "each rater's latest rating: share satisfied or basically satisfied",
    "rehandling_rate": "share with at least one re-handling round",
}


class SupervisionIndex(LogProjection):
    """Every task and case, rebuilt by replaying the log."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.app = app
        self.tasks: dict[str, SupervisedTask] = {}
        self.cases: dict[str, SupervisedCase] = {}

    def clear(self) -> None:
        self.tasks.clear()
        self.cases.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        key = str(domain_event.originator_id)
        if isinstance(domain_event, SupervisedTask.Event):
            target = self.tasks
        elif isinstance(domain_event, SupervisedCase.Event):
            target = self.cases
        else:
            return
        if key in target:
            domain_event.mutate(target[key])
        else:
            target[key] = domain_event.mutate(None)

    # --- task lists -----------------------------------------------------------------------

    def active_task_ids(self) -> list[str]:
        return [k for k, t in self.tasks.items() if t.is_active]

    def case_ids_awaiting_ratings(self) -> list[str]:
        return [k for k, c in self.cases.items() if not c.is_closed and c.current_reply()
                and c.unrated()]

    def list_tasks(self, unit_id: str | None = None, case_id: str | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
        views = [self.app.task_view(t) for t in self.tasks.values()
                 if (unit_id is None or t.unit_id == unit_id)
                 and (case_id is None or t.case_id == case_id)
                 and (status is None or t.status == status)]
        return sorted(views, key=lambda v: (v["deadline"], v["task_id"]))

    # --- the board ------------------------------------------------------------------------

    def board(self, day: date, unit_id: str | None = None, category: str | None = None,
              colour: str | None = None) -> dict[str, Any]:
        """Counts of tasks by unit, category and colour as on ``day``, with the cases behind
        each count; the overdue list first. Withdrawn tasks and tasks opened after ``day``
        are not on the board."""
        cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for task in self.tasks.values():
            if task.opened_at.date() > day:
                continue
            if (unit_id and task.unit_id != unit_id) or (category and task.category != category):
                continue
            c = self.app.task_colour(task, day)
            if c == "withdrawn" or (colour and c != colour):
                continue
            cells[(task.unit_id, task.category, c)].append({
                "case_id": task.case_id, "task_id": str(task.id), "number": task.number,
                "title": task.title, "role": task.role, "urgency": task.urgency,
                "deadline": task.deadline_on(day).isoformat(),
            })
        totals = {c: 0 for c in COLOURS}
        by_unit: dict[str, dict[str, int]] = defaultdict(lambda: {c: 0 for c in COLOURS})
        by_category: dict[str, dict[str, int]] = defaultdict(lambda: {c: 0 for c in COLOURS})
        for (unit, cat, c), items in cells.items():
            totals[c] += len(items)
            by_unit[unit][c] += len(items)
            by_category[cat][c] += len(items)
        overdue = sorted((dict(item, unit_id=unit, category=cat)
                          for (unit, cat, c), items in cells.items() if c == "red"
                          for item in items), key=lambda i: (i["deadline"], i["task_id"]))
        return {
            "as_of": day.isoformat(),
            "overdue": overdue,
            "totals": totals,
            "by_unit": dict(sorted(by_unit.items())),
            "by_category": dict(sorted(by_category.items())),
            "cells": [
                {"unit_id": unit, "category": cat, "colour": c, "count": len(items),
                 "cases": sorted(items, key=lambda i: (i["deadline"], i["task_id"]))}
                for (unit, cat, c), items in sorted(cells.items())
            ],
        }

    # --- statistics -----------------------------------------------------------------------

    def stats(self, start: date, end: date) -> dict[str, Any]:
        overall = _Tally()
        per_unit: dict[str, _Tally] = defaultdict(_Tally)
        per_category: dict[str, _Tally] = defaultdict(_Tally)
        for case in self.cases.values():
            first = case.first_reply()
            if first is None or not (start <= first["replied_on"] <= end):
                continue
            lead = self.tasks.get(first["task_id"])
            category = lead.category if lead else "unknown"
            latest_ratings: dict[str, str] = {}
            for r in case.ratings:
                if r["rated_on"] <= end:
                    latest_ratings[r["deputy_id"]] = r["rating"]
            replies = [r for r in case.replies if r["replied_on"] <= end]
            fact = {
                "on_time": first["on_time"],
                "resolved": replies[-1]["result_class"] == "A",
                "ratings": list(latest_ratings.values()),
                "rehandled": any(r["started_on"] <= end for r in case.rehandling),
            }
            for tally in (overall, per_unit[first["unit_id"]], per_category[category]):
                tally.add(fact)
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "definitions": DEFINITIONS,
            **overall.result(),
            "per_unit": {k: v.result() for k, v in sorted(per_unit.items())},
            "per_category": {k: v.result() for k, v in sorted(per_category.items())},
        }


class _Tally:
    def __init__(self) -> None:
        self.cases = self.on_time = self.resolved = self.rehandled = 0
        self.ratings = self.satisfied = 0

    def add(self, fact: dict[str, Any]) -> None:
        self.cases += 1
        self.on_time += fact["on_time"]
        self.resolved += fact["resolved"]
        self.rehandled += fact["rehandled"]
        self.ratings += len(fact["ratings"])
        self.satisfied += sum(r in ("satisfied", "basically_satisfied") for r in fact["ratings"])

    def result(self) -> dict[str, Any]:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 4) if d else None

        return {
            "cases": self.cases,
            "ratings": self.ratings,
            "on_time_reply_rate": rate(self.on_time, self.cases),
            "resolution_rate": rate(self.resolved, self.cases),
            "satisfaction_rate": rate(self.satisfied, self.ratings),
            "rehandling_rate": rate(self.rehandled, self.cases),
        }

"""What an actor is shown of assignment: the task list (a unit: its own), the workload (open
tasks per unit, the nearest deadlines, working days left; ``AssignmentApplication.workload``
checks who asks, then answers with :func:`workload`) and what a case's history holds."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from shared.eventstore import Actor

from shared.paging import checked_after, encode_cursor, page_of_list, year_filter

from services.assignment.domain import Assignment

if TYPE_CHECKING:
    from services.assignment.application import AssignmentApplication
    from services.assignment.read_models import TaskIndex


def list_tasks(app: AssignmentApplication, index: TaskIndex, q: Any,
               actor: Actor) -> dict[str, Any]:
    """A page of tasks (a unit: its own), by deadline then task id."""
    if actor.role == "unit":
        q = q.model_copy(update={"unit_id": actor.unit_id})
    return index.list_tasks(q, app.today().year)


def case_audit_scope(app: AssignmentApplication, case_id: str) -> tuple[list[Any], None]:
    """A case here is its assignment and every task it had (withdrawn ones too)."""
    try:
        assignment = app.repository.get(Assignment.create_id(case_id))
    except Exception:  # not assigned (yet), or not an id
        return [], None
    tasks = [UUID(t) for t in [*assignment.task_ids, *assignment.withdrawn_task_ids]]
    return [assignment.id, *tasks], None


def workload(app: AssignmentApplication, q: Any, index: TaskIndex) -> dict[str, Any]:
    """A page of units with their workloads, or one unit with a page of its open tasks
    (``q``: a Workload request whose unit the asker may see)."""
    today = app.today()
    year = year_filter(q.year, today.year)
    answer: dict[str, Any] = {"as_of": today.isoformat(),
                              "year": "all" if year is None else year}
    if q.unit_id is None:
        units = page_of_list(sorted(app.units), q, key=lambda u: (u,))
        answer["units"] = {**units, "items": unit_workloads(
            app, units["items"], q.nearest, year, today, index)}
        return answer
    after = checked_after(q, 2)
    [unit] = unit_workloads(app, [q.unit_id], q.nearest, year, today, index)
    rows = index.open_tasks(q.unit_id, year, q.limit + 1, after, q.q)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    answer["units"] = [unit]
    answer["tasks"] = {
        "items": [with_days_left(app, index.view(r), today) for r in rows],
        "next_cursor": encode_cursor(index._key(rows[-1])) if more and rows else None,
        "total": index.count_open(q.unit_id, year, q.q) if q.q else unit["open_tasks"]}
    return answer


def unit_workloads(app: AssignmentApplication, unit_ids: list[str], nearest: int,
                   year: int | None, today: date, index: TaskIndex) -> list[dict[str, Any]]:
    """Per unit: open tasks (assigned, not withdrawn, not yet replied or closed), by role,
    return requests waiting, overdue, and the ``nearest`` deadlines first."""
    counts = index.unit_counts(unit_ids, year, today)
    out = []
    for unit_id in unit_ids:
        c = counts[unit_id]
        rows = index.open_tasks(unit_id, year, nearest) if nearest else []
        out.append({
            "unit_id": unit_id,
            "unit_name": app.units.get(unit_id, {}).get("name"),
            "open_tasks": c["open_tasks"],
            "lead_tasks": c["lead_tasks"],
            "co_tasks": c["co_tasks"],
            "return_requests_pending": c["return_requests_pending"],
            "overdue": c["overdue"],
            "nearest_deadline": c["nearest_deadline"],
            "nearest_deadlines": [with_days_left(app, index.view(r), today) for r in rows],
        })
    return out


def with_days_left(app: AssignmentApplication, task: dict[str, Any], today: date,
                   ) -> dict[str, Any]:
    return {**task, "working_days_left": working_days_left(app, today, task["deadline"])}


def working_days_left(app: AssignmentApplication, today: date, deadline: str | None,
                      ) -> int | None:
    """Working days from today to the deadline; negative when overdue."""
    if deadline is None:
        return None
    day = date.fromisoformat(deadline)
    try:
        if day >= today:
            return app.calendar.working_days_between(today, day)
        return -app.calendar.working_days_between(day, today)
    except ValueError:
        return None

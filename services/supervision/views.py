"""What an actor is shown of supervision: a task's and a case's views, the task's colour,
and the lists and figures (tasks, case ids, closed cases, the board, statistics) read from
the read model with who asks in scope.

Functions of the application (its clock, working days and rules) and of the aggregates;
``SupervisionApplication.task_view`` / ``case_view`` / ``task_colour`` / ``case_status``
answer with these.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shared.contracts.requests.supervision import (Board, CaseIds, ClosedCases, LeaderCases,
                                                   ListReviews, ListTasks, Stats)
from shared.eventstore import Actor
from shared.paging import MAX_LIMIT, year_filter
from shared.rpc import Invalid

from services.supervision.domain import SupervisedCase, SupervisedTask
from services.supervision.read_models import Scope

if TYPE_CHECKING:
    from services.supervision.application import SupervisionApplication
    from services.supervision.read_models import SupervisionViews


def task_colour(app: SupervisionApplication, task: SupervisedTask, day: date | None = None,
                ) -> str:
    """green on time, yellow near the deadline, red overdue, closed; as on ``day``.

    A unit that has replied (or sent its opinion) stops its clock: the reply day counts.
    """
    day = day or app.today()
    if task.status == "withdrawn":
        return "withdrawn"
    if task.closed_on is not None and task.closed_on <= day:
        return "closed"
    deadline = task.deadline_on(day)
    answered = task.answered_as_of(day)
    if answered is not None and answered <= day:
        return "red" if answered > deadline else "green"
    if day > deadline:
        return "red"
    if task.is_paused:
        return "green"
    if app.days.between(day, deadline) <= app.warning_days(task):
        return "yellow"
    return "green"


def task_view(app: SupervisionApplication, task: SupervisedTask) -> dict[str, Any]:
    today = app.today()
    return {
        "task_id": str(task.id),
        "case_id": task.case_id,
        "case_kind": task.case_kind,
        "unit_id": task.unit_id,
        "role": task.role,
        "deadline": task.deadline.isoformat(),
        "working_days_left": app.days.between(today, task.deadline) if task.is_active else None,
        "opened_at": task.opened_at.isoformat(),
        "title": task.title,
        "category": task.category,
        "urgency": task.urgency,
        "number": task.number,
        "status": task.status,
        "colour": task_colour(app, task, today),
        "round": task.round,
        "signed_for_at": task.signed_for_at.isoformat() if task.signed_for_at else None,
        "contacts": task.contacts,
        "contact_waiver": task.contact_waiver,
        "progress": task.progress,
        "opinion": jsonable(task.opinion),
        "replies": jsonable(task.replies),
        "warnings": task.warnings,
        "escalated": bool(task.escalations),
        "escalated_to": task.escalated_to,
        "paused": task.is_paused,
        "withdrawn_reason": task.withdrawn_reason,
        "replaced_by_task_id": task.replaced_by,
    }


def case_view(app: SupervisionApplication, case: SupervisedCase) -> dict[str, Any]:
    today = app.today()
    reply = case.current_reply() or (case.replies[-1] if case.replies else None)
    return {
        "case_id": case.case_id,
        "case_kind": case.case_kind,
        "status": case_status(case),
        "round": case.round,
        "lead_task_id": case.lead_task_id,
        "tasks": case.tasks,
        "raters": case.raters(),
        "leadership": case.designee,
        "co_opinions": co_opinions(app, case),
        "reply": jsonable(reply),
        "replies": jsonable(case.replies),
        "ratings": jsonable(case.ratings),
        "rating": case.ratings_of_round(case.round) or None,
        "rating_lapsed": sorted(case.lapsed_of_round(case.round)),
        "rehandling_rounds": jsonable(case.rehandling),
        "follow_up_reviews": jsonable(sorted(case.reviews.values(), key=lambda r: r["due_on"])),
        "escalations": case.escalations,
        "missing_for_close_out": case.missing_for_close_out(
            today, app.rules.reply_letter_required) if not case.is_closed else [],
        "attachments": jsonable(getattr(case, "attachments", [])),
        "closed_on": case.closed_on.isoformat() if case.closed_on else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def co_opinions(app: SupervisionApplication, case: SupervisedCase) -> list[dict[str, Any]]:
    """The co-handling units' opinions, for the lead unit's reply."""
    opinions = []
    for task_id, link in case.tasks.items():
        if link["role"] == "co":
            task = app._task(task_id)
            if task.opinion:
                opinions.append({"task_id": task_id, "unit_id": task.unit_id,
                                 **jsonable(task.opinion)})
    return opinions


def case_status(case: SupervisedCase) -> str:
    if case.is_closed:
        return "closed"
    if case.lead_task_id is None:
        return "awaiting_assignment"
    if case.current_reply() is None:
        return "rehandling" if case.round > 1 else "handling"
    return "replied"


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# --- the lists and figures (read from the read model ``read``: SupervisionViews) -----------

def list_tasks(app: SupervisionApplication, read: SupervisionViews, q: ListTasks,
               actor: Actor) -> Any:
    """A page of tasks (``{items, next_cursor, total}``). A caller that sends neither
    ``limit`` nor ``cursor`` (written before lists paged: a case's tasks) gets the full
    views of every year's matching tasks as a bare list, at most 500 of them."""
    scope = Scope.of(actor)
    if actor.role == "unit":
        q = q.model_copy(update={"unit_id": actor.unit_id})
    if not q.paged():
        year = year_filter(q.year, app.today().year) if q.year is not None else None
        ids = read.task_ids(q, year, scope)
        if len(ids) > MAX_LIMIT:
            raise Invalid.field(["query", "limit"], f"more than {MAX_LIMIT} tasks match: "
                                "ask for pages (limit, cursor)")
        return [app.task_view(app._task(t)) for t in ids]
    default = None if q.case_id is not None and q.year is None else app.today().year
    year = None if default is None else year_filter(q.year, default)
    return read.list_tasks(q, year, scope)


def case_ids(app: SupervisionApplication, read: SupervisionViews, q: CaseIds,
             actor: Actor) -> dict[str, Any]:
    """Case ids with non-withdrawn tasks of a unit (a unit: its own), opened in ``year``
    (default this year), overdue today or not; a page by case id."""
    scope = Scope.of(actor)
    if actor.role == "unit":
        q = q.model_copy(update={"unit_id": actor.unit_id})
    return read.case_ids(q, year_filter(q.year, app.today().year), scope)


def leader_cases(read: SupervisionViews, q: LeaderCases, actor: Actor) -> dict[str, Any]:
    """A leader's own cases (the office: the named leader's or committee's)."""
    leader_id = actor.leader_id if actor.role == "leader" else q.leader_id
    if not leader_id:
        raise Invalid.field(["query", "leader_id"],
                            "your account is not linked to a leader" if actor.role == "leader"
                            else "name the leader or committee")
    return read.leader_cases(q, leader_id)


def closed_cases(read: SupervisionViews, q: ClosedCases, actor: Actor) -> Any:
    """Closed cases with their outcome (for reconciliation with points), by case id; a
    caller that sends neither ``limit`` nor ``cursor`` gets a bare list (at most 500)."""
    if {"limit", "cursor"} & q.model_fields_set:
        return read.closed_cases(q)
    found = read.closed_cases(q.model_copy(update={"limit": MAX_LIMIT}))
    if found["next_cursor"]:
        raise Invalid.field(["query", "limit"], f"more than {MAX_LIMIT} closed cases: "
                            "ask for pages (limit, cursor)")
    return found["items"]


def board(app: SupervisionApplication, read: SupervisionViews, q: Board,
          actor: Actor) -> dict[str, Any]:
    """The board of the tasks the actor may see (a unit: its own; a deputy: those of
    their cases), counts included."""
    scope = Scope.of(actor)
    unit_id = actor.unit_id if actor.role == "unit" else q.unit_id
    day = q.as_of or app.today()
    return read.board(day, year_filter(q.year, day.year), unit_id, q.category, q.colour,
                      q.limit, scope)


def stats(app: SupervisionApplication, read: SupervisionViews, q: Stats,
          actor: Actor) -> dict[str, Any]:
    """The statistics of the cases the actor may see (a unit: those it has a task of; a
    deputy: those they are a deputy of)."""
    if q.term is not None:
        term, start, end = app.term_range(q.term, ["query", "term"])
        return {**read.stats(start, end, Scope.of(actor)), "term": term}
    return read.stats(*q.bounds(app.today()), Scope.of(actor))


def list_reviews(app: SupervisionApplication, read: SupervisionViews, q: ListReviews,
                 actor: Actor) -> dict[str, Any]:
    """The follow-up reviews recorded in a term (default: the current one, 本届以来) or a
    year, of the cases the actor may see; with every term known here (``terms``, the latest
    first: what a page may select)."""
    if q.year is not None:
        year = year_filter(q.year, app.today().year)
        start, end = (date.min, date.max) if year is None else (date(year, 1, 1),
                                                                 date(year, 12, 31))
        term = None
    else:
        term, start, end = app.term_range(q.term, ["query", "term"])
    return {**read.recorded_reviews(q, start, end, Scope.of(actor)), "term": term,
            "from": start.isoformat(), "to": end.isoformat(), "terms": app.terms()}

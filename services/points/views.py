"""What an actor is shown of duty points: a deputy's points and record (their own, or any for
the office and leaders), the rankings, activities, the ledger export, recalculations and a
case's lines. Each answer checks who asks, then reads the read models
(``services.points.read_models.PointsViews``, ``app.views``), never the ledgers."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from shared.contracts.requests.points import (
    CasePoints,
    DeputyPoints,
    GetActivity,
    ListActivities,
    ListLedgerLines,
    ListRecalculations,
    Ranking,
    RankingPosition,
)
from shared.eventstore import Actor
from shared.paging import checked_after, page
from shared.rpc import Forbidden, Invalid

from services.points.read_models import PointsViews, resolve_year
from services.points.record import deputy_record, record_messages, record_suggestions
from services.points.report import render_report

if TYPE_CHECKING:
    from services.points.application import PointsApplication


def _views(app: PointsApplication) -> PointsViews:
    if app.views is None:
        raise RuntimeError("the points read models are not attached (PointsViews)")
    return app.views


def deputy_points(app: PointsApplication, q: DeputyPoints, actor: Actor) -> dict[str, Any]:
    """A deputy's points of a year: the total, totals per cause and approved activities
    of the whole ledger, and one page of its lines (``lines``, by line number; at most
    ``limit``; the next page from ``lines_next_cursor``; ``lines_total`` counts them)."""
    app.known_deputy(q.deputy_id)
    app.check_may_see(actor, q.deputy_id)
    year = q.year or app.this_year()
    views = _views(app)
    summary = views.lines.summary(q.deputy_id, year)
    lines = views.lines.lines_page(q.deputy_id, year, q, total=summary["lines"])
    return {"deputy_id": q.deputy_id, "year": year, "total": summary["total"],
            "by_cause": summary["by_cause"],
            "approved_activities": summary["approved_activities"],
            "lines": lines["items"], "lines_total": summary["lines"],
            "lines_next_cursor": lines["next_cursor"]}


def points_for_case(app: PointsApplication, ref: CasePoints,
                    actor: Actor) -> list[dict[str, Any]]:
    """The points lines about a case: every deputy's for the office and leaders, a
    deputy's own for a deputy, none for anyone else (units do not see duty points)."""
    lines = _views(app).case_points.query(ref.case_id)
    if actor.role in ("office", "leader", "system"):
        return lines
    if actor.role == "deputy" and actor.deputy_id:
        return [line for line in lines if line.get("deputy_id") == actor.deputy_id]
    return []


def case_audit_scope(app: PointsApplication, case_id: str) -> Any:
    """The aggregates holding a case's lines (the case history, GET /cases/{id}/history)."""
    views = _views(app)
    views.case_points.catch_up()
    return views.case_points.audit_scope(case_id)


def ranking(app: PointsApplication, q: Ranking, actor: Actor) -> dict[str, Any]:
    """A page of the ranking of a year (``rows``; ``limit`` and ``cursor`` page them,
    ``total`` counts the deputies ranked, ``next_cursor`` the next page)."""
    if actor.role not in ("office", "leader", "deputy", "system"):
        raise Forbidden("rankings are shown to deputies, the office and leaders")
    views = _views(app)
    if q.term is not None:
        return term_ranking(app, views, q)
    year = q.year or app.this_year()
    result = views.rankings.ranking(q, year)
    return {"year": year, "group": q.group, "level": q.level,
            "order": views.rankings.ORDER, "rows": result["items"],
            "total": result["total"], "next_cursor": result["next_cursor"]}


def term_span(app: PointsApplication, term_id: str) -> tuple[dict[str, Any], date, date]:
    """A term's record and its days (start to end; an open term has no end yet), from the
    service's replica of the registry's terms (shared/reference.py)."""
    term = app.terms.get(term_id)
    if term is None:
        raise Invalid.field(["query", "term"], f"no term {term_id!r}")
    start = _day(term.get("start"))
    end = _day(term.get("end")) or date.max
    if start is None:
        raise Invalid.field(["query", "term"], f"term {term_id!r} has no start")
    return term, start, end


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _term_key(r: dict[str, Any]) -> tuple[int, int, str]:
    return (-r["cents"], -r["activities"], r["deputy_id"])


def _term_rows(app: PointsApplication, views: PointsViews, term_id: str, start: date,
               end: date, group: str | None = None, level: str | None = None,
               ) -> list[dict[str, Any]]:
    """The rows ranked over a term, in ranking order: its deputies (those whose ``terms``
    name it) and anyone who earned points in it, with the points earned then."""
    totals = views.lines.totals_between(start, end)
    deputies = dict(app.deputies)
    members = {d for d, info in deputies.items() if term_id in (info.get("terms") or ())}
    rows = []
    for deputy_id in sorted(members | set(totals)):
        info = deputies.get(deputy_id, {})
        if group and info.get("group") != group:
            continue
        if level and level not in (info.get("level"), info.get("level_zh")):
            continue
        cents, activities = totals.get(deputy_id, (0, 0))
        rows.append({"deputy_id": deputy_id, "cents": cents, "activities": activities})
    rows.sort(key=_term_key)
    return rows


def _shared_rank(rows: list[dict[str, Any]], deputy_id: str) -> int | None:
    """A deputy's rank among ``rows``: 1 + those with more points (a shared total, a shared
    rank); None when not ranked."""
    own = next((r for r in rows if r["deputy_id"] == deputy_id), None)
    return None if own is None else 1 + sum(1 for r in rows if r["cents"] > own["cents"])


def term_ranking(app: PointsApplication, views: PointsViews, q: Ranking) -> dict[str, Any]:
    """The ranking over a term (届): the points earned between its start and end (since its
    start while it is open), its deputies (those whose ``terms`` name it) and anyone who
    earned points then; the order and the rows' shape are the year ranking's."""
    term, start, end = term_span(app, q.term or "")
    rows = _term_rows(app, views, q.term or "", start, end, q.group, q.level)
    key = _term_key
    after = checked_after(q, 3)
    skipped = 0
    if after:
        mark = (int(after[0]), int(after[1]), str(after[2]))
        skipped = sum(1 for r in rows if key(r) <= mark)
    same: dict[int, int] = {}
    places: dict[int, int] = {}  # a total's shared rank (并列): 1 + the rows of higher totals
    for i, r in enumerate(rows, start=1):
        same[r["cents"]] = same.get(r["cents"], 0) + 1
        places.setdefault(r["cents"], i)
    result = page(rows[skipped:skipped + q.limit + 1], q.limit, key=key, total=len(rows))
    items = [views.rankings._row(r, places[r["cents"]], same[r["cents"]] > 1)
             for r in result["items"]]
    return {"term": q.term, "term_name": term.get("name"), "from": start.isoformat(),
            "to": None if end == date.max else end.isoformat(), "year": None,
            "group": q.group, "level": q.level,
            "order": views.rankings.ORDER, "rows": items, "total": result["total"],
            "next_cursor": result["next_cursor"]}


def ranking_position(app: PointsApplication, q: RankingPosition,
                     actor: Actor) -> dict[str, Any]:
    """A deputy's place in the year's ranking and in their group's."""
    deputy = app.known_deputy(q.deputy_id)
    app.check_may_see(actor, q.deputy_id)
    views = _views(app)
    year = q.year or app.this_year()
    overall = views.rankings.place(q.deputy_id, year)
    group = deputy.get("group")
    in_group = views.rankings.place(q.deputy_id, year, group) if group else None
    return {"year": year, "deputy_id": q.deputy_id, "row": overall["row"],
            "rank": overall["rank"], "ranked": overall["ranked"], "group": group,
            "group_rank": in_group["rank"] if in_group else None,
            "group_size": in_group["ranked"] if in_group else None}


def list_activities(app: PointsApplication, q: ListActivities, actor: Actor) -> dict[str, Any]:
    """A page of activities: a deputy's own, or anyone's for the office and leaders."""
    deputy_id = q.deputy_id
    if actor.role == "deputy":
        if deputy_id and deputy_id != actor.deputy_id:
            raise Forbidden("a deputy sees only their own activities")
        deputy_id = actor.deputy_id
    elif actor.role not in ("office", "leader", "system"):
        raise Forbidden("activities are seen by the deputy, the office and leaders only")
    return _views(app).activities.query(q, deputy_id, resolve_year(q.year, app.this_year))


def ledger_lines(app: PointsApplication, q: ListLedgerLines, actor: Actor) -> dict[str, Any]:
    """Every deputy's ledger lines (the duty-points ledger export), by deputy, year and
    line number, each with ``deputy_id`` and ``year``."""
    if actor.role not in ("office", "leader", "system"):
        raise Forbidden("the duty-points ledger is exported by the office and leaders")
    return _views(app).ledger_lines(q, resolve_year(q.year, app.this_year))


def get_activity(app: PointsApplication, ref: GetActivity, actor: Actor) -> dict[str, Any]:
    activity = app.activity(ref.activity_id)
    app.check_may_see(actor, activity.deputy_id)
    return activity.as_dict()


def record_for(app: PointsApplication, q: DeputyPoints, actor: Actor) -> dict[str, Any]:
    """A deputy's duty record of a year (履职档案), or of a term (``term``)."""
    app.known_deputy(q.deputy_id)
    app.check_may_see(actor, q.deputy_id)
    if getattr(q, "term", None) is not None:
        return term_record(app, _views(app), q.deputy_id, q.term)
    return deputy_record(app, _views(app), q.deputy_id, q.year or app.this_year())


def term_record(app: PointsApplication, views: PointsViews, deputy_id: str,
                term_id: str) -> dict[str, Any]:
    """A deputy's duty record of a term (届): the points earned between its start and end
    (by cause, approved activities), the place in the term's ranking and in their group's,
    and each year the term spans with its total and the path of that year's full record
    (the lists of suggestions, messages and lines are kept per year)."""
    term, start, end = term_span(app, term_id)
    deputy = dict(app.deputies.get(deputy_id, {"id": deputy_id}))
    summary = views.lines.summary_between(deputy_id, start, end)
    rows = _term_rows(app, views, term_id, start, end)
    rank = _shared_rank(rows, deputy_id)
    group = deputy.get("group")
    in_group = _term_rows(app, views, term_id, start, end, group) if group else []
    group_rank = _shared_rank(in_group, deputy_id)
    last = min(end, app.today()) if end == date.max else end
    years = []
    for year in range(start.year, max(start.year, last.year) + 1):
        years.append({"year": year, "total": views.lines.summary(deputy_id, year)["total"],
                      "path": f"/api/v1/deputies/{deputy_id}/record?year={year}"})
    return {"deputy": deputy, "term": term_id, "term_name": term.get("name"),
            "from": start.isoformat(), "to": None if end == date.max else end.isoformat(),
            "year": None, "total": summary["total"], "by_cause": summary["by_cause"],
            "approved_activities": summary["approved_activities"], "rank": rank,
            "ranked_deputies": len(rows), "group_rank": group_rank,
            "group_size": len(in_group) if group else None, "years": years}


def record_suggestions_page(app: PointsApplication, q: DeputyPoints,
                            actor: Actor) -> dict[str, Any]:
    """A page of the record's suggestions (the record shows the most recent)."""
    app.known_deputy(q.deputy_id)
    app.check_may_see(actor, q.deputy_id)
    return record_suggestions(_views(app), q.deputy_id, q.year or app.this_year(), q)


def record_messages_page(app: PointsApplication, q: DeputyPoints,
                         actor: Actor) -> dict[str, Any]:
    """A page of the record's citizen messages (the record shows the most recent)."""
    app.known_deputy(q.deputy_id)
    app.check_may_see(actor, q.deputy_id)
    return record_messages(_views(app), q.deputy_id, q.year or app.this_year(), q)


def report(app: PointsApplication, q: DeputyPoints, actor: Actor) -> dict[str, Any]:
    """The duty record as a printable page."""
    record = record_for(app, q, actor)
    return {"html": render_report(record, generated_at=app.clock.now())}


def list_recalculations(app: PointsApplication, q: ListRecalculations,
                        actor: Actor) -> dict[str, Any]:
    if actor.role not in ("office", "leader", "system"):
        raise Forbidden("recalculations are seen by the office and leaders")
    return _views(app).recalculations.query(q, resolve_year(q.year, app.this_year))

"""Sign-in and sign-out, the home per role, the progress board, the case page, rankings and
bulletins."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, request_of
from shared.contracts.requests import assignment as asg
from shared.contracts.requests import supervision as sv
from shared.contracts.requests.intake import GetSuggestion
from shared.contracts.requests.points import Ranking
from services.gateway.routes_audit import _each_service, _mask, _may_see
from shared.contracts.requests.runtime import CaseHistory, VerifyCase
from services.gateway.web.charts import bar_chart, stacked_colour_bars
from services.gateway.web.common import (
    BASE, act, check_csrf, clear_session, current_user, need, optional, redirect, reference, names,
    render, send_form, services, set_session, today, WebRoute, EVENT_ZH, RATING_ZH, RESULT_CLASS_ZH,
    URGENCY_ZH,
)

router = APIRouter(route_class=WebRoute)
HOME = {"office": f"{BASE}/board", "leader": f"{BASE}/board", "unit": f"{BASE}/unit",
        "deputy": f"{BASE}/deputy", "station": f"{BASE}/station", "admin": f"{BASE}/admin/accounts"}
Anyone = Annotated[Principal, Depends(need("office", "leader", "unit", "deputy"))]
BoardViewer = Annotated[Principal, Depends(need("office", "leader"))]


@router.get(f"{BASE}/")
async def home(request: Request) -> Response:
    user = current_user(request)
    if user is None or user.role not in HOME:
        return RedirectResponse(f"{BASE}/login", status_code=303)
    return RedirectResponse(HOME[user.role], status_code=303)


@router.get(f"{BASE}/login")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", {"error": None, "username": ""})


@router.post(f"{BASE}/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, username: Annotated[str, Form(max_length=100)],
                password: Annotated[str, Form(max_length=200)]) -> Response:
    auth = request.app.state.authenticator
    found = await auth.login(username, password)  # the accounts service checks it
    user, ver = found if found is not None else (None, None)
    if user is None or user.role not in HOME:
        return render(request, "login.html", {"error": "用户名或密码错误", "username": username},
                      status_code=401)
    # a password reset by an administrator is changed first
    home = f"{BASE}/me/password" if user.must_change_password else HOME[user.role]
    response = RedirectResponse(home, status_code=303)
    set_session(request, response, auth.issue(user, ver), int(auth.ttl.total_seconds()))
    return response


@router.post(f"{BASE}/logout", dependencies=[Depends(check_csrf)])
async def logout() -> Response:
    response = redirect(f"{BASE}/login", "已退出登录")
    clear_session(response)
    return response


# --- the progress board (进度看板) --------------------------------------------------------


def _filters(unit_id: str | None, category: str | None, colour: str | None) -> dict[str, str]:
    return {k: v for k, v in (("unit_id", unit_id), ("category", category),
                              ("colour", colour)) if v}


async def _board_context(request: Request, user: Principal, unit_id: str | None,
                         category: str | None, colour: str | None) -> dict[str, Any]:
    if colour not in (None, "", "green", "yellow", "red", "closed"):
        raise HTTPException(422, "颜色只能是 green、yellow、red 或 closed")
    svc = services(request)
    board, ref = await asyncio.gather(
        svc.send(request_of(sv.Board, query={"unit_id": unit_id or None,
                                             "category": category or None,
                                             "colour": colour or None}), user),
        reference(request, user))
    lookup = names(ref)
    return {
        "board": board, "filters": _filters(unit_id, category, colour), **lookup,
        "unit_chart": stacked_colour_bars(
            board["by_unit"], {k: lookup["unit_name"](k) for k in board["by_unit"]},
            "各承办单位任务颜色分布"),
        "category_chart": stacked_colour_bars(
            board["by_category"], {k: lookup["category_name"](k) for k in board["by_category"]},
            "各类别任务颜色分布"),
    }


@router.get(f"{BASE}/board")
async def board_page(request: Request, user: BoardViewer, unit_id: str | None = None,
                     category: str | None = None, colour: str | None = None) -> HTMLResponse:
    context = await _board_context(request, user, unit_id, category, colour)
    return render(request, "board.html", context)


@router.get(f"{BASE}/board/fragment")
async def board_fragment(request: Request, user: BoardViewer, unit_id: str | None = None,
                         category: str | None = None, colour: str | None = None) -> HTMLResponse:
    context = await _board_context(request, user, unit_id, category, colour)
    return render(request, "_board.html", context, fragment=True)


# --- the case page -------------------------------------------------------------------------


def _summary(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of an event worth showing in the timeline, shortened."""
    out = []
    for key, value in data.items():
        if key in ("originator_topic", "event_id") or value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else str(value)
        out.append((key, text if len(text) <= 120 else text[:117] + "…"))
    return out[:8]


# The milestones people follow; the rest (points bookkeeping, links between services,
# copies of a fact in a second aggregate) is in the audit view only.
MILESTONES = {
    "Submitted", "Registered", "Declined", "Merged", "MergeUndone", "Converted", "Forwarded",
    "TaskAssigned", "SignedFor", "Acknowledged", "ContactRecorded", "ContactWaived",
    "ProgressNoted", "OpinionSubmitted", "Replied", "Rated", "RatingLapsed",
    "RehandlingStarted", "ReviewScheduled", "ReviewRecorded", "Escalated", "Closed",
    "DeadlineWarning", "Withdrawn", "ReturnRequested", "ReturnRefused", "Reassigned",
    "LeadershipDesignated", "RegistrationReversed", "Paused", "Resumed",
}


def _who(event: dict[str, Any], lookup: dict[str, Any]) -> str:
    """Who did it, in words: a person by name and role, an automatic reaction as 系统自动."""
    actor = event.get("actor") or {}
    role = actor.get("role")
    if event.get("causation_id") or role in (None, "system"):
        return "系统自动"
    if role == "deputy" and actor.get("deputy_id"):
        return f"{lookup['deputy_name'](actor['deputy_id'])}（人大代表）"
    if role == "unit" and actor.get("unit_id"):
        return lookup["unit_name"](actor["unit_id"])
    return {"office": "代表工委", "leader": "领导", "citizen": "群众"}.get(role, "系统自动")


def _milestones(events: list[dict[str, Any]], lookup: dict[str, Any]) -> list[dict[str, Any]]:
    out, seen = [], set()
    for event in events:
        kind = event["event_type"]
        if kind not in MILESTONES:
            continue
        data = event.get("data") or {}
        key = (kind, event.get("time", "")[:16], data.get("round"), data.get("unit_id"),
               data.get("deputy_id"))
        if key in seen:
            continue  # the same fact recorded on the task and on the case
        seen.add(key)
        detail = []
        if data.get("unit_id") and kind in ("TaskAssigned", "Replied", "Reassigned", "Withdrawn"):
            detail.append(lookup["unit_name"](data["unit_id"]))
        if data.get("result_class"):
            detail.append(RESULT_CLASS_ZH.get(str(data["result_class"]), ""))
        if data.get("rating"):
            detail.append(RATING_ZH.get(str(data["rating"]), ""))
        if data.get("urgency") and kind == "Registered":
            detail.append(URGENCY_ZH.get(str(data["urgency"]), ""))
        out.append({"time": event.get("time"), "what": EVENT_ZH.get(kind, "办理事项"),
                    "who": _who(event, lookup), "detail": "，".join(d for d in detail if d),
                    "event_type": kind})
    return out


@router.get(f"{BASE}/cases/{{case_id}}")
async def case_page(request: Request, case_id: str, user: Anyone,
                    view: str | None = None) -> HTMLResponse:
    """Two views: the milestones in plain words (default), the audited event history
    (``view=audit``)."""
    svc = services(request)
    await _may_see(case_id, svc, user)
    parts, verify_parts, suggestion, supervision, tasks, ref = await asyncio.gather(
        _each_service(svc, CaseHistory(case_id=case_id, as_of=None), user),
        _each_service(svc, VerifyCase(case_id=case_id), user),
        optional(svc.send(GetSuggestion(suggestion_id=case_id), user)),
        optional(svc.send(sv.GetCase(case_id=case_id), user)),
        svc.send(sv.ListTasks(case_id=case_id), user),
        reference(request, user),
    )
    events = sorted((e for p in parts for e in p["events"]),
                    key=lambda e: (e["time"] or "", e["service"], e["aggregate_id"], e["version"]))
    if not events:
        raise HTTPException(404, f"没有案件 {case_id}")
    events = _mask(events, user.role)
    for event in events:
        event["summary"] = _summary(event.get("data") or {})
    chains = [c for p in verify_parts for c in p["chains"]]
    broken = [c for c in chains if not c["ok"]]
    rated = {r["deputy_id"] for r in (supervision or {}).get("ratings", [])
             if r.get("round") == (supervision or {}).get("round")}
    lookup = names(ref)
    leaders = (await optional(svc.send(asg.Leaders(), user))
               if user.role == "office" and suggestion else None) or []
    if user.role == "office" and tasks:
        # the clock is assignment's: its pause shows at once (supervision's list follows
        # its events a moment later)
        assigned = await optional(svc.send(asg.CaseAssignment(case_id=case_id), user))
        clock = {t["task_id"]: t.get("paused_since") is not None
                 for t in (assigned or {}).get("tasks", [])}
        tasks = [{**t, "paused": clock.get(t["task_id"], t.get("paused"))} for t in tasks]
    return render(request, "case.html", {
        "leaders": leaders,
        "case_id": case_id, "events": events, "audit": view == "audit",
        "milestones": _milestones(events, lookup), "chains": chains, "broken": broken,
        "verified": bool(chains) and not broken, "suggestion": suggestion,
        "supervision": supervision, "tasks": tasks, "rated": rated, **names(ref),
    })


OfficeOnly = Annotated[Principal, Depends(need("office"))]
Csrf = [Depends(check_csrf)]


@router.post(f"{BASE}/cases/{{case_id}}/reviews/{{review_id}}", dependencies=Csrf)
async def record_review(request: Request, case_id: str, review_id: str,
                        user: Annotated[Principal, Depends(need("office", "leader"))],
                        outcome: Annotated[str, Form(pattern="^(kept|partly_kept|not_kept)$")],
                        note: Annotated[str, Form(min_length=1, max_length=2000)],
                        reopen: Annotated[str | None, Form()] = None,
                        evidence_file: Annotated[UploadFile | str | None, File()] = None
                        ) -> Response:
    """A follow-up review's (回头看) outcome: not kept reopens the case; partly kept only
    when asked to. A file (photos, minutes of the check) is recorded with it."""
    from shared.blobs import RefusedFile
    from services.gateway.web.pages_attachments import form_file

    try:
        stored = await form_file(request, evidence_file)
    except RefusedFile as exc:
        return redirect(f"{BASE}/cases/{case_id}", "回头看材料未上传：" + exc.message_zh, "error")
    call = send_form(request, sv.RecordReview, user,
                     case_id=case_id, review_id=review_id, outcome=outcome, note=note,
                     reopen=bool(reopen) if outcome == "partly_kept" else None,
                     evidence_files=[stored] if stored else [])
    return await act(request, call, f"{BASE}/cases/{case_id}", "已记录回头看结果")


@router.post(f"{BASE}/cases/{{case_id}}/leadership", dependencies=Csrf)
async def designate(request: Request, case_id: str, user: OfficeOnly,
                    designee: Annotated[str, Form(min_length=3, max_length=200)],
                    mode: Annotated[str, Form(pattern="^(lead|supervise)$")]) -> Response:
    kind, _, designee_id = designee.partition(":")
    call = send_form(request, asg.DesignateLeadership, user, case_id=case_id,
                     designee_id=designee_id, designee_kind=kind, mode=mode)
    return await act(request, call, f"{BASE}/cases/{case_id}", "已指定领导领办或督办")


@router.post(f"{BASE}/cases/{{case_id}}/tasks/{{task_id}}/pause", dependencies=Csrf)
async def pause_clock(request: Request, case_id: str, task_id: str, user: OfficeOnly,
                      reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, asg.PauseClock, user, task_id=task_id, reason=reason)
    return await act(request, call, f"{BASE}/cases/{case_id}", "已暂停计时")


@router.post(f"{BASE}/cases/{{case_id}}/tasks/{{task_id}}/resume", dependencies=Csrf)
async def resume_clock(request: Request, case_id: str, task_id: str,
                       user: OfficeOnly) -> Response:
    call = services(request).send(asg.ResumeClock(task_id=task_id), user)
    return await act(request, call, f"{BASE}/cases/{case_id}", "已恢复计时")


@router.post(f"{BASE}/cases/{{case_id}}/close", dependencies=[Depends(check_csrf)])
async def close_case(request: Request, case_id: str,
                     user: Annotated[Principal, Depends(need("office"))]) -> Response:
    return await act(request, services(request).send(sv.CloseCase(case_id=case_id), user),
                     f"{BASE}/cases/{case_id}", "已办结销号")


# --- rankings and bulletins ------------------------------------------------------------------


def _recent_periods(day: date) -> list[str]:
    months, quarters = [], []
    y, m = day.year, day.month
    for _ in range(3):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        months.append(f"{y}-{m:02d}")
    q, qy = (day.month - 1) // 3 + 1, day.year
    for _ in range(2):
        q -= 1
        if q == 0:
            qy, q = qy - 1, 4
        quarters.append(f"{qy}-Q{q}")
    return months + quarters


@router.get(f"{BASE}/rankings")
async def rankings_page(request: Request,
                        user: Annotated[Principal, Depends(need("office", "leader", "deputy"))],
                        year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                        group: str | None = None) -> HTMLResponse:
    svc = services(request)
    result, ref = await asyncio.gather(
        # the first 500 of the ranking (the page's paging is a later step)
        svc.send(request_of(Ranking, query={"year": year, "group": group or None,
                                             "limit": 500}), user),
        reference(request, user))
    groups = sorted({d.get("group") for d in ref["deputies"].values() if d.get("group")})
    rows = result["rows"]
    chart = bar_chart(rows, label_key="name", value_key="total",
                      title=f"{result['year']} 年度履职积分" + (f"（{group}）" if group else ""),
                      highlight=user.deputy_id, highlight_key="deputy_id")
    this_year = today().year
    return render(request, "rankings.html", {
        "result": result, "rows": rows, "chart": chart, "groups": groups, "group": group or "",
        "years": list(range(this_year, this_year - 4, -1)) if result["year"] <= this_year
        else [result["year"], *range(this_year, this_year - 3, -1)],
        "periods": _recent_periods(today()), **names(ref),
    })


@router.get(f"{BASE}/bulletins/{{period}}")
async def bulletin_page(request: Request, period: str, user: Anyone) -> HTMLResponse:
    try:
        result = await services(request).send(sv.BulletinHtml(period=period), user)
    except ServiceFailure as exc:
        if exc.reply.get("status") != 404:
            raise
        return render(request, "bulletin_missing.html", {"period": period}, status_code=404)
    return HTMLResponse(result["html"])


@router.post(f"{BASE}/bulletins", dependencies=[Depends(check_csrf)])
async def publish_bulletin(request: Request, user: Annotated[Principal, Depends(need("office"))],
                           period: Annotated[str, Form(pattern=r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$")]
                           ) -> Response:
    return await act(request, services(request).send(
        request_of(sv.PublishBulletin, query={"period": period}), user),
                     f"{BASE}/bulletins/{period}", f"已发布 {period} 通报",
                     back_url=f"{BASE}/rankings")


# --- statistics (统计) ----------------------------------------------------------------------

RATES = (("on_time_reply_rate", "按期答复率"), ("resolution_rate", "解决率（A 类）"),
         ("satisfaction_rate", "满意率（含基本满意）"), ("rehandling_rate", "重新办理率"),
         ("attitude_satisfaction_rate", "办理态度满意率"))


REVIEW_OUTCOMES = {"kept": "已落实", "partly_kept": "部分落实", "not_kept": "未落实"}
REVIEW_REASONS = {"class_b_commitment": "B类答复承诺到期", "basically_satisfied": "基本满意后回访"}


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@router.get(f"{BASE}/stats")
async def stats_page(request: Request, user: BoardViewer,
                     year: Annotated[str | None, Query(pattern=r"^(\d{4}|all)$")] = None,
                     term: Annotated[str | None, Query(max_length=64)] = None,
                     reviews_cursor: Annotated[str | None, Query(max_length=1000)] = None,
                     ) -> HTMLResponse:
    """The handling rates of a year or a term (届: cases whose first reply fell in it),
    overall, by unit and by category, with a chart of the units' on-time reply rate; and the
    follow-up reviews (回头看) recorded in the term chosen, else the current one (本届以来)."""
    svc = services(request)
    term = term or None
    query: dict[str, Any] = ({"term": term} if term else
                             {"year": int(year) if year and year.isdigit() else year})
    result, reviews, ref = await asyncio.gather(
        svc.send(request_of(sv.Stats, query=query), user),
        svc.send(request_of(sv.ListReviews, query={"term": term, "limit": 20,
                                                   "cursor": reviews_cursor or None}), user),
        reference(request, user))
    lookup = names(ref)
    rows = [{"name": lookup["unit_name"](uid), "rate": round((v.get("on_time_reply_rate") or 0) * 100, 1)}
            for uid, v in result["per_unit"].items()]
    chart = bar_chart(rows, label_key="name", value_key="rate", unit="%",
                      title="各承办单位按期答复率", chart_id="on-time-chart")
    this_year = today().year
    more = None
    if reviews.get("next_cursor"):
        more = f"{BASE}/stats?" + urlencode({k: v for k, v in {
            "year": year, "term": term, "reviews_cursor": reviews["next_cursor"]}.items() if v})
    return render(request, "stats.html", {
        "result": result, "rates": RATES, "percent": _percent, "chart": chart,
        "year": year or str(this_year), "years": [str(y) for y in range(this_year, this_year - 4, -1)],
        "term": term or "", "terms": reviews.get("terms") or [], "reviews": reviews,
        "reviews_next": more, "OUTCOMES": REVIEW_OUTCOMES, "REASONS": REVIEW_REASONS,
        **lookup})

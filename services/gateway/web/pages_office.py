"""The office's pages: one list of every suggestion (tabs by status, search, category,
paging), a suggestion's page (register, decline, merge, assign, reassign — the irreversible
ones confirmed first), the citizen-message pool, and the activity approvals."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import request_of
from services.gateway.web.common import (
    BASE, WebRoute, act, check_csrf, names, need, optional, reference, render, send_form,
    services,
)
from shared.contracts.requests.assignment import (
    AssignSuggestion, CaseAssignment, ReassignTask, RefuseReturn,
)
from shared.contracts.requests.intake import (
    DeclineSuggestion, ForwardMessage, GetSuggestion, ListMessages, ListSuggestions,
    MergeSuggestion, RegisterSuggestion, ReverseRegistration, SimilarRef, UndoMerge,
)
from shared.contracts.requests.points import (
    ApproveActivity, ListActivities, PointsRules, RejectActivity,
)

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]
Csrf = [Depends(check_csrf)]


PAGE_SIZE = 20
# The case list's tabs: every status of a suggestion, and those registered but not yet
# assigned (待交办, the office's own next step).
CASE_TABS = (("submitted", "待审核"), ("awaiting", "待交办"), ("registered", "已立案"),
             ("declined", "不予立案"), ("merged", "已并案"), ("closed", "已办结"), ("all", "全部"))
STATUS_TABS = ("submitted", "registered", "declined", "merged", "closed")
BULK_TABS = ("submitted", "awaiting")  # the tabs with bulk actions (批量立案, 批量交办)


async def _inbox_context(request: Request, user: Principal, status: str | None,
                         category: str | None, q: str | None, cursor: str | None,
                         start: int) -> dict[str, Any]:
    """One searchable, filterable, paged list of every suggestion (every year), by tab."""
    svc = services(request)
    tab = status if status in dict(CASE_TABS) else "submitted"
    q = (q or "").strip() or None
    category = category or None
    base = {"year": "all", "q": q, "category": category}

    def listing(state: str | None, limit: int, after: str | None = None) -> Any:
        return svc.send(request_of(ListSuggestions, query={
            **base, "status": state, "limit": limit, "cursor": after}), user)

    counted = await asyncio.gather(*(listing(st, 1) for st in (*STATUS_TABS, None)),
                                   reference(request, user))
    ref = counted[-1]
    counts = {st: page.get("total") for st, page in zip((*STATUS_TABS, "all"), counted[:-1])}
    next_cursor = None
    if tab == "awaiting":
        registered = (await listing("registered", 100))["items"]
        assignments = await asyncio.gather(*(
            optional(svc.send(CaseAssignment(case_id=s["id"]), user))
            for s in registered))
        rows = [{**s, "assignment": a} for s, a in zip(registered, assignments)
                if a is None or a.get("status") != "assigned"]
        counts["awaiting"] = len(rows)
    else:
        page = await listing(None if tab == "all" else tab, PAGE_SIZE, cursor)
        rows, next_cursor = page["items"], page.get("next_cursor")
        # A reversed registration leaves the suggestion waiting for review again: the list's
        # rows do not say so, the suggestion does (one request per waiting row of the page).
        waiting = [r for r in rows if r["status"] == "submitted"]
        details = await asyncio.gather(*(optional(svc.send(
            GetSuggestion(suggestion_id=r["id"]), user)) for r in waiting))
        for row, detail in zip(waiting, details):
            row["reversed_registrations"] = (detail or {}).get("reversed_registrations") or []
    return {"rows": rows, "tab": tab, "tabs": CASE_TABS, "counts": counts, "q": q or "",
            "bulk": tab in BULK_TABS,  # pages_office_bulk: register or assign the chosen
            "category": category or "", "cursor": cursor or "", "start": start,
            "next_cursor": next_cursor, **names(ref)}


async def _items(call: Any) -> list[dict[str, Any]]:
    return (await call)["items"]


Text = Annotated[str | None, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=1000)]
Start = Annotated[int, Query(ge=0)]


@router.get(f"{BASE}/office/inbox")
async def inbox(request: Request, user: Office, status: Text = None, category: Text = None,
                q: Text = None, cursor: Cursor = None, start: Start = 0) -> HTMLResponse:
    return render(request, "office_inbox.html",
                  await _inbox_context(request, user, status, category, q, cursor, start))


@router.get(f"{BASE}/office/inbox/fragment")
async def inbox_fragment(request: Request, user: Office, status: Text = None,
                         category: Text = None, q: Text = None, cursor: Cursor = None,
                         start: Start = 0) -> HTMLResponse:
    return render(request, "_office_inbox.html",
                  await _inbox_context(request, user, status, category, q, cursor, start),
                  fragment=True)


# --- the citizen-message pool (群众留言) -----------------------------------------------------

MESSAGE_TABS = (("received", "待认领"), ("claimed", "已认领"), ("answered", "代表已答复"),
                ("forwarded", "已转部门"), ("converted", "已转建议"), ("merged", "已合并"),
                ("closed", "已办结"))


@router.get(f"{BASE}/office/messages")
async def messages(request: Request, user: Office, status: Text = None, q: Text = None,
                   cursor: Cursor = None, start: Start = 0) -> HTMLResponse:
    svc = services(request)
    tab = status if status in dict(MESSAGE_TABS) else "received"
    q = (q or "").strip() or None
    counted = await asyncio.gather(
        *(svc.send(request_of(ListMessages, query={"status": st, "year": "all", "q": q,
                                                   "limit": 1}), user)
          for st, _ in MESSAGE_TABS),
        svc.send(request_of(ListMessages, query={"status": tab, "year": "all", "q": q,
                                                 "limit": PAGE_SIZE, "cursor": cursor}), user),
        reference(request, user))
    *counts_pages, page, ref = counted
    counts = {st: p.get("total") for (st, _), p in zip(MESSAGE_TABS, counts_pages)}
    return render(request, "office_messages.html", {
        "rows": page["items"], "next_cursor": page.get("next_cursor"), "tab": tab,
        "tabs": MESSAGE_TABS, "counts": counts, "q": q or "", "start": start, **names(ref)})


@router.post(f"{BASE}/office/messages/{{message_id}}/forward", dependencies=Csrf)
async def forward_message(request: Request, message_id: str, user: Office,
                          unit_id: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    call = send_form(request, ForwardMessage, user, message_id=message_id, unit_id=unit_id)
    return await act(request, call, f"{BASE}/office/messages", "已转交部门办理")


@router.get(f"{BASE}/office/suggestions/{{suggestion_id}}")
async def suggestion_page(request: Request, suggestion_id: str, user: Office) -> HTMLResponse:
    svc = services(request)
    suggestion, ref = await asyncio.gather(
        svc.send(GetSuggestion(suggestion_id=suggestion_id), user),
        reference(request, user))
    similar, assignment = await asyncio.gather(
        optional(svc.send(SimilarRef(suggestion_id=suggestion_id, limit=10), user)),
        optional(svc.send(CaseAssignment(case_id=suggestion_id), user)))
    return render(request, "office_suggestion.html", {
        "s": suggestion, "similar": similar or [], "assignment": assignment, **names(ref)})


def _back(suggestion_id: str) -> str:
    return f"{BASE}/office/suggestions/{suggestion_id}"


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/register", dependencies=Csrf)
async def register(request: Request, suggestion_id: str, user: Office,
                   urgency: Annotated[str, Form(pattern="^(red|yellow|blue)$")],
                   category: Annotated[str | None, Form()] = None) -> Response:
    call = send_form(request, RegisterSuggestion, user, suggestion_id=suggestion_id,
                     urgency=urgency, category=category or None)
    return await act(request, call, _back(suggestion_id), "已立案", _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/decline", dependencies=Csrf)
async def decline(request: Request, suggestion_id: str, user: Office,
                  reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, DeclineSuggestion, user, suggestion_id=suggestion_id,
                     reason=reason)
    return await act(request, call, f"{BASE}/office/inbox", "已作不予立案处理",
                     _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/merge", dependencies=Csrf)
async def merge(request: Request, suggestion_id: str, user: Office,
                into: Annotated[str, Form(min_length=1)]) -> Response:
    call = send_form(request, MergeSuggestion, user, suggestion_id=suggestion_id, into=into)
    return await act(request, call, _back(into), "已并案", _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/reverse", dependencies=Csrf)
async def reverse_registration(request: Request, suggestion_id: str, user: Office,
                               reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, ReverseRegistration, user, suggestion_id=suggestion_id,
                     reason=reason)
    return await act(request, call, _back(suggestion_id), "已撤销立案", _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/undo-merge", dependencies=Csrf)
async def undo_merge(request: Request, suggestion_id: str, user: Office,
                     reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, UndoMerge, user, suggestion_id=suggestion_id, reason=reason)
    return await act(request, call, _back(suggestion_id), "已撤销并案", _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/assign", dependencies=Csrf)
async def assign(request: Request, suggestion_id: str, user: Office,
                 lead_unit_id: Annotated[str | None, Form()] = None,
                 co_unit_ids: Annotated[list[str] | None, Form()] = None,
                 deadline: Annotated[str | None, Form()] = None) -> Response:
    """Without a lead unit the routing rule's proposal is used (the service decides)."""
    lead = lead_unit_id or None
    call = send_form(request, AssignSuggestion, user, suggestion_id=suggestion_id,
                     lead_unit_id=lead,
                     co_unit_ids=[u for u in (co_unit_ids or []) if u and u != lead],
                     deadline=deadline or None)
    return await act(request, call, _back(suggestion_id), "已交办", _back(suggestion_id))


@router.post(f"{BASE}/office/tasks/{{task_id}}/reassign", dependencies=Csrf)
async def reassign(request: Request, task_id: str, user: Office,
                   case_id: Annotated[str, Form()], unit_id: Annotated[str, Form(min_length=1)],
                   reason: Annotated[str | None, Form(max_length=2000)] = None) -> Response:
    call = send_form(request, ReassignTask, user, task_id=task_id, unit_id=unit_id,
                     reason=reason or None)
    return await act(request, call, _back(case_id), "已改办", _back(case_id))


@router.post(f"{BASE}/office/tasks/{{task_id}}/refuse-return", dependencies=Csrf)
async def refuse_return(request: Request, task_id: str, user: Office,
                        case_id: Annotated[str, Form()],
                        reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, RefuseReturn, user, task_id=task_id, reason=reason)
    return await act(request, call, _back(case_id), "已驳回退回申请", _back(case_id))


# --- activity approvals (履职活动审核) -----------------------------------------------------


@router.get(f"{BASE}/office/activities")
async def activities(request: Request, user: Office) -> HTMLResponse:
    svc = services(request)
    pending, rules, ref = await asyncio.gather(
        # every year's pending reports, the first 500 (the page's paging is a later step)
        svc.send(ListActivities(status="pending", year="all", limit=500), user),
        svc.send(PointsRules(), user), reference(request, user))
    kinds: dict[str, str] = {}
    for rule in rules:
        for code, kind in rule.get("activities", {}).items():
            kinds.setdefault(code, kind.get("name_zh", code))
    return render(request, "office_activities.html",
                  {"pending": pending["items"], "pending_total": pending["total"],
                   "kinds": kinds, **names(ref)})


@router.post(f"{BASE}/office/activities/{{activity_id}}/approve", dependencies=Csrf)
async def approve(request: Request, activity_id: str, user: Office) -> Response:
    call = send_form(request, ApproveActivity, user, activity_id=activity_id)
    return await act(request, call, f"{BASE}/office/activities", "已通过审核")


@router.post(f"{BASE}/office/activities/{{activity_id}}/reject", dependencies=Csrf)
async def reject(request: Request, activity_id: str, user: Office,
                 reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, RejectActivity, user, activity_id=activity_id, reason=reason)
    return await act(request, call, f"{BASE}/office/activities", "已驳回")

"""The office's pages: the suggestion inbox (register, decline, merge, assign) and the
activity approvals for duty points."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.web.common import (
    BASE, WebRoute, act, check_csrf, names, need, optional, reference, render, services,
)

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]
Csrf = [Depends(check_csrf)]


async def _inbox_context(request: Request, user: Principal) -> dict[str, Any]:
    svc = services(request)
    # Every year's waiting suggestions, one page of at most 500 of each (paging on the page
    # itself: a later issue).
    submitted, registered, ref = await asyncio.gather(
        _items(svc.call("intake", "list_suggestions",
                        {"status": "submitted", "year": "all", "limit": 500}, user)),
        _items(svc.call("intake", "list_suggestions",
                        {"status": "registered", "year": "all", "limit": 500}, user)),
        reference(request, user))
    assignments = await asyncio.gather(*(
        optional(svc.call("assignment", "case_assignment", {"case_id": s["id"]}, user))
        for s in registered))
    awaiting = [{**s, "assignment": a} for s, a in zip(registered, assignments)
                if a is None or a.get("status") != "assigned"]
    return {"submitted": submitted, "awaiting": awaiting, **names(ref)}


async def _items(call: Any) -> list[dict[str, Any]]:
    return (await call)["items"]


@router.get(f"{BASE}/office/inbox")
async def inbox(request: Request, user: Office) -> HTMLResponse:
    return render(request, "office_inbox.html", await _inbox_context(request, user))


@router.get(f"{BASE}/office/inbox/fragment")
async def inbox_fragment(request: Request, user: Office) -> HTMLResponse:
    return render(request, "_office_inbox.html", await _inbox_context(request, user),
                  fragment=True)


@router.get(f"{BASE}/office/suggestions/{{suggestion_id}}")
async def suggestion_page(request: Request, suggestion_id: str, user: Office) -> HTMLResponse:
    svc = services(request)
    suggestion, ref = await asyncio.gather(
        svc.call("intake", "get_suggestion", {"suggestion_id": suggestion_id}, user),
        reference(request, user))
    similar, assignment = await asyncio.gather(
        optional(svc.call("intake", "similar_suggestions",
                          {"suggestion_id": suggestion_id, "limit": 10}, user)),
        optional(svc.call("assignment", "case_assignment", {"case_id": suggestion_id}, user)))
    return render(request, "office_suggestion.html", {
        "s": suggestion, "similar": similar or [], "assignment": assignment, **names(ref)})


def _back(suggestion_id: str) -> str:
    return f"{BASE}/office/suggestions/{suggestion_id}"


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/register", dependencies=Csrf)
async def register(request: Request, suggestion_id: str, user: Office,
                   urgency: Annotated[str, Form(pattern="^(red|yellow|blue)$")],
                   category: Annotated[str | None, Form()] = None) -> Response:
    call = services(request).call("intake", "register_suggestion", {
        "suggestion_id": suggestion_id, "urgency": urgency, "category": category or None}, user)
    return await act(request, call, _back(suggestion_id), "已立案", _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/decline", dependencies=Csrf)
async def decline(request: Request, suggestion_id: str, user: Office,
                  reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = services(request).call("intake", "decline_suggestion",
                                  {"suggestion_id": suggestion_id, "reason": reason}, user)
    return await act(request, call, f"{BASE}/office/inbox", "已作不予立案处理",
                     _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/merge", dependencies=Csrf)
async def merge(request: Request, suggestion_id: str, user: Office,
                into: Annotated[str, Form(min_length=1)]) -> Response:
    call = services(request).call("intake", "merge_suggestion",
                                  {"suggestion_id": suggestion_id, "into": into}, user)
    return await act(request, call, _back(into), "已并案", _back(suggestion_id))


@router.post(f"{BASE}/office/suggestions/{{suggestion_id}}/assign", dependencies=Csrf)
async def assign(request: Request, suggestion_id: str, user: Office,
                 lead_unit_id: Annotated[str | None, Form()] = None,
                 co_unit_ids: Annotated[list[str] | None, Form()] = None,
                 deadline: Annotated[str | None, Form()] = None) -> Response:
    """Without a lead unit the routing rule's proposal is used (the service decides)."""
    lead = lead_unit_id or None
    call = services(request).call("assignment", "assign_suggestion", {
        "suggestion_id": suggestion_id, "lead_unit_id": lead,
        "co_unit_ids": [u for u in (co_unit_ids or []) if u and u != lead],
        "deadline": deadline or None}, user)
    return await act(request, call, _back(suggestion_id), "已交办", _back(suggestion_id))


@router.post(f"{BASE}/office/tasks/{{task_id}}/reassign", dependencies=Csrf)
async def reassign(request: Request, task_id: str, user: Office,
                   case_id: Annotated[str, Form()], unit_id: Annotated[str, Form(min_length=1)],
                   reason: Annotated[str | None, Form(max_length=2000)] = None) -> Response:
    call = services(request).call("assignment", "reassign_task", {
        "task_id": task_id, "unit_id": unit_id, "reason": reason or None}, user)
    return await act(request, call, _back(case_id), "已改办", _back(case_id))


@router.post(f"{BASE}/office/tasks/{{task_id}}/refuse-return", dependencies=Csrf)
async def refuse_return(request: Request, task_id: str, user: Office,
                        case_id: Annotated[str, Form()],
                        reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = services(request).call("assignment", "refuse_return",
                                  {"task_id": task_id, "reason": reason}, user)
    return await act(request, call, _back(case_id), "已驳回退回申请", _back(case_id))


# --- activity approvals (履职活动审核) -----------------------------------------------------


@router.get(f"{BASE}/office/activities")
async def activities(request: Request, user: Office) -> HTMLResponse:
    svc = services(request)
    pending, rules, ref = await asyncio.gather(
        # every year's pending reports, the first 500 (the page's paging is a later step)
        svc.call("points", "list_activities", {"status": "pending", "year": "all",
                                               "limit": 500}, user),
        svc.call("points", "rules", {}, user), reference(request, user))
    kinds: dict[str, str] = {}
    for rule in rules:
        for code, kind in rule.get("activities", {}).items():
            kinds.setdefault(code, kind.get("name_zh", code))
    return render(request, "office_activities.html",
                  {"pending": pending["items"], "pending_total": pending["total"],
                   "kinds": kinds, **names(ref)})


@router.post(f"{BASE}/office/activities/{{activity_id}}/approve", dependencies=Csrf)
async def approve(request: Request, activity_id: str, user: Office) -> Response:
    call = services(request).call("points", "approve_activity", {"activity_id": activity_id}, user)
    return await act(request, call, f"{BASE}/office/activities", "已通过审核")


@router.post(f"{BASE}/office/activities/{{activity_id}}/reject", dependencies=Csrf)
async def reject(request: Request, activity_id: str, user: Office,
                 reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = services(request).call("points", "reject_activity",
                                  {"activity_id": activity_id, "reason": reason}, user)
    return await act(request, call, f"{BASE}/office/activities", "已驳回")

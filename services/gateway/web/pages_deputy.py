"""A deputy's page: own suggestions with status and the rating form, claimed citizen
messages, duty points and the ranking position. Built for a phone first."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.web.common import (
    BASE, WebRoute, act, check_csrf, names, need, optional, reference, render, services,
)

router = APIRouter(route_class=WebRoute)
Deputy = Annotated[Principal, Depends(need("deputy"))]
Csrf = [Depends(check_csrf)]


async def _context(request: Request, user: Principal) -> dict[str, Any]:
    svc = services(request)
    # This year's suggestions and the messages claimed now: one page of at most 500 each
    # (paging and search on the page itself: a later issue).
    suggestions, claimed, points, rankings, ref = await asyncio.gather(
        _items(svc.call("intake", "list_suggestions", {"limit": 500}, user)),
        _items(svc.call("intake", "list_messages",
                        {"status": "claimed", "claimed_by": user.deputy_id, "year": "all",
                         "limit": 500}, user)),
        svc.call("points", "deputy_points", {"deputy_id": user.deputy_id}, user),
        svc.call("points", "ranking_position", {"deputy_id": user.deputy_id}, user),
        reference(request, user))
    cases = await asyncio.gather(*(
        optional(svc.call("supervision", "get_case", {"case_id": s["id"]}, user))
        if s["status"] == "registered" else _none() for s in suggestions))
    rows = []
    for s, case in zip(suggestions, cases):
        mine = [r for r in (case or {}).get("ratings", [])
                if r["deputy_id"] == user.deputy_id and r["round"] == case.get("round")]
        can_rate = bool(case and case.get("reply") and case.get("status") != "closed"
                        and user.deputy_id in case.get("raters", []) and not mine)
        rows.append({**s, "case": case, "my_rating": mine[-1] if mine else None,
                     "can_rate": can_rate})
    me = rankings["row"]  # the deputy's place, not the whole ranking
    deputy = ref["deputies"].get(user.deputy_id, {})
    return {
        "suggestions": rows,
        "claimed": [m for m in claimed if m.get("claimed_by") == user.deputy_id],
        "points": points, "me": me, "ranked": rankings["ranked"], "deputy": deputy,
        "group_rank": rankings["group_rank"], "group_size": rankings["group_size"] or 0,
        "year": rankings["year"],
        **names(ref),
    }


async def _none() -> None:
    return None


async def _items(call: Any) -> list[dict[str, Any]]:
    return (await call)["items"]


@router.get(f"{BASE}/deputy")
async def deputy_home(request: Request, user: Deputy) -> HTMLResponse:
    return render(request, "deputy_home.html", await _context(request, user))


@router.post(f"{BASE}/deputy/suggestions/{{suggestion_id}}/rating", dependencies=Csrf)
async def rate(request: Request, suggestion_id: str, user: Deputy,
               rating: Annotated[Literal["satisfied", "basically_satisfied", "unsatisfied"], Form()],
               comment: Annotated[str | None, Form(max_length=2000)] = None) -> Response:
    call = services(request).call("supervision", "rate_case", {
        "case_id": suggestion_id, "rating": rating, "comment": comment or None}, user)
    return await act(request, call, f"{BASE}/deputy", "已提交评价")


@router.post(f"{BASE}/deputy/messages/{{message_id}}/answer", dependencies=Csrf)
async def answer(request: Request, message_id: str, user: Deputy,
                 text: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    call = services(request).call("intake", "answer_message",
                                  {"message_id": message_id, "text": text}, user)
    return await act(request, call, f"{BASE}/deputy", "已答复群众留言")

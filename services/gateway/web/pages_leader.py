"""A leader's own cases in the web application (我的督办件), in Chinese: the cases the office
designated them to lead (领办) or supervise (重点督办) and those escalated to them (升级督办),
most recent first, each with its colour today and its tasks; filters and paging as the API
(``GET /api/v1/leader/cases``, answered by supervision)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from shared.contracts.requests.supervision import LeaderCases
from shared.paging import DEFAULT_LIMIT

from services.gateway.auth import Principal
from services.gateway.web.common import (
    BASE, WebRoute, need, names, reference, render, services,
)

router = APIRouter(route_class=WebRoute)
Leader = Annotated[Principal, Depends(need("leader"))]

RELATION_ZH = {"led": "领衔督办", "supervised": "重点督办", "escalated": "升级督办"}


@router.get(f"{BASE}/leader/cases", response_class=HTMLResponse)
async def my_cases(request: Request, user: Leader,
                   relation: Literal["led", "supervised", "escalated", ""] = "",
                   open_only: bool = False,
                   cursor: Annotated[str | None, Query(max_length=1000)] = None,
                   ) -> HTMLResponse:
    query = LeaderCases(relation=relation or None, open_only=open_only, cursor=cursor,
                        limit=DEFAULT_LIMIT)
    found, ref = await asyncio.gather(services(request).send(query, user),
                                      reference(request, user))
    return render(request, "leader_cases.html", {
        "cases": found["items"], "total": found["total"], "next_cursor": found["next_cursor"],
        "relation": relation, "open_only": open_only,
        "RELATION_ZH": RELATION_ZH, **names(ref)})

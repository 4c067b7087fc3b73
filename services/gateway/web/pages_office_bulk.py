"""The office's bulk actions on the case list (批量操作): register the chosen submitted
suggestions at one urgency (批量立案), or assign the chosen registered ones as their routing
rules propose (按建议方案批量交办). Each suggestion is one typed command, as on its own page;
the page that answers lists every one with its outcome, and a refusal in the service's words
(in Chinese), so one refused suggestion never hides what happened to the others."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (
    BASE, WebRoute, check_csrf, failure_text, need, optional, redirect, render, send_form,
    services,
)
from shared.contracts.requests.assignment import AssignSuggestion
from shared.contracts.requests.intake import GetSuggestion, RegisterSuggestion

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]

BULK_MAX = 100  # suggestions in one bulk action: the awaiting tab lists at most 100
PARALLEL = 4  # commands in flight at once: each is its own request to its service
ACTIONS = {"register": ("批量立案", "已立案"), "assign": ("按建议方案批量交办", "已交办")}
Ids = Annotated[list[str], Form(max_length=BULK_MAX)]


@router.post(f"{BASE}/office/bulk", dependencies=[Depends(check_csrf)])
async def bulk(request: Request, user: Office, action: Annotated[Literal["register", "assign"], Form()],
               ids: Ids = [],  # noqa: B006 (FastAPI copies a default)
               urgency: Annotated[Literal["red", "yellow", "blue"] | None, Form()] = None,
               ) -> Response:
    svc = services(request)
    chosen = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    tab = "submitted" if action == "register" else "awaiting"
    if not chosen:
        return redirect(f"{BASE}/office/inbox?status={tab}", "未完成：没有勾选建议", "error")
    gate = asyncio.Semaphore(PARALLEL)

    async def one(suggestion_id: str) -> dict[str, Any]:
        if action == "register":
            call = send_form(request, RegisterSuggestion, user, suggestion_id=suggestion_id,
                             urgency=urgency)
        else:  # no lead unit: the routing rule's proposal (the service decides)
            call = send_form(request, AssignSuggestion, user, suggestion_id=suggestion_id)
        async with gate:
            try:
                await call
            except ServiceFailure as exc:
                detail, items = failure_text(exc)
                outcome = {"ok": False, "reason": "；".join([detail, *items])}
            else:
                outcome = {"ok": True}
            # as it is now (a registered one has its number)
            found = await optional(svc.send(GetSuggestion(suggestion_id=suggestion_id), user))
        return {"id": suggestion_id, "suggestion": found, **outcome}

    rows = await asyncio.gather(*(one(i) for i in chosen))
    title, done = ACTIONS[action]
    return render(request, "office_bulk.html", {
        "title": title, "done": done, "rows": rows, "tab": tab,
        "succeeded": sum(r["ok"] for r in rows), "failed": sum(not r["ok"] for r in rows)})

"""The office's page of one citizen message: its similar matters side by side, and merging it
into another message about the same matter (or undoing that merge). Owned by intake
(services/intake/message_merging.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.web.common import (
    BASE, WebRoute, check_csrf, names, need, optional, redirect, reference, render, services,
    act,
)
from shared.contracts.requests.intake import (
    ListMessages, MergeMessage, SimilarMessagesRef, UndoMessageMerge,
)
from shared.contracts.requests.limits import REASON_MAX

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]
Csrf = [Depends(check_csrf)]


def _page(message_id: str) -> str:
    return f"{BASE}/office/messages/{message_id}"


@router.get(f"{BASE}/office/messages/{{message_id}}")
async def message_page(request: Request, message_id: str, user: Office) -> HTMLResponse:
    svc = services(request)
    # the list's row: the text without the poster's name or phone (nothing to log)
    found, ref = await asyncio.gather(
        svc.send(ListMessages(q=message_id, year="all", limit=1), user),
        reference(request, user))
    rows = [m for m in found["items"] if m["id"] == message_id]
    if not rows:
        raise HTTPException(404, "没有这条留言")
    similar = await optional(svc.send(SimilarMessagesRef(message_id=message_id, limit=10), user))
    return render(request, "office_message.html", {
        "m": rows[0], "similar": similar or [], **names(ref)})


@router.post(f"{BASE}/office/messages/{{message_id}}/merge", dependencies=Csrf)
async def merge(request: Request, message_id: str, user: Office,
                into: Annotated[str, Form(max_length=64)] = "") -> Response:
    if not into:
        return redirect(_page(message_id), "未完成：请选择要并入的留言", "error")
    call = services(request).send(MergeMessage(message_id=message_id, into=into), user)
    return await act(request, call, _page(message_id), "已合并：本留言随所选留言一并办理")


@router.post(f"{BASE}/office/messages/{{message_id}}/merge/undo", dependencies=Csrf)
async def undo_merge(request: Request, message_id: str, user: Office,
                     reason: Annotated[str, Form(max_length=REASON_MAX)] = "") -> Response:
    if not reason.strip():
        return redirect(_page(message_id), "未完成：请填写撤销合并的理由", "error")
    call = services(request).send(UndoMessageMerge(message_id=message_id, reason=reason), user)
    return await act(request, call, _page(message_id), "已撤销合并，留言回到待认领")

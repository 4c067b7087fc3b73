"""The office's administrative pages: 积分管理 (a deputy's ledger of a year, paged, where an
award line is revoked with a reason after a confirmation), 个人信息 (the citizen messages,
paged and searchable; per message its access log, paged, reading the contact details with a
stated purpose — which is logged — and erasing the personal data after typing a confirmation
phrase) and 联络站二维码 (every station's QR code, laid out to print). Every command goes to
the owning service; refusals come back in Chinese (errors_zh.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import request_of
from services.gateway.web.common import (
    BASE, ERASED_MARK, WebRoute, act, check_csrf, names, need, redirect, reference, render,
    services, today,
)

from shared.contracts.requests.intake import (
    AccessLogRef,
    ErasePersonalData,
    GetMessage,
    ListMessages,
)
from shared.contracts.requests.points import DeputyPoints, RevokePoints

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]
Csrf = [Depends(check_csrf)]

PAGE_SIZE = 20
Text = Annotated[str | None, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=1000)]
Start = Annotated[int, Query(ge=0)]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
ERASE_PHRASE = "确认删除"
FIELD_NAMES_ZH = {"contact_name": "姓名", "contact_phone": "电话"}
ROUTE_ZH = {"get_message": "查看留言"}


# --- 积分管理: revoking an award line ------------------------------------------------------


def _points_url(deputy_id: str, year: int) -> str:
    return f"{BASE}/office/points?" + urlencode({"deputy_id": deputy_id, "year": year})


@router.get(f"{BASE}/office/points")
async def points(request: Request, user: Office, deputy_id: Text = None, year: YearQ = None,
                 cursor: Cursor = None, start: Start = 0) -> HTMLResponse:
    svc = services(request)
    ref = await reference(request, user)
    year = year or today().year
    ledger = None
    if deputy_id:
        ledger = await svc.send(request_of(DeputyPoints, query={
            "deputy_id": deputy_id, "year": year, "limit": PAGE_SIZE, "cursor": cursor}), user)
    return render(request, "office_points.html", {
        "deputy_id": deputy_id or "", "year": year, "ledger": ledger, "start": start,
        "years": list(range(today().year, today().year - 5, -1)), **names(ref)})


@router.post(f"{BASE}/office/points/{{deputy_id}}/revoke", dependencies=Csrf)
async def revoke(request: Request, deputy_id: str, user: Office,
                 year: Annotated[int, Form(ge=2000, le=2100)],
                 line_no: Annotated[int, Form(ge=1)],
                 reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    back = _points_url(deputy_id, year)
    if not reason.strip():
        return redirect(back, "未完成：请填写撤销理由", "error")
    call = services(request).send(RevokePoints(
        deputy_id=deputy_id, year=year, line_no=line_no, reason=reason.strip()), user)
    return await act(request, call, back, f"已撤销第 {line_no} 条积分", back)


# --- 个人信息: the access log and erasure ----------------------------------------------------


@router.get(f"{BASE}/office/personal-data")
async def personal_data(request: Request, user: Office, q: Text = None, cursor: Cursor = None,
                        start: Start = 0) -> HTMLResponse:
    svc = services(request)
    q = (q or "").strip() or None
    page, ref = await asyncio.gather(
        svc.send(request_of(ListMessages, query={
            "status": None, "year": "all", "q": q, "newest_first": True, "limit": PAGE_SIZE,
            "cursor": cursor}), user),
        reference(request, user))
    rows = [{**r, "personal_data_erased": r.get("content") == ERASED_MARK}
            for r in page["items"]]
    return render(request, "office_personal_data.html", {
        "rows": rows, "next_cursor": page.get("next_cursor"), "total": page.get("total"),
        "q": q or "", "start": start, **names(ref)})


async def _message_row(request: Request, user: Principal, message_id: str) -> dict[str, Any]:
    """The message as the list shows it (no contact details: reading them is logged)."""
    found = await services(request).send(request_of(ListMessages, query={
        "status": None, "year": "all", "q": message_id, "limit": 5}), user)
    for row in found["items"]:
        if row["id"] == message_id:
            return {**row, "personal_data_erased": row.get("content") == ERASED_MARK}
    raise HTTPException(404, "未找到这条留言")


@router.get(f"{BASE}/office/messages/{{message_id}}/personal-data")
async def message_personal_data(request: Request, message_id: str, user: Office,
                                purpose: Text = None, start: Start = 0) -> HTMLResponse:
    svc = services(request)
    purpose = (purpose or "").strip() or None
    message, ref = await asyncio.gather(_message_row(request, user, message_id),
                                        reference(request, user))
    contact = None
    if purpose:  # the office asked to read the contact details, saying why: logged first
        contact = await svc.send(
            request_of(GetMessage, query={"message_id": message_id, "purpose": purpose}), user)
    log = await svc.send(AccessLogRef(message_id=message_id), user)
    log = list(reversed(log))  # the latest read first
    return render(request, "office_message_personal_data.html", {
        "m": message, "contact": contact, "purpose": purpose or "",
        "log": log[start:start + PAGE_SIZE], "log_total": len(log), "start": start,
        "next_start": start + PAGE_SIZE if start + PAGE_SIZE < len(log) else None,
        "FIELD_NAMES_ZH": FIELD_NAMES_ZH, "ROUTE_ZH": ROUTE_ZH, "ERASE_PHRASE": ERASE_PHRASE,
        **names(ref)})


@router.post(f"{BASE}/office/messages/{{message_id}}/erasure", dependencies=Csrf)
async def erase(request: Request, message_id: str, user: Office,
                confirmation: Annotated[str, Form(max_length=50)] = "") -> Response:
    back = f"{BASE}/office/messages/{message_id}/personal-data"
    if confirmation.strip() != ERASE_PHRASE:
        return redirect(back, f"未完成：请在确认框中输入“{ERASE_PHRASE}”四个字", "error")
    call = services(request).send(ErasePersonalData(message_id=message_id), user)
    return await act(request, call, back, "已删除留言人的个人信息（办理记录保留）", back)


# --- 联络站二维码: printable QR codes --------------------------------------------------------


@router.get(f"{BASE}/office/stations")
async def stations(request: Request, user: Office, only: Text = None) -> HTMLResponse:
    ref = await reference(request, user)
    listed = [s for s in ref["stations"].values() if not only or s["id"] == only]
    return render(request, "office_stations.html",
                  {"stations": listed, "only": only or "", **names(ref)})


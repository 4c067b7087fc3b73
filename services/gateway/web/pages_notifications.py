"""The signed-in user's notifications in the web application (通知): the inbox page, a read
mark per item, the header's unread badge (a fragment the layout loads with htmx, so every
page shows the count without a call of its own) and the settings (通知设置): per kind in-app
and e-mail, e-mail at once or as a daily digest, quiet hours."""

from __future__ import annotations

from typing import Annotated, Any

import re

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, request_of
from shared.contracts.requests.notifications import (
    GetPreferences,
    ListNotifications,
    MarkRead,
    SetPreferences,
)
from services.gateway.web.common import (
    BASE, act, check_csrf, failure_text, need, redirect, render, services, WebRoute,
)

router = APIRouter(route_class=WebRoute)
Anyone = Annotated[Principal, Depends(need("office", "leader", "unit", "deputy"))]
NotificationId = Annotated[str, Path(min_length=1, max_length=100)]

KIND_ZH = {
    "task_assigned": "新交办任务", "task_withdrawn": "任务撤回或改派",
    "return_refused": "退回申请未获同意", "deadline_warning": "时限预警",
    "rehandling_started": "重新办理", "follow_up_review": "跟踪回访",
    "message_waiting": "群众留言待认领", "claim_lapsing": "认领即将到期",
    "reply_submitted": "建议已答复", "rating_due": "测评即将到期",
    "activity_reviewed": "履职活动审核",
    "points_revoked": "积分撤销", "leadership_designated": "领导领办",
    "case_escalated": "升级督办", "return_requested": "申请退回",
    "close_out_waiting": "待销号", "message_waiting_long": "留言久未认领",
}


def link(user: Principal, item: dict[str, Any]) -> str | None:
    """Where a notification leads the user: the task, the suggestion or the case."""
    if user.role == "unit" and item.get("task_id"):
        return f"{BASE}/unit/tasks/{item['task_id']}"
    if user.role == "deputy" and item.get("kind") in ("reply_submitted", "rating_due") \
            and item.get("case_id") \
            and not item.get("message_id"):
        return f"{BASE}/deputy/suggestions/{item['case_id']}"
    if user.role in ("office", "leader") and item.get("case_id") and not item.get("message_id"):
        return f"{BASE}/cases/{item['case_id']}"
    return None


@router.get(f"{BASE}/notifications")
async def notifications_page(request: Request, user: Anyone,
                             unread: Annotated[bool, Query()] = False,
                             cursor: Annotated[str | None, Query(max_length=1000)] = None
                             ) -> HTMLResponse:
    query: dict[str, Any] = {"unread": unread, "limit": 50}
    if cursor:
        query["cursor"] = cursor
    page = await services(request).send(request_of(ListNotifications, query=query), user)
    items = [{**n, "href": link(user, n), "kind_zh": KIND_ZH.get(n["kind"], "通知")}
             for n in page["items"]]
    return render(request, "notifications.html", {
        "items": items, "unread_only": unread, "unread": page.get("unread", 0),
        "total": page.get("total"), "next_cursor": page.get("next_cursor")})


@router.get(f"{BASE}/notifications/badge")
async def notifications_badge(request: Request, user: Anyone) -> HTMLResponse:
    """The header link's text: 通知, and the unread count when there is any."""
    page = await services(request).send(ListNotifications(unread=True, limit=1), user)
    return render(request, "_notifications_badge.html", {"unread": page.get("unread", 0)},
                  fragment=True)


@router.post(f"{BASE}/notifications/{{notification_id}}/read",
             dependencies=[Depends(check_csrf)])
async def mark_read(request: Request, notification_id: NotificationId, user: Anyone,
                    unread: Annotated[bool, Query()] = False) -> Response:
    back = f"{BASE}/notifications" + ("?unread=true" if unread else "")
    return await act(request, services(request).send(
        MarkRead(notification_id=notification_id), user), back, "已标为已读")


HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


async def _settings_context(request: Request, user: Principal) -> dict[str, Any]:
    prefs = await services(request).send(GetPreferences(), user)
    mine = "office" if user.role == "office" else user.role
    kinds = [{"kind": k, **v} for k, v in prefs["kinds"].items()
             if v["for"] == mine or (mine == "office" and v["for"] == "leader")]
    return {"prefs": prefs, "kinds": kinds, "errors": {}, "error": None}


@router.get(f"{BASE}/notifications/settings")
async def settings_page(request: Request, user: Anyone) -> HTMLResponse:
    return render(request, "notifications_settings.html",
                  await _settings_context(request, user))


@router.post(f"{BASE}/notifications/settings", dependencies=[Depends(check_csrf)])
async def save_settings(request: Request, user: Anyone,
                        email_mode: Annotated[str, Form(max_length=20)] = "immediate",
                        digest_at: Annotated[str, Form(max_length=5)] = "08:00",
                        quiet_start: Annotated[str, Form(max_length=5)] = "",
                        quiet_end: Annotated[str, Form(max_length=5)] = "") -> Response:
    form = await request.form()
    context = await _settings_context(request, user)
    errors: dict[str, str] = {}
    if email_mode not in ("immediate", "daily_digest"):
        errors["email_mode"] = "请选择即时发送或每日摘要"
    if not HHMM.match(digest_at):
        errors["digest_at"] = "请填写摘要发送时间，如 08:00"
    quiet = None
    if quiet_start or quiet_end:
        for field, value in (("quiet_start", quiet_start), ("quiet_end", quiet_end)):
            if not HHMM.match(value):
                errors[field] = "请填写时间，如 22:00；不设免打扰时两项都留空"
        if not errors.get("quiet_start") and not errors.get("quiet_end"):
            if quiet_start == quiet_end:
                errors["quiet_end"] = "结束时间不能与开始时间相同"
            quiet = {"start": quiet_start, "end": quiet_end}
    if errors:
        return render(request, "notifications_settings.html", {
            **context, "errors": errors, "error": "设置未保存，请修改标出的项目",
            "entered": {"email_mode": email_mode, "digest_at": digest_at,
                        "quiet_start": quiet_start, "quiet_end": quiet_end}},
            status_code=422)
    kinds = {k["kind"]: {"in_app": form.get(f"in_app.{k['kind']}") == "on",
                         "email": form.get(f"email.{k['kind']}") == "on",
                         "webhook_url": k.get("webhook_url")} for k in context["kinds"]}
    payload: dict[str, Any] = {"kinds": kinds, "email_mode": email_mode, "digest_at": digest_at}
    if quiet:
        payload["quiet_hours"] = quiet
    else:
        payload["quiet_hours_off"] = True
    try:
        await services(request).send(request_of(SetPreferences, query=payload), user)
    except (ServiceFailure, RequestValidationError) as exc:
        detail, items = (failure_text(exc) if isinstance(exc, ServiceFailure)
                         else ("请检查表单内容", []))
        return render(request, "notifications_settings.html", {
            **context, "error": "设置未保存：" + "；".join([detail, *items])}, status_code=422)
    return redirect(f"{BASE}/notifications/settings", "通知设置已保存")

"""The signed-in user's notifications in the web application (通知): the inbox page, a read
mark per item, and the header's unread badge (a fragment the layout loads with htmx, so every
page shows the count without a call of its own)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.web.common import (
    BASE, act, check_csrf, need, render, services, WebRoute,
)

router = APIRouter(route_class=WebRoute)
Anyone = Annotated[Principal, Depends(need("office", "leader", "unit", "deputy"))]
NotificationId = Annotated[str, Path(min_length=1, max_length=100)]

KIND_ZH = {
    "task_assigned": "新交办任务", "task_withdrawn": "任务撤回或改派",
    "return_refused": "退回申请未获同意", "deadline_warning": "时限预警",
    "rehandling_started": "重新办理", "follow_up_review": "跟踪回访",
    "message_waiting": "群众留言待认领", "claim_lapsing": "认领即将到期",
    "reply_submitted": "建议已答复", "activity_reviewed": "履职活动审核",
    "points_revoked": "积分撤销", "leadership_designated": "领导领办",
    "case_escalated": "升级督办", "return_requested": "申请退回",
    "close_out_waiting": "待销号", "message_waiting_long": "留言久未认领",
}


def link(user: Principal, item: dict[str, Any]) -> str | None:
    """Where a notification leads the user: the task, the suggestion or the case."""
    if user.role == "unit" and item.get("task_id"):
        return f"{BASE}/unit/tasks/{item['task_id']}"
    if user.role == "deputy" and item.get("kind") == "reply_submitted" and item.get("case_id") \
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
    payload: dict[str, Any] = {"unread": unread, "limit": 50}
    if cursor:
        payload["cursor"] = cursor
    page = await services(request).call("notifications", "list_notifications", payload, user)
    items = [{**n, "href": link(user, n), "kind_zh": KIND_ZH.get(n["kind"], "通知")}
             for n in page["items"]]
    return render(request, "notifications.html", {
        "items": items, "unread_only": unread, "unread": page.get("unread", 0),
        "total": page.get("total"), "next_cursor": page.get("next_cursor")})


@router.get(f"{BASE}/notifications/badge")
async def notifications_badge(request: Request, user: Anyone) -> HTMLResponse:
    """The header link's text: 通知, and the unread count when there is any."""
    page = await services(request).call("notifications", "list_notifications",
                                        {"unread": True, "limit": 1}, user)
    return render(request, "_notifications_badge.html", {"unread": page.get("unread", 0)},
                  fragment=True)


@router.post(f"{BASE}/notifications/{{notification_id}}/read",
             dependencies=[Depends(check_csrf)])
async def mark_read(request: Request, notification_id: NotificationId, user: Anyone,
                    unread: Annotated[bool, Query()] = False) -> Response:
    back = f"{BASE}/notifications" + ("?unread=true" if unread else "")
    return await act(request, services(request).call(
        "notifications", "mark_read", {"notification_id": notification_id}, user),
        back, "已标为已读")

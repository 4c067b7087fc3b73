"""What every page of the staff web application shares: the session cookie, CSRF protection,
the templates and their filters, Chinese labels, and calling the services as the signed-in
user. The pages never hold business rules: every command and query goes to the owning
service through the gateway's ``Services`` client with the user's ``Principal``."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from shared.clock import CHINA_TZ
from services.gateway.auth import Authenticator, Principal
from services.gateway.deps import ServiceFailure, Services, ServiceUnavailable
from shared.contracts.requests import Request as Contract
from shared.contracts.requests import intake as intake_requests
from shared.rpc import Invalid, validation_errors
from shared.contracts.requests.assignment import Units
from services.gateway.web.errors_zh import FIELD_ZH, MISSING_ZH, zh, failure_zh

BASE = "/app"
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "duty_session"
CSRF_COOKIE = "duty_csrf"
FLASH_COOKIE = "duty_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
POLL = "every 5s"  # htmx polling of the board and the inboxes

templates = Jinja2Templates(directory=str(HERE / "templates"))

# --- Chinese labels ---------------------------------------------------------------------

ROLE_ZH = {"office": "代表工委", "unit": "承办单位", "deputy": "人大代表", "leader": "领导",
           "admin": "账号管理员",
           "citizen": "群众", "station": "联络站"}
COLOUR_ZH = {"green": "绿·按期", "yellow": "黄·临期", "red": "红·超期", "closed": "已办结"}
COLOURS = ("red", "yellow", "green", "closed")
URGENCY_ZH = {"red": "红·紧急", "yellow": "黄·较急", "blue": "蓝·一般"}
SUGGESTION_STATUS_ZH = {"submitted": "待审核", "registered": "已立案", "declined": "不予立案",
                        "merged": "已并案", "closed": "已办结"}
ASSIGNMENT_STATUS_ZH = {"proposed": "待交办", "assigned": "已交办", "held": "暂缓交办"}
TASK_STATUS_ZH = {"open": "待签收", "signed_for": "办理中", "replied": "已答复", "closed": "已办结",
                  "withdrawn": "已撤回", "return_requested": "申请退回中", "assigned": "已交办"}
CASE_STATUS_ZH = {"awaiting_assignment": "待交办", "handling": "办理中", "replied": "已答复", "closed": "已办结",
                  "rehandling": "重新办理", "escalated": "已升级督办"}
REHANDLING_REASON_ZH = {"unsatisfied": "代表不满意", "review_not_kept": "回头看未落实",
                        "review_partly_kept": "回头看部分落实"}
RATING_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
RESULT_CLASS_ZH = {"A": "A 已解决或基本解决", "B": "B 正在解决或列入计划",
                   "C": "C 因条件限制暂不能解决"}
ROLE_IN_CASE_ZH = {"lead": "主办", "co": "协办"}
MESSAGE_STATUS_ZH = {"received": "待认领", "claimed": "已认领", "answered": "已答复",
                     "converted": "已转建议", "forwarded": "已转部门", "closed": "已办结",
                     "merged": "已合并"}
ACTIVITY_STATUS_ZH = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回"}
SERVICE_ZH = {"intake": "受理", "assignment": "交办", "supervision": "督办", "points": "积分"}
CAUSE_ZH = {"suggestion_registered": "建议立案", "suggestion_resolved": "建议办成",
            "message_answered": "答复群众留言", "message_rated_satisfied": "群众评价满意",
            "activity": "履职活动", "adjustment": "重算调整", "revocation": "撤销",
            "report_to_voters": "向选民述职", "reception_attended": "参加接待选民日",
            "group_activity_attended": "参加代表小组活动"}
EVENT_ZH = {
    "Submitted": "代表提交建议", "Registered": "立案", "Declined": "不予立案",
    "Merged": "并案", "MergedInto": "并入同一事项", "SourceMerged": "同一事项并入",
    "SourceUnmerged": "撤销并入", "MergeUndone": "撤销并案", "Received": "收到留言", "Claimed": "代表认领",
    "ClaimReleased": "认领释放", "Answered": "代表答复", "Converted": "转为建议",
    "Forwarded": "转交部门", "Rated": "评价", "PersonalDataErased": "删除个人信息",
    "Opened": "立项督办", "Proposed": "提出交办方案", "Assigned": "交办", "TaskAssigned": "交办任务",
    "SignedFor": "签收", "Acknowledged": "签收", "ContactRecorded": "办前沟通",
    "ContactWaived": "免于办前沟通", "ProgressNoted": "办理进展", "OpinionSubmitted": "协办意见",
    "Replied": "答复", "RatingLapsed": "评价逾期", "RehandlingStarted": "重新办理",
    "ReviewScheduled": "安排回头看", "ReviewRecorded": "回头看结果", "Escalated": "升级督办",
    "Closed": "办结销号", "DeadlineWarning": "临期/超期提醒", "Withdrawn": "撤回任务",
    "ReturnRequested": "申请退回", "ReturnRefused": "驳回退回申请", "Reassigned": "改办",
    "LeadershipDesignated": "领导领办/督办", "FactRecorded": "记录积分事实",
    "PointsAwarded": "积分入账", "DeputiesKnown": "确定评价代表", "TaskLinked": "关联任务",
    "ReplyRecorded": "记录答复", "HandlingNoted": "记录办理状态", "LineAwarded": "积分入账", "Revoked": "撤销积分",
}


def fmt_time(value: Any) -> str:
    """ISO 8601 → '2026-03-02 09:00' in China time; a date stays a date; empty → '—'."""
    if value in (None, ""):
        return "—"
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value)
        if len(text) == 10:
            return text
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(CHINA_TZ)
    return moment.strftime("%Y-%m-%d %H:%M")


def days_text(left: Any) -> str:
    """Working days left as a clerk says it: 剩 N 个工作日, 今日到期, 超期 N 个工作日."""
    if left is None or left == "":
        return ""
    left = int(left)
    if left < 0:
        return f"超期 {-left} 个工作日"
    if left == 0:
        return "今日到期"
    return f"剩 {left} 个工作日"


def label(mapping: dict[str, str], value: Any) -> str:
    if value in (None, ""):
        return "—"
    return mapping.get(str(value), str(value))


ERASED_MARK = "[erased]"  # what intake shows for an erased text or contact detail


def message_text(value: Any) -> str:
    """A message's text or contact detail, with intake's erased mark said in Chinese."""
    return "（已按留言人要求删除）" if value == ERASED_MARK else ("" if value is None else str(value))


templates.env.filters["dt"] = fmt_time
templates.env.filters["message_text"] = message_text
templates.env.filters["days"] = days_text
templates.env.filters["dict_merge"] = lambda d, **kw: {**d, **kw}
templates.env.globals.update(
    BASE=BASE, POLL=POLL, COLOURS=COLOURS, COLOUR_ZH=COLOUR_ZH, URGENCY_ZH=URGENCY_ZH,
    ROLE_ZH=ROLE_ZH, SUGGESTION_STATUS_ZH=SUGGESTION_STATUS_ZH, TASK_STATUS_ZH=TASK_STATUS_ZH,
    ASSIGNMENT_STATUS_ZH=ASSIGNMENT_STATUS_ZH, CASE_STATUS_ZH=CASE_STATUS_ZH,
    RATING_ZH=RATING_ZH, REHANDLING_REASON_ZH=REHANDLING_REASON_ZH, RESULT_CLASS_ZH=RESULT_CLASS_ZH, ROLE_IN_CASE_ZH=ROLE_IN_CASE_ZH,
    MESSAGE_STATUS_ZH=MESSAGE_STATUS_ZH, ACTIVITY_STATUS_ZH=ACTIVITY_STATUS_ZH,
    SERVICE_ZH=SERVICE_ZH, CAUSE_ZH=CAUSE_ZH, EVENT_ZH=EVENT_ZH, label=label,
    CSRF_FIELD=CSRF_FIELD, CSRF_HEADER=CSRF_HEADER, MISSING_ZH=MISSING_ZH,
)

# --- errors as pages --------------------------------------------------------------------


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page (htmx requests via HX-Redirect)."""


def _error_page(request: Request, status: int, title: str, detail: str,
                items: list[str] | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {
        "title": title, "detail": detail, "items": items or [], "status": status,
        "user": getattr(request.state, "web_user", None),
        "csrf": request.cookies.get(CSRF_COOKIE, ""),
    }, status_code=status)


def failure_text(exc: ServiceFailure) -> tuple[str, list[str]]:
    """A service's refusal in Chinese (web/errors_zh.py): no English reaches a page."""
    return failure_zh(exc.reply)


class WebRoute(APIRoute):
    """Route class of the web pages: a failure becomes an HTML page (or a redirect to sign
    in), never the API's JSON problem document."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if request.headers.get("HX-Request"):
                    return Response(status_code=204, headers={"HX-Redirect": f"{BASE}/login"})
                return RedirectResponse(f"{BASE}/login", status_code=303)
            except ServiceFailure as exc:
                detail, items = failure_text(exc)
                return _error_page(request, int(exc.reply.get("status", 500)), "无法完成", detail,
                                   items)
            except ServiceUnavailable as exc:
                return _error_page(request, exc.status_code, "服务暂不可用",
                                   zh(exc.detail, exc.status_code))
            except RequestValidationError as exc:
                items = [f"{FIELD_ZH.get(str(e['loc'][-1]), '字段')}：{zh(e['msg'], 422)}"
                         for e in exc.errors()]
                return _error_page(request, 422, "填写有误", "请检查表单内容", items)
            except HTTPException as exc:
                title = {403: "无权访问", 404: "未找到"}.get(exc.status_code, "请求有误")
                return _error_page(request, exc.status_code, title, zh(exc.detail, exc.status_code))

        return guarded


# --- session and CSRF -------------------------------------------------------------------


def authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator


def services(request: Request) -> Services:
    return request.app.state.services


def current_user(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return authenticator(request).decode(token)
    except HTTPException:
        return None


def need(*roles: str, password_change_ok: bool = False) -> Callable[[Request], Principal]:
    """A dependency: the signed-in user (any role when none given), else to the sign-in page.
    A user whose password was reset by an administrator sees only 修改密码 until they change
    it (``password_change_ok``: that page)."""
    def dependency(request: Request) -> Principal:
        user = current_user(request)
        if user is None:
            raise SignInRequired()
        request.state.web_user = user
        if user.must_change_password and not password_change_ok:
            raise HTTPException(403, "管理员已重置您的密码：请先在“修改密码”页设置新密码")
        if roles and user.role not in roles:
            raise HTTPException(403, f"此页面仅供{'、'.join(ROLE_ZH.get(r, r) for r in roles)}使用")
        return user

    return dependency


def _same_origin(request: Request) -> bool:
    """The Origin (or Referer) of a state-changing request must be this site."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None  # no header at all: rely on the token alone
    host = request.headers.get("host", "")
    return urlsplit(source).netloc == host


async def check_csrf(request: Request) -> None:
    """Double-submit token: the form field (or X-CSRF-Token header) must equal the
    SameSite=Strict cookie set with every page; and the Origin must be this site."""
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        sent = form.get(CSRF_FIELD)
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        raise HTTPException(403, "表单已失效（CSRF 校验未通过），请刷新页面后重试")
    if not _same_origin(request):
        raise HTTPException(403, "请求来源与本站不符（Origin 校验未通过）")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def ensure_csrf_cookie(request: Request, response: Response) -> str:
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, path=BASE, httponly=True, samesite="strict",
                            secure=_secure(request))
    return token


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, path=BASE, max_age=max_age, httponly=True,
                        samesite="strict", secure=_secure(request))


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=BASE)


def flash(response: Response, text: str, kind: str = "ok") -> Response:
    response.set_cookie(FLASH_COOKIE, json.dumps({"kind": kind, "text": text}), path=BASE,
                        max_age=60, httponly=True, samesite="strict")
    return response


def redirect(url: str, text: str | None = None, kind: str = "ok") -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if text:
        flash(response, text, kind)
    return response


@lru_cache(maxsize=8)
def _people(config_dir: str) -> dict[str, dict[str, str]]:
    """Deputies' and units' names from the configuration, for the page header."""
    import yaml

    def load(name: str) -> list[dict[str, Any]]:
        path = Path(config_dir) / f"{name}.yaml"
        return yaml.safe_load(path.read_text(encoding="utf-8")) or [] if path.exists() else []
    return {"deputies": {d["id"]: d.get("name", d["id"]) for d in load("deputies")},
            "units": {u["id"]: u.get("name", u["id"]) for u in load("units")}}


def display_name(request: Request, user: Principal | None) -> str:
    """Who is signed in, as people say it: 王建国（人大代表）, 区民政局（承办单位）, 代表工委."""
    if user is None:
        return ""
    settings = getattr(request.app.state, "settings", None)
    people = _people(str(settings.config_dir)) if settings is not None else {
        "deputies": {}, "units": {}}
    role = ROLE_ZH.get(user.role, "用户")
    if user.role == "deputy" and user.deputy_id in people["deputies"]:
        return f"{people['deputies'][user.deputy_id]}（{role}）"
    if user.role == "unit" and user.unit_id in people["units"]:
        return f"{people['units'][user.unit_id]}（{role}）"
    return role


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200,
           fragment: bool = False) -> HTMLResponse:
    """A page (or an htmx fragment) with the user, the CSRF token and the pending message."""
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    request.state.csrf = csrf
    message = None
    if not fragment and request.cookies.get(FLASH_COOKIE):
        try:
            message = json.loads(request.cookies[FLASH_COOKIE])
        except ValueError:
            message = None
    response = templates.TemplateResponse(request, name, {
        "user": getattr(request.state, "web_user", None), "csrf": csrf, "flash": message,
        "who": display_name(request, getattr(request.state, "web_user", None)),
        **context}, status_code=status_code)
    ensure_csrf_cookie(request, response)
    if message:
        response.delete_cookie(FLASH_COOKIE, path=BASE)
    return response


async def act(request: Request, call: Awaitable[Any], done_url: str, done_text: str,
              back_url: str | None = None) -> RedirectResponse:
    """Run a command; on success back to ``done_url`` with a message, on a refusal back to
    ``back_url`` (default the same) with the service's reason."""
    try:
        await call
    except ServiceFailure as exc:
        detail, items = failure_text(exc)
        return redirect(back_url or done_url, "未完成：" + "；".join([detail, *items]), "error")
    return redirect(done_url, done_text)


async def send_form(request: Request, contract: type[Contract], user: Principal | None, /,
                    **fields: Any) -> Any:
    """Send ``contract`` built from a page's form (and path) values, as ``services.send``.
    A value the contract refuses is the refusal the service gives for it (a ServiceFailure,
    422, each field located in the body), raised when awaited: a page shows it where it shows
    the service's other refusals (``act``: back to the form with the reason)."""
    try:
        built = contract.model_validate(fields)
    except ValidationError as exc:
        raise ServiceFailure(Invalid("the request has invalid fields",
                                     validation_errors(exc)).to_reply()) from None
    return await services(request).send(built, user)


async def optional(call: Awaitable[Any]) -> Any:
    """A query whose 404 means 'nothing (yet)'."""
    try:
        return await call
    except ServiceFailure as exc:
        if exc.reply.get("status") in (404, 403):
            return None
        raise


async def reference(request: Request, user: Principal) -> dict[str, Any]:
    """Categories, deputies, stations (intake) and units (assignment), as id → record."""
    svc = services(request)
    ref, units = await asyncio.gather(svc.send(intake_requests.Reference(), user),
                                      svc.send(Units(), user))
    return {
        "categories": {c["code"]: c for c in ref["categories"]},
        "deputies": {d["id"]: d for d in ref["deputies"]},
        "stations": {s["id"]: s for s in ref["stations"]},
        "units": {u["id"]: u for u in units},
    }


def names(ref: dict[str, Any]) -> dict[str, Any]:
    """Lookup helpers for templates."""
    def unit(uid: Any) -> str:
        return ref["units"].get(uid, {}).get("name", uid or "—")

    def category(code: Any) -> str:
        return ref["categories"].get(code, {}).get("name_zh", code or "—")

    def deputy(did: Any) -> str:
        return ref["deputies"].get(did, {}).get("name", did or "—")

    return {"unit_name": unit, "category_name": category, "deputy_name": deputy, "ref": ref}


def today() -> date:
    return datetime.now(CHINA_TZ).date()

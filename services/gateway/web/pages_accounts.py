"""Account pages (Chinese): 修改密码 for everyone (your own password, and switching to another
of your roles), and 账号管理 for the office administrator (role admin): the accounts, paged and
searchable; creating one; an account's roles, links, disabling, password reset and history.
Every change goes to the accounts service; refusals come back in Chinese, a weak password
with the field's own messages."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (
    BASE, WebRoute, check_csrf, failure_text, need, redirect, render, services, set_session,
)
from shared.contracts.requests.accounts import (
    AccountHistory, ActAs, ChangeOwnPassword, CreateAccount, DisableAccount, EnableAccount,
    GetAccount, GrantRoles, LinkAccount, ListAccounts, ResetPassword, RevokeRoles,
)

router = APIRouter(route_class=WebRoute)
ROLE_ZH = {"office": "代表工委", "leader": "领导", "unit": "承办单位", "deputy": "人大代表",
           "station": "联络站工作人员", "admin": "账号管理员"}
EVENT_ZH = {"Created": "创建账号", "RolesGranted": "授予角色", "RolesRevoked": "撤销角色",
            "Linked": "关联代表、单位或领导", "Disabled": "停用账号", "Enabled": "启用账号",
            "PasswordChanged": "本人修改密码", "PasswordReset": "管理员重置密码",
            "PasswordRehashed": "密码哈希升级", "ExternalIdentityLinked": "关联统一身份认证账号"}
Csrf = [Depends(check_csrf)]
Holder = Annotated[Principal, Depends(need(password_change_ok=True))]
Admin = Annotated[Principal, Depends(need("admin"))]
PAGE_SIZE = 20
ROLES = ("office", "leader", "unit", "deputy", "station", "admin")
Field = Annotated[str, Form(max_length=200)]
REFUSALS_ZH = {  # the accounts service's refusals, as the administrator reads them
    "already holds": "该账号已有这些角色", "holds none of": "该账号没有这些角色",
    "at least one role": "账号至少保留一个角色，如需停用请使用“停用账号”",
    "must be linked": "承办单位、人大代表、联络站角色须先关联对应的单位、代表或联络站",
    "is taken": "用户名已被占用", "already disabled": "该账号已停用",
    "already enabled": "该账号已启用", "already linked": "关联未变化",
    "own account": "不能停用自己的账号", "own admin role": "不能撤销自己的账号管理员角色",
    "does not hold the role": "该账号没有这个角色",
}


def _refusal(exc: ServiceFailure) -> tuple[str, dict[str, list[str]]]:
    """(the refusal in Chinese, the messages per form field)."""
    detail = str(exc.reply.get("detail") or "")
    fields: dict[str, list[str]] = {}
    for error in exc.reply.get("errors") or []:
        loc = [str(p) for p in error.get("loc") or []]
        if loc and error.get("msg"):
            fields.setdefault(loc[-1], []).append(str(error["msg"]))
    for english, chinese in REFUSALS_ZH.items():
        if english in detail:
            return chinese, fields
    text, items = failure_text(exc)
    if fields:
        return "请按提示修改后重试", fields
    return "；".join([text, *items]), fields


def _session(request: Request, response: Response, found: dict[str, Any]) -> Response:
    authenticator = request.app.state.authenticator
    principal = Principal(**found["principal"], roles=tuple(found["roles"]),
                          must_change_password=found["must_change_password"])
    if authenticator.accounts is not None:
        authenticator.accounts.forget(principal.username)
    set_session(request, response, authenticator.issue(principal, str(found["token_version"])),
                int(authenticator.ttl.total_seconds()))
    return response


# --- 修改密码 (everyone) -----------------------------------------------------------------------


@router.get(f"{BASE}/me/password")
async def password_page(request: Request, user: Holder) -> HTMLResponse:
    return render(request, "account_password.html", {"errors": {}, "error": None,
                                                     "ROLE_NAMES": ROLE_ZH})


@router.post(f"{BASE}/me/password", dependencies=Csrf)
async def change_password(request: Request, user: Holder, old_password: Field,
                          new_password: Field, confirm: Field) -> Response:
    errors: dict[str, list[str]] = {}
    if new_password != confirm:
        errors["confirm"] = ["两次输入的新密码不一致"]
    if not old_password:
        errors["old_password"] = ["请填写原密码"]
    if not errors:
        try:
            found = await services(request).send(
                ChangeOwnPassword(old_password=old_password, new_password=new_password or "x"),
                user)
        except ServiceFailure as exc:
            error, errors = _refusal(exc)
        else:
            from services.gateway.web.pages_common import HOME

            done = redirect(HOME.get(found["principal"]["role"], f"{BASE}/"), "密码已修改")
            return _session(request, done, found)
    return render(request, "account_password.html", {
        "errors": errors, "error": "密码未修改：请按提示修改后重试", "ROLE_NAMES": ROLE_ZH},
        status_code=422)


@router.post(f"{BASE}/me/role", dependencies=Csrf)
async def switch_role(request: Request, user: Holder,
                      role: Annotated[str, Form(max_length=20)]) -> Response:
    from services.gateway.web.pages_common import HOME

    if role not in ROLES:
        return redirect(f"{BASE}/me/password", "没有这个角色", "error")
    try:
        found = await services(request).send(ActAs(role=role), user)  # type: ignore[arg-type]
    except ServiceFailure as exc:
        return redirect(f"{BASE}/me/password", _refusal(exc)[0], "error")
    done = redirect(HOME.get(role, f"{BASE}/me/password"),
                    f"已切换为{ROLE_ZH.get(role, role)}")
    return _session(request, done, found)


# --- 账号管理 (the administrator) ---------------------------------------------------------------


def _account_url(username: str) -> str:
    return f"{BASE}/admin/accounts/{quote(username)}"


@router.get(f"{BASE}/admin/accounts")
async def accounts(request: Request, user: Admin,
                   q: Annotated[str | None, Query(max_length=200)] = None,
                   cursor: Annotated[str | None, Query(max_length=1000)] = None) -> HTMLResponse:
    query: dict[str, Any] = {"limit": PAGE_SIZE}
    if q and q.strip():
        query["q"] = q.strip()
    if cursor:
        query["cursor"] = cursor
    page = await services(request).send(ListAccounts(**query), user)
    next_url = None
    if page.get("next_cursor"):
        next_url = f"{BASE}/admin/accounts?" + urlencode(
            {k: v for k, v in {"q": query.get("q"), "cursor": page["next_cursor"]}.items() if v})
    return render(request, "admin_accounts.html", {
        "page": page, "q": query.get("q", ""), "next_url": next_url, "errors": {},
        "error": None, "form": {}, "ROLES": ROLES, "ROLE_NAMES": ROLE_ZH})


@router.post(f"{BASE}/admin/accounts", dependencies=Csrf)
async def create(request: Request, user: Admin) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in (
        "username", "display_name", "password", "deputy_id", "unit_id", "leader_id")}
    roles = [r for r in form.getlist("roles") if r in ROLES]
    errors: dict[str, list[str]] = {}
    error = None
    if not roles:
        errors["roles"] = ["请至少选择一个角色"]
    if not values["username"]:
        errors["username"] = ["请填写用户名"]
    if not errors:
        try:
            request_ = CreateAccount.model_validate({
                **{k: v or None for k, v in values.items() if k.endswith("_id")},
                "username": values["username"], "display_name": values["display_name"],
                "password": values["password"] or "x", "roles": roles,
                "must_change_password": True})
        except Exception:  # the username's pattern
            errors["username"] = ["用户名只能由字母、数字和 . _ - 组成，2 到 64 个字符"]
        else:
            try:
                await services(request).send(request_, user)
            except ServiceFailure as exc:
                error, errors = _refusal(exc)
            else:
                return redirect(_account_url(values["username"]),
                                f"已创建账号 {values['username']}，首次登录须修改密码")
    page = await services(request).send(ListAccounts(limit=PAGE_SIZE), user)
    return render(request, "admin_accounts.html", {
        "page": page, "q": "", "next_url": None, "errors": errors,
        "error": error or "账号未创建：请按提示修改后重试",
        "form": {**values, "password": "", "roles": roles}, "ROLES": ROLES,
        "ROLE_NAMES": ROLE_ZH}, status_code=422)


@router.get(f"{BASE}/admin/accounts/{{username}}")
async def account(request: Request, username: str, user: Admin,
                  cursor: Annotated[str | None, Query(max_length=1000)] = None) -> HTMLResponse:
    svc = services(request)
    found = await svc.send(GetAccount(username=username), user)
    history = await svc.send(AccountHistory(username=username, limit=50, cursor=cursor), user)
    return render(request, "admin_account.html", {
        "account": found, "history": history, "ROLES": ROLES, "ROLE_NAMES": ROLE_ZH,
        "EVENT_NAMES": EVENT_ZH, "errors": {}})


@router.post(f"{BASE}/admin/accounts/{{username}}/{{action}}", dependencies=Csrf)
async def account_action(request: Request, username: str, action: str, user: Admin) -> Response:
    form = await request.form()
    back = _account_url(username)
    roles = [r for r in form.getlist("roles") if r in ROLES]
    text = lambda name: str(form.get(name) or "").strip()  # noqa: E731
    try:
        if action == "grant-roles":
            command: Any = GrantRoles(username=username, roles=roles)  # type: ignore[call-arg]
            done = "已授予角色"
        elif action == "revoke-roles":
            command = RevokeRoles(username=username, roles=roles)  # type: ignore[call-arg]
            done = "已撤销角色"
        elif action == "link":
            command = LinkAccount(username=username, deputy_id=text("deputy_id") or None,
                                  unit_id=text("unit_id") or None,
                                  leader_id=text("leader_id") or None)
            done = "已更新关联"
        elif action == "disable":
            command = DisableAccount(username=username, reason=text("reason"))
            done = "已停用账号"
        elif action == "enable":
            command = EnableAccount(username=username)
            done = "已启用账号"
        elif action == "reset-password":
            command = ResetPassword(username=username, new_password=text("new_password") or "x")
            done = "已重置密码，该用户下次登录须修改密码"
        else:
            return redirect(back, "未知操作", "error")
    except Exception:  # no role chosen
        return redirect(back, "未完成：请至少选择一个角色", "error")
    try:
        status_ = await services(request).send(command, user)
    except ServiceFailure as exc:
        error, fields = _refusal(exc)
        items = [m for messages in fields.values() for m in messages]
        return redirect(back, "未完成：" + "；".join([error, *items]), "error")
    accounts_ = request.app.state.authenticator.accounts
    if accounts_ is not None:
        accounts_.remember(status_)
    return redirect(back, done)

"""Account pages (Chinese): 修改密码 for everyone (your own password, and switching to another
of your roles), and 账号管理 for the office administrator (role admin): the accounts, paged and
searchable; creating one; an account's roles, links, disabling, password reset and history.
Every change goes to the accounts service; refusals come back in Chinese, a weak password
with the field's own messages.

A link is chosen, never typed as an id: the deputy by a search box that asks the registry for
the deputies matching a name or id (htmx, 20 at most), the unit or liaison station and the
leader or committee from lists (the registry's open units and stations, assignment's leaders).
The page checks a chosen id against the same sources before sending it (the accounts service
takes any id), so an unknown one is refused beside its field with the form kept; the account
page names the linked deputy, unit or station and leader beside their ids."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (
    BASE, WebRoute, check_csrf, failure_text, need, optional, redirect, render, services,
    set_session,
)
from shared.contracts.requests.accounts import (
    AccountHistory, ActAs, ChangeOwnPassword, CreateAccount, DisableAccount, EnableAccount,
    GetAccount, GrantRoles, LinkAccount, ListAccounts, ResetPassword, RevokeRoles,
)
from shared.contracts.requests.assignment import Leaders
from shared.contracts.requests.limits import SEARCH_MAX
from shared.contracts.requests.registry import KEY_PATTERN, GetRecord, ListRecords
from shared.paging import MAX_LIMIT

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


# --- the choices of a link (代表、单位或联络站、领导) -------------------------------------------

DEPUTY_MATCHES = 20  # a search box's matches shown at most
LINKS = ("deputy_id", "unit_id", "leader_id")
LINK_ZH = {"deputy_id": "代表", "unit_id": "单位或联络站", "leader_id": "领导"}
LEADER_KIND_ZH = {"leader": "领导", "committee": "专门委员会"}
UNKNOWN_ZH = {"deputy_id": "没有编号为 {} 的代表，请从查找结果中选择",
              "unit_id": "没有编号为 {} 的单位或联络站，请从列表中选择",
              "leader_id": "没有编号为 {} 的领导或专门委员会，请从列表中选择"}


async def _open_records(request: Request, user: Principal, kind: str) -> list[dict[str, Any]]:
    """Every open record of a kind (units, stations: tens to hundreds), page after page."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await services(request).send(
            ListRecords(kind=kind, active=True, limit=MAX_LIMIT, cursor=cursor), user)  # type: ignore[arg-type]
        rows += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


async def _record(request: Request, user: Principal, kind: str, key: str | None
                  ) -> dict[str, Any] | None:
    """The registry's record of a kind and key ({key, record, active}), None if unknown."""
    if not key or not re.match(KEY_PATTERN, key):
        return None
    found = await optional(services(request).send(
        GetRecord(kind=kind, key=key), user))  # type: ignore[arg-type]
    return None if found is None else {k: found[k] for k in ("key", "record", "active")}


async def _choices(request: Request, user: Principal) -> dict[str, Any]:
    units, stations, leaders = await asyncio.gather(
        _open_records(request, user, "unit"), _open_records(request, user, "station"),
        services(request).send(Leaders(), user))
    return {"units": units, "stations": stations, "leaders": leaders,
            "LEADER_KINDS": LEADER_KIND_ZH}


async def _linked(request: Request, user: Principal, links: dict[str, Any],
                  leaders: list[dict[str, Any]] | None = None) -> dict[str, str | None]:
    """Each link's name (the deputy's, the unit's or station's, the leader's), None if the id
    is unknown (or not set)."""
    deputy_id, unit_id, leader_id = (links.get(k) or None for k in LINKS)
    deputy, unit, station, leaders_ = await asyncio.gather(
        _record(request, user, "deputy", deputy_id), _record(request, user, "unit", unit_id),
        _record(request, user, "station", unit_id if unit_id else None),
        _leaders(request, user, leaders, leader_id))
    place = unit or station
    leader = next((d for d in leaders_ if d.get("id") == leader_id), None)
    return {"deputy_id": deputy["record"].get("name") if deputy else None,
            "unit_id": place["record"].get("name") if place else None,
            "leader_id": leader.get("name_zh") if leader else None}


async def _leaders(request: Request, user: Principal, known: list[dict[str, Any]] | None,
                   leader_id: str | None) -> list[dict[str, Any]]:
    if known is not None or not leader_id:
        return known or []
    return list(await services(request).send(Leaders(), user))


async def _unknown_links(request: Request, user: Principal, links: dict[str, Any]
                         ) -> dict[str, list[str]]:
    """The chosen ids the registry or assignment does not know, each with its message."""
    names = await _linked(request, user, links)
    return {k: [UNKNOWN_ZH[k].format(links[k])] for k in LINKS
            if links.get(k) and names[k] is None}


@router.get(f"{BASE}/admin/deputy-search")
async def deputy_search(request: Request, user: Admin,
                        deputy_q: Annotated[str, Query(max_length=SEARCH_MAX)] = "",
                        deputy_id: Annotated[str, Query(max_length=200)] = "",
                        prefix: Annotated[str, Query(pattern="^(new|link)$")] = "new"
                        ) -> HTMLResponse:
    """The deputies matching a name or id (20 at most) as choices, the chosen one kept first."""
    return render(request, "admin_deputy_choices.html", {
        **await _deputy_choices(request, user, deputy_q, deputy_id), "prefix": prefix},
        fragment=True)


async def _deputy_choices(request: Request, user: Principal, words: str, chosen_id: str
                          ) -> dict[str, Any]:
    words = words.strip()[:SEARCH_MAX]
    matches: list[dict[str, Any]] = []
    more = False
    if words:
        page = await services(request).send(ListRecords(
            kind="deputy", q=words, active=True, limit=DEPUTY_MATCHES), user)  # type: ignore[arg-type]
        matches, more = page["items"], bool(page.get("next_cursor"))
    chosen = await _record(request, user, "deputy", chosen_id.strip()) if chosen_id else None
    if chosen is not None:
        matches = [m for m in matches if m["key"] != chosen["key"]]
    return {"deputy_q": words, "matches": matches, "more": more, "chosen": chosen,
            "chosen_id": chosen_id.strip(), "limit": DEPUTY_MATCHES}


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
        "error": None, "form": {}, "ROLES": ROLES, "ROLE_NAMES": ROLE_ZH,
        **await _choices(request, user), **await _deputy_choices(request, user, "", "")})


@router.post(f"{BASE}/admin/accounts", dependencies=Csrf)
async def create(request: Request, user: Admin) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in (
        "username", "display_name", "password", "deputy_q", *LINKS)}
    roles = [r for r in form.getlist("roles") if r in ROLES]
    errors: dict[str, list[str]] = {}
    error = None
    if not roles:
        errors["roles"] = ["请至少选择一个角色"]
    if not values["username"]:
        errors["username"] = ["请填写用户名"]
    errors.update(await _unknown_links(request, user, values))
    if not errors:
        try:
            request_ = CreateAccount.model_validate({
                **{k: values[k] or None for k in LINKS},
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
        "ROLE_NAMES": ROLE_ZH, **await _choices(request, user),
        **await _deputy_choices(request, user, values["deputy_q"], values["deputy_id"])},
        status_code=422)


async def _account_page(request: Request, user: Admin, username: str, cursor: str | None = None,
                        link_form: dict[str, str] | None = None,
                        errors: dict[str, list[str]] | None = None, error: str | None = None,
                        status_code: int = 200) -> HTMLResponse:
    svc = services(request)
    found, history, choices = await asyncio.gather(
        svc.send(GetAccount(username=username), user),
        svc.send(AccountHistory(username=username, limit=50, cursor=cursor), user),
        _choices(request, user))
    # the linked ids' names: the account's, and each one a link change named
    named: dict[str, dict[str, str | None]] = {k: {} for k in LINKS}
    seen = [{k: found.get(k) for k in LINKS}]
    for h in history["items"]:
        for side in ("before", "after"):
            value = (h.get("data") or {}).get(side)
            if isinstance(value, dict):
                seen.append({k: value.get(k) for k in LINKS})
    for links in seen:
        if any(links.get(k) and links[k] not in named[k] for k in LINKS):
            names = await _linked(request, user, links, choices["leaders"])
            for k in LINKS:
                if links.get(k):
                    named[k][links[k]] = names[k]
    form = link_form or {k: found.get(k) or "" for k in LINKS}
    return render(request, "admin_account.html", {
        "account": found, "history": history, "ROLES": ROLES, "ROLE_NAMES": ROLE_ZH,
        "EVENT_NAMES": EVENT_ZH, "errors": errors or {}, "error": error, "named": named,
        "LINK_NAMES": LINK_ZH,
        "link_form": form, **choices,
        **await _deputy_choices(request, user, form.get("deputy_q", ""),
                                form.get("deputy_id", ""))}, status_code=status_code)


@router.get(f"{BASE}/admin/accounts/{{username}}")
async def account(request: Request, username: str, user: Admin,
                  cursor: Annotated[str | None, Query(max_length=1000)] = None) -> HTMLResponse:
    return await _account_page(request, user, username, cursor)


@router.post(f"{BASE}/admin/accounts/{{username}}/{{action}}", dependencies=Csrf)
async def account_action(request: Request, username: str, action: str, user: Admin) -> Response:
    form = await request.form()
    back = _account_url(username)
    roles = [r for r in form.getlist("roles") if r in ROLES]
    text = lambda name: str(form.get(name) or "").strip()  # noqa: E731
    chosen = {k: text(k) for k in (*LINKS, "deputy_q")}
    if action == "link":  # an id no list offers: refused beside its field, the choice kept
        unknown = await _unknown_links(request, user, chosen)
        if unknown:
            return await _account_page(request, user, username, link_form=chosen,
                                       errors=unknown, error="关联未保存：请按提示修改后重试",
                                       status_code=422)
    try:
        if action == "grant-roles":
            command: Any = GrantRoles(username=username, roles=roles)  # type: ignore[call-arg]
            done = "已授予角色"
        elif action == "revoke-roles":
            command = RevokeRoles(username=username, roles=roles)  # type: ignore[call-arg]
            done = "已撤销角色"
        elif action == "link":
            command = LinkAccount(username=username, deputy_id=chosen["deputy_id"] or None,
                                  unit_id=chosen["unit_id"] or None,
                                  leader_id=chosen["leader_id"] or None)
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

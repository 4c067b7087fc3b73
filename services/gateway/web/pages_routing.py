"""交办规则 pages (Chinese) for the office: the routing rules of the assignment service in the
order they are tried (the first rule that matches a registered suggestion proposes its units),
searchable, each movable up and down; a rule's page with its edit form (类别, 区县, 关键词,
主办单位, 协办单位, 自动交办) and its change history (who, when, before and after); deletion
after a confirmation. Every request is a typed contract (shared/contracts/requests/
assignment.py); a wrong field comes back with its own message beside it."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (BASE, WebRoute, act, check_csrf, failure_text, need,
                                         redirect, reference, render, send_form)
from shared.contracts.requests.assignment import (RULE_ID_PATTERN, DeleteRoutingRule,
                                                  GetRoutingRule, ListRoutingRules,
                                                  MoveRoutingRule, PutRoutingRule)

router = APIRouter(route_class=WebRoute)
Csrf = [Depends(check_csrf)]
Office = Annotated[Principal, Depends(need("office"))]
PAGE_SIZE = 20
LIST_URL = f"{BASE}/admin/routing-rules"
ID_HINT = "编号应为 1 到 64 个字母、数字或 . _ : -，以字母或数字开头"
FIELD_ZH = {"rule_id": "编号", "id": "编号", "category": "类别", "district": "区县",
            "keywords": "关键词", "lead_unit": "主办单位", "co_units": "协办单位",
            "automatic": "自动交办", "before": "位置", "position": "顺序"}
EVENT_ZH = {"Seeded": "初始配置", "RuleAdded": "新建", "RuleChanged": "修改",
            "RuleRemoved": "删除", "RulesReordered": "调整顺序"}


def _rule_url(rule_id: str) -> str:
    return f"{LIST_URL}/{quote(rule_id)}"


def _field_errors(exc: ServiceFailure) -> dict[str, list[str]]:
    """Each refused field's messages, by the field's name (the name after body/path/query)."""
    fields: dict[str, list[str]] = {}
    for error in exc.reply.get("errors") or []:
        loc = [p for p in error.get("loc") or [] if isinstance(p, str)]
        name = loc[1] if len(loc) > 1 and loc[0] in ("body", "path", "query") else \
            (loc[-1] if loc else "rule")
        if error.get("msg"):
            fields.setdefault(name, []).append(str(error["msg"]))
    return fields


def _helpers(ref: dict[str, Any]) -> dict[str, Any]:
    categories, units = ref["categories"], ref["units"]

    def category(code: Any) -> str:
        return categories.get(code, {}).get("name_zh", code or "无")

    def unit(uid: Any) -> str:
        return units.get(uid, {}).get("name", uid or "无")

    def shown(name: str, value: Any) -> str:
        """A field's value as the office reads it."""
        if name == "category":
            return category(value)
        if name == "lead_unit":
            return unit(value)
        if name == "co_units":
            return "、".join(unit(u) for u in value) if value else "无"
        if name == "automatic":
            return "是" if value else "否"
        if name == "position":
            return f"第 {value} 条"
        if isinstance(value, list):
            return "、".join(map(str, value)) if value else "无"
        return "无" if value in (None, "") else str(value)

    return {"category_name": category, "unit_name": unit, "shown": shown,
            "categories": categories, "units": {k: u for k, u in units.items()
                                                if u.get("active", True) is not False},
            "FIELD_NAMES": FIELD_ZH, "EVENT_NAMES": EVENT_ZH}


@router.get(LIST_URL)
async def rules_page(request: Request, user: Office,
                     q: Annotated[str | None, Query(max_length=200)] = None,
                     category: Annotated[str | None, Query(max_length=64)] = None,
                     cursor: Annotated[str | None, Query(max_length=1000)] = None) -> HTMLResponse:
    q, category = (q or "").strip() or None, (category or "").strip() or None
    page = await send_form(request, ListRoutingRules, user, q=q, category=category,
                           limit=PAGE_SIZE, cursor=cursor or None)
    ref = await reference(request, user)
    next_url = None
    if page.get("next_cursor"):
        next_url = f"{LIST_URL}?" + urlencode({k: v for k, v in {
            "q": q, "category": category, "cursor": page["next_cursor"]}.items() if v})
    return render(request, "routing_rules.html", {
        **_helpers(ref), "page": page, "q": q or "", "category": category or "",
        "next_url": next_url})


@router.get(f"{BASE}/admin/new-routing-rule")
async def new_rule(rule_id: Annotated[str, Query(max_length=64)], user: Office) -> Response:
    """The 新建 form of the list: the rule page of a new id."""
    rule_id = rule_id.strip()
    if not re.match(RULE_ID_PATTERN, rule_id):
        return redirect(LIST_URL, ID_HINT, "error")
    return redirect(_rule_url(rule_id))


async def _found(request: Request, rule_id: str, user: Principal) -> dict[str, Any] | None:
    try:
        return await send_form(request, GetRoutingRule, user, rule_id=rule_id)
    except ServiceFailure as exc:
        if exc.reply.get("status") == 404:
            return None
        raise


async def _everything(request: Request, user: Principal) -> list[dict[str, Any]]:
    """Every rule in order (the 位置 choices of a new rule)."""
    rules: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await send_form(request, ListRoutingRules, user, limit=500, cursor=cursor)
        rules += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return rules


def _form_of(rule: dict[str, Any] | None) -> dict[str, Any]:
    rule = rule or {}
    return {"category": rule.get("category") or "", "district": rule.get("district") or "",
            "keywords": "，".join(rule.get("keywords") or []),
            "lead_unit": rule.get("lead_unit") or "", "co_units": list(rule.get("co_units") or []),
            "automatic": bool(rule.get("automatic")), "before": ""}


async def _rule_page(request: Request, user: Principal, rule_id: str,
                     found: dict[str, Any] | None, form: dict[str, Any],
                     errors: dict[str, list[str]], error: str | None,
                     status_code: int = 200) -> HTMLResponse:
    ref = await reference(request, user)
    others = [] if found else await _everything(request, user)
    return render(request, "routing_rule.html", {
        **_helpers(ref), "rule_id": rule_id, "found": found, "form": form, "errors": errors,
        "error": error, "others": others}, status_code=status_code)


@router.get(f"{LIST_URL}/{{rule_id}}")
async def rule_page(request: Request, rule_id: str, user: Office) -> HTMLResponse:
    if not re.match(RULE_ID_PATTERN, rule_id):
        return render(request, "error.html", {"title": "编号不正确", "detail": ID_HINT,
                                              "items": []}, status_code=422)
    found = await _found(request, rule_id, user)
    return await _rule_page(request, user, rule_id, found, _form_of(found), {}, None)


@router.post(f"{LIST_URL}/{{rule_id}}", dependencies=Csrf)
async def save_rule(request: Request, rule_id: str, user: Office) -> Response:
    posted = await request.form()
    form = {"category": str(posted.get("category") or "").strip(),
            "district": str(posted.get("district") or "").strip(),
            "keywords": str(posted.get("keywords") or ""),
            "lead_unit": str(posted.get("lead_unit") or "").strip(),
            "co_units": [str(u) for u in posted.getlist("co_units")],
            "automatic": posted.get("automatic") == "yes",
            "before": str(posted.get("before") or "").strip()}
    keywords = [k.strip() for k in re.split(r"[,，、;；\n]+", form["keywords"])]
    found = await _found(request, rule_id, user) if re.match(RULE_ID_PATTERN, rule_id) else None
    try:
        done = await send_form(
            request, PutRoutingRule, user, rule_id=rule_id, category=form["category"],
            district=form["district"] or None, keywords=[k for k in keywords if k],
            lead_unit=form["lead_unit"], co_units=form["co_units"],
            automatic=form["automatic"], before=form["before"] or None)
    except ServiceFailure as exc:
        errors = _field_errors(exc)
        if not errors:
            text, items = failure_text(exc)
            error = "规则未保存：" + "；".join([text, *items])
        else:
            error = "规则未保存：请按提示修改后重试"
        return await _rule_page(request, user, rule_id, found, form, errors, error,
                                status_code=422)
    if done["created"]:
        text = f"已新建交办规则 {rule_id}（第 {done['position']} 条）"
    else:
        text = "已保存" if done["changed"] else "没有修改"
    return redirect(_rule_url(rule_id), text)


@router.post(f"{LIST_URL}/{{rule_id}}/delete", dependencies=Csrf)
async def delete_rule(request: Request, rule_id: str, user: Office) -> Response:
    return await act(request, send_form(request, DeleteRoutingRule, user, rule_id=rule_id),
                     LIST_URL, f"已删除交办规则 {rule_id}", back_url=_rule_url(rule_id))


@router.post(f"{LIST_URL}/{{rule_id}}/move", dependencies=Csrf)
async def move_rule(request: Request, rule_id: str, user: Office) -> Response:
    posted = await request.form()
    direction = str(posted.get("direction") or "")
    back = str(posted.get("back") or "")
    back = back if back.startswith(LIST_URL) else LIST_URL
    text = "已上移" if direction == "up" else "已下移"
    return await act(request, send_form(request, MoveRoutingRule, user, rule_id=rule_id,
                                        direction=direction), back, f"{rule_id} {text}")

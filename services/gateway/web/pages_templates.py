"""答复模板 pages (Chinese) for the office (services/supervision/reply_templates.py): the reply
templates per category and result class, paged and filtered; a template's page with its edit
form, what it is filled with, and its change history (who, when, before and after). Every
change goes to the supervision service as a typed request; a wrong field comes back with its
own message beside it. Leaders, units and deputies do not edit templates (a unit's reply page
fills in the one in use).

Variables are shown as 〔标题〕, 〔承诺日期〕... (the office writes them so, or as {title}); the
page turns them into the template's ``{title}`` before sending."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (BASE, WebRoute, check_csrf, failure_text, need,
                                         redirect, render, send_form, services)
from shared.contracts.requests import intake as intake_requests
from shared.contracts.requests.supervision import (GetReplyTemplate, ListReplyTemplates,
                                                   RemoveReplyTemplate, SetReplyTemplate)

router = APIRouter(route_class=WebRoute)
Csrf = [Depends(check_csrf)]
Office = Annotated[Principal, Depends(need("office"))]
PAGE_SIZE = 20
PAGE = f"{BASE}/admin/reply-templates"
CLASSES = {"A": "A类（已解决或采纳）", "B": "B类（正在解决或列入计划）", "C": "C类（留作参考）"}
DEFAULT_ZH = "所有类别（默认）"
# each variable as the office reads and writes it
VARIABLE_ZH = {"title": "标题", "number": "编号", "category": "类别", "unit_name": "承办单位",
               "commitment_date": "承诺日期", "details": "具体情况", "reason": "原因"}
VARIABLE_HINT = {"title": "建议或留言的标题", "number": "建议编号", "category": "类别名称",
                 "unit_name": "承办单位名称", "commitment_date": "B类答复的承诺完成日期",
                 "details": "承办人填写的具体情况", "reason": "承办人填写的原因"}
FIELD_ZH = {"category": "类别", "result_class": "答复类别", "text": "模板内容"}
_BRACED = re.compile(r"\{([a-z_]+)\}")
_SHOWN = re.compile(r"〔([^〔〕]+)〕")
_BY_ZH = {zh: name for name, zh in VARIABLE_ZH.items()}


def shown(text: str | None) -> str:
    """A template's text as the page shows it: {title} as 〔标题〕."""
    return _BRACED.sub(lambda m: f"〔{VARIABLE_ZH[m.group(1)]}〕" if m.group(1) in VARIABLE_ZH
                       else m.group(0), text or "")


def stored(text: str) -> str:
    """The form's text as the template keeps it: 〔标题〕 as {title}."""
    return _SHOWN.sub(lambda m: "{" + _BY_ZH[m.group(1)] + "}" if m.group(1) in _BY_ZH
                      else m.group(0), text)


async def _categories(request: Request, user: Principal) -> dict[str, str]:
    """Category code -> Chinese name (intake's reference data), ``default`` first."""
    ref = await services(request).send(intake_requests.Reference(), user)
    return {"default": DEFAULT_ZH,
            **{c["code"]: c.get("name_zh") or c["code"] for c in ref["categories"]}}


def _field_errors(exc: ServiceFailure) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.reply.get("errors") or []:
        loc = [str(p) for p in error.get("loc") or []]
        if loc and error.get("msg"):
            fields.setdefault(loc[-1], []).append(shown(str(error["msg"])))
    return fields


def _context(**extra: Any) -> dict[str, Any]:
    return {"CLASSES": CLASSES, "VARIABLES": VARIABLE_ZH, "HINTS": VARIABLE_HINT,
            "FIELDS": FIELD_ZH, "shown": shown, "PAGE": PAGE, **extra}


@router.get(PAGE)
async def template_list(request: Request, user: Office,
                        category: Annotated[str | None, Query(max_length=64)] = None,
                        result_class: Annotated[str | None, Query(max_length=1)] = None,
                        cursor: Annotated[str | None, Query(max_length=1000)] = None,
                        ) -> HTMLResponse:
    categories = await _categories(request, user)
    filters = {"category": category or None,
               "result_class": result_class if result_class in CLASSES else None}
    page = await services(request).send(ListReplyTemplates(
        limit=PAGE_SIZE, cursor=cursor or None,
        **{k: v for k, v in filters.items() if v is not None}), user)  # type: ignore[arg-type]
    next_url = None
    if page.get("next_cursor"):
        next_url = f"{PAGE}?" + urlencode({k: v for k, v in {
            **filters, "cursor": page["next_cursor"]}.items() if v})
    return render(request, "reply_templates.html", _context(
        page=page, categories=categories, category=filters["category"] or "",
        result_class=filters["result_class"] or "", next_url=next_url))


async def _template(request: Request, user: Principal, category: str,
                    result_class: str) -> dict[str, Any] | None:
    try:
        return await services(request).send(GetReplyTemplate(
            category=category, result_class=result_class), user)  # type: ignore[arg-type]
    except ServiceFailure as exc:
        if exc.reply.get("status") == 404:
            return None
        raise


def _known(categories: dict[str, str], category: str, result_class: str) -> None:
    if category not in categories or result_class not in CLASSES:
        raise HTTPException(404, "没有这个答复模板")


@router.get(f"{PAGE}/open")
async def open_template(user: Office, category: Annotated[str, Query(max_length=64)],
                        result_class: Annotated[str, Query(max_length=1)]) -> Response:
    """The list's 新建 form: to the template's page."""
    return redirect(f"{PAGE}/{quote(category)}/{quote(result_class)}")


@router.get(f"{PAGE}/{{category}}/{{result_class}}")
async def template_page(request: Request, category: str, result_class: str,
                        user: Office) -> HTMLResponse:
    categories = await _categories(request, user)
    _known(categories, category, result_class)
    found = await _template(request, user, category, result_class)
    text = (found or {}).get("text") or ""
    return render(request, "reply_template.html", _context(
        category=category, category_name=categories[category], result_class=result_class,
        found=found, form_text=shown(text), errors={}))


@router.post(f"{PAGE}/{{category}}/{{result_class}}", dependencies=Csrf)
async def save_template(request: Request, category: str, result_class: str,
                        user: Office) -> Response:
    categories = await _categories(request, user)
    _known(categories, category, result_class)
    form = await request.form()
    text = str(form.get("text") or "")
    try:
        await send_form(request, SetReplyTemplate, user, category=category,
                        result_class=result_class, text=stored(text))
    except ServiceFailure as exc:
        errors = _field_errors(exc)
        if not errors:
            detail, items = failure_text(exc)
            errors = {"text": [detail, *items]}
        found = await _template(request, user, category, result_class)
        return render(request, "reply_template.html", _context(
            category=category, category_name=categories[category],
            result_class=result_class, found=found, form_text=text, errors=errors),
            status_code=422)
    return redirect(f"{PAGE}/{category}/{result_class}", "答复模板已保存")


@router.post(f"{PAGE}/{{category}}/{{result_class}}/delete", dependencies=Csrf)
async def delete_template(request: Request, category: str, result_class: str,
                          user: Office) -> Response:
    back = f"{PAGE}/{category}/{result_class}"
    try:
        await send_form(request, RemoveReplyTemplate, user, category=category,
                        result_class=result_class)
    except ServiceFailure as exc:
        detail, items = failure_text(exc)
        return redirect(back, "未完成：" + "；".join([detail, *items]), "error")
    return redirect(back, "已删除该类别的模板，今后使用默认模板")

"""基础数据 pages (Chinese) for the office and the administrator (services/registry/): the
records of each kind (代表, 承办单位, 联络站, 届次, 类别, 工作日历) paged and searchable, a record's page with
its edit form and change history (who, when, before and after), and 换届 (opening a new term
with the continuing deputies). Every change goes to the registry service; a wrong field comes
back with its own message beside it. The import and export of whole rosters is its own page
(导入/导出, /app/admin/imports).

A category's code (its key, a snake_case code) and English name, and a calendar's source, are
not shown as text (the pages speak Chinese only): the list links each category by its Chinese
name, and those fields are edited in the form's fields. A calendar's dates are edited as lines of text,
one date (YYYY-MM-DD) a line."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (BASE, WebRoute, check_csrf, failure_text, need,
                                         redirect, render, services)
from shared.contracts.requests.registry import (KEY_PATTERN, GetRecord, ListRecords, ListTerms,
                                                OpenTerm, PutRecord)

router = APIRouter(route_class=WebRoute)
Csrf = [Depends(check_csrf)]
Editor = Annotated[Principal, Depends(need("office", "admin"))]
PAGE_SIZE = 20
KINDS = {"deputy": "代表", "unit": "承办单位", "station": "联络站", "term": "届次",
         "category": "类别", "calendar": "工作日历"}
KEY_FIELD = {"category": "code", "calendar": "year"}  # the field holding the key (else id)
DATE_LINES = ("holidays", "makeup_workdays")  # edited as lines of text, one date a line
# not shown as text (pages speak Chinese only): a code, an English name, a calendar's source
# (a seeded provisional year's is English); edited in the form's fields
HIDDEN = {"category": ("code", "name_en"), "calendar": ("source",)}
LEVELS = {"national": "全国", "provincial": "省", "municipal": "市", "district": "县",
          "township": "乡"}
# the fields each kind's form edits (name, label, list?); others are kept as they are
FORM_FIELDS: dict[str, list[tuple[str, str, bool]]] = {
    "deputy": [("name", "姓名", False), ("level", "层级", False), ("group", "代表小组", False),
               ("station", "联络站编号", False), ("phone", "电话", False),
               ("constituency", "选区", False), ("delegation", "代表团", False),
               ("terms", "届次编号（多个用逗号分隔）", True)],
    "unit": [("name", "名称", False), ("parent", "上级单位", False),
             ("categories", "办理类别（多个用逗号分隔）", True)],
    "station": [("name", "名称", False), ("district", "区县", False),
                ("grids", "网格（多个用逗号分隔）", True),
                ("deputies", "代表编号（多个用逗号分隔）", True)],
    "term": [("name", "名称", False), ("number", "届数", False),
             ("start", "开始日期（YYYY-MM-DD）", False), ("end", "结束日期（留空表示本届）", False)],
    "category": [("name_zh", "中文名称", False), ("name_en", "英文名称（供接口使用，可留空）", False)],
    "calendar": [("source", "依据（国务院办公厅通知）", False),
                 ("holidays", "放假日期（每行一个，YYYY-MM-DD，含假期中的周六周日）", True),
                 ("makeup_workdays", "调休上班日期（每行一个，YYYY-MM-DD，只能是周六或周日）", True),
                 ("provisional", "暂定（通知尚未发布，只含法定节日）", False)],
}
FIELD_ZH = {"id": "编号", "name": "名称", "level": "层级", "level_zh": "层级（中文）",
            "group": "代表小组", "station": "联络站", "phone": "电话", "constituency": "选区",
            "delegation": "代表团", "terms": "届次", "voters": "联系选民",
            "enterprises": "联系企业", "parent": "上级单位", "categories": "办理类别",
            "district": "区县", "grids": "网格", "deputies": "代表", "number": "届数",
            "start": "开始日期", "end": "结束日期", "code": "代码", "name_zh": "中文名称",
            "name_en": "英文名称", "year": "年份", "source": "依据", "holidays": "放假日期",
            "makeup_workdays": "调休上班日期", "provisional": "暂定"}
EVENT_ZH = {"Created": "新建", "Changed": "修改", "Closed": "停用", "Reopened": "恢复"}
REASON_ZH = {"term_ended": "届满未连任", "closed_by_office": "办公室停用",
             "reelected": "换届连任", "reopened_by_office": "办公室恢复"}


def _kind(kind: str) -> str:
    if kind not in KINDS:
        from fastapi import HTTPException

        raise HTTPException(404, "没有这类基础数据")
    return kind


def _record_url(kind: str, key: str) -> str:
    return f"{BASE}/admin/registry/{kind}/{quote(key)}"


def _field_errors(exc: ServiceFailure) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.reply.get("errors") or []:
        loc = [str(p) for p in error.get("loc") or []]
        if loc and error.get("msg"):
            fields.setdefault(loc[-1], []).append(str(error["msg"]))
    return fields


def _shown(value: Any) -> str:
    """A field's value as the office reads it."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None or value == "" or value == []:
        return "无"
    if isinstance(value, list):
        return "、".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def _context(**extra: Any) -> dict[str, Any]:
    return {"KINDS": KINDS, "LEVELS": LEVELS, "FORM_FIELDS": FORM_FIELDS, "HIDDEN": HIDDEN,
            "DATE_LINES": DATE_LINES,
            "FIELD_NAMES": FIELD_ZH, "EVENT_NAMES": EVENT_ZH, "REASONS": REASON_ZH,
            "shown": _shown, **extra}


@router.get(f"{BASE}/admin/registry")
async def registry_home(user: Editor) -> RedirectResponse:
    return RedirectResponse(f"{BASE}/admin/registry/deputy", status_code=303)


@router.get(f"{BASE}/admin/registry/{{kind}}")
async def records(request: Request, kind: str, user: Editor,
                  q: Annotated[str | None, Query(max_length=200)] = None,
                  active: Annotated[str | None, Query(max_length=5)] = None,
                  term: Annotated[str | None, Query(max_length=64)] = None,
                  cursor: Annotated[str | None, Query(max_length=1000)] = None) -> HTMLResponse:
    kind = _kind(kind)
    filters: dict[str, Any] = {"q": (q or "").strip() or None,
                               "active": {"yes": True, "no": False}.get(active or ""),
                               "term": (term or "").strip() or None}
    query = {k: v for k, v in filters.items() if v is not None}
    page = await services(request).send(
        ListRecords(kind=kind, limit=PAGE_SIZE, cursor=cursor or None, **query), user)  # type: ignore[arg-type]
    next_url = None
    if page.get("next_cursor"):
        next_url = f"{BASE}/admin/registry/{kind}?" + urlencode(
            {k: v for k, v in {"q": filters["q"], "active": active, "term": filters["term"],
                               "cursor": page["next_cursor"]}.items() if v})
    return render(request, "registry_list.html", _context(
        kind=kind, page=page, q=filters["q"] or "", active=active or "",
        term=filters["term"] or "", next_url=next_url))


@router.get(f"{BASE}/admin/registry/{{kind}}/{{key}}")
async def record(request: Request, kind: str, key: str, user: Editor) -> HTMLResponse:
    kind = _kind(kind)
    found = None
    try:
        found = await services(request).send(GetRecord(kind=kind, key=key), user)  # type: ignore[arg-type]
    except ServiceFailure as exc:
        if exc.reply.get("status") not in (404, 422):
            raise
        if exc.reply.get("status") == 422:
            return render(request, "error.html", {"title": "编号不正确", "detail":
                          "编号应为 1 到 64 个字母、数字或 . _ : -，以字母或数字开头",
                          "items": []}, status_code=422)
    return render(request, "registry_record.html", _context(
        kind=kind, key=key, found=found, form=_form_of(kind, found["record"] if found else {}),
        errors={}, error=None))


def _form_of(kind: str, record: dict[str, Any]) -> dict[str, str]:
    form = {}
    for name, _label, many in FORM_FIELDS[kind]:
        value = record.get(name)
        if name in DATE_LINES:
            form[name] = "\n".join(map(str, value or []))
        elif isinstance(value, bool):
            form[name] = "yes" if value else ""
        else:
            form[name] = ", ".join(map(str, value or [])) if many else (
                "" if value is None else str(value))
    return form


@router.post(f"{BASE}/admin/registry/{{kind}}/{{key}}", dependencies=Csrf)
async def save_record(request: Request, kind: str, key: str, user: Editor) -> Response:
    kind = _kind(kind)
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name, _l, _m in FORM_FIELDS[kind]}
    svc = services(request)
    found = None
    try:
        found = await svc.send(GetRecord(kind=kind, key=key), user)  # type: ignore[arg-type]
    except ServiceFailure as exc:
        if exc.reply.get("status") != 404:
            raise
    record: dict[str, Any] = dict(found["record"]) if found else {KEY_FIELD.get(kind, "id"): key}
    for name, _label, many in FORM_FIELDS[kind]:
        value = values[name]
        if name in DATE_LINES:
            record[name] = [v.strip() for v in value.replace("，", ",").replace(",", "\n")
                            .splitlines() if v.strip()]
        elif name == "provisional":
            record[name] = value == "yes"
        else:
            record[name] = [v for v in value.replace("，", ",").split(",") if v.strip()] \
                if many else (value or None)
    if kind == "deputy" and found is None:
        record.pop("level_zh", None)
    if kind == "deputy" and found and record.get("level") != found["record"].get("level"):
        record["level_zh"] = None  # the new level's label
    state = str(form.get("active") or "")
    active = {"yes": True, "no": False}.get(state)
    try:
        await svc.send(PutRecord(kind=kind, key=key, record=record, active=active), user)  # type: ignore[arg-type]
    except ServiceFailure as exc:
        errors = _field_errors(exc)
        error = "记录未保存：请按提示修改后重试" if errors else \
            "记录未保存：" + "；".join([failure_text(exc)[0], *failure_text(exc)[1]])
        return render(request, "registry_record.html", _context(
            kind=kind, key=key, found=found, form=values, errors=errors, error=error),
            status_code=422)
    return redirect(_record_url(kind, key), "已保存" if found else f"已新建{KINDS[kind]} {key}")


@router.get(f"{BASE}/admin/new-record")
async def new_record(kind: Annotated[str, Query(max_length=10)],
                     key: Annotated[str, Query(max_length=64)], user: Editor) -> Response:
    """The 新建 form of the list: the record page of a key (empty when new)."""
    import re

    kind = _kind(kind)
    key = key.strip()
    if not re.match(KEY_PATTERN, key):
        return redirect(f"{BASE}/admin/registry/{kind}",
                        "编号应为 1 到 64 个字母、数字或 . _ : -，以字母或数字开头", "error")
    return RedirectResponse(_record_url(kind, key), status_code=303)


# --- 换届 -----------------------------------------------------------------------------------


async def _terms_context(request: Request, user: Principal) -> dict[str, Any]:
    svc = services(request)
    terms = await svc.send(ListTerms(), user)
    deputies: list[dict[str, Any]] = []
    if terms.get("current"):
        cursor = None
        while True:  # the current term's deputies, every page
            page = await svc.send(ListRecords(kind="deputy", term=terms["current"], active=True,
                                              limit=500, cursor=cursor), user)
            deputies += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return _context(terms=terms, deputies=deputies)


@router.get(f"{BASE}/admin/terms")
async def terms_page(request: Request, user: Editor) -> HTMLResponse:
    return render(request, "registry_terms.html", {
        **await _terms_context(request, user), "form": {}, "errors": {}, "error": None})


@router.post(f"{BASE}/admin/terms", dependencies=Csrf)
async def open_term(request: Request, user: Editor) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("id", "name", "number", "start",
                                                          "others")}
    continuing = [str(v) for v in form.getlist("continuing")]
    continuing += [v for v in values["others"].replace("，", ",").replace("\n", ",").split(",")
                   if v.strip()]
    continuing = [v.strip() for v in continuing]
    errors: dict[str, list[str]] = {}
    for name, text in (("id", "编号"), ("name", "名称"), ("number", "届数"), ("start", "开始日期")):
        if not values[name]:
            errors[name] = [f"请填写{text}"]
    error = None
    if not errors:
        try:
            command = OpenTerm.model_validate({
                "id": values["id"], "name": values["name"], "number": values["number"],
                "start": values["start"], "continuing": continuing})
        except Exception as exc:  # pydantic: the field's message in Chinese
            from pydantic import ValidationError

            if not isinstance(exc, ValidationError):
                raise
            zh = {"id": "编号应为字母、数字或 . _ : -", "number": "届数应为正整数",
                  "start": "开始日期应为 YYYY-MM-DD", "name": "名称不能超过 200 个字符",
                  "continuing": "连任代表编号不正确"}
            for e in exc.errors():
                name = str(e["loc"][0]) if e["loc"] else "id"
                errors.setdefault(name, []).append(zh.get(name, "填写不正确"))
        else:
            try:
                done = await services(request).send(command, user)
            except ServiceFailure as exc:
                errors = _field_errors(exc)
                text, items = failure_text(exc)
                error = "未换届：" + "；".join([text, *items])
            else:
                return redirect(f"{BASE}/admin/terms",
                                f"已开启{done['term']['name']}：连任 {len(done['continued'])} 名，"
                                f"届满未连任 {len(done['closed'])} 名")
    return render(request, "registry_terms.html", {
        **await _terms_context(request, user), "form": {**values, "continuing": continuing},
        "errors": errors, "error": error or "未换届：请按提示修改后重试"}, status_code=422)

"""Exports (台账): the suggestion-handling ledger and the duty-points ledger, as CSV and Excel.

Both are gathered from the services' existing queries, as the signed-in user (office or
leaders), and filtered like the board: unit, category and colour for suggestions; year,
deputy group and category for duty points.

Exports stream: the gateway asks the service for one page of rows at a time (500, the most a
page holds) and writes each page out before it asks for the next, so it never holds a whole
export. CSV goes to the client page by page; an Excel file is written with openpyxl's
write-only mode to a temporary file (rows go to disk as they come) that is then streamed and
deleted. Rows come in the lists' own order (duty points: by deputy, year and line number).

Where each lifecycle timestamp comes from:
- submitted, registered — intake ``get_suggestion`` (``submitted_at``, ``registered_at``)
- assigned — assignment ``case_assignment`` (``assigned_at``)
- signed for, replied — supervision ``list_tasks`` of the case, lead task
  (``signed_for_at``; ``replies[].at`` of the latest reply)
- rated, closed — supervision ``get_case`` (``ratings[].rated_at``, ``closed_at``; cases
  closed before those were recorded have the dates ``rated_on``, ``closed_on`` only)
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from services.gateway.auth import Principal
from services.gateway.deps import request_of
from shared.contracts.requests import Request as Request_
from shared.contracts.requests import supervision
from shared.contracts.requests.assignment import CaseAssignment
from shared.contracts.requests.intake import GetSuggestion, ListSuggestions
from shared.contracts.requests.points import ListLedgerLines
from shared.clock import CHINA_TZ
from services.gateway.paging import YearParam, year_value
from services.gateway.web.common import (
    BASE, CASE_STATUS_ZH, CAUSE_ZH, COLOUR_ZH, RATING_ZH, SUGGESTION_STATUS_ZH, URGENCY_ZH, WebRoute, label, need,
    optional, reference, services,
)

router = APIRouter(route_class=WebRoute)
Viewer = Annotated[Principal, Depends(need("office", "leader"))]

LEDGER_COLUMNS = [
    ("number", "编号"), ("title", "标题"), ("category", "类别"), ("urgency", "紧急程度"),
    ("status", "状态"), ("round", "办理轮次"), ("lead_deputy", "领衔代表"), ("co_signers", "附议代表"),
    ("lead_unit", "主办单位"), ("co_units", "协办单位"), ("deadline", "办理时限"),
    ("colour", "督办颜色"), ("submitted_at", "提交时间"), ("registered_at", "立案时间"),
    ("assigned_at", "交办时间"), ("signed_for_at", "签收时间"), ("replied_at", "答复时间"),
    ("result_class", "答复类别"), ("rating", "代表评价"), ("rated_on", "评价时间"),
    ("closed_on", "办结时间"), ("case_id", "案件ID"),
]
POINTS_COLUMNS = [
    ("deputy_id", "代表ID"), ("deputy", "代表"), ("group", "代表小组"), ("year", "年度"),
    ("line_no", "行号"), ("type", "类型"), ("points", "积分"), ("current_points", "当前积分"),
    ("cause", "来由"), ("cause_ref", "来源"), ("case_number", "建议编号"),
    ("case_title", "标题"), ("category", "类别"), ("earned_on", "获得日期"),
    ("awarded_at", "入账时间"), ("rule_version", "规则版本"), ("revoked_by", "撤销")]


def _iso(value: Any) -> datetime | date | str:
    """A timestamp in China time (Asia/Shanghai, the day the pages show), a date as a date;
    empty when missing. CSV writes it as text (2026-03-02 09:00:00), Excel as a real date."""
    if value in (None, ""):
        return ""
    if isinstance(value, (datetime, date)):
        moment: datetime | date = value
    else:
        text = str(value)
        try:
            moment = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(CHINA_TZ)
        return moment.replace(tzinfo=None, microsecond=0)
    return moment


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return value


PAGE = 500  # rows asked of a service at a time (the most one page holds)


async def pages(request: Request, user: Principal, contract: type[Request_],
                payload: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
    """The items of a paged list, one page after another (a list route that still answers a
    plain list gives it as one page)."""
    svc = services(request)
    cursor = None
    while True:
        result = await svc.send(request_of(contract, query={
            **payload, "limit": PAGE, "cursor": cursor}), user)
        if isinstance(result, list):
            yield result
            return
        yield result["items"]
        cursor = result.get("next_cursor")
        if not cursor:
            return


async def ledger_rows(request: Request, user: Principal, unit_id: str | None,
                      category: str | None, colour: str | None,
                      year: int | str | None = None) -> AsyncIterator[list[dict[str, Any]]]:
    """The suggestion-handling ledger, a page of suggestions at a time."""
    svc = services(request)
    ref = await reference(request, user)
    on_board = None
    if unit_id or colour:
        # the cases with a task of the unit (and of the colour), every one of them: the
        # board's case lists stop at a page, so they are read from the paged task list
        on_board = set()
        async for tasks in pages(request, user, supervision.ListTasks,
                                 {"unit_id": unit_id or None, "year": "all"}):
            on_board.update(t["case_id"] for t in tasks if t["status"] != "withdrawn"
                            and (not colour or t["colour"] == colour))
    limit = asyncio.Semaphore(8)

    async def one(s: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            detail, assignment, tasks, case = await asyncio.gather(
                svc.send(GetSuggestion(suggestion_id=s["id"]), user),
                optional(svc.send(CaseAssignment(case_id=s["id"]), user)),
                svc.send(supervision.ListTasks(case_id=s["id"]), user),
                optional(svc.send(supervision.GetCase(case_id=s["id"]), user)))
        if isinstance(tasks, dict):  # a paged list of the case's tasks (a few)
            tasks = tasks["items"]
        return _ledger_row(detail, assignment, tasks, case, ref)

    payload: dict[str, Any] = {"category": category or None}
    if year is not None:
        payload["year"] = year
    async for suggestions in pages(request, user, ListSuggestions, payload):
        if on_board is not None:
            suggestions = [s for s in suggestions if s["id"] in on_board]
        yield list(await asyncio.gather(*(one(s) for s in suggestions)))


def _ledger_row(s: dict[str, Any], assignment: dict[str, Any] | None, tasks: list[dict[str, Any]],
                case: dict[str, Any] | None, ref: dict[str, Any]) -> dict[str, Any]:
    unit = lambda u: ref["units"].get(u, {}).get("name", u)  # noqa: E731
    deputy = lambda d: ref["deputies"].get(d, {}).get("name", d)  # noqa: E731
    live = [t for t in tasks if t["status"] != "withdrawn"]
    lead = next((t for t in live if t["role"] == "lead"), None)
    replies = (lead or {}).get("replies") or []
    ratings = (case or {}).get("ratings") or []
    latest: dict[str, dict[str, Any]] = {}
    for r in ratings:
        latest[r["deputy_id"]] = r
    colour = lead["colour"] if lead else ""
    return {
        "case_id": s["id"], "number": s.get("number") or "", "title": s.get("title", ""),
        "category": ref["categories"].get(s.get("category"), {}).get("name_zh", s.get("category")),
        "urgency": label(URGENCY_ZH, s.get("urgency")) if s.get("urgency") else "",
        # the case's state when there is one: re-handling (重新办理) shows, with its round
        "status": ("已办结" if case and case.get("closed_on") else
                   label(CASE_STATUS_ZH, case["status"]) if case and case.get("status")
                   else label(SUGGESTION_STATUS_ZH, s.get("status"))),
        "round": (case or {}).get("round") or "",
        "lead_deputy": deputy(s.get("lead_deputy_id")),
        "co_signers": "、".join(deputy(d) for d in s.get("co_signers") or []),
        "lead_unit": unit(assignment["lead_unit_id"]) if assignment and assignment.get("lead_unit_id") else "",
        "co_units": "、".join(unit(u) for u in (assignment or {}).get("co_unit_ids") or []),
        "deadline": (lead or {}).get("deadline") or "",
        "colour": label(COLOUR_ZH, colour) if colour else "",
        "submitted_at": _iso(s.get("submitted_at")),
        "registered_at": _iso(s.get("registered_at")),
        "assigned_at": _iso((assignment or {}).get("assigned_at")),
        "signed_for_at": _iso((lead or {}).get("signed_for_at")),
        "replied_at": _iso(replies[-1].get("at") if replies else None),
        "result_class": replies[-1].get("result_class", "") if replies else "",
        "rating": "；".join(f"{deputy(d)}：{label(RATING_ZH, r['rating'])}" for d, r in latest.items()),
        "rated_on": max((_iso(r.get("rated_at") or r.get("rated_on")) for r in latest.values()),
                        default="", key=lambda v: str(_text(v))),
        "closed_on": _iso((case or {}).get("closed_at") or (case or {}).get("closed_on")),
    }


async def points_rows(request: Request, user: Principal, year: int | str | None,
                      group: str | None, category: str | None,
                      ) -> AsyncIterator[list[dict[str, Any]]]:
    """The duty-points ledger, a page of lines (of every deputy) at a time."""
    ref = await reference(request, user)
    payload = {"year": year, "group": group or None, "category": category or None}
    async for lines in pages(request, user, ListLedgerLines, payload):
        yield [_points_row(line, ref) for line in lines]


def _points_row(line: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    d = ref["deputies"].get(line["deputy_id"], {})
    details = line.get("details") or {}
    return {
        "deputy_id": line["deputy_id"], "deputy": d.get("name", line["deputy_id"]),
        "group": d.get("group", ""),
        "year": line["year"], "line_no": line["line_no"], "type": line["type"],
        "points": line["points"], "current_points": line.get("current_points"),
        "cause": label(CAUSE_ZH, line.get("activity_kind") and "activity"
                       or line.get("cause_kind")),
        "cause_ref": line.get("cause_ref") or "",
        "case_number": details.get("number", ""), "case_title": details.get("title", ""),
        "category": ref["categories"].get(details.get("category"), {}).get(
            "name_zh", details.get("category") or ""),
        "earned_on": _iso(line.get("earned_on")), "awarded_at": _iso(line.get("awarded_at")),
        "rule_version": line.get("rule_version") or "",
        "revoked_by": "" if line.get("revoked_by") in (None, "") else str(line["revoked_by"]),
    }


def _cells(columns: list[tuple[str, str]], row: dict[str, Any]) -> list[Any]:
    return ["" if row.get(k) is None else row.get(k) for k, _ in columns]


async def _csv(columns: list[tuple[str, str]],
               pages_: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """CSV text, one chunk per page of rows (a BOM first: Excel opens it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title in columns])
    yield ("\ufeff" + out.getvalue()).encode("utf-8")
    async for rows in pages_:
        out.seek(0)
        out.truncate()
        for row in rows:
            writer.writerow([_text(v) for v in _cells(columns, row)])
        yield out.getvalue().encode("utf-8")


async def _xlsx(columns: list[tuple[str, str]], pages_: AsyncIterator[list[dict[str, Any]]],
                sheet: str) -> str:
    """An Excel file written row by row (openpyxl write-only) to a temporary file; its path."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.freeze_panes = "A2"
    for i, (_, title) in enumerate(columns, start=1):
        ws.column_dimensions[_column_letter(i)].width = max(10, len(title) * 2 + 4)
    header = []
    for _, title in columns:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    def cell(value: Any) -> Any:
        if isinstance(value, (datetime, date)):
            written = WriteOnlyCell(ws, value=value)
            written.number_format = ("yyyy-mm-dd hh:mm:ss" if isinstance(value, datetime)
                                     else "yyyy-mm-dd")
            return written
        return value

    async for rows in pages_:
        for row in rows:
            ws.append([cell(v) for v in _cells(columns, row)])
    handle, path = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(handle)
    try:
        await asyncio.to_thread(book.save, path)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _column_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i)


def _file_chunks(path: str, size: int = 1 << 16):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def _headers(filename: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "ignore").decode() or "export"
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store"}


async def _download(columns: list[tuple[str, str]], pages_: AsyncIterator[list[dict[str, Any]]],
                    fmt: str, name: str, sheet: str) -> Response:
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        # The first page is fetched before the answer starts: a refusal or a service that
        # does not answer is an error status, not a cut-off file.
        first = await anext(pages_, None)

        async def all_pages() -> AsyncIterator[list[dict[str, Any]]]:
            if first is not None:
                yield first
            async for rows in pages_:
                yield rows

        return StreamingResponse(_csv(columns, all_pages()), media_type="text/csv; charset=utf-8",
                                 headers=_headers(f"{name}-{stamp}.csv"))
    path = await _xlsx(columns, pages_, sheet)
    return StreamingResponse(_file_chunks(path), media_type=XLSX,
                             headers=_headers(f"{name}-{stamp}.xlsx"),
                             background=BackgroundTask(os.unlink, path))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"




@router.get(f"{BASE}/exports/ledger.{{fmt}}")
async def export_ledger(request: Request, fmt: str, user: Viewer, unit_id: str | None = None,
                        category: str | None = None, colour: str | None = None,
                        year: YearParam = None) -> Response:
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "导出格式为 csv 或 xlsx")
    if colour not in (None, "", "green", "yellow", "red", "closed"):
        raise HTTPException(422, "颜色只能是 green、yellow、red 或 closed")
    rows = ledger_rows(request, user, unit_id, category, colour, year_value(year))
    return await _download(LEDGER_COLUMNS, rows, fmt, "suggestion-ledger", "建议办理台账")


@router.get(f"{BASE}/exports/points.{{fmt}}")
async def export_points(request: Request, fmt: str, user: Viewer, year: YearParam = None,
                        group: str | None = None, category: str | None = None) -> Response:
    """The duty-points ledger of a year (the ledgers' year; default this year, or ``all``)."""
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "导出格式为 csv 或 xlsx")
    rows = points_rows(request, user, year_value(year), group, category)
    return await _download(POINTS_COLUMNS, rows, fmt, "duty-points-ledger", "履职积分台账")

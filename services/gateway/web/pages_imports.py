"""名册导入 (``/app/admin/imports``, the office and its administrator): choose what the roster
holds (代表, 承办单位, 联络站), choose the file (Excel or CSV), 预检 checks every row and shows
the problems (行, 列, 问题) and what the import would do; 导入 applies it, all rows or none.
Each kind's roster is exported as CSV or Excel in the same columns. The registry decides
(services/gateway/routes_imports.py ``run_import``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.routes_imports import (KIND_ZH, KINDS, ImportRefused, export_response,
                                             run_import)
from services.gateway.web.common import (BASE, WebRoute, check_csrf, failure_text, need, render,
                                         services)

router = APIRouter(route_class=WebRoute)
Importer = Annotated[Principal, Depends(need("office", "admin"))]
Csrf = [Depends(check_csrf)]
PAGE = f"{BASE}/admin/imports"
# the columns of each roster, as the page explains them (roster_import.COLUMNS' headers)
COLUMNS_ZH = {
    "deputies": "代表编号*、姓名*、层级*（国家/省/市/县/乡）、代表小组、代表团、选区、联络站（编号或名称）、"
                "电话、届次（编号或名称，多个用“、”分隔）",
    "units": "单位编号*、单位名称*、上级、类别（多个用“、”分隔）",
    "stations": "联络站编号*、名称*、区县、网格（多个用“；”或“、”分隔）",
}


def _page(request: Request, kind: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, "admin_imports.html", {
        "kinds": [(k, KIND_ZH[k]) for k in KINDS], "kind": kind, "columns_zh": COLUMNS_ZH,
        "report": None, "error": None, "applied": False, "action": None, **context},
        status_code=status_code)


@router.get(PAGE)
async def imports_page(request: Request, user: Importer) -> HTMLResponse:
    return _page(request, "deputies")


@router.post(PAGE, dependencies=Csrf)
async def import_file(request: Request, user: Importer,
                      kind: Annotated[Literal["deputies", "units", "stations"], Form()],
                      action: Annotated[Literal["check", "apply"], Form()] = "check",
                      file: Annotated[UploadFile | str | None, File()] = None) -> Response:
    if file is None or isinstance(file, str) or not file.filename:
        return _page(request, kind, 422, error="请选择要导入的名册文件（Excel 或 CSV）。")
    data = await file.read()
    dry_run = action == "check"
    try:
        report = await run_import(request, services(request), user, kind, data, file.filename,
                                  dry_run)
    except ImportRefused as exc:
        return _page(request, kind, exc.status, error=exc.message_zh, action=action)
    except ServiceFailure as exc:
        reply = exc.reply
        if "error_count" not in reply:  # not a report: a refusal of another kind
            detail, items = failure_text(exc)
            return _page(request, kind, int(reply.get("status") or 422),
                         error="；".join([detail, *items]), action=action)
        report = {k: v for k, v in reply.items() if k not in ("ok", "status", "title", "detail")}
        if report.get("rows", 0) == 0 and report.get("errors"):
            # the file as a whole cannot be imported: its one message
            return _page(request, kind, 422, error=report["errors"][0].get("message")
                         or reply.get("detail"), action=action)
        return _page(request, kind, 422, report=report, action=action, file_name=file.filename,
                     error=f"名册有 {report['error_count']} 处问题，未导入任何记录：请改正后重新预检。")
    return _page(request, kind, report=report, applied=not dry_run, action=action,
                 file_name=file.filename)


@router.get(f"{BASE}/admin/exports/{{kind}}.{{fmt}}")
async def export_file(request: Request, user: Importer,
                      kind: Literal["deputies", "units", "stations"],
                      fmt: Literal["csv", "xlsx"]) -> Response:
    return await export_response(services(request), user, kind, fmt)

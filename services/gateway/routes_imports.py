"""Roster import and export (名册导入导出, issue 29 point 2), for the office and its
administrator (roles ``office`` and ``admin``).

- ``POST /api/v1/admin/imports/{kind}`` (``kind``: deputies, units, stations; multipart
  ``file`` — CSV or XLSX, decided by the registry from the bytes — and ``dry_run``,
  ``true``/``false``, default false). A roster of a whole city (about 10,000 rows) is larger
  than a bus message may be, so the gateway stores the file in the import store
  (shared/blobs.py ``import_store``) and sends the registry :class:`ImportRoster` naming it by
  SHA-256; the registry reads, checks and (unless a dry run) applies it in one save, and
  answers its report: ``{kind, rows, errors: [{row, column, message, msg}], error_count,
  would_create, would_change, unchanged, created, updated, applied}`` (at most 1,000 problems
  listed, all counted). An import with any problem is 422 with the report and applies
  nothing; a file that is not CSV or XLSX is 422 with a message in Chinese. The file is
  removed from the import store once answered.
- ``GET /api/v1/admin/exports/{kind}?format=csv|xlsx``: every record of the kind in the
  import's columns (an export imports again unchanged), read from the registry a page at a
  time and streamed.

The web page (``/app/admin/imports``, services/gateway/web/pages_imports.py) does the same
through :func:`run_import` and :func:`export_response`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile as StarletteUploadFile

from shared import blobs
from shared.contracts.requests.registry_imports import (EXPORT_PAGE_MAX, ExportRoster,
                                                        ImportRoster)
from services.gateway.auth import Principal
from services.gateway.deps import (ServiceFailure, Services, ServicesDep, admitted, problem,
                                   problem_responses, sends)

API = "/api/v1"
KINDS = ("deputies", "units", "stations")
KIND_ZH = {"deputies": "代表", "units": "承办单位", "stations": "联络站"}
# A multipart body on these paths may be as large as an attachment (limits_middleware.py).
IMPORT_UPLOAD_PATHS = (rf"{API}/admin/imports/(deputies|units|stations)", r"/app/admin/imports")
# Reading, checking and saving 10,000 rows takes seconds, more than an ordinary request.
IMPORT_TIMEOUT_SECONDS = 180.0
EXPORT_PAGE = EXPORT_PAGE_MAX

Importer = admitted(ImportRoster)
Exporter = admitted(ExportRoster)
Kind = Annotated[Literal["deputies", "units", "stations"],
                 Path(description="deputies, units or stations")]
UPLOAD_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["file"],
                 "properties": {
                     "file": {"type": "string", "format": "binary",
                              "description": "the roster: XLSX or CSV (UTF-8), header in row 1"},
                     "dry_run": {"type": "boolean", "default": False,
                                 "description": "check only, apply nothing"}}}
TRUE = {"true", "1", "yes", "on", "是"}
FALSE = {"false", "0", "no", "off", "否", ""}


class ImportRefused(Exception):
    """The upload itself is refused before the registry is asked (no file, too large)."""

    def __init__(self, status: int, message_zh: str) -> None:
        super().__init__(message_zh)
        self.status = status
        self.message_zh = message_zh


def import_store(request: Request) -> blobs.BlobStore:
    state = request.app.state
    store = getattr(state, "import_blobs", None)
    if store is None:
        store = state.import_blobs = blobs.import_store(state.settings)
    return store


async def run_import(request: Request, services: Services, principal: Principal, kind: str,
                     data: bytes, file_name: str | None, dry_run: bool) -> dict[str, Any]:
    """Store the file, have the registry check (and apply) it, remove the file: the report.
    ImportRefused for an empty or too large file; ServiceFailure for the registry's refusal
    (422 with the report when any row has a problem or the file is not CSV or XLSX)."""
    store = import_store(request)
    limit = request.app.state.settings.attachment_max_bytes
    try:
        sha256 = await asyncio.to_thread(blobs.put_import, store, data, limit)
    except blobs.RefusedFile as exc:
        raise ImportRefused(exc.status, exc.message_zh) from None
    name = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1][:200] or None
    try:
        return await services.send(ImportRoster(kind=kind, sha256=sha256, dry_run=dry_run,
                                                file_name=name),
                                   principal, timeout=IMPORT_TIMEOUT_SECONDS)
    finally:
        await asyncio.to_thread(store.delete, sha256)


async def export_pages(services: Services, principal: Principal, kind: str,
                       ) -> AsyncIterator[list[list[str]]]:
    """The kind's records as rows of cells, a page at a time (the header first, alone)."""
    after: str | None = None
    first = True
    while True:
        page = await services.send(ExportRoster(kind=kind, after=after, limit=EXPORT_PAGE),
                                   principal)
        if first:
            yield [page["columns"]]
            first = False
        if page["rows"]:
            yield page["rows"]
        after = page.get("next")
        if not after:
            return


async def export_response(services: Services, principal: Principal, kind: str,
                          fmt: str) -> Response:
    """The export as a download (CSV streamed page by page; XLSX written row by row to a
    temporary file, then streamed), built as the web application's ledgers are."""
    from services.gateway.web.exports import _download

    pages = export_pages(services, principal, kind)
    header = (await anext(pages))[0]  # the first page is asked before the answer starts
    columns = [(str(i), title) for i, title in enumerate(header)]

    async def as_dicts() -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in pages:
            yield [{str(i): v for i, v in enumerate(row)} for row in rows]

    return await _download(columns, as_dicts(), fmt, f"roster-{kind}", f"{KIND_ZH[kind]}名册")


def _flag(value: Any) -> bool | None:
    text = str(value).strip().lower() if value is not None else ""
    return True if text in TRUE else False if text in FALSE else None


def register_import_routes(app: FastAPI) -> None:
    tags = ["administration"]

    @app.post(f"{API}/admin/imports/{{kind}}", tags=tags, openapi_extra={
        **sends(ImportRoster),
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": UPLOAD_SCHEMA, "example": {"file": "代表编号,姓名,层级,…", "dry_run": True}}}}},
        summary="Import a roster of deputies, units or stations (XLSX or CSV): a dry run "
                "reports every row's problems; otherwise all rows are applied, or none",
        responses=problem_responses(
            422, _422="a row has a problem (nothing applied; the report is in the answer), or "
                      "the file is not CSV or XLSX; `detail` in Chinese") | {
            413: {"description": "larger than the upload limit"},
            200: {"description": "the report: rows, errors [{row, column, message}], "
                                 "error_count, would_create, would_change, unchanged, "
                                 "created, updated, applied"}})
    async def import_roster(request: Request, kind: Kind, services: ServicesDep,
                            principal: Importer) -> Any:  # type: ignore[valid-type]
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001  not a readable multipart body
            form = None
        file = form.get("file") if form is not None else None
        if not isinstance(file, StarletteUploadFile):
            message = "请选择要导入的名册文件（表单字段 file，Excel 或 CSV）。"
            return problem(422, "Invalid input", message,
                           [{"loc": ["body", "file"], "msg": message}])
        raw = form.get("dry_run") if form is not None else None
        if raw is None:
            raw = request.query_params.get("dry_run")
        dry_run = _flag(raw)
        if dry_run is None:
            message = "dry_run 只能是 true 或 false"
            return problem(422, "Invalid input", message,
                           [{"loc": ["body", "dry_run"], "msg": message}])
        data = await file.read()
        try:
            report = await run_import(request, services, principal, kind, data,
                                      file.filename, dry_run)
        except ImportRefused as exc:
            return problem(exc.status, "Refused file", exc.message_zh,
                           [{"loc": ["body", "file"], "msg": exc.message_zh}])
        return JSONResponse(report)

    @app.get(f"{API}/admin/exports/{{kind}}", tags=tags, openapi_extra=sends(ExportRoster),
             summary="Export every deputy, unit or station in the import's columns (CSV or "
                     "XLSX; it imports again unchanged)",
             response_class=Response, responses={200: {
                 "description": "the roster as a file",
                 "content": {"text/csv": {}, blobs.XLSX: {}}}})
    async def export_roster(kind: Kind, services: ServicesDep,
                            principal: Exporter,  # type: ignore[valid-type]
                            format: Annotated[Literal["csv", "xlsx"],  # noqa: A002
                                              Query(description="csv or xlsx")] = "csv",
                            ) -> Response:
        return await export_response(services, principal, kind, format)

    from services.gateway.web import pages_imports  # the page: /app/admin/imports

    app.include_router(pages_imports.router, include_in_schema=False)


__all__ = ["IMPORT_UPLOAD_PATHS", "ServiceFailure", "export_response", "register_import_routes",
           "run_import"]

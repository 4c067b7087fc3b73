"""Attachments (shared/blobs.py): upload a file, and read one back where its owner allows.

- ``POST /api/v1/attachments`` (multipart ``file``, any staff role): the type decided by the
  bytes, the size limit (``ATTACHMENT_MAX_BYTES``), images re-encoded without metadata; the
  blob is stored and ``{sha256, size, content_type, name}`` answered. Nothing is recorded
  yet: a request of the owning service records it on an object (a reply's ``reply_letter``,
  an activity's ``evidence_files``, a suggestion's or message's ``attach_*``...), reading its
  size and type from the store itself.
- ``GET /api/v1/attachments/{sha256}``: the services that record files are asked
  (``attachment_access``) whether the caller may see an object the file is recorded on; the
  first that allows it gives the recorded name and type. The bytes are checked against their
  hash, then served as a download (``Content-Disposition: attachment``, ``nosniff``, a
  sandboxing CSP), only ever with one of the accepted types. A file recorded nowhere, or on
  nothing the caller may see, is 404 (its existence is not told). A handling unit names the
  case of its task (``?case_id=``): supervision says whether it holds a task of it that was not
  withdrawn (else 403), intake whether the file is on that suggestion (the unit task page's
  links).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from starlette.datastructures import UploadFile as StarletteUploadFile
from fastapi.responses import JSONResponse, Response

from shared import blobs
from shared.contracts.requests.intake import AttachToMessage, AttachToSuggestion, GetSuggestion
from shared.contracts.requests.runtime import AttachmentAccess
from shared.contracts.requests.supervision import AttachReplyLetter, ListTasks
from services.gateway.auth import Principal
from services.gateway.deps import (ServiceFailure, ServicesDep, Staff, admitted, body_of, problem,
                                   request_of, sends)

API = "/api/v1"
# The services that record files on their objects, asked in this order.
OWNERS = ("supervision", "intake", "points")
# A multipart body on these paths may carry a file (limits_middleware.py): the attachment
# limit plus this much for the form around it.
UPLOAD_FORM_BYTES = 256 * 1024
UPLOAD_PATHS = (
    rf"{API}/attachments",
    r"/app/unit/tasks/[^/]+/(reply|reply-letter)",
    r"/app/deputy/activities",
    r"/app/cases/[^/]+/reviews/[^/]+",
    r"/(s|d)/[^/]+/messages",  # a citizen's photos with a message (station_pages.py)
)
SAFE_TYPES = set(blobs.EXTENSIONS)
UPLOAD_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["file"],
                 "properties": {"file": {"type": "string", "format": "binary",
                                         "description": "the file"}}}


def store_of(request: Request) -> blobs.BlobStore:
    app_state = request.app.state
    store = getattr(app_state, "blobs", None)
    if store is None:
        store = app_state.blobs = blobs.blob_store(app_state.settings)
    return store


async def accept_upload(request: Request, data: bytes, filename: str | None,
                        types: tuple[str, ...] | None = None,
                        refused_zh: str = "") -> blobs.Prepared:
    """Check, clean and store one uploaded file; raises ``blobs.RefusedFile``. With
    ``types``: a file of another type is refused (``refused_zh``) before anything is stored."""
    limit = request.app.state.settings.attachment_max_bytes
    prepared = await asyncio.to_thread(blobs.prepare, data, filename, limit)
    if types is not None and prepared.content_type not in types:
        raise blobs.RefusedFile(refused_zh or "不支持的文件类型。")
    await asyncio.to_thread(store_of(request).put, prepared.data)
    return prepared


def refused(exc: blobs.RefusedFile, field: str = "file") -> JSONResponse:
    return problem(exc.status, "Refused file", exc.message_zh,
                   [{"loc": ["body", field], "msg": exc.message_zh}])


async def access(services: Any, sha256: str, principal: Principal) -> dict[str, Any] | None:
    """The recorded attachment when one owning service lets ``principal`` see it."""
    answers = await asyncio.gather(*(services.send(AttachmentAccess(sha256=sha256), principal,
                                                   service=s) for s in OWNERS))
    return next((a["attachment"] for a in answers if a.get("allowed")), None)


NOT_YOUR_CASE = "not_your_case"


async def through_task(services: Any, sha256: str, principal: Principal,
                       case_id: str | None) -> dict[str, Any] | str | None:
    """A handling unit's file of the suggestion behind its task: supervision says whether the
    unit holds a task of ``case_id`` that was not withdrawn (else ``NOT_YOUR_CASE``), intake
    whether the file is recorded (and not erased) on that suggestion; each answers as the
    unit. (A message's files: intake lets the unit it was forwarded to see them directly.)"""
    if principal.role != "unit" or not principal.unit_id or not case_id:
        return None
    try:
        tasks = await services.send(ListTasks(case_id=case_id), principal)
    except ServiceFailure:
        return NOT_YOUR_CASE
    if isinstance(tasks, dict):  # a page
        tasks = tasks.get("items") or []
    live = [t for t in tasks if isinstance(t, dict) and t.get("unit_id") == principal.unit_id
            and t.get("status") != "withdrawn"]
    if not live:
        return NOT_YOUR_CASE
    if live[0].get("case_kind", "suggestion") != "suggestion":
        return None
    try:
        source = await services.send(GetSuggestion(suggestion_id=case_id), principal)
    except ServiceFailure:
        return None
    return next((a for a in source.get("attachments") or []
                 if a.get("sha256") == sha256 and not a.get("erased")), None)


SuggestionFileBody = body_of(AttachToSuggestion, "suggestion_id")
MessageFileBody = body_of(AttachToMessage, "message_id")
ReplyLetterBody = body_of(AttachReplyLetter, "task_id")
SuggestionAttacher = admitted(AttachToSuggestion)
# the API: a deputy or the office (a citizen sends photos with the message, station_pages.py)
MessageAttacher = admitted(AttachToMessage, "deputy", "office")
HandlingUnit = admitted(AttachReplyLetter)
NOT_ALLOWED = {403: {"description": "the role may not do this"},
               404: {"description": "no such object (or not yours)"},
               422: {"description": "no uploaded file with this SHA-256"}}


async def serve(request: Request, services: Any, sha256: str, principal: Principal,
                case_id: str | None = None) -> Response:
    """The file as a download, when an owning service lets ``principal`` see it (the API's
    and the web application's download); a unit's through its task of ``case_id``."""
    attachment: Any = await access(services, sha256, principal)
    if attachment is None:
        attachment = await through_task(services, sha256, principal, case_id)
    if attachment == NOT_YOUR_CASE:
        return problem(403, "Forbidden", "the unit holds no task of this case (or it was "
                       "withdrawn): its files are not yours to see")
    if attachment is None:
        return problem(404, "Not found", "no such attachment on anything you may see")
    data = await asyncio.to_thread(store_of(request).get, sha256)
    if data is None:
        return problem(404, "Not found", "the attachment's file is missing or was erased")
    if hashlib.sha256(data).hexdigest() != sha256:
        return problem(409, "Conflict", "the stored file does not match its recorded hash")
    content_type = attachment.get("content_type")
    if content_type not in SAFE_TYPES:
        content_type = "application/octet-stream"
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": blobs.content_disposition(attachment.get("name") or "附件"),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    })


Sha256 = Annotated[str, Path(pattern=blobs.SHA256.pattern, description="the file's SHA-256")]
CaseParam = Annotated[str | None, Query(max_length=100, description=(
    "a handling unit: the case (suggestion or message id) of its task the file is on; the "
    "unit may download the case's files while it holds a task of it that was not withdrawn"))]


def register_attachment_routes(app: FastAPI) -> None:
    tags = ["attachments"]

    @app.post(f"{API}/attachments", tags=tags, status_code=201, responses={
        413: {"description": "larger than the attachment limit"},
        422: {"description": "no file, or not an accepted type (decided by the content); "
                             "`detail` in Chinese"}},
        summary="Upload a file (PDF, JPEG, PNG, docx, xlsx) to record on an object",
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": UPLOAD_SCHEMA,
                                    "example": {"file": "%PDF-1.4 …"}}}}})
    async def upload(request: Request, principal: Staff) -> Any:
        # the form is read here (not a File parameter): the body's schema above is exact
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001  not a readable multipart body
            form = None
        file = form.get("file") if form is not None else None
        if not isinstance(file, StarletteUploadFile):
            return refused(blobs.RefusedFile("请选择要上传的文件（表单字段 file）。"))
        data = await file.read()
        try:
            prepared = await accept_upload(request, data, file.filename)
        except blobs.RefusedFile as exc:
            return refused(exc)
        return JSONResponse({"sha256": prepared.sha256, "size": prepared.size,
                             "content_type": prepared.content_type, "name": prepared.name},
                            status_code=201)

    @app.get(f"{API}/attachments/{{sha256}}", tags=tags, responses={
        200: {"content": {t: {} for t in sorted(SAFE_TYPES)}, "description": "the file"},
        403: {"description": "a unit naming a case it holds no (live) task of"},
        404: {"description": "no such file on anything the caller may see"}},
        summary="Download a recorded file (for whoever may see an object it is recorded on)",
        response_class=Response)
    async def download(request: Request, sha256: Sha256, services: ServicesDep,
                       principal: Staff, case_id: CaseParam = None) -> Response:
        return await serve(request, services, sha256, principal, case_id)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/attachments", tags=tags,
              responses=NOT_ALLOWED, openapi_extra=sends(AttachToSuggestion),
              summary="Record an uploaded file on a suggestion (its deputies or the office)")
    async def attach_to_suggestion(suggestion_id: str, body: SuggestionFileBody,
                                   services: ServicesDep,
                                   principal: SuggestionAttacher) -> dict[str, Any]:
        return await services.send(request_of(AttachToSuggestion, body,
                                              suggestion_id=suggestion_id), principal)

    @app.post(f"{API}/messages/{{message_id}}/attachments", tags=tags, responses=NOT_ALLOWED,
              openapi_extra=sends(AttachToMessage),
              summary="Record a citizen's photo or document on their message")
    async def attach_to_message(message_id: str, body: MessageFileBody, services: ServicesDep,
                                principal: MessageAttacher) -> dict[str, Any]:
        return await services.send(request_of(AttachToMessage, body, message_id=message_id),
                                   principal)

    @app.post(f"{API}/tasks/{{task_id}}/reply-letter", tags=tags, responses=NOT_ALLOWED,
              openapi_extra=sends(AttachReplyLetter),
              summary="Record the signed reply letter (答复函) of the unit's reply")
    async def attach_reply_letter(task_id: str, body: ReplyLetterBody, services: ServicesDep,
                                  principal: HandlingUnit) -> dict[str, Any]:
        return await services.send(request_of(AttachReplyLetter, body, task_id=task_id),
                                   principal)

"""Files in the web application (shared/blobs.py): the download of a recorded file for the
signed-in user (``/app/attachments/{sha256}``, the same checks as the API's: the owning
service decides; a unit's task page adds ``?case=`` for the suggestion's files), and the upload of a form's file field, used by the unit's reply form
(答复函) and the deputy's activity form (证明材料)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile
from fastapi.responses import Response

from shared import blobs
from services.gateway.auth import Principal
from services.gateway.routes_attachments import accept_upload, serve
from services.gateway.web.common import BASE, WebRoute, need, render, services

router = APIRouter(route_class=WebRoute)
Anyone = Annotated[Principal, Depends(need("office", "leader", "unit", "deputy"))]
ACCEPT = ".pdf,.jpg,.jpeg,.png,.docx,.xlsx,application/pdf,image/jpeg,image/png"


async def form_file(request: Request, file: UploadFile | str | None) -> dict[str, str] | None:
    """A form's optional file field, checked, cleaned and stored: ``{sha256, name}`` to put
    in the request that records it, or None when no file was chosen. Raises
    ``blobs.RefusedFile`` (its ``message_zh`` for the page)."""
    if file is None or isinstance(file, str) or not file.filename:
        return None
    data = await file.read()
    if not data:
        return None
    prepared = await accept_upload(request, data, file.filename)
    return {"sha256": prepared.sha256, "name": prepared.name}


@router.get(f"{BASE}/attachments/{{sha256}}")
async def download(request: Request, user: Anyone,
                   sha256: Annotated[str, Path(pattern=blobs.SHA256.pattern)],
                   case: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """``case``: a unit's task page names the case of the task (the suggestion's files)."""
    response = await serve(request, services(request), sha256, user, case)
    if response.status_code != 200:
        detail = {404: "没有这个附件，或您无权查看（附件只对能查看其所属案件、活动的人开放）。",
                  403: "本单位没有该案件的办理任务（或任务已撤回），不能下载其附件。"}
        return render(request, "error.html", {
            "title": "无法下载附件",
            "detail": detail.get(response.status_code,
                                 "附件文件与登记的校验值不符，请联系代表工委。")},
            status_code=response.status_code)
    return response

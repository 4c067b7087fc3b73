"""A liaison station's QR code and the mobile message page it leads to (扫码提事).

``GET /s/{station_id}`` is a small self-contained page (no external assets) where a citizen
leaves a message, with up to 3 photos of the problem if they like (``POST
/s/{station_id}/messages``, multipart: JPEG/PNG by content, cleaned of metadata, recorded on
the message as the API's attachments are; never shown back on a public page) (the form says how personal data is used, sends once per press and is
cleared after sending, and leads to the follow-up page ``/f/{token}``, see follow_up_pages.py); ``GET /api/v1/stations/{station_id}/qr.png`` and ``qr.svg`` render the QR
code that points at that page, for printing at the station.
"""

from __future__ import annotations

import html
import io
from typing import Any, Awaitable, Callable

import segno
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from shared import blobs
from shared.contracts.requests import Request as Contract
from shared.contracts.requests.intake import AttachToMessage, PostMessage, Reference
from services.gateway.deps import problem_responses, sends
from services.gateway.routes_attachments import accept_upload, refused


async def _station(request: Request, station_id: str) -> dict[str, Any]:
    reference = await request.app.state.services.send(Reference())
    for station in reference["stations"]:
        if station["id"] == station_id:
            return {**station, "categories": open_categories(reference)}
    raise HTTPException(404, f"no station {station_id}")


def open_categories(reference: dict[str, Any]) -> list[dict[str, Any]]:
    """The categories a new message may be filed under (a closed one is not offered)."""
    return [c for c in reference["categories"] if c.get("active", True)]


CLOSED_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · 已停止接收留言</title>
<style> body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1rem; max-width: 36rem; }}
 h1 {{ font-size: 1.3rem; }} </style></head>
<body><h1>{name}</h1><p id="closed">{text}</p>{more}</body></html>"""


def closed_page(name: str, text: str, more: str = "") -> HTMLResponse:
    """What an old QR code of a closed station or a deputy no longer serving leads to: said
    plainly (410 Gone), instead of a form every message of which would be refused."""
    return HTMLResponse(CLOSED_PAGE.format(name=html.escape(name), text=html.escape(text),
                                           more=more), status_code=410)


def station_url(request: Request, station_id: str) -> str:
    base = request.app.state.settings.public_base_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/s/{station_id}"


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · 群众留言</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1rem; max-width: 36rem; }}
 h1 {{ font-size: 1.3rem; }} label {{ display: block; margin-top: .8rem; font-weight: 600; }}
 textarea, input, select {{ width: 100%; box-sizing: border-box; font-size: 1rem; padding: .5rem; }}
 button {{ margin-top: 1rem; width: 100%; padding: .8rem; font-size: 1.1rem; }}
 #result {{ margin-top: 1rem; padding: .8rem; background: #eef6ee; display: none; overflow-wrap: anywhere; }}
 .hint {{ color: #555; font-size: .9rem; }}
</style></head>
<body>
<h1>{name}</h1>
<p class="hint">{district} · 您的意见将由人大代表认领办理。姓名和电话可不填。</p>
<form id="message-form" data-station="{station_id}" enctype="multipart/form-data">
 <label for="content">留言内容（必填）</label>
 <textarea id="content" name="content" rows="6" required maxlength="5000"></textarea>
 <label for="category">类别</label>
 <select id="category" name="category"><option value="">（不确定）</option>{options}</select>
 <label for="grid">网格</label>
 <select id="grid" name="grid"><option value="">（不确定）</option>{grids}</select>
 <label for="contact_name">姓名</label>
 <input id="contact_name" name="contact_name" autocomplete="name" maxlength="50">
 <label for="contact_phone">电话</label>
 <input id="contact_phone" name="contact_phone" type="tel" autocomplete="tel" maxlength="20">
 <label for="photos">现场照片（可不传，最多 {photos_max} 张，合计不超过 {photo_limit}）</label>
 <input id="photos" name="photos" type="file" accept="image/jpeg,image/png" multiple
        aria-describedby="photos-help">
 <p class="hint" id="photos-help">只收 JPEG、PNG 格式的照片；保存前会去除拍摄时间、地点等信息，
 照片只给办理人员查看，不会公开。</p>
 <p class="hint" id="privacy">个人信息说明：姓名和电话可不填；填写的仅用于承办人员与您联系，
 加密保存，只有经办人员可见，查看会被记录；您可申请删除。留言内容不会公开发布。</p>
 <button type="submit" id="send">提交留言</button>
</form>
<div id="result" role="status" aria-live="polite"></div>
<script>
let sending = false;
document.getElementById("message-form").addEventListener("submit", async (e) => {{
  e.preventDefault();
  if (sending) return;  // one message per press: no double posting
  sending = true;
  const button = document.getElementById("send");
  button.disabled = true;
  const body = new FormData();
  for (const [k, v] of new FormData(e.target)) if (v && (typeof v === "string" || v.size)) body.append(k, v);
  const out = document.getElementById("result");
  try {{
    const r = await fetch("{post_url}", {{method: "POST", body: body}});
    let data = {{}};
    try {{ data = await r.json(); }} catch (_) {{ data = {{detail: r.status === 413 ? "照片太大" : "请稍后再试"}}; }}
    out.style.display = "block";
    if (r.ok) {{
      e.target.reset();  // cleared: pressing again does not send it twice
      const link = "/f/" + encodeURIComponent(data.follow_up_token);
      out.innerHTML = "";
      out.append("已收到，编号 " + data.id + "。" + (data.photos ? "照片 " + data.photos + " 张已收到。" : "")
                 + "请保存查询码：" + data.follow_up_token + "。");
      const a = document.createElement("a");
      a.href = link; a.id = "follow-up-link"; a.textContent = "查看办理进度";
      out.append(a);
      const img = document.createElement("img");
      img.src = link + "/qr.svg"; img.alt = "办理进度二维码"; img.width = 160;
      out.append(document.createElement("br"), img);
    }} else {{
      out.textContent = "提交失败：" + ((data.errors || []).map(x => x.msg).join("；") || data.detail || "")
                        + "（已填写的内容仍保留，修改后可再次提交）";
    }}
  }} finally {{
    sending = false;
    button.disabled = false;
  }}
}});
</script>
</body></html>"""


# A citizen's photos sent with a message (issue 29 point 5): JPEG or PNG by their content,
# at most PHOTOS_MAX, each within ATTACHMENT_MAX_BYTES; stored and recorded as the API's
# message attachments are (routes_attachments.accept_upload, intake's attach_to_message).
PHOTOS_MAX = 3  # intake's CITIZEN_PHOTOS_MAX (services/intake/attachments.py)
PHOTO_TYPES = (blobs.JPEG, blobs.PNG)
PHOTO_REFUSED = "只能上传照片（JPEG 或 PNG 格式，按文件内容判断，改扩展名无效）。"
MESSAGE_FIELDS = ("content", "category", "grid", "contact_name", "contact_phone")


def photo_limit_zh(request: Request) -> str:
    limit = request.app.state.settings.attachment_max_bytes
    return (f"{limit / (1024 * 1024):g} 兆字节" if limit >= 1024 * 1024
            else f"{max(1, limit // 1024)} 千字节")


async def post_with_photos(request: Request, contract: type[Contract],
                           exists: Callable[[], Awaitable[Any]] | None = None,
                           **ids: str) -> JSONResponse:
    """The QR page's form (multipart): the message's fields and its optional ``photos``.
    The photos are checked and stored first: a refused one refuses the whole message (422 or
    413, the reason in Chinese; nothing is recorded, the page keeps what was typed). Then the
    message is posted, and each photo recorded on it with its follow-up token."""
    try:
        form = await request.form(max_files=PHOTOS_MAX + 5)
    except Exception:  # noqa: BLE001  not a readable form, or too many parts
        return refused(blobs.RefusedFile(f"最多上传 {PHOTOS_MAX} 张照片。"), "photos")
    fields = {k: v.strip() for k in MESSAGE_FIELDS
              if isinstance(v := form.get(k), str) and v.strip()}
    files = [f for f in form.getlist("photos") if isinstance(f, StarletteUploadFile) and f.filename]
    if len(files) > PHOTOS_MAX:
        return refused(blobs.RefusedFile(f"最多上传 {PHOTOS_MAX} 张照片。"), "photos")
    try:
        command = contract.model_validate({**fields, **ids})
    except ValidationError as exc:
        raise RequestValidationError([{"loc": ("body", *e["loc"]), "msg": e["msg"],
                                       "type": e["type"]} for e in exc.errors()]) from None
    if files and exists is not None:
        await exists()  # no photo is stored for a station or deputy that is not there (404)
    photos: list[blobs.Prepared] = []
    for file in files:
        data = await file.read()
        if not data:
            continue
        try:
            photos.append(await accept_upload(request, data, file.filename, PHOTO_TYPES,
                                              PHOTO_REFUSED))
        except blobs.RefusedFile as exc:
            name = blobs.safe_name(file.filename, blobs.JPEG).rsplit(".", 1)[0]
            return refused(blobs.RefusedFile(f"照片“{name}”未能上传：{exc.message_zh}",
                                             exc.status), "photos")
    services = request.app.state.services
    message = await services.send(command)
    for photo in photos:
        await services.send(AttachToMessage(
            message_id=message["id"], token=message["follow_up_token"],
            attachment={"sha256": photo.sha256, "name": photo.name}))
    return JSONResponse({**message, "photos": len(photos)}, status_code=201)


def register_station_pages(app: FastAPI) -> None:
    @app.get("/s/{station_id}", response_class=HTMLResponse, tags=["citizen messages"],
             summary="The mobile message page a station's QR code leads to")
    async def station_page(station_id: str, request: Request) -> HTMLResponse:
        station = await _station(request, station_id)
        esc = html.escape
        if not station.get("active", True):
            return closed_page(station["name"], "该联络站已停止接收留言。请扫描您所在社区联络站的"
                                                "二维码留言，或就近到联络站反映。")
        options = "".join(f'<option value="{esc(c["code"])}">{esc(c["name_zh"])}</option>'
                          for c in station["categories"])
        grids = "".join(f'<option value="{esc(g)}">{esc(g)}</option>'
                        for g in station.get("grids", []))
        return HTMLResponse(PAGE.format(name=esc(station["name"]),
                                        district=esc(station.get("district", "")),
                                        station_id=esc(station_id), options=options, grids=grids,
                                        post_url=esc(f"/s/{station_id}/messages"),
                                        photos_max=PHOTOS_MAX,
                                        photo_limit=esc(photo_limit_zh(request))))

    @app.post("/s/{station_id}/messages", status_code=201, tags=["citizen messages"],
              summary="The station page's form: a message with optional photos (multipart: "
                      "the message's fields and up to 3 JPEG/PNG `photos`); as "
                      "POST /api/v1/stations/{station_id}/messages, plus `photos` received",
              responses={**problem_responses(404, 422, 429), 413: {"description": "the photos are over the size limit"}},
              openapi_extra=sends(PostMessage, AttachToMessage))
    async def station_message(station_id: str, request: Request) -> JSONResponse:
        return await post_with_photos(request, PostMessage,
                                      lambda: _station(request, station_id),
                                      station_id=station_id)

    @app.get("/api/v1/stations/{station_id}/qr.{fmt}", tags=["citizen messages"],
             summary="The station's QR code (png or svg), pointing at its message page")
    async def station_qr(station_id: str, fmt: str, request: Request,
                         scale: int = 8) -> Response:
        if fmt not in ("png", "svg"):
            raise HTTPException(404, "QR codes are served as .png or .svg")
        await _station(request, station_id)
        qr = segno.make(station_url(request, station_id), error="m")
        buffer = io.BytesIO()
        qr.save(buffer, kind=fmt, scale=max(1, min(scale, 40)), border=4)
        media = "image/png" if fmt == "png" else "image/svg+xml"
        return Response(buffer.getvalue(), media_type=media)

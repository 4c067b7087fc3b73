"""A liaison station's QR code and the mobile message page it leads to (扫码提事).

``GET /s/{station_id}`` is a small self-contained page (no external assets) where a citizen
leaves a message (the form says how personal data is used, sends once per press and is
cleared after sending, and leads to the follow-up page ``/f/{token}``, see follow_up_pages.py); ``GET /api/v1/stations/{station_id}/qr.png`` and ``qr.svg`` render the QR
code that points at that page, for printing at the station.
"""

from __future__ import annotations

import html
import io
from typing import Any

import segno
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from shared.contracts.requests.intake import Reference


async def _station(request: Request, station_id: str) -> dict[str, Any]:
    reference = await request.app.state.services.send(Reference())
    for station in reference["stations"]:
        if station["id"] == station_id:
            return {**station, "categories": reference["categories"]}
    raise HTTPException(404, f"no station {station_id}")


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
<form id="message-form" data-station="{station_id}">
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
  const body = {{}};
  for (const [k, v] of new FormData(e.target)) if (v) body[k] = v;
  const out = document.getElementById("result");
  try {{
    const r = await fetch("/api/v1/stations/{station_id}/messages", {{
      method: "POST", headers: {{"content-type": "application/json"}}, body: JSON.stringify(body)}});
    const data = await r.json();
    out.style.display = "block";
    if (r.ok) {{
      e.target.reset();  // cleared: pressing again does not send it twice
      const link = "/f/" + encodeURIComponent(data.follow_up_token);
      out.innerHTML = "";
      out.append("已收到，编号 " + data.id + "。请保存查询码：" + data.follow_up_token + "。");
      const a = document.createElement("a");
      a.href = link; a.id = "follow-up-link"; a.textContent = "查看办理进度";
      out.append(a);
      const img = document.createElement("img");
      img.src = link + "/qr.svg"; img.alt = "办理进度二维码"; img.width = 160;
      out.append(document.createElement("br"), img);
    }} else {{
      out.textContent = "提交失败：" + ((data.errors || []).map(x => x.msg).join("；") || data.detail || "");
    }}
  }} finally {{
    sending = false;
    button.disabled = false;
  }}
}});
</script>
</body></html>"""


def register_station_pages(app: FastAPI) -> None:
    @app.get("/s/{station_id}", response_class=HTMLResponse, tags=["citizen messages"],
             summary="The mobile message page a station's QR code leads to")
    async def station_page(station_id: str, request: Request) -> HTMLResponse:
        station = await _station(request, station_id)
        esc = html.escape
        options = "".join(f'<option value="{esc(c["code"])}">{esc(c["name_zh"])}</option>'
                          for c in station["categories"])
        grids = "".join(f'<option value="{esc(g)}">{esc(g)}</option>'
                        for g in station.get("grids", []))
        return HTMLResponse(PAGE.format(name=esc(station["name"]),
                                        district=esc(station.get("district", "")),
                                        station_id=esc(station_id), options=options, grids=grids))

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

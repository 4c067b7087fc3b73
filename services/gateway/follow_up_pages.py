"""The citizen's follow-up (办理进度): ``GET /api/v1/follow-up/{token}`` and the page
``/f/{token}`` the confirmation screen links to (and shows as a QR code).

The token is the citizen's only key: no login. The answer shows the status, the deputy's
answer or the handling unit's feedback and whether the citizen may rate; never the personal
data. Rating is the existing ``POST /api/v1/messages/{id}/rating`` with the token.
"""

from __future__ import annotations

import html
import io
from typing import Annotated, Any

import segno
from fastapi import FastAPI, Path, Request
from fastapi.responses import HTMLResponse, Response

from shared.contracts.requests.intake import FollowUpRef
from services.gateway.deps import ServicesDep, sends

Token = Annotated[str, Path(min_length=8, max_length=200)]

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>办理进度查询</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1rem; max-width: 36rem; }}
 h1 {{ font-size: 1.3rem; }} .box {{ padding: .8rem; background: #f3f6fa; margin: .8rem 0; }}
 button {{ margin: .3rem .3rem 0 0; padding: .6rem 1rem; font-size: 1rem; }}
 .hint {{ color: #555; font-size: .9rem; }}
</style></head>
<body>
<h1>办理进度查询</h1>
<p>留言编号 <span id="message-id">{id}</span>，收到于 {received_at}</p>
<div class="box"><strong>当前状态：</strong><span id="status">{status_text}</span></div>
{answer}{feedback}{rating}
<div id="result" role="status" aria-live="polite"></div>
<p class="hint">本页只显示办理情况，不显示您的姓名和电话。请妥善保存查询码，勿转发他人。</p>
</body></html>"""

RATE = """<form id="rate-form"><p><strong>请对办理情况进行评价：</strong></p>
 <button name="rating" value="satisfied">满意</button>
 <button name="rating" value="basically_satisfied">基本满意</button>
 <button name="rating" value="unsatisfied">不满意</button></form>
<script>
let sent = false;
document.getElementById("rate-form").addEventListener("click", async (e) => {{
  if (e.target.name !== "rating" || sent) return;
  e.preventDefault(); sent = true;
  const r = await fetch("/api/v1/messages/{id}/rating", {{method: "POST",
    headers: {{"content-type": "application/json", "X-Follow-Up-Token": {token_js}}},
    body: JSON.stringify({{rating: e.target.value}})}});
  const data = await r.json();
  document.getElementById("result").textContent = r.ok ? "感谢您的评价。"
    : "评价未成功：" + (data.detail || "");
  if (r.ok) document.getElementById("rate-form").remove(); else sent = false;
}});
</script>"""

RATINGS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}


def render(view: dict[str, Any], token: str) -> str:
    import json

    esc = html.escape
    answer = (f'<div class="box" id="answer"><strong>代表答复：</strong>{esc(view["answer"])}'
              "</div>") if view.get("answer") else ""
    feedback = ""
    if view.get("feedback"):
        words = view["feedback"].get("reply_text")
        reply = (f'<p id="reply-text"><strong>答复内容：</strong>'
                 f'{esc(words).replace(chr(10), "<br>")}</p>') if words else ""
        feedback = (f'<div class="box" id="feedback"><strong>承办单位反馈：</strong>'
                    f'{esc(view["feedback"]["text"])}（{esc(view["feedback"]["replied_at"][:10])}）'
                    f"{reply}</div>")
    if view.get("rating"):
        rating = f'<p id="rated">您的评价：{esc(RATINGS.get(view["rating"], view["rating"]))}</p>'
    elif view.get("can_rate"):
        rating = RATE.format(id=esc(view["id"]),
                             token_js=esc(json.dumps(token), quote=False))
    else:
        rating = '<p class="hint" id="not-yet">答复或承办单位反馈送达后，您可以在此评价。</p>'
    return PAGE.format(id=esc(view["id"]), received_at=esc(view["received_at"][:10]),
                       status_text=esc(view["status_text"]), answer=answer,
                       feedback=feedback, rating=rating)


def register_follow_up_pages(app: FastAPI) -> None:
    @app.get("/api/v1/follow-up/{token}", tags=["citizen messages"],
             summary="The citizen's follow-up by token: status, the deputy's answer or the "
                     "handling unit's feedback, and whether they can rate (no login)",
             openapi_extra=sends(FollowUpRef))
    async def follow_up(token: Token, services: ServicesDep) -> dict[str, Any]:
        view = await services.send(FollowUpRef(token=token))
        result = {"status": view["status"], "status_text": view["status_text"],
                  "message_id": view["id"], "can_rate": view["can_rate"],
                  "rating": view["rating"]}
        if view.get("answer"):
            result["answer"] = view["answer"]
        if view.get("feedback"):
            result["feedback"] = view["feedback"]
        return result

    @app.get("/f/{token}", response_class=HTMLResponse, tags=["citizen messages"],
             summary="The citizen's follow-up page (Chinese)")
    async def follow_up_page(token: Token, services: ServicesDep) -> HTMLResponse:
        view = await services.send(FollowUpRef(token=token))
        return HTMLResponse(render(view, token), headers={"Cache-Control": "no-store"})

    @app.get("/f/{token}/qr.svg", tags=["citizen messages"],
             summary="A QR code of the follow-up page, for the confirmation screen")
    async def follow_up_qr(token: Token, request: Request) -> Response:
        base = request.app.state.settings.public_base_url or str(request.base_url).rstrip("/")
        qr = segno.make(f"{base.rstrip('/')}/f/{token}", error="m")
        buffer = io.BytesIO()
        qr.save(buffer, kind="svg", scale=4, border=4)
        return Response(buffer.getvalue(), media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})

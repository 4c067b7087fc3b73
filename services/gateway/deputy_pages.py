"""A deputy's own QR code (亮身份、亮代表码, issue 29 point 6) and the mobile page it leads to,
where a citizen leaves a message for that deputy directly.

``GET /d/{deputy_id}`` is a small self-contained page like a station's (``/s/{station_id}``,
station_pages.py): the deputy's name, level and station, the message form (with optional
photos, ``POST /d/{deputy_id}/messages``, as the station page's) (how personal data
is used is said; sends once per press; cleared after sending) and the follow-up link.
``POST /api/v1/deputies/{deputy_id}/messages`` sends intake's ``post_message_to_deputy``: the
message is received at the deputy's station and held by that deputy at once.
``GET /api/v1/deputies/{deputy_id}/qr.png`` / ``qr.svg`` render the code for the deputy's
card or phone (the deputy's 接待与联系 page shows it).
"""

from __future__ import annotations

import html
import io
from typing import Any

import segno
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.deps import ServicesDep, body_of, problem_responses, request_of, sends
from fastapi.responses import JSONResponse

from services.gateway.station_pages import PAGE as STATION_PAGE
from services.gateway.station_pages import (
    PHOTOS_MAX, closed_page, open_categories, photo_limit_zh, post_with_photos,
)
from shared.contracts.requests.intake import AttachToMessage, PostMessageToDeputy, Reference

DeputyMessageBody = body_of(PostMessageToDeputy, "deputy_id")


async def _deputy(request: Request, deputy_id: str) -> dict[str, Any]:
    reference = await request.app.state.services.send(Reference())
    for deputy in reference["deputies"]:
        if deputy["id"] == deputy_id:
            stations = {s["id"]: s for s in reference["stations"]}
            return {**deputy, "station_record": stations.get(deputy.get("station"), {}),
                    "categories": open_categories(reference)}
    raise HTTPException(404, f"no deputy {deputy_id}")


def deputy_url(request: Request, deputy_id: str) -> str:
    base = request.app.state.settings.public_base_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/d/{deputy_id}"


def _page(deputy: dict[str, Any], limit_zh: str) -> str:
    """The station page's form and script, addressed to the deputy."""
    esc = html.escape
    station = deputy["station_record"]
    options = "".join(f'<option value="{esc(c["code"])}">{esc(c["name_zh"])}</option>'
                      for c in deputy["categories"])
    grids = "".join(f'<option value="{esc(g)}">{esc(g)}</option>'
                    for g in station.get("grids", []))
    page = STATION_PAGE.format(
        name=esc(f"{deputy['name']}代表"), district=esc(station.get("name", "")),
        station_id=esc(deputy["id"]), options=options, grids=grids,
        post_url=esc(f"/d/{deputy['id']}/messages"), photos_max=PHOTOS_MAX,
        photo_limit=esc(limit_zh))
    return (page
            .replace(" · 群众留言</title>", " · 给代表留言</title>")
            .replace("您的意见将由人大代表认领办理。", f"您的留言将直接交给{esc(deputy['name'])}代表办理。"))


def register_deputy_pages(app: FastAPI) -> None:
    @app.get("/d/{deputy_id}", response_class=HTMLResponse, tags=["citizen messages"],
             summary="The mobile page a deputy's own QR code leads to (给代表留言)")
    async def deputy_page(deputy_id: str, request: Request) -> HTMLResponse:
        deputy = await _deputy(request, deputy_id)
        if not deputy.get("active", True):  # no longer serves: their station still listens
            station = deputy["station_record"]
            more = (f'<p><a id="station-link" href="/s/{html.escape(station["id"])}">到'
                    f'{html.escape(station.get("name", ""))}留言</a></p>'
                    if station.get("id") and station.get("active", True) else "")
            return closed_page(f"{deputy['name']}代表", f"{deputy['name']}已不再担任人大代表，"
                                                          "不再通过此二维码接收留言。", more)
        return HTMLResponse(_page(deputy, photo_limit_zh(request)))

    @app.post("/d/{deputy_id}/messages", status_code=201, tags=["citizen messages"],
              summary="The deputy page's form: a message for the deputy with optional photos "
                      "(multipart: the message's fields and up to 3 JPEG/PNG `photos`); as "
                      "POST /api/v1/deputies/{deputy_id}/messages, plus `photos` received",
              responses={**problem_responses(404, 422, 429), 413: {"description": "the photos are over the size limit"}},
              openapi_extra=sends(PostMessageToDeputy, AttachToMessage))
    async def deputy_message(deputy_id: str, request: Request) -> JSONResponse:
        return await post_with_photos(request, PostMessageToDeputy,
                                      lambda: _deputy(request, deputy_id), deputy_id=deputy_id)

    @app.post("/api/v1/deputies/{deputy_id}/messages", status_code=201,
              tags=["citizen messages"],
              summary="A citizen leaves a message for one deputy (anonymous, through the "
                      "deputy's QR code): received at the deputy's station and held by the "
                      "deputy; keep the follow_up_token",
              responses=problem_responses(404, 422, 429, _404="no such deputy"),
              openapi_extra=sends(PostMessageToDeputy))
    async def post_to_deputy(deputy_id: str, body: DeputyMessageBody,  # type: ignore[valid-type]
                             services: ServicesDep) -> dict[str, Any]:
        return await services.send(request_of(PostMessageToDeputy, body, deputy_id=deputy_id))

    @app.get("/api/v1/deputies/{deputy_id}/qr.{fmt}", tags=["citizen messages"],
             responses=problem_responses(404),
             summary="A deputy's own QR code (png or svg, 亮代表码), pointing at their message page")
    async def deputy_qr(deputy_id: str, fmt: str, request: Request, scale: int = 8) -> Response:
        if fmt not in ("png", "svg"):
            raise HTTPException(404, "QR codes are served as .png or .svg")
        await _deputy(request, deputy_id)
        qr = segno.make(deputy_url(request, deputy_id), error="m")
        buffer = io.BytesIO()
        qr.save(buffer, kind=fmt, scale=max(1, min(scale, 40)), border=4)
        return Response(buffer.getvalue(),
                        media_type="image/png" if fmt == "png" else "image/svg+xml")

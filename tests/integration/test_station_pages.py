"""A station's QR code leads to its mobile message page, and that page's form posts a message."""

from __future__ import annotations

import io
import re

import segno


async def test_station_page_and_qr_codes(api):
    page = await api.client.get("/s/station-fengjie")
    assert page.status_code == 200
    text = page.text
    assert "奉节县鱼复街道代表联络站" in text
    assert 'name="viewport"' in text and '<label for="content">' in text
    assert '<option value="safety_hazard">安全隐患</option>' in text
    assert '<option value="鱼复-01">鱼复-01</option>' in text
    assert not re.search(r'(src|href)="https?://', text)  # nothing loaded from the internet

    png = await api.client.get("/api/v1/stations/station-fengjie/qr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = await api.client.get("/api/v1/stations/station-fengjie/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    # It encodes the station's page address (the test client reaches the gateway as http://gateway).
    expected = io.BytesIO()
    segno.make("http://gateway/s/station-fengjie", error="m").save(expected, kind="png", scale=8, border=4)
    assert png.content == expected.getvalue()
    # Different stations get different codes.
    other = await api.client.get("/api/v1/stations/station-jiading/qr.png")
    assert other.content != png.content

    assert (await api.client.get("/s/no-such-station")).status_code == 404
    assert (await api.client.get("/api/v1/stations/no-such-station/qr.png")).status_code == 404
    assert (await api.client.get("/api/v1/stations/station-fengjie/qr.gif")).status_code == 404

    # What the page's form sends is accepted by the API it posts to.
    r = await api.client.post("/api/v1/stations/station-fengjie/messages",
                              json={"content": "楼道灯坏了", "grid": "鱼复-01"})
    assert r.status_code == 201 and r.json()["status"] == "received"

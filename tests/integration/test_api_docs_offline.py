"""/docs and /redoc work on an isolated network: every script, style sheet and image they
reference is served by the gateway itself (vendored under services/gateway/web/static, see
VENDORED.txt), and no page names an outside host."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from services.gateway.app import GatewaySettings, create_app

STATIC = Path(__file__).resolve().parents[2] / "services" / "gateway" / "web" / "static"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url", "action") and value:
                self.urls.append(value)


def _inline_urls(page: str) -> list[str]:
    """Quoted URL-like strings in inline scripts (``url: '/openapi.json'``, redirects)."""
    return re.findall(r"""(?:url|Url|URL)["']?\s*[:=]\s*["']([^"']+)["']""", page)


@pytest.fixture
async def gateway():
    # No lifespan: the pages need no bus.
    app = create_app(GatewaySettings(nats_url="nats://127.0.0.1:1"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://gateway") as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_api_docs_load_everything_from_the_gateway(gateway, page):
    r = await gateway.get(page)
    assert r.status_code == 200, r.text
    html = r.text
    # no outside host anywhere in the page: not in a tag, not in an inline script
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis" not in html
    parser = _References()
    parser.feed(html)
    references = [u for u in parser.urls + _inline_urls(html) if not u.startswith("data:")]
    if page != "/docs/oauth2-redirect":
        assert references, html
    for url in references:
        assert url.startswith("/"), f"{page} references {url}"
        asset = await gateway.get(url)
        assert asset.status_code == 200, f"{page} → {url}: {asset.status_code}"
        assert asset.content, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], url
        if url.endswith(".css"):
            assert "text/css" in asset.headers["content-type"], url


async def test_swagger_ui_has_no_validator_badge_from_outside(gateway):
    html = (await gateway.get("/docs")).text
    assert '"validatorUrl": null' in html


def test_vendored_assets_match_their_record():
    """VENDORED.txt records each vendored file's checksum; the files are unmodified."""
    record = (STATIC / "VENDORED.txt").read_text(encoding="utf-8")
    checked = 0
    for name, digest in re.findall(r"^\s*(\S+)\s+sha256 ([0-9a-f]{64})", record, re.M):
        path = STATIC / name
        assert path.exists(), name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name
        checked += 1
    assert checked >= 3
    for licence in ("swagger-ui/LICENSE.txt", "swagger-ui/NOTICE.txt", "redoc/LICENSE.txt"):
        assert (STATIC / licence).exists(), licence

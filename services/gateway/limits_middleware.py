"""Limits on what a request may make the gateway do before any route sees it (ASGI middleware).

- **Trusted proxies** (``TRUSTED_PROXIES``: addresses or networks, comma-separated; default
  none). The client address (``scope["client"]``, which the citizen rate limit and the sign-in
  throttle count by) is the socket peer. Only when the peer is a trusted proxy is
  ``X-Forwarded-For`` read: from its right end, skipping trusted proxies, the first address
  that is not one is the client's (and ``X-Forwarded-Proto`` gives the scheme). uvicorn's own
  proxy-header handling is switched off (``services/gateway/__main__.py``), so this is the one
  place that decides, under uvicorn and in-process alike.
- **Body size** (``MAX_BODY_BYTES``, 1 MiB). A request whose ``Content-Length`` is larger is
  answered 413 without reading its body; a body without a length (chunked) is counted while it
  arrives and answered 413 as soon as it passes the limit. Nothing beyond the limit is held.
- **Slow bodies** (``BODY_TIMEOUT_SECONDS``, 20 s). A body not received whole within that time
  is answered 408 and the connection closed.

The body is read here (at most the limit) and handed on to the application as it arrived.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


async def buffered_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read a request's whole body (bounded by the body-limit middleware outside) and give
    a ``receive`` that hands the same messages on to the app."""
    messages: list[MutableMapping[str, Any]] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body"):
            break

    async def replay() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else await receive()

    return body, replay


async def send_problem(send: Send, status: int, title: str, detail: str,
                       headers: Iterable[tuple[bytes, bytes]] = (), **extra: Any) -> None:
    """An RFC 9457 problem answer straight from middleware."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail, "errors": [], **extra}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        *headers, (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --- trusted proxies -----------------------------------------------------------------------

def parse_proxies(spec: str | None) -> list[Network]:
    """``"10.0.0.5, 192.168.1.0/24, ::1"`` → networks; empty → none. A malformed entry raises
    ValueError (the gateway then refuses to start)."""
    if not spec or spec.strip().lower() in ("none", "off"):
        return []
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in spec.split(",") if part.strip()]


def _is_in(host: str, networks: list[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_from_forwarded(peer: str, forwarded_for: str, trusted: list[Network]) -> str:
    """The client address of a request from ``peer`` carrying ``forwarded_for``: the peer
    itself unless it is a trusted proxy; else the rightmost hop that is not a trusted proxy
    (or the leftmost, when every hop is one)."""
    if not trusted or not _is_in(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:  # not an address: believe nothing further left
                return peer
    return hops[0] if hops else peer


class TrustedProxyMiddleware:
    def __init__(self, app: App, trusted: list[Network]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and self.trusted and client \
                and _is_in(client[0], self.trusted):
            headers = scope.get("headers", [])
            forwarded = ",".join(v.decode("latin-1") for k, v in headers
                                 if k == b"x-forwarded-for")
            if forwarded:
                scope = dict(scope, client=(client_from_forwarded(client[0], forwarded,
                                                                  self.trusted), 0))
            proto = next((v.decode("latin-1").split(",")[-1].strip().lower()
                          for k, v in headers if k == b"x-forwarded-proto"), None)
            if proto in ("http", "https") and scope["type"] == "http":
                scope = dict(scope, scheme=proto)
            elif proto in ("ws", "wss") and scope["type"] == "websocket":
                scope = dict(scope, scheme=proto)
        await self.app(scope, receive, send)


# --- body size and time --------------------------------------------------------------------

class BodyLimitMiddleware:
    """``upload_paths`` (regular expressions of paths): a multipart body there may be as large
    as ``upload_max_bytes`` (a file upload: the attachment limit and the form around it)."""

    def __init__(self, app: App, max_bytes: int, timeout_seconds: float,
                 upload_max_bytes: int | None = None, upload_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.upload_paths = [re.compile(p) for p in upload_paths]

    def _limit(self, scope: Scope) -> int:
        if self.upload_paths and scope.get("method") == "POST" \
                and any(p.fullmatch(scope.get("path", "")) for p in self.upload_paths):
            for k, v in scope.get("headers", []):
                if k == b"content-type" and v.lower().startswith(b"multipart/form-data"):
                    return max(self.upload_max_bytes, self.max_bytes)
        return self.max_bytes

    async def _too_large(self, send: Send, limit: int | None = None) -> None:
        limit = limit or self.max_bytes
        await send_problem(send, 413, "Content too large",
                           f"the request body is larger than {limit} bytes",
                           headers=[(b"connection", b"close")], max_bytes=limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: str | None = None
        chunked = False
        limit = self._limit(scope)
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                length = v.decode("latin-1")
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if length is None and not chunked:  # HTTP/1.1: no body
            await self.app(scope, receive, send)
            return
        if length is not None and not chunked:
            try:
                declared = int(length)
            except ValueError:
                await send_problem(send, 400, "Bad request", "invalid Content-Length",
                                   headers=[(b"connection", b"close")])
                return
            if declared > limit:
                await self._too_large(send, limit)
                return
        messages: list[MutableMapping[str, Any]] = []
        total = 0
        try:
            async with asyncio.timeout(self.timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        return
                    total += len(message.get("body", b""))
                    if total > limit:
                        await self._too_large(send, limit)
                        return
                    messages.append(message)
                    if not message.get("more_body"):
                        break
        except TimeoutError:
            await send_problem(send, 408, "Request timeout",
                               f"the request body did not arrive within "
                               f"{self.timeout_seconds:g}s",
                               headers=[(b"connection", b"close")])
            return
        if len(messages) > 1:  # one message, as the application would have assembled it
            messages = [{"type": "http.request", "body": b"".join(m.get("body", b"")
                                                                 for m in messages),
                         "more_body": False}]

        async def replay() -> MutableMapping[str, Any]:
            return messages.pop() if messages else await receive()

        await self.app(scope, replay, send)


def install_request_limits(app: Any, *, max_body_bytes: int, body_timeout_seconds: float,
                           trusted_proxies: str | None, upload_max_bytes: int | None = None,
                           upload_paths: Iterable[str] = ()) -> None:
    """Add the body limit and, outside it, the trusted-proxy middleware (the outermost of the
    gateway's own, so that every limit counts the real client). Call after the other
    middleware is added."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes,
                       timeout_seconds=body_timeout_seconds,
                       upload_max_bytes=upload_max_bytes, upload_paths=list(upload_paths))
    app.add_middleware(TrustedProxyMiddleware, trusted=parse_proxies(trusted_proxies))
    app.state.trusted_proxies = parse_proxies(trusted_proxies)

"""Rate limits on the anonymous citizen endpoints, per client IP (the `limits` library).

What is limited: posting a message at a station (``/api/v1/stations/{id}/messages``, which
the station page's form posts to, and any form post under ``/s/{id}``), filing an Open311
request (``POST /open311/v2/requests.json|.xml``), rating a message with the follow-up token
(``POST /api/v1/messages/{id}/rating``), and the anonymous reads that take a follow-up token or
show requests: ``GET /api/v1/messages/{id}`` and the Open311 ``GET requests.{fmt}`` and
``GET requests/{id}.{fmt}`` (so that tokens and ids cannot be tried without limit). Posting,
rating and reading are counted separately ("message", "rating" and "read" buckets), each
against the same limit. Reads by signed-in staff (a valid bearer token of a staff role) are not
counted; a read with an invalid bearer token is (the route then refuses it anyway). The
Open311 service list and discovery are not limited.

The limit is ``CITIZEN_RATE_LIMIT`` (``GatewaySettings.citizen_rate_limit``), in the `limits`
notation: ``"10/minute"``, or several at once, ``"10/minute;100/hour"``; empty or ``off``
turns it off. Counters are kept in memory in the gateway process (moving window), so with
several gateway replicas each counts on its own. The client is the socket peer
(``scope["client"]``); behind a reverse proxy list the proxy's address in ``TRUSTED_PROXIES``
so that it is the citizen's address from ``X-Forwarded-For`` rather than the proxy's
(limits_middleware.py: from any other peer that header is ignored).

Sign-in is throttled too (``LoginThrottleMiddleware``, at the bottom): failed logins are
counted per username (``LOGIN_FAILURE_LIMIT``) and per client address
(``LOGIN_ADDRESS_FAILURE_LIMIT``); once either is used up, sign-in answers 429 with
``Retry-After`` without looking at the password.

Over the limit the answer is 429 with ``Retry-After`` (seconds) and a problem+json body; on
the Open311 paths the body is an Open311 error list (``[{"code":429,"description":…}]``, or
``<errors>`` for ``.xml``), as Open311 clients expect.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from xml.sax.saxutils import escape

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from services.gateway.limits_middleware import buffered_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# (method, path pattern, bucket)
CITIZEN_ENDPOINTS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/api/v1/stations/[^/]+/messages/?$"), "message"),
    ("POST", re.compile(r"^/open311/v2/requests\.[^/]+$"), "message"),
    ("POST", re.compile(r"^/s/[^/]+(/.*)?$"), "message"),
    ("POST", re.compile(r"^/d/[^/]+(/.*)?$"), "message"),  # a deputy's QR page's form
    ("POST", re.compile(r"^/api/v1/messages/[^/]+/rating/?$"), "rating"),
    ("GET", re.compile(r"^/api/v1/messages/[^/]+/?$"), "read"),
    ("GET", re.compile(r"^/api/v1/follow-up/[^/]+/?$"), "read"),
    ("GET", re.compile(r"^/f/[^/]+/?$"), "read"),
    ("GET", re.compile(r"^/open311/v2/requests\.[^/]+$"), "read"),
    ("GET", re.compile(r"^/open311/v2/requests/[^/]+$"), "read"),
]
# Buckets whose requests are not counted when a staff member's valid bearer token is sent.
STAFF_EXEMPT = {"read"}
STAFF_ROLES = ("office", "leader", "unit", "deputy")
OPEN311 = re.compile(r"^/open311/")
OFF = ("", "off", "none", "0", "false", "no")


def parse_limits(spec: str | None) -> list[RateLimitItem]:
    """``"10/minute;100/hour"`` → limit items; empty or ``off`` → none (no limit).
    A malformed value raises ValueError (the gateway then refuses to start)."""
    if spec is None or spec.strip().lower() in OFF:
        return []
    return parse_many(spec)


class CitizenRateLimiter:
    """Moving-window counters per (bucket, client IP), in memory."""

    def __init__(self, spec: str | None) -> None:
        self.spec = spec
        self.items = parse_limits(spec)
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    @property
    def enabled(self) -> bool:
        return bool(self.items)

    def hit(self, bucket: str, client: str) -> int | None:
        """Count one request; None when allowed, else the seconds to wait (≥ 1). A request
        refused by one limit is not counted against the others."""
        for item in self.items:
            if not self.limiter.test(item, bucket, client):
                reset = self.limiter.get_window_stats(item, bucket, client).reset_time
                return max(1, math.ceil(reset - time.time()))
        for item in self.items:
            self.limiter.hit(item, bucket, client)
        return None

    def reset(self) -> None:
        self.storage.reset()


def bucket_for(method: str, path: str) -> str | None:
    if method == "HEAD":
        method = "GET"
    for m, pattern, bucket in CITIZEN_ENDPOINTS:
        if method == m and pattern.match(path):
            return bucket
    return None


def _too_many(path: str, retry_after: int, spec: str | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    detail = f"too many requests from this address (limit {spec}); try again in {retry_after}s"
    headers = [(b"retry-after", str(retry_after).encode())]
    if OPEN311.match(path):
        if path.endswith(".xml"):
            body = ('<?xml version="1.0" encoding="utf-8"?>\n<errors><error><code>429</code>'
                    f"<description>{escape(detail)}</description></error></errors>").encode()
            headers.append((b"content-type", b"text/xml; charset=utf-8"))
        else:
            body = json.dumps([{"code": 429, "description": detail}], ensure_ascii=False).encode()
            headers.append((b"content-type", b"application/json; charset=utf-8"))
    else:
        body = json.dumps({"type": "about:blank", "title": "Too many requests", "status": 429,
                           "detail": detail, "errors": [], "retry_after": retry_after},
                          ensure_ascii=False).encode()
        headers.append((b"content-type", b"application/problem+json"))
    headers.append((b"content-length", str(len(body)).encode()))
    return 429, headers, body


class CitizenRateLimitMiddleware:
    """Pure ASGI middleware: counts the citizen endpoints' requests before routing."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 limiter: CitizenRateLimiter,
                 is_staff: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.limiter = limiter
        self.is_staff = is_staff

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        bucket = bucket_for(scope.get("method", ""), path)
        if bucket is None or (bucket in STAFF_EXEMPT and self.is_staff is not None
                              and self.is_staff(scope)):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        retry_after = self.limiter.hit(bucket, address)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = _too_many(path, retry_after, self.limiter.spec)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def install_citizen_rate_limit(app: Any, spec: str | None) -> CitizenRateLimiter:
    """Add the middleware to a FastAPI app; the limiter is kept at
    ``app.state.citizen_rate_limiter``."""
    limiter = CitizenRateLimiter(spec)
    app.state.citizen_rate_limiter = limiter
    app.add_middleware(CitizenRateLimitMiddleware, limiter=limiter,
                       is_staff=lambda scope: _staff_bearer(app, scope))
    return limiter


def _staff_bearer(app: Any, scope: Scope) -> bool:
    """Whether the request carries a valid bearer token of a staff role."""
    header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
    if not header:
        return False
    scheme, _, token = header.decode("latin-1").partition(" ")
    authenticator = getattr(app.state, "authenticator", None)
    if scheme.lower() != "bearer" or not token.strip() or authenticator is None:
        return False
    try:
        principal = authenticator.decode(token.strip())
    except Exception:  # an invalid token: counted like an anonymous request
        return False
    return principal.role in STAFF_ROLES


# --- sign-in throttling --------------------------------------------------------------------

LOGIN_PATHS = ("/api/v1/auth/token", "/app/login")  # the API's and the web application's
LOGIN_FAILED = (401,)


class LoginThrottle:
    """Moving-window counters of failed sign-ins per username and per client address, in
    memory (each gateway replica counts on its own)."""

    def __init__(self, per_user: str | None, per_address: str | None) -> None:
        self.per_user = parse_limits(per_user)
        self.per_address = parse_limits(per_address)
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    def _checks(self, username: str, address: str):
        for item in self.per_user:
            yield item, ("login-user", username)
        for item in self.per_address:
            yield item, ("login-address", address)

    def retry_after(self, username: str, address: str) -> int | None:
        """None while sign-in is allowed, else the seconds to wait (≥ 1)."""
        for item, ids in self._checks(username, address):
            if not self.limiter.test(item, *ids):
                reset = self.limiter.get_window_stats(item, *ids).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def failed(self, username: str, address: str) -> None:
        for item, ids in self._checks(username, address):
            self.limiter.hit(item, *ids)

    def succeeded(self, username: str) -> None:
        """A good password clears the username's failures (not the address's)."""
        for item in self.per_user:
            self.limiter.clear(item, "login-user", username)

    def reset(self) -> None:
        self.storage.reset()


def _login_username(body: bytes, content_type: str) -> str:
    """The form's ``username`` (urlencoded or multipart), normalised for counting."""
    username = ""
    if content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qs

        values = parse_qs(body.decode("latin-1"), max_num_fields=20).get("username")
        if values:
            username = values[0]
    elif content_type.startswith("multipart/form-data"):
        from email.parser import BytesParser
        from email.policy import HTTP

        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        for part in message.iter_parts() if message.is_multipart() else ():
            if part.get_param("name", header="content-disposition") == "username":
                username = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
                break
    return username.strip().lower()[:200]


class LoginThrottleMiddleware:
    """Pure ASGI middleware on the sign-in routes: refuses with 429 while the username's or
    the address's failures are used up; counts an answer of 401 as a failure."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or scope.get("path", "").rstrip("/") not in LOGIN_PATHS):
            await self.app(scope, receive, send)
            return
        # the body is bounded (and already read) by the body-limit middleware outside this one
        body, replay = await buffered_body(receive)
        content_type = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                             if k == b"content-type"), "").lower()
        username = _login_username(body, content_type)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        retry_after = self.throttle.retry_after(username, address)
        if retry_after is not None:
            detail = (f"too many failed sign-ins for this user or from this address; try again "
                      f"in {retry_after}s")
            payload = json.dumps({"type": "about:blank", "title": "Too many requests",
                                  "status": 429, "detail": detail, "errors": [],
                                  "retry_after": retry_after}).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"retry-after", str(retry_after).encode()),
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return

        answered: list[int] = []

        async def watch(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        if answered and answered[0] in LOGIN_FAILED:
            self.throttle.failed(username, address)
        elif answered and answered[0] < 400:
            self.throttle.succeeded(username)


def install_login_throttle(app: Any, per_user: str | None,
                           per_address: str | None) -> LoginThrottle:
    """Add the sign-in throttle to a FastAPI app; kept at ``app.state.login_throttle``."""
    throttle = LoginThrottle(per_user, per_address)
    app.state.login_throttle = throttle
    app.add_middleware(LoginThrottleMiddleware, throttle=throttle)
    return throttle

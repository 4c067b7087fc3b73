"""``Idempotency-Key`` on every POST under ``/api/v1`` (sign-in aside).

A client that may send a command twice (a retry after a timeout, a double click) sends a key
of its own choosing with it. The first request with a key is carried out and its answer
(status, headers, body) kept for ``IDEMPOTENCY_TTL_HOURS`` (24 h); a later request with the
same key from the same caller gets that answer again (header ``Idempotent-Replayed: true``)
and is not carried out. The caller is the signed-in user (a valid bearer token), else the
client address (anonymous endpoints such as a citizen's message). The answers live in a
JetStream key-value bucket (``IDEMPOTENCY_BUCKET``), so they hold across gateway restarts and
replicas:

- the first request creates the key's record as *pending* (an atomic create: of two replicas
  racing, one wins), carries the request out and then stores the answer;
- a request that finds the record pending gets 409 (``Retry-After: 1``), unless the record is
  older than ``IDEMPOTENCY_PENDING_SECONDS`` (its gateway died): then it takes the record over
  (compare-and-set on the revision) and carries the request out;
- the same key with a different request (method, path, query or body) gets 422;
- a key longer than 255 characters, or with characters outside visible ASCII, gets 400.

Answers that say nothing was done are not kept, so that the retry is carried out: 429 (rate
limit) and 503 (no service was running). A 504 *is* kept: the service may have recorded the
command after the gateway stopped waiting, so carrying the retry out could do it twice; the
client learns the outcome by reading the object (or sends a new key knowingly).

Records are sealed with AES-GCM under a key derived from ``JWT_SECRET`` (every replica has
it), bound to their bucket key: answers can carry personal data and follow-up tokens, and the
NATS store holds none in plaintext. Bucket keys are an HMAC of the caller and the client's
key, so neither usernames nor keys appear in the store.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import nats.errors
import nats.js.errors
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import HTTPException

from services.gateway.limits_middleware import buffered_body, send_problem

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,%d}$" % MAX_KEY_LENGTH)
PREFIX = "/api/v1/"
EXCLUDED = ("/api/v1/auth/token",)  # the answer is a credential; a sign-in has no effect
NOT_KEPT = (429, 503)
MAX_KEPT_BODY = 512 * 1024


class IdempotencyStore:
    """The bucket, created (or bound) on first use on the gateway's NATS connection."""

    def __init__(self, connection: Callable[[], Any], bucket: str, ttl_seconds: float,
                 replicas: int, secret: str) -> None:
        self.connection = connection
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self.replicas = replicas
        material = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                        info=b"duty-gateway-idempotency").derive(secret.encode())
        self._aead = AESGCM(material[:32])
        self._mac_key = material[32:]
        self._kv: Any = None
        self._lock = asyncio.Lock()

    async def kv(self) -> Any:
        if self._kv is None:
            async with self._lock:
                if self._kv is None:
                    js = self.connection().jetstream()
                    try:
                        self._kv = await js.create_key_value(
                            bucket=self.bucket, ttl=self.ttl_seconds, history=1,
                            replicas=self.replicas,
                            description="the gateway's answers by Idempotency-Key")
                    except nats.js.errors.BadRequestError:  # exists with another config
                        self._kv = await js.key_value(self.bucket)
        return self._kv

    def record_key(self, caller: str, key: str) -> str:
        return hmac.new(self._mac_key, f"{caller}\n{key}".encode(), hashlib.sha256).hexdigest()

    def seal(self, record_key: str, record: dict[str, Any]) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, json.dumps(record).encode(), record_key.encode())

    def open(self, record_key: str, sealed: bytes) -> dict[str, Any]:
        return json.loads(self._aead.decrypt(sealed[:12], sealed[12:], record_key.encode()))


class IdempotencyMiddleware:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 store: IdempotencyStore, caller: Callable[[Scope], str],
                 pending_seconds: float) -> None:
        self.app = app
        self.store = store
        self.caller = caller
        self.pending_seconds = pending_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or not path.startswith(PREFIX) or path.rstrip("/") in EXCLUDED):
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope.get("headers", []) if k == HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        key = values[0].decode("latin-1")
        if len(values) > 1 or not KEY_PATTERN.match(key):
            await send_problem(send, 400, "Bad request",
                               f"Idempotency-Key must be one value of 1 to {MAX_KEY_LENGTH} "
                               "visible ASCII characters")
            return

        # the body is bounded (and already read) by the body-limit middleware outside this one
        body, replay = await buffered_body(receive)
        digest = hashlib.sha256()
        for part in (b"POST", path.encode(), scope.get("query_string", b""), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        fingerprint = digest.hexdigest()

        record_key = self.store.record_key(self.caller(scope), key)
        try:
            kv = await self.store.kv()
            revision = await self._claim(kv, record_key, fingerprint, send)
        except (nats.errors.Error, asyncio.TimeoutError, TimeoutError) as exc:
            log.warning("idempotency store unavailable: %r", exc)
            await send_problem(send, 503, "Service unavailable",
                               "the store of idempotency keys is not available; try again")
            return
        if revision is None:
            return  # answered from the record (replay, 409 or 422)

        status: list[int] = []
        headers: list[list[str]] = []
        chunks: list[bytes] = []

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers.extend([k.decode("latin-1"), v.decode("latin-1")]
                               for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        kept = False
        try:
            await self.app(scope, replay, capture)
            answer = b"".join(chunks)
            if status and status[0] not in NOT_KEPT and len(answer) <= MAX_KEPT_BODY:
                record = {"state": "done", "fingerprint": fingerprint, "status": status[0],
                          "headers": headers, "body": base64.b64encode(answer).decode(),
                          "at": time.time()}
                try:
                    await kv.update(record_key, self.store.seal(record_key, record),
                                    last=revision)
                    kept = True
                except nats.js.errors.KeyWrongLastSequenceError:
                    log.warning("idempotency record %s was taken over while its request ran",
                                record_key[:12])
                    kept = True  # the record is someone else's now: leave it alone
        finally:
            if not kept:  # nothing (or nothing worth replaying) was done: allow a retry
                try:
                    await kv.delete(record_key, last=revision)
                except Exception as exc:  # it expires after IDEMPOTENCY_PENDING_SECONDS
                    log.warning("could not release idempotency record %s: %r",
                                record_key[:12], exc)

    async def _claim(self, kv: Any, record_key: str, fingerprint: str,
                     send: Send) -> int | None:
        """Create the pending record and return its revision; or answer from the record that
        is there and return None."""
        pending = {"state": "pending", "fingerprint": fingerprint, "at": time.time()}
        for _ in range(3):
            try:
                return await kv.create(record_key, self.store.seal(record_key, pending))
            except nats.js.errors.KeyWrongLastSequenceError:
                pass
            try:
                entry = await kv.get(record_key)
            except nats.js.errors.KeyNotFoundError:  # released or expired meanwhile
                continue
            record = self.store.open(record_key, entry.value)
            if record["fingerprint"] != fingerprint:
                await send_problem(send, 422, "Idempotency-Key reused",
                                   "this Idempotency-Key was used with a different request")
                return None
            if record["state"] == "done":
                await self._replay(record, send)
                return None
            if time.time() - record["at"] < self.pending_seconds:
                await send_problem(send, 409, "Request in progress",
                                   "a request with this Idempotency-Key is still being carried "
                                   "out; try again shortly", headers=[(b"retry-after", b"1")])
                return None
            try:  # abandoned (its gateway stopped): take it over
                return await kv.update(record_key, self.store.seal(record_key, pending),
                                       last=entry.revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
        await send_problem(send, 409, "Request in progress",
                           "a request with this Idempotency-Key is being carried out",
                           headers=[(b"retry-after", b"1")])
        return None

    async def _replay(self, record: dict[str, Any], send: Send) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record["headers"]]
        headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": record["status"],
                    "headers": headers})
        await send({"type": "http.response.body", "body": base64.b64decode(record["body"])})


def _caller(app: Any, scope: Scope) -> str:
    """``user:<name>`` for a valid bearer token, else ``address:<client address>``."""
    header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
    if header:
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            try:
                return "user:" + app.state.authenticator.decode(token.strip()).username
            except HTTPException:
                pass  # an invalid token: the route refuses it, or it is an anonymous route
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")


def install_idempotency(app: Any, settings: Any, secret: str) -> IdempotencyStore:
    """Add the middleware (call before the rate limits, so that it runs inside them) and
    declare the header on the POST operations of the OpenAPI document."""
    store = IdempotencyStore(
        lambda: app.state.services.broker.config.connection_state.connection,
        settings.idempotency_bucket, settings.idempotency_ttl_hours * 3600,
        settings.stream_replicas, secret)
    app.state.idempotency = store
    app.add_middleware(IdempotencyMiddleware, store=store,
                       caller=lambda scope: _caller(app, scope),
                       pending_seconds=settings.idempotency_pending_seconds)

    original = app.openapi
    declared: list[int] = []  # id of the document the header was added to

    def openapi() -> dict[str, Any]:
        schema = original()
        if id(schema) not in declared:
            parameter = {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "Send the same key again (within 24 h, same user) to get the "
                               "first answer without doing it twice; 409 while the first is "
                               "in progress, 422 if reused with another request.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                           "pattern": r"^[\x21-\x7e]+$"}}
            for path, operations in schema.get("paths", {}).items():
                operation = operations.get("post")
                if operation is None or not path.startswith(PREFIX) or path in EXCLUDED:
                    continue
                operation.setdefault("parameters", []).append(parameter)
                for code, text in (("400", "the Idempotency-Key is malformed"),
                                   ("409", "a request with this Idempotency-Key is in progress"),
                                   ("422", "invalid input, or the Idempotency-Key was used with "
                                           "another request")):
                    operation.setdefault("responses", {}).setdefault(code, {
                        "description": text,
                        "content": {"application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}}}})
            declared[:] = [id(schema)]
        return schema

    app.openapi = openapi
    return store

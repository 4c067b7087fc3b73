"""The gateway's side of the accounts service (services/accounts/): signing in over NATS and
checking every token against the account's current status.

- ``sign_in``: the username and password go to the accounts service (``accounts.login``),
  which checks the password; the gateway never sees a hash. The answer is the principal in the
  role chosen and the account's ``token_version``, which the token carries as ``ver``.
- ``AccountCache``: the status of the accounts whose tokens are in use (roles, links, enabled,
  ``token_version``, must the password be changed), without hashes. A token is accepted only
  if its account is enabled, still holds the token's role with the same unit and deputy, and
  its ``token_version`` is the token's ``ver``: a role revoked, a link changed, a disabled
  account, a changed or reset password withdraw the tokens issued before, at the next request.
- The cache is kept right by: ``duty.accounts.account_changed.v1`` (every gateway replica
  subscribes and forgets the account named), this gateway's own account commands (it forgets
  the account as soon as the service answers), and an age limit (``account_cache_seconds``)
  for an event missed while the bus reconnected. A status not cached is asked for before the
  request is handled (``AccountFreshness``, the outermost middleware), so the synchronous
  token checks everywhere (``Authenticator.decode``) find it.
- When the accounts service cannot be asked, a status already cached (not withdrawn by an
  event) is used for as long as that lasts; without one the request is answered 503.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import HTTPException, status

log = logging.getLogger(__name__)

GATEWAY_ACTOR = {"username": "gateway", "role": "system"}
SESSION_COOKIE = "duty_session"  # services/gateway/web/common.py


@dataclass
class Entry:
    status: dict[str, Any] | None  # None: no such account
    fetched: float


class AccountCache:
    def __init__(self, services: Any, max_age_seconds: float = 30.0,
                 maxsize: int = 100_000) -> None:
        self.services = services
        self.max_age = max_age_seconds
        self.maxsize = maxsize
        self.entries: dict[str, Entry] = {}
        self._subscription: Any = None

    # --- keeping it right ---------------------------------------------------------------------

    def forget(self, username: str) -> None:
        self.entries.pop(username, None)

    def remember(self, status_: dict[str, Any]) -> None:
        if len(self.entries) >= self.maxsize:
            self.entries.clear()
        self.entries[status_["username"]] = Entry(status_, time.monotonic())

    def fresh(self, username: str) -> bool:
        entry = self.entries.get(username)
        return entry is not None and time.monotonic() - entry.fetched < self.max_age

    async def ensure(self, username: str) -> None:
        """Ask the accounts service for ``username``'s status unless a fresh one is kept."""
        if self.fresh(username):
            return
        from services.gateway.deps import ServiceFailure, ServiceUnavailable
        from services.gateway.auth import Principal
        from shared.contracts.requests.accounts import AccountStatus

        try:
            found = await self.services.send(AccountStatus(username=username),
                                             Principal(**GATEWAY_ACTOR))
        except ServiceFailure as exc:
            if exc.reply.get("status") == 404:
                self.entries[username] = Entry(None, time.monotonic())
                return
            raise
        except ServiceUnavailable:
            if username in self.entries:  # the last status known (no event withdrew it)
                log.warning("accounts service unavailable: using the status kept for %s",
                            username)
                return
            raise
        self.remember(found)

    async def listen(self, connection: Any) -> None:
        """Forget an account when the accounts service says it changed."""
        async def changed(msg: Any) -> None:
            try:
                self.forget(json.loads(msg.data)["username"])
            except (ValueError, KeyError, TypeError):
                log.warning("an account_changed event without a username")

        self._subscription = await connection.subscribe("duty.accounts.account_changed.v1",
                                                        cb=changed)

    async def close(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # the connection is closing anyway
                pass
            self._subscription = None

    # --- checking a token -----------------------------------------------------------------------

    def check(self, principal: Any, ver: Any) -> Any:
        """The principal of a token whose signature and claims were checked, with its roles,
        if its account still stands behind it; 401 otherwise (503 when the account's status
        could not be had)."""
        entry = self.entries.get(principal.username)
        if entry is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "the accounts service is not running: the token cannot be "
                                "checked")
        found = entry.status
        problem = None
        if found is None:
            problem = "no such user"
        elif not found["enabled"]:
            problem = "the account is disabled"
        elif str(ver) != str(found["token_version"]):
            problem = "revoked (the account changed since it was issued); sign in again"
        elif principal.role not in found["roles"]:
            problem = "the account no longer holds the role"
        elif (principal.role in ("unit", "station") and principal.unit_id != found.get("unit_id")) or (
                principal.deputy_id != found.get("deputy_id")) or (
                principal.role == "leader" and principal.leader_id != found.get("leader_id")):
            problem = "it does not match the account"
        if problem:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {problem}",
                                headers={"WWW-Authenticate": "Bearer"})
        return principal.model_copy(update={
            "roles": tuple(found["roles"]),
            "must_change_password": bool(found["must_change_password"])})


def _token_of(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, cookie = part.strip().partition("=")
                if key == SESSION_COOKIE and cookie:
                    return cookie
    return None


class AccountFreshness:
    """ASGI middleware (outermost): before a request with a token is handled, the status of
    the token's account is in the cache (asked for when missing or old). Only a token whose
    signature holds makes it ask."""

    def __init__(self, app: Any, authenticator: Any) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        cache = getattr(self.authenticator, "accounts", None)
        if scope["type"] == "http" and cache is not None:
            token = _token_of(scope)
            if token:
                username = self.authenticator.signed_subject(token)
                if username and not cache.fresh(username):
                    from services.gateway.deps import ServiceFailure, ServiceUnavailable, problem

                    try:
                        await cache.ensure(username)
                    except (ServiceUnavailable, ServiceFailure) as exc:
                        code = getattr(exc, "status_code", 503)
                        response = problem(code, "Service unavailable",
                                           "the accounts service cannot check the token now")
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


def unverified_subject(token: str) -> str | None:
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) else None

"""Authentication: OAuth2 password flow issuing signed JWTs (PyJWT, algorithm pinned)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from eventsourcing.application import LRUCache
from pydantic import BaseModel, ConfigDict

from services.gateway.passwords import verify_password

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ROLES = ("office", "unit", "deputy", "leader", "citizen")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)  # a remembered token's principal is shared

    username: str
    role: str
    unit_id: str | None = None
    deputy_id: str | None = None

    def actor(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Authenticator:
    """Issues and checks bearer tokens.

    A token that passed every check is remembered (LRU, ``verified_tokens`` of them) with its
    expiry, so that a client's next requests with the same token cost a dictionary lookup and
    a clock reading instead of a signature check (a tenth of the gateway's CPU per request in
    the profile of 2026-11-24). The expiry is checked on every use, so a remembered token stops
    working when it expires, as a checked one would. Refused tokens are not remembered.
    """

    def __init__(self, users: list[dict[str, Any]], secret: str, issuer: str, audience: str,
                 ttl: timedelta, verified_tokens: int = 4096) -> None:
        self.users = {u["username"]: u for u in users}
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._verified: LRUCache[str, tuple[Principal, float]] | None = (
            LRUCache(maxsize=verified_tokens) if verified_tokens > 0 else None)

    def authenticate(self, username: str, password: str) -> Principal | None:
        user = self.users.get(username)
        if user is None or not verify_password(password, user["password_hash"]):
            return None
        return Principal(username=username, role=user["role"], unit_id=user.get("unit_id"),
                         deputy_id=user.get("deputy_id"))

    def issue(self, principal: Principal) -> str:
        now = datetime.now(timezone.utc)
        claims = {
            "sub": principal.username,
            "role": principal.role,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl,
        }
        if principal.unit_id:
            claims["unit_id"] = principal.unit_id
        if principal.deputy_id:
            claims["deputy_id"] = principal.deputy_id
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> Principal:
        if self._verified is not None:
            try:
                principal, expires = self._verified.get(token)
            except KeyError:
                pass
            else:
                if time.time() < expires:
                    return principal
                self._verified.get(token, evict=True)
        principal, expires = self._check(token)
        if self._verified is not None and expires is not None:
            self._verified.put(token, (principal, expires))
        return principal

    def _check(self, token: str) -> tuple[Principal, float | None]:
        """The token's principal and expiry (epoch seconds; None when it must not be
        remembered), or 401."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], audience=self.audience,
                issuer=self.issuer, options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        if claims.get("role") not in ROLES:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token: unknown role",
                                headers={"WWW-Authenticate": "Bearer"})
        # Fail closed: a unit or deputy token without its id would otherwise pass the
        # "only your own" filters (they compare with None and some fall back to "all").
        if ((claims["role"] == "unit" and not claims.get("unit_id"))
                or (claims["role"] == "deputy" and not claims.get("deputy_id"))):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                f"invalid token: a {claims['role']} token must name its "
                                f"{claims['role']}", headers={"WWW-Authenticate": "Bearer"})
        principal = Principal(username=claims["sub"], role=claims["role"],
                              unit_id=claims.get("unit_id"), deputy_id=claims.get("deputy_id"))
        # a token valid only from some time on ("nbf") is checked in full every time
        return principal, None if "nbf" in claims else float(claims["exp"])


# The dependencies below are ``async def`` although they never wait: FastAPI runs a plain
# ``def`` dependency in a worker thread, a thread hop per dependency per request (a sixth of
# the gateway's CPU under load in the profile of 2026-11-24), for microseconds of work.
async def get_authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator


def require(*roles: str):
    """A dependency that admits only the given roles (any signed-in user when none given)."""
    async def dependency(
        token: Annotated[str, Depends(oauth2_scheme)],
        authenticator: Annotated[Authenticator, Depends(get_authenticator)],
    ) -> Principal:
        principal = authenticator.decode(token)
        if roles and principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this needs the role {' or '.join(roles)}")
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read for the OpenAPI 403s
    return dependency

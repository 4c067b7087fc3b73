"""Authentication: OAuth2 password flow issuing signed JWTs (PyJWT, algorithm pinned).

Hardening (issue 24, docs/security.md):

- Outside development mode (``DUTY_DEV_MODE=true``, which ``make run`` and the tests set) the
  gateway refuses to start with the development secret, a secret shorter than 32 bytes, or a
  development user (one whose password is their username): ``check_startup``.
- Every token carries the user's version (``ver``), a digest of the user's record (username,
  role, unit or deputy, password hash and an optional ``token_version``). Each request checks
  it against the user list, re-read when the file changes: a removed or disabled user, a
  changed password or role, or a bumped ``token_version`` revokes the user's tokens (401), as
  does an unknown ``sub``.
- A token may not live longer than the gateway issues tokens for (``JWT_TTL_MINUTES``): one
  whose ``exp`` lies further ahead than that, or whose ``exp - iat`` exceeds it, is refused
  even when signed with the right key.
- An unknown username costs one scrypt like a known one (``passwords.verify_or_dummy``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from eventsourcing.application import LRUCache
from pydantic import BaseModel, ConfigDict

from services.gateway.passwords import verify_or_dummy, verify_password

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ROLES = ("office", "unit", "deputy", "leader", "citizen", "admin", "station")
# Published in the repository: accepted in development mode only.
DEV_SECRET = "development-only-secret-change-me-in-production"
MIN_SECRET_BYTES = 32
# Slack for clocks and whole-second timestamps when a token's lifetime is compared with the TTL.
LIFETIME_LEEWAY_SECONDS = 5

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


class InsecureConfiguration(RuntimeError):
    """The gateway's settings are fit for development only, and development mode is off."""


def user_version(user: dict[str, Any]) -> str:
    """The ``ver`` claim of a user's tokens: changes whenever anything that a token stands for
    changes (password, role, unit, deputy) or an administrator bumps ``token_version``."""
    material = json.dumps([user.get("username"), user.get("role"), user.get("unit_id"),
                           user.get("deputy_id"), user.get("password_hash"),
                           user.get("token_version", 0)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def load_users(path: Path) -> list[dict[str, Any]]:
    import yaml

    with Path(path).open(encoding="utf-8") as f:
        users = yaml.safe_load(f) or []
    if not isinstance(users, list) or not all(isinstance(u, dict) and "username" in u
                                              for u in users):
        raise ValueError(f"{path}: expected a list of users, each with a username")
    return users


def development_users(users: list[dict[str, Any]]) -> list[str]:
    """The users whose password is their username (the development users)."""
    return [u["username"] for u in users
            if verify_password(str(u["username"]), str(u.get("password_hash", "")))]


def check_startup(*, dev_mode: bool, secret: str, users: list[dict[str, Any]]) -> None:
    """Refuse (InsecureConfiguration) what is fit for development only, unless in
    development mode."""
    if dev_mode:
        log.warning("DEVELOPMENT MODE (DUTY_DEV_MODE=true): the development secret and users are "
                    "accepted, /metrics and detailed health are open; never expose this gateway")
        return
    problems = []
    if secret == DEV_SECRET:
        problems.append("JWT_SECRET is not set (the development secret is published)")
    elif len(secret.encode()) < MIN_SECRET_BYTES:
        problems.append(f"JWT_SECRET has {len(secret.encode())} bytes, at least "
                        f"{MIN_SECRET_BYTES} are needed")
    dev_users = development_users(users)
    if dev_users:
        problems.append("the user list has development users whose password is their username "
                        f"({', '.join(dev_users)}); give USERS_FILE a list of your own")
    if problems:
        raise InsecureConfiguration(
            "the gateway refuses to start outside development mode (DUTY_DEV_MODE=true): "
            + "; ".join(problems))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": "Bearer"})


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)  # a remembered token's principal is shared

    username: str
    role: str
    unit_id: str | None = None
    deputy_id: str | None = None
    leader_id: str | None = None  # a leader's own id, for "my cases"
    # from the account (services/accounts): every role the user holds, and whether they must
    # change their password before anything else (after an administrator's reset)
    roles: tuple[str, ...] = ()
    must_change_password: bool = False

    def actor(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, include={"username", "role", "unit_id",
                                                           "deputy_id", "leader_id"})


class Authenticator:
    """Issues and checks bearer tokens.

    A token that passed every check is remembered (LRU, ``verified_tokens`` of them) with its
    expiry, so that a client's next requests with the same token cost a dictionary lookup and
    a clock reading instead of a signature check (a tenth of the gateway's CPU per request in
    the profile of 2026-11-24). The expiry is checked on every use, so a remembered token stops
    working when it expires, as a checked one would. Refused tokens are not remembered.

    The user list comes from ``users`` or, when ``users_file`` is given, from that file, which
    is read again when it changes (looked at no more often than every ``reload_seconds``);
    a change forgets every remembered token, so each is checked against the new list.
    ``check_users`` (default: whenever there is a user list) makes every token name a known
    user at its current version (``ver``).
    """

    def __init__(self, users: list[dict[str, Any]], secret: str, issuer: str, audience: str,
                 ttl: timedelta, verified_tokens: int = 4096, *,
                 users_file: Path | None = None, reload_seconds: float = 5.0,
                 check_users: bool | None = None) -> None:
        self.secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.users_file = Path(users_file) if users_file is not None else None
        self.reload_seconds = reload_seconds
        self._verified: LRUCache[str, tuple[Principal, float]] | None = (
            LRUCache(maxsize=verified_tokens) if verified_tokens > 0 else None)
        self._users_stamp = self._stamp()
        if self.users_file is not None and not users:
            users = load_users(self.users_file)
        self._set_users(users)
        self.check_users = (bool(users) or self.users_file is not None
                            if check_users is None else check_users)
        self._next_reload = time.monotonic() + reload_seconds
        # The accounts service's status of each account (services/gateway/accounts.py): when
        # set, sign-ins go to the accounts service and tokens are checked against it instead
        # of a user list.
        self.accounts: Any = None

    def _set_users(self, users: list[dict[str, Any]]) -> None:
        self.users = {u["username"]: u for u in users if not u.get("disabled")}
        self.versions = {name: user_version(u) for name, u in self.users.items()}

    def _stamp(self) -> tuple[int, int, int] | None:
        if self.users_file is None:
            return None
        try:
            st = self.users_file.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def refresh_users(self, force: bool = False) -> None:
        """Read the user list again if its file changed (at most every ``reload_seconds``)."""
        if self.users_file is None:
            return
        now = time.monotonic()
        if not force and now < self._next_reload:
            return
        self._next_reload = now + self.reload_seconds
        stamp = self._stamp()
        if stamp == self._users_stamp:
            return
        try:
            users = load_users(self.users_file)
        except Exception as exc:  # keep the list in force rather than lock everyone out
            log.error("cannot read the user list %s, keeping the previous one: %s",
                      self.users_file, exc)
            return
        self._users_stamp = stamp
        self._set_users(users)
        if self._verified is not None:  # a new one: LRUCache.clear() keeps its entries
            self._verified = LRUCache(maxsize=self._verified.maxsize)
        log.info("user list %s read again: %d users", self.users_file, len(self.users))

    def authenticate(self, username: str, password: str) -> Principal | None:
        self.refresh_users()
        user = self.users.get(username)
        # an unknown user costs the same scrypt as a known one (verify_or_dummy)
        if not verify_or_dummy(password, user["password_hash"] if user else None) or not user:
            return None
        return Principal(username=username, role=user["role"], unit_id=user.get("unit_id"),
                         deputy_id=user.get("deputy_id"), leader_id=user.get("leader_id"))

    async def login(self, username: str, password: str, role: str | None = None,
                    ) -> tuple[Principal, str | None] | None:
        """The principal of a good username and password (in ``role``, else the first role)
        and its token version; None otherwise. With the accounts service the password is
        checked there; without it, against the user list."""
        if self.accounts is None:
            import asyncio

            principal = await asyncio.to_thread(self.authenticate, username, password)
            if principal is None or (role and role != principal.role):
                return None
            return principal, None
        from services.gateway.deps import ServiceFailure
        from shared.contracts.requests.accounts import Login

        try:
            found = await self.accounts.services.send(
                Login(username=username, password=password, role=role))
        except ServiceFailure as exc:
            if exc.reply.get("status") in (401, 409):  # wrong password; a role not held
                return None
            raise
        except Exception as exc:  # a malformed role: as a wrong one
            from pydantic import ValidationError

            if isinstance(exc, ValidationError):
                return None
            raise
        self.accounts.forget(username)  # its status is asked for at the next request
        principal = Principal(**found["principal"], roles=tuple(found["roles"]),
                              must_change_password=found["must_change_password"])
        return principal, str(found["token_version"])

    def signed_subject(self, token: str) -> str | None:
        """The ``sub`` of a token signed with this gateway's key (None otherwise)."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM],
                                audience=self.audience, issuer=self.issuer)
        except jwt.PyJWTError:
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) else None

    def issue(self, principal: Principal, ver: str | None = None) -> str:
        now = datetime.now(timezone.utc)
        claims: dict[str, Any] = {
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
        if principal.leader_id:
            claims["leader_id"] = principal.leader_id
        if ver is not None:
            claims["ver"] = ver
        elif principal.username in self.versions:
            claims["ver"] = self.versions[principal.username]
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> Principal:
        self.refresh_users()
        if self._verified is not None:
            try:
                principal, expires, ver = self._verified.get(token)
            except KeyError:
                pass
            else:
                if time.time() < expires:
                    return self._current(principal, ver)
                self._verified.get(token, evict=True)
        principal, expires, ver = self._check(token)
        if self._verified is not None and expires is not None:
            self._verified.put(token, (principal, expires, ver))
        return self._current(principal, ver)

    def _current(self, principal: Principal, ver: Any) -> Principal:
        """With the accounts service: the principal if its account still stands behind the
        token (checked at every request, remembered token or not)."""
        if self.accounts is None:
            return principal
        return self.accounts.check(principal, ver)

    def _check(self, token: str) -> tuple[Principal, float | None, Any]:
        """The token's principal and expiry (epoch seconds; None when it must not be
        remembered), or 401."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], audience=self.audience,
                issuer=self.issuer, options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"invalid token: {exc}") from None
        if claims.get("role") not in ROLES:
            raise _unauthorized("invalid token: unknown role")
        # Fail closed: a unit or deputy token without its id would otherwise pass the
        # "only your own" filters (they compare with None and some fall back to "all").
        if ((claims["role"] in ("unit", "station") and not claims.get("unit_id"))
                or (claims["role"] == "deputy" and not claims.get("deputy_id"))):
            raise _unauthorized(f"invalid token: a {claims['role']} token must name its "
                                f"{claims['role']}")
        # A bounded lifetime: no token outlives what the gateway issues, whoever signed it.
        longest = self.ttl.total_seconds() + LIFETIME_LEEWAY_SECONDS
        exp = float(claims["exp"])
        iat = claims.get("iat")
        if exp - time.time() > longest or (isinstance(iat, (int, float)) and exp - iat > longest):
            raise _unauthorized("invalid token: it lives longer than the gateway issues "
                                "tokens for")
        if self.check_users and self.accounts is None:
            user = self.users.get(claims["sub"])
            if user is None:
                raise _unauthorized("invalid token: no such user (removed or disabled)")
            ver = claims.get("ver")
            if not isinstance(ver, str) or not hmac.compare_digest(ver, self.versions[claims["sub"]]):
                raise _unauthorized("invalid token: revoked (the user changed since it was "
                                    "issued); sign in again")
            if (claims["role"] != user["role"] or claims.get("unit_id") != user.get("unit_id")
                    or claims.get("deputy_id") != user.get("deputy_id")):
                raise _unauthorized("invalid token: it does not match the user")
        principal = Principal(username=claims["sub"], role=claims["role"],
                              unit_id=claims.get("unit_id"), deputy_id=claims.get("deputy_id"),
                              leader_id=claims.get("leader_id"))
        # a token valid only from some time on ("nbf") is checked in full every time
        return principal, None if "nbf" in claims else exp, claims.get("ver")


# The dependencies below are ``async def`` although they never wait: FastAPI runs a plain
# ``def`` dependency in a worker thread, a thread hop per dependency per request (a sixth of
# the gateway's CPU under load in the profile of 2026-11-24), for microseconds of work.
async def get_authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator


def require(*roles: str, password_change_ok: bool = False):
    """A dependency that admits only the given roles (any signed-in user when none given).
    A user who must change their password (after an administrator's reset) is refused (403)
    everywhere but where ``password_change_ok`` (their own account and password)."""
    async def dependency(
        token: Annotated[str, Depends(oauth2_scheme)],
        authenticator: Annotated[Authenticator, Depends(get_authenticator)],
    ) -> Principal:
        principal = authenticator.decode(token)
        if principal.must_change_password and not password_change_ok:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "change your password first (POST /api/v1/me/password): an "
                                "administrator reset it")
        if roles and principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this needs the role {' or '.join(roles)}")
        return principal

    dependency.roles = roles  # type: ignore[attr-defined]  # read for the OpenAPI 403s
    return dependency


# --- operations endpoints ------------------------------------------------------------------

async def ops_access(request: Request) -> bool | None:
    """Whether the caller may read ``/metrics/<service>`` and detailed health: True with an
    office bearer token or the metrics token (``METRICS_TOKEN``), False with another
    credential, None with none. In development mode everyone may."""
    settings = request.app.state.settings
    if getattr(settings, "duty_dev_mode", False):
        return True
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    metrics_token = getattr(settings, "metrics_token", "")
    if metrics_token and hmac.compare_digest(token.encode(), metrics_token.encode()):
        return True
    try:
        principal = request.app.state.authenticator.decode(token)
    except HTTPException:
        return False
    return principal.role == "office"

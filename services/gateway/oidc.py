"""Single sign-on through the office's OpenID Connect provider (optional; issue 29 point 3).

Configured by ``OIDC_ISSUER`` (with ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``,
``OIDC_REDIRECT_URL``, ``OIDC_USERNAME_CLAIM``, ``OIDC_BUTTON_TEXT``: docs/security.md);
without ``OIDC_ISSUER`` nothing of this is active and the sign-in page has no SSO button.

The flow (authorization code with PKCE, state and nonce; routes in web/pages_sso.py):

1. ``GET /app/login/oidc``: the provider's endpoints come from its discovery document
   (``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be the configured
   one). A random ``state``, ``nonce`` and PKCE ``code_verifier`` are made; the browser is
   sent to the authorization endpoint with the S256 challenge and keeps the three in a short-lived cookie signed with the gateway's secret (``duty_oidc``,
   HttpOnly, SameSite=Lax so the provider's redirect back carries it, path
   ``/app/login/oidc``): nothing is kept in the gateway, so any replica finishes the flow.
2. ``GET /app/login/oidc/callback``: the ``state`` must be the cookie's; the code is exchanged
   (with the verifier and the client's secret) at the token endpoint; the ID token's signature
   is checked with the provider's JWKS (PyJWT; asymmetric algorithms only), and its ``iss``,
   ``aud`` (and ``azp``), ``exp``, ``iat`` and ``nonce``. The username claim comes from the ID
   token, else from the userinfo endpoint (whose ``sub`` must be the token's).
3. The accounts service decides which account the identity is (``LoginExternal``: the one
   linked to it, else at the first sign-in the account named by the username claim), and the
   gateway signs the user in as the password does: the same session cookie and token, with
   the account's ``token_version`` and roles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import jwt

log = logging.getLogger(__name__)

STATE_COOKIE = "duty_oidc"
STATE_AUDIENCE = "duty-oidc-login"  # never a session token's audience
STATE_MINUTES = 10  # time to sign in at the provider
SCOPE = "openid profile"
# ID tokens signed with these only: never "none", never a symmetric key a client could know
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
              "ES512", "EdDSA")
DISCOVERY_SECONDS = 3600.0
JWKS_REFRESH_SECONDS = 60.0  # an unknown key id fetches the JWKS again, at most this often
LEEWAY_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 10.0
CALLBACK_PATH = "/app/login/oidc/callback"
COOKIE_PATH = "/app/login/oidc"


class OidcError(Exception):
    """The sign-in through the provider did not prove who the user is (logged; the page
    says only that single sign-on failed)."""


class ProviderUnavailable(OidcError):
    """The provider could not be reached or answered nonsense."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str | None  # None: <this gateway's address>/app/login/oidc/callback
    username_claim: str = "preferred_username"
    button_text: str = "统一身份认证登录"


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, its ID token checked."""

    issuer: str
    subject: str
    username: str | None  # the username claim (None: the provider gave none)


def config_from_settings(settings: Any) -> OidcConfig | None:
    """The single sign-on configuration, None without ``OIDC_ISSUER``. Refuses (ValueError,
    at start) an issuer without a client id, and outside development mode one not on https
    or a client without a secret."""
    issuer = (getattr(settings, "oidc_issuer", None) or "").strip().rstrip("/")
    if not issuer:
        return None
    client_id = (settings.oidc_client_id or "").strip()
    if not client_id:
        raise ValueError("OIDC_ISSUER is set without OIDC_CLIENT_ID")
    if not settings.duty_dev_mode:
        if not issuer.startswith("https://"):
            raise ValueError("OIDC_ISSUER must be an https:// address outside development mode")
        if not settings.oidc_client_secret:
            raise ValueError("OIDC_CLIENT_SECRET is required outside development mode")
    if getattr(settings, "accounts_source", "service") != "service":
        raise ValueError("single sign-on needs the accounts service (ACCOUNTS_SOURCE=service)")
    return OidcConfig(issuer=issuer, client_id=client_id,
                      client_secret=settings.oidc_client_secret or "",
                      redirect_url=(settings.oidc_redirect_url or "").strip() or None,
                      username_claim=settings.oidc_username_claim or "preferred_username",
                      button_text=settings.oidc_button_text or "统一身份认证登录")


class OidcClient:
    """The gateway as the provider's relying party. ``secret`` signs the state cookie (the
    gateway's JWT secret; the cookie's own audience keeps it from ever being a session)."""

    def __init__(self, config: OidcConfig, secret: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._secret = secret
        self._transport = transport  # tests may route the provider's calls
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = 0.0

    # --- the provider's metadata and keys ---------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, transport=self._transport)

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is not None and time.monotonic() - self._discovered_at < DISCOVERY_SECONDS:
            return self._discovery
        url = f"{self.config.issuer}/.well-known/openid-configuration"
        try:
            async with self._http() as http:
                response = await http.get(url)
            response.raise_for_status()
            found = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"discovery at {url} failed: {exc}") from exc
        if not isinstance(found, dict) or found.get("issuer", "").rstrip("/") != self.config.issuer:
            raise ProviderUnavailable(f"the discovery document at {url} names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(key), str):
                raise ProviderUnavailable(f"the discovery document has no {key}")
        self._discovery, self._discovered_at = found, time.monotonic()
        return found

    async def _keys(self, refresh: bool = False) -> jwt.PyJWKSet:
        if self._jwks is not None and not refresh:
            return self._jwks
        if self._jwks is not None and time.monotonic() - self._jwks_at < JWKS_REFRESH_SECONDS:
            return self._jwks
        uri = (await self.discovery())["jwks_uri"]
        try:
            async with self._http() as http:
                response = await http.get(uri)
            response.raise_for_status()
            self._jwks = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise ProviderUnavailable(f"the provider's keys at {uri} could not be read: "
                                      f"{exc}") from exc
        self._jwks_at = time.monotonic()
        return self._jwks

    async def _key_for(self, kid: str | None) -> jwt.PyJWK:
        for refresh in (False, True):  # a key id not known yet: the provider rotated its keys
            keys = await self._keys(refresh)
            matching = [k for k in keys.keys if kid is None or k.key_id == kid]
            if kid is None and len(matching) > 1:
                raise OidcError("the ID token names no key and the provider has several")
            if matching:
                return matching[0]
        raise OidcError(f"the ID token is signed with an unknown key {kid!r}")

    # --- the two steps ------------------------------------------------------------------------

    def redirect_uri(self, base_url: str) -> str:
        return self.config.redirect_url or base_url.rstrip("/") + CALLBACK_PATH

    async def start(self, base_url: str) -> tuple[str, str]:
        """(the provider's authorization URL to send the browser to, the state cookie)."""
        metadata = await self.discovery()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
        url = _with_query(metadata["authorization_endpoint"], {
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": self.redirect_uri(base_url), "scope": SCOPE, "state": state,
            "nonce": nonce, "code_challenge": s256(verifier), "code_challenge_method": "S256"})
        now = datetime.now(timezone.utc)
        cookie = jwt.encode({"aud": STATE_AUDIENCE, "iat": now,
                             "exp": now + timedelta(minutes=STATE_MINUTES),
                             "state": state, "nonce": nonce, "verifier": verifier},
                            self._secret, algorithm="HS256")
        return url, cookie

    def pending(self, cookie: str | None, state: str | None) -> dict[str, Any]:
        """The flow this browser started, if ``state`` is its own (else OidcError)."""
        if not cookie or not state:
            raise OidcError("no sign-in was started in this browser (or it expired)")
        try:
            started = jwt.decode(cookie, self._secret, algorithms=["HS256"],
                                 audience=STATE_AUDIENCE)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the sign-in cookie is not ours or expired: {exc}") from exc
        if not hmac.compare_digest(str(started.get("state", "")), state):
            raise OidcError("the state is not the one this browser was sent with")
        return started

    async def finish(self, base_url: str, cookie: str | None, state: str | None,
                     code: str | None) -> Identity:
        """Check the provider's answer and exchange its code: the identity it vouches for."""
        started = self.pending(cookie, state)
        if not code:
            raise OidcError("the provider sent no code")
        metadata = await self.discovery()
        token = await self._exchange(metadata, code, started["verifier"],
                                     self.redirect_uri(base_url))
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the provider's answer has no ID token")
        claims = await self.check_id_token(id_token, started["nonce"])
        username = claims.get(self.config.username_claim)
        if username is None and metadata.get("userinfo_endpoint") and token.get("access_token"):
            username = await self._userinfo_claim(metadata["userinfo_endpoint"],
                                                  token["access_token"], claims["sub"])
        return Identity(issuer=self.config.issuer, subject=str(claims["sub"]),
                        username=str(username) if isinstance(username, (str, int)) else None)

    async def _exchange(self, metadata: dict[str, Any], code: str, verifier: str,
                        redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer for the code (RFC 6749 4.1.3 with RFC 7636's verifier);
        the client authenticates with its secret (HTTP Basic, or in the body when the provider
        offers only that), or as a public client without one."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}
        headers = {"Accept": "application/json"}
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if not self.config.client_secret:
            form["client_id"] = self.config.client_id
        elif "client_secret_basic" not in methods and "client_secret_post" in methods:
            form.update(client_id=self.config.client_id, client_secret=self.config.client_secret)
        else:
            headers["Authorization"] = basic_auth(self.config.client_id,
                                                  self.config.client_secret)
        try:
            async with self._http() as http:
                response = await http.post(metadata["token_endpoint"], data=form,
                                           headers=headers)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the token endpoint failed: {exc}") from exc
        if response.status_code != 200 or not isinstance(answer, dict) or "error" in answer:
            raise OidcError(f"the provider refused the code ({response.status_code}): "
                            f"{answer.get('error') if isinstance(answer, dict) else answer}")
        return answer

    async def check_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, its signature (the provider's JWKS), issuer, audience,
        expiry and nonce checked (OidcError otherwise)."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is malformed: {exc}") from exc
        alg = header.get("alg")
        offered = (await self.discovery()).get("id_token_signing_alg_values_supported")
        if alg not in ALGORITHMS or (isinstance(offered, list) and alg not in offered):
            raise OidcError(f"the ID token's algorithm {alg!r} is not accepted")
        key = await self._key_for(header.get("kid"))
        try:
            claims = jwt.decode(id_token, key=key, algorithms=[alg],
                                audience=self.config.client_id, issuer=self.config.issuer,
                                leeway=LEEWAY_SECONDS,
                                options={"require": ["iss", "aud", "exp", "iat", "sub"]})
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token does not hold: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise OidcError("the ID token is for several clients and not authorized for us")
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("the ID token's nonce is not the one this sign-in sent")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("the ID token has no subject")
        return claims

    async def _userinfo_claim(self, endpoint: str, access_token: str, sub: str) -> Any:
        try:
            async with self._http() as http:
                response = await http.get(endpoint,
                                          headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            info = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the userinfo endpoint failed: {exc}") from exc
        if not isinstance(info, dict) or info.get("sub") != sub:
            raise OidcError("the userinfo answer is about another subject")
        return info.get(self.config.username_claim)


def s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 2.3.1: the client id and secret form-encoded, then HTTP Basic."""
    pair = f"{urlencode({'': client_id})[1:]}:{urlencode({'': secret})[1:]}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))

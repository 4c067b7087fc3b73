"""The gateway's checks of an OpenID provider's ID token (services/gateway/oidc.py), against a
provider made here (its discovery document and JWKS answered through httpx's MockTransport,
its tokens signed with a key made here): only a token signed by the provider's key, for this
client, from this issuer, not expired, carrying this sign-in's nonce, is believed."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.gateway.oidc import (
    OidcClient, OidcConfig, OidcError, ProviderUnavailable, basic_auth, config_from_settings, s256,
)

ISSUER = "https://sso.example.gov.cn"
CLIENT = "duty-gateway"
NONCE = "nonce-of-this-sign-in"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, OTHER_KEY = rsa_key(), rsa_key()


def provider(issuer: str = ISSUER) -> httpx.MockTransport:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": issuer, "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"]})
        if request.url.path == "/jwks":
            return httpx.Response(200, json=jwks)
        return httpx.Response(404)

    return httpx.MockTransport(answer)


def client(issuer_answered: str = ISSUER) -> OidcClient:
    config = OidcConfig(issuer=ISSUER, client_id=CLIENT, client_secret="s", redirect_url=None)
    return OidcClient(config, "gateway-secret", transport=provider(issuer_answered))


def id_token(key: Any = KEY, alg: str = "RS256", kid: str | None = "k1",
             **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT, "sub": "u-1001", "iat": now, "exp": now + 300,
            "nonce": NONCE, "preferred_username": "office", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


async def test_a_good_token_is_believed():
    claims = await client().check_id_token(id_token(), NONCE)
    assert claims["sub"] == "u-1001" and claims["preferred_username"] == "office"
    # several audiences: only with this client as the authorized party
    claims = await client().check_id_token(id_token(aud=[CLIENT, "other"], azp=CLIENT), NONCE)
    assert claims["sub"] == "u-1001"


@pytest.mark.parametrize("token, why", [
    (lambda: id_token(key=OTHER_KEY), "signed by another key"),
    (lambda: id_token(kid="k-unknown"), "an unknown key id"),
    (lambda: id_token(alg="HS256", key="gateway-secret"), "a symmetric algorithm"),
    (lambda: jwt.encode({"iss": ISSUER, "aud": CLIENT, "sub": "u", "nonce": NONCE,
                         "iat": int(time.time()), "exp": int(time.time()) + 60},
                        None, algorithm="none"), "no signature"),
    (lambda: id_token(iss="https://evil.example"), "another issuer"),
    (lambda: id_token(aud="another-client"), "another client"),
    (lambda: id_token(aud=[CLIENT, "other"], azp="other"), "authorized for another client"),
    (lambda: id_token(exp=int(time.time()) - 3600), "expired"),
    (lambda: id_token(nonce="someone-elses"), "another sign-in's nonce"),
    (lambda: id_token(nonce=None), "no nonce"),
    (lambda: id_token(sub=None), "no subject"),
    (lambda: "not.a.token", "malformed"),
])
async def test_a_token_that_does_not_hold_is_refused(token, why):
    with pytest.raises(OidcError):
        await client().check_id_token(token(), NONCE)


async def test_a_discovery_document_of_another_issuer_is_not_used():
    with pytest.raises(ProviderUnavailable):
        await client(issuer_answered="https://evil.example").discovery()


async def test_the_state_cookie_is_the_gateways_and_the_states_match():
    c = client()
    url, cookie = await c.start("https://duty.example.gov.cn")
    assert url.startswith(f"{ISSUER}/authorize?")
    query = dict(httpx.URL(url).params)
    assert query["redirect_uri"] == "https://duty.example.gov.cn/app/login/oidc/callback"
    started = c.pending(cookie, query["state"])
    assert query["code_challenge"] == s256(started["verifier"]) and query["nonce"] == started["nonce"]
    with pytest.raises(OidcError):
        c.pending(cookie, "another-state")
    forged = jwt.encode({**started, "aud": "duty-oidc-login"}, "not-the-secret", algorithm="HS256")
    with pytest.raises(OidcError):
        c.pending(forged, query["state"])
    with pytest.raises(OidcError):
        c.pending(None, query["state"])


def test_pkce_and_client_authentication_encodings():
    # RFC 7636 appendix B's example
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert basic_auth("a b", "c:d") == "Basic YStiOmMlM0Fk"


class Settings:
    oidc_issuer = "http://localhost:9400/"
    oidc_client_id = "duty"
    oidc_client_secret = ""
    oidc_redirect_url = None
    oidc_username_claim = "preferred_username"
    oidc_button_text = "统一身份认证登录"
    duty_dev_mode = True
    accounts_source = "service"


def test_configuration():
    s = Settings()
    s.oidc_issuer = None
    assert config_from_settings(s) is None  # nothing changes without an issuer
    s = Settings()
    assert config_from_settings(s).issuer == "http://localhost:9400"
    s.duty_dev_mode = False  # outside development: https and a secret
    with pytest.raises(ValueError):
        config_from_settings(s)
    s.oidc_issuer, s.oidc_client_secret = "https://sso.example.gov.cn", "secret"
    assert config_from_settings(s).client_secret == "secret"
    s.oidc_client_id = ""
    with pytest.raises(ValueError):
        config_from_settings(s)

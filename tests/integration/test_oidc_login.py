"""Single sign-on through OpenID Connect (issue 29, point 3; services/gateway/oidc.py) against a
real local provider (oidc-provider-mock, a Flask OpenID provider, in a thread on a free port)
and the real system on nats-server: the browser's way through the gateway's sign-in, the
provider's form and back, as an httpx client that keeps cookies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from urllib.parse import quote

import httpx
import jwt
import oidc_provider_mock
import pytest
from asgi_lifespan import LifespanManager
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from services.gateway.app import GatewaySettings, create_app
from services.gateway.oidc import STATE_COOKIE
from services.gateway.web.common import SESSION_COOKIE
from shared.contracts.requests.accounts import LoginExternal
from tests.harness import rpc

SYSTEM_SERVICES = ("accounts", "supervision", "intake", "assignment", "points", "registry")
NOT_OPENED = "该统一身份认证账号未在本系统开通，请联系管理员"
FAILED = "统一身份认证登录未完成"
GATEWAY = "http://gateway"
CLIENT_ID = "duty-gateway"


@pytest.fixture(scope="module")
def provider() -> str:
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def at_provider(provider: str, sub: str, **claims: object) -> None:
    """The provider's user ``sub`` with its claims (its username: preferred_username)."""
    r = httpx.put(f"{provider}/users/{quote(sub, safe='')}", json=claims)
    assert r.status_code == 204, r.text


@pytest.fixture
async def sso(system, provider) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (cookies kept) before a gateway configured for the provider."""
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=5.0,
                               oidc_issuer=provider, oidc_client_id=CLIENT_ID,
                               oidc_client_secret="client-secret-2026")
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=GATEWAY) as browser:
            yield browser


async def to_provider(browser: httpx.AsyncClient) -> str:
    """Click the SSO button: the provider's authorization URL the gateway sends us to."""
    page = await browser.get("/app/login")
    assert page.status_code == 200 and 'id="sso-login"' in page.text
    assert "统一身份认证登录" in page.text
    r = await browser.get("/app/login/oidc")
    assert r.status_code == 303, r.text
    return r.headers["location"]


def authorize(url: str, sub: str) -> str:
    """Sign in at the provider's form as ``sub``: the callback URL it sends the browser to."""
    r = httpx.post(url, data={"sub": sub})
    assert r.status_code in (302, 303), r.text
    location = r.headers["location"]
    assert location.startswith(f"{GATEWAY}/app/login/oidc/callback?"), location
    return location


async def back_at_gateway(browser: httpx.AsyncClient, callback: str) -> httpx.Response:
    return await browser.get(callback.removeprefix(GATEWAY))


async def sign_in(browser: httpx.AsyncClient, sub: str) -> httpx.Response:
    return await back_at_gateway(browser, authorize(await to_provider(browser), sub))


async def continue_to_home(browser: httpx.AsyncClient, done: httpx.Response) -> httpx.Response:
    """The page after the callback moves on by itself (meta refresh) to the user's home."""
    assert done.status_code == 200, done.text
    home = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', done.text).group(1)
    return await browser.get(home)


def with_param(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **params})))


async def test_an_office_clerk_signs_in_through_the_provider_and_then_by_the_link(
        system, sso, provider):
    at_provider(provider, "u-office-1001", preferred_username="office", name="王主任")
    location = await to_provider(sso)
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{provider}/oauth2/authorize?")
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{GATEWAY}/app/login/oidc/callback"]
    # PKCE (S256) of the verifier kept in the browser's signed cookie, with state and nonce
    pending = jwt.decode(sso.cookies[STATE_COOKIE], options={"verify_signature": False})
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [create_s256_code_challenge(pending["verifier"])]
    assert query["state"] == [pending["state"]] and query["nonce"] == [pending["nonce"]]

    done = await back_at_gateway(sso, authorize(location, "u-office-1001"))
    assert SESSION_COOKIE in sso.cookies and STATE_COOKIE not in sso.cookies
    home = await continue_to_home(sso, done)
    assert home.status_code == 200 and str(home.url).endswith("/app/board"), home.url
    assert "进度看板" in home.text
    me = await sso.get("/app/")  # the session works as a password sign-in's does
    assert me.status_code == 303 and me.headers["location"] == "/app/board"
    # the same token as the password gives: the account's roles and token_version
    token = sso.cookies[SESSION_COOKIE]
    r = await sso.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "office" and r.json()["roles"] == ["office", "admin"]

    # the link is in the account's history, by the gateway
    history = await sso.get("/api/v1/admin/accounts/office/history",
                            headers={"Authorization": f"Bearer {await admin_token(sso)}"})
    linked = [e for e in history.json() if e["event_type"] == "ExternalIdentityLinked"]
    assert len(linked) == 1 and linked[0]["data"]["subject"] == "u-office-1001"
    assert linked[0]["data"]["issuer"] == provider and linked[0]["actor"]["username"] == "gateway"

    # the second sign-in finds the account by the recorded link, not by the username claim:
    # renamed at the provider, the same person is still office
    at_provider(provider, "u-office-1001", preferred_username="wang.zhuren")
    sso.cookies.clear()
    done = await sign_in(sso, "u-office-1001")
    assert str((await continue_to_home(sso, done)).url).endswith("/app/board")
    r = await sso.get("/api/v1/me", headers={
        "Authorization": f"Bearer {sso.cookies[SESSION_COOKIE]}"})
    assert r.json()["username"] == "office"

    # another identity of the provider claiming the name office takes nothing over
    at_provider(provider, "u-impostor-2002", preferred_username="office")
    sso.cookies.clear()
    refused = await sign_in(sso, "u-impostor-2002")
    assert refused.status_code == 403 and "已关联其他统一身份认证账号" in refused.text
    assert SESSION_COOKIE not in sso.cookies

    # passwords keep working beside single sign-on
    r = await sso.post("/api/v1/auth/token", data={"username": "office", "password": "office"})
    assert r.status_code == 200, r.text


async def admin_token(browser: httpx.AsyncClient) -> str:
    r = await browser.post("/api/v1/auth/token",
                           data={"username": "office", "password": "office", "scope": "admin"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


async def test_an_identity_without_an_enabled_account_is_refused(system, sso, provider):
    at_provider(provider, "u-nobody-3003", preferred_username="nobody-here")
    refused = await sign_in(sso, "u-nobody-3003")
    assert refused.status_code == 403 and NOT_OPENED in refused.text
    assert SESSION_COOKIE not in sso.cookies
    at_provider(provider, "u-no-name-3004")  # no username claim at all
    sso.cookies.clear()
    refused = await sign_in(sso, "u-no-name-3004")
    assert refused.status_code == 403 and NOT_OPENED in refused.text

    # a disabled account: refused, and once it was linked, refused by its link too
    boss = {"Authorization": f"Bearer {await admin_token(sso)}"}
    r = await sso.post("/api/v1/admin/accounts", headers=boss, json={
        "username": "clerk-9", "display_name": "赵科员", "password": "Lianluo-2026-mima",
        "roles": ["office"], "must_change_password": False})
    assert r.status_code == 201, r.text
    at_provider(provider, "u-clerk-9", preferred_username="clerk-9")
    sso.cookies.clear()
    assert (await sign_in(sso, "u-clerk-9")).status_code == 200
    r = await sso.post("/api/v1/admin/accounts/clerk-9/disable", headers=boss,
                       json={"reason": "调离"})
    assert r.status_code == 200, r.text
    sso.cookies.clear()
    refused = await sign_in(sso, "u-clerk-9")
    assert refused.status_code == 403 and NOT_OPENED in refused.text
    assert SESSION_COOKIE not in sso.cookies


async def test_a_forged_state_or_a_wrong_nonce_is_refused(system, sso, provider, caplog):
    at_provider(provider, "u-office-1001", preferred_username="office")
    # a state the browser was not sent with (a login CSRF: someone else's code)
    callback = authorize(await to_provider(sso), "u-office-1001")
    forged = with_param(callback, state="forged-state")
    refused = await back_at_gateway(sso, forged)
    assert refused.status_code == 401 and FAILED in refused.text
    assert SESSION_COOKIE not in sso.cookies
    assert "the state is not the one this browser was sent with" in caplog.text
    # a callback in a browser that never started a sign-in
    async with httpx.AsyncClient(transport=sso._transport, base_url=GATEWAY) as stranger:
        refused = await back_at_gateway(stranger, callback)
        assert refused.status_code == 401 and SESSION_COOKIE not in stranger.cookies
    assert "no sign-in was started in this browser" in caplog.text

    # an ID token with another nonce than this sign-in's (a replayed token)
    location = with_param(await to_provider(sso), nonce="another-nonce")
    refused = await back_at_gateway(sso, authorize(location, "u-office-1001"))
    assert refused.status_code == 401 and FAILED in refused.text
    assert SESSION_COOKIE not in sso.cookies
    assert "the ID token's nonce is not the one this sign-in sent" in caplog.text


async def test_the_accounts_service_answers_single_sign_on_to_the_gateway_only(system):
    claim = {"issuer": "https://idp.example", "sub": "u-1", "username": "office"}
    for actor in ({"username": "office", "role": "office"}, {"username": "ops", "role": "system"}):
        r = await rpc(system.nats_url, "accounts", LoginExternal.name, claim, actor=actor)
        assert r["ok"] is False and r["status"] == 403, r
    r = await rpc(system.nats_url, "accounts", LoginExternal.name, claim,
                  actor={"username": "gateway", "role": "system"})
    assert r["ok"] is True and r["result"]["principal"]["username"] == "office"


async def test_without_an_issuer_there_is_no_button_and_no_route(api):
    page = await api.client.get("/app/login")
    assert page.status_code == 200 and "sso-login" not in page.text
    assert "统一身份认证" not in page.text
    assert (await api.client.get("/app/login/oidc")).status_code == 404
    assert (await api.client.get("/app/login/oidc/callback?code=x&state=y")).status_code == 404

"""Single sign-on pages (services/gateway/oidc.py): ``GET /app/login/oidc`` sends the browser
to the office's OpenID provider, ``GET /app/login/oidc/callback`` checks its answer and signs
the user in exactly as the password does (the same session cookie and token, with the
account's ``token_version`` and roles). Without ``OIDC_ISSUER`` both answer 404."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from services.gateway.accounts import GATEWAY_ACTOR
from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, ServiceUnavailable
from services.gateway.oidc import (
    COOKIE_PATH, STATE_COOKIE, STATE_MINUTES, OidcClient, OidcError, ProviderUnavailable,
)
from services.gateway.web.common import BASE, WebRoute, _secure, render, set_session
from services.gateway.web.pages_common import HOME
from shared.contracts.requests.accounts import LoginExternal

log = logging.getLogger(__name__)
router = APIRouter(route_class=WebRoute)

NOT_OPENED = "该统一身份认证账号未在本系统开通，请联系管理员"
LINKED_ELSEWHERE = "该账号已关联其他统一身份认证账号，请联系管理员"
FAILED = "统一身份认证登录未完成，请重新登录"
UNREACHABLE = "统一身份认证服务暂时无法访问，请稍后再试或使用用户名和密码登录"


def _client(request: Request) -> OidcClient:
    client = getattr(request.app.state, "oidc", None)
    if client is None:
        raise HTTPException(404, "single sign-on is not configured")
    return client


def _base_url(request: Request) -> str:
    return (request.app.state.settings.public_base_url or str(request.base_url)).rstrip("/")


def _refused(request: Request, message: str, status_code: int) -> Response:
    response = render(request, "login.html", {"error": message, "username": ""},
                      status_code=status_code)
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    return response


@router.get(f"{BASE}/login/oidc")
async def start(request: Request) -> Response:
    client = _client(request)
    try:
        url, cookie = await client.start(_base_url(request))
    except ProviderUnavailable as exc:
        log.error("single sign-on: %s", exc)
        return _refused(request, UNREACHABLE, 502)
    response = RedirectResponse(url, status_code=303)
    # SameSite=Lax: the provider's redirect back (a top-level GET from its site) carries it
    response.set_cookie(STATE_COOKIE, cookie, path=COOKIE_PATH, max_age=STATE_MINUTES * 60,
                        httponly=True, samesite="lax", secure=_secure(request))
    return response


@router.get(f"{BASE}/login/oidc/callback")
async def callback(request: Request) -> Response:
    client = _client(request)
    params = request.query_params
    if params.get("error"):  # the user said no at the provider, or it refused the request
        log.info("single sign-on: the provider answered %s", params.get("error"))
        return _refused(request, FAILED, 401)
    try:
        identity = await client.finish(_base_url(request), request.cookies.get(STATE_COOKIE),
                                       params.get("state"), params.get("code"))
    except ProviderUnavailable as exc:
        log.error("single sign-on: %s", exc)
        return _refused(request, UNREACHABLE, 502)
    except OidcError as exc:
        log.warning("single sign-on refused: %s", exc)
        return _refused(request, FAILED, 401)
    auth = request.app.state.authenticator
    try:  # the accounts service decides which account the identity is
        found = await auth.accounts.services.send(
            LoginExternal(issuer=identity.issuer, sub=identity.subject,
                          username=(identity.username or "")[:100] or None),
            Principal(**GATEWAY_ACTOR))
    except ServiceFailure as exc:
        code = exc.reply.get("status")
        if code in (401, 409):
            log.info("single sign-on: %s of %s refused: %s", identity.subject,
                     identity.issuer, exc.reply.get("detail"))
            return _refused(request, NOT_OPENED if code == 401 else LINKED_ELSEWHERE, 403)
        raise
    except ServiceUnavailable:
        raise
    user = Principal(**found["principal"], roles=tuple(found["roles"]),
                     must_change_password=found["must_change_password"])
    auth.accounts.forget(user.username)  # its status is asked for at the next request
    if user.role not in HOME:
        return _refused(request, NOT_OPENED, 403)
    home = f"{BASE}/me/password" if user.must_change_password else HOME[user.role]
    # A page that moves on by itself rather than a redirect: the session cookie is
    # SameSite=Strict, and a browser does not send it on a redirect chain that began on the
    # provider's site; a navigation from this page is the site's own.
    response = render(request, "sso_done.html", {"home": home})
    set_session(request, response, auth.issue(user, str(found["token_version"])),
                int(auth.ttl.total_seconds()))
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    return response

"""Single sign-on in a real browser (Chromium): the sign-in page's button, the provider's form
(oidc-provider-mock on localhost, another site than the gateway on 127.0.0.1) and back. What
an HTTP client cannot show: the browser carries the SameSite=Lax state cookie through the
provider's redirect, and the SameSite=Strict session cookie works once the gateway's own page
has moved on (a redirect chain begun at the provider would not carry it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import oidc_provider_mock
import pytest

from tests.browser.live import LiveSystem


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def sso_system(provider) -> Iterator[LiveSystem]:
    """A live system whose gateway signs in through the provider (GatewaySettings reads the
    environment while the system starts)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OIDC_ISSUER", provider)
        env.setenv("OIDC_CLIENT_ID", "duty-gateway")
        env.setenv("OIDC_CLIENT_SECRET", "client-secret-2026")
        system = LiveSystem().start()
    yield system
    system.stop()


def test_an_office_clerk_signs_in_through_the_provider_in_a_browser(browser, provider,
                                                                       sso_system):
    r = httpx.put(f"{provider}/users/{quote('u-office-1001')}",
                  json={"preferred_username": "office", "name": "王主任"})
    assert r.status_code == 204
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{sso_system.base_url}/app/login")
        page.get_by_role("link", name="统一身份认证登录").click()
        page.wait_for_url(re.compile(rf"^{re.escape(provider)}/oauth2/authorize"))
        page.get_by_placeholder("sub").fill("u-office-1001")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{sso_system.base_url}/app/board")
        assert page.get_by_role("heading", name="进度看板").count() >= 1
        # the session holds on the next page too
        page.goto(f"{sso_system.base_url}/app/")
        page.wait_for_url(f"{sso_system.base_url}/app/board")

        # an identity without an account: refused in Chinese, no session
        r = httpx.put(f"{provider}/users/{quote('u-nobody')}",
                      json={"preferred_username": "nobody-here"})
        assert r.status_code == 204
        other = browser.new_context(locale="zh-CN")
        try:
            page = other.new_page()
            page.goto(f"{sso_system.base_url}/app/login")
            page.get_by_role("link", name="统一身份认证登录").click()
            page.get_by_placeholder("sub").fill("u-nobody")
            page.get_by_role("button", name="Authorize").click()
            page.wait_for_url(re.compile(r"/app/login/oidc/callback"))
            assert page.get_by_role("alert").inner_text() == \
                "该统一身份认证账号未在本系统开通，请联系管理员"
            assert not [c for c in other.cookies() if c["name"] == "duty_session"]
        finally:
            other.close()
    finally:
        context.close()

"""/docs (Swagger UI) and /redoc render in Chromium with every outside host blocked, as on an
isolated government network (issue 31): each request not to the gateway on 127.0.0.1 is
aborted by Playwright's route interception and recorded. The pages must render the API (its
title and its operations) and must not even try an outside host (the one outside reference in
ReDoc's bundle, its attribution logo, is refused by the pages' Content-Security-Policy)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import ARTIFACTS, screenshot

TITLE = "Deputy liaison platform — gateway API"


@pytest.fixture
def isolated_page(browser):
    """A page whose every request to a host other than 127.0.0.1 is aborted."""
    blocked: list[str] = []
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)

    def route(route):
        url = route.request.url
        if url.startswith(("data:", "about:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append((request.url, request.failure)))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, blocked, failed, errors
    context.close()


def test_swagger_ui_renders_with_every_outside_host_blocked(live, isolated_page):
    page, blocked, failed, errors = isolated_page
    page.goto(f"{live.base_url}/docs")
    page.locator(".swagger-ui .info .title").filter(has_text=TITLE).wait_for()
    operations = page.locator(".swagger-ui .opblock")
    operations.first.wait_for()
    # the operations render tag by tag: wait for more than a few (the API has well over 20)
    # Swagger UI renders the tags' sections as they come into view: a page tall enough for
    # the first few dozen operations
    page.set_viewport_size({"width": 1280, "height": 6000})
    for _ in range(100):
        if operations.count() > 20:
            break
        page.wait_for_timeout(100)
    assert operations.count() > 20
    # an operation opens and shows its parameters, all from the gateway's own openapi.json
    page.locator(".opblock-summary-path", has_text="/api/v1/suggestions/{suggestion_id}"
                 ).first.click()
    page.locator(".opblock.is-open .parameters").first.wait_for()
    screenshot(page, "api-docs-swagger-isolated")
    assert blocked == [], f"/docs asked outside hosts: {blocked}"
    assert failed == [] and errors == [], (failed, errors)


def test_redoc_renders_with_every_outside_host_blocked(live, isolated_page):
    page, blocked, failed, errors = isolated_page
    page.goto(f"{live.base_url}/redoc")
    page.get_by_role("heading", name=TITLE).first.wait_for()
    page.locator("[data-section-id^='operation/']").first.wait_for()
    assert page.locator("[data-section-id^='operation/']").count() > 20
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the viewport: the whole page is very tall
    page.screenshot(path=str(ARTIFACTS / "api-docs-redoc-isolated.png"))
    assert blocked == [], f"/redoc asked outside hosts: {blocked}"
    # ReDoc's bundle names its attribution logo on cdn.redoc.ly: the page's
    # Content-Security-Policy refuses it in the browser, before any request goes out
    assert all(failure == "csp" for _url, failure in failed), failed
    assert errors == [], errors

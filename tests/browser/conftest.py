"""Browser tests of the staff web application (/app/): Debian's Chromium, headless, driven by
Playwright for Python against the whole system on a real HTTP port.

Chromium comes from Debian's packages (``make test`` installs it when missing); Playwright's
own browser download is never used. Without /usr/bin/chromium these tests are skipped with
that reason. Screenshots are written to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.live import LiveSystem

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(
                    reason=f"Chromium is not installed at {CHROMIUM} "
                           "(apt-get install -y chromium; `make test` does it)"))


@pytest.fixture(scope="package")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem(manual_routing=("rule-ecology",)).start()
    yield system
    system.stop()


# Package scope: Playwright's sync API runs an event loop of its own, which must be gone
# before the asyncio tests of the other packages run.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def outside_requests() -> list[str]:
    """Every request any page made to somewhere other than the gateway (must stay empty)."""
    return []


@pytest.fixture
def sign_in(browser, live, outside_requests) -> Iterator[Callable[..., object]]:
    """Open a new browser context and sign in through the form as a development user
    (on the package's live system, or on another one given by ``system``)."""
    contexts = []

    def open_as(username: str, system: LiveSystem | None = None, **context_options: object):
        base_url = (system or live).base_url
        context = browser.new_context(locale="zh-CN", accept_downloads=True, **context_options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("request", lambda request: None if request.url.startswith(base_url)
                or request.url.startswith(("data:", "about:")) else outside_requests.append(request.url))
        page.goto(f"{base_url}/app/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(username)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(re.compile(r"/app/(board|unit|deputy|station)$"))
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert outside_requests == [], f"pages loaded assets from outside the gateway: {outside_requests}"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

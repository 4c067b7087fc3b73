"""Reporting to voters in the browser, through the UI: the office schedules a deputy's report
(a missing field is named in Chinese; then the participants' QR codes are shown once, to
print), records it held; participants evaluate on the QR page on a phone without an account
(a code used again is refused); the office closes the evaluation and reads the summary and
the basis; the deputy finds the report among theirs. axe-core finds no serious or critical
violation on the pages."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def open_as(browser, live, outside_requests):
    """A browser context signed in as a development user with a session from the API's
    token (``None``: a participant without an account)."""
    contexts = []

    def open_page(username: str | None, **options):
        context = browser.new_context(locale="zh-CN", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        if username:
            context.add_cookies([{"name": "duty_session", "value": live.token(username),
                                  "domain": "127.0.0.1", "path": "/app", "httpOnly": True,
                                  "sameSite": "Strict"}])
        page = context.new_page()
        page.on("request", lambda request: None if request.url.startswith(live.base_url)
                or request.url.startswith(("data:", "about:"))
                else outside_requests.append(request.url))
        if username:
            page.goto(f"{live.base_url}/app/")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert outside_requests == []


def test_the_office_runs_a_report_and_participants_evaluate_it_by_qr_code(live, open_as):
    title = f"李秀英代表向选民述职{str(uuid.uuid4().int)[:5]}"
    office = open_as("office")
    office.get_by_role("link", name="述职评议").click()
    office.get_by_label("述职代表").select_option(value="deputy-2")
    office.get_by_label("述职名称").fill(title)
    office.get_by_label("述职地点").fill("嘉定代表联络站")
    office.get_by_label("参会选民人数（每人一个评议二维码）").fill("2")
    office.get_by_role("button", name="安排述职并生成评议二维码").click()
    expect(office.locator("#r-date")).to_have_attribute("aria-invalid", "true")
    expect(office.locator("#r-date-err")).to_have_text("请填写述职日期")
    expect(office.get_by_label("述职名称")).to_have_value(title)  # what was typed is kept
    office.get_by_label("述职日期").fill("2026-03-02")
    office.get_by_role("button", name="安排述职并生成评议二维码").click()
    cards = office.locator("#qr-cards .qr-card")
    expect(cards).to_have_count(2)
    expect(cards.first.locator("svg")).to_be_visible()
    codes = [re.search(r"评议码 (\S+)", c).group(1) for c in cards.all_inner_texts()]
    no_serious_violations(office, "report codes")
    screenshot(office, "reports-office-codes")

    office.get_by_role("link", name="述职详情").click()
    report_url = office.url
    report_id = report_url.rsplit("/", 1)[1]
    office.get_by_label("参会人数").fill("36")
    office.get_by_role("button", name="记录已述职，开始评议").click()
    expect(office.locator("#report-status")).to_have_text("评议中")
    expect(office.locator("#basis-h")).to_contain_text("履职清单")

    for code, answer in zip(codes, ("满意", "不满意")):
        voter = open_as(None, **PHONE)
        voter.goto(f"{live.base_url}/r/{report_id}?c={code}")
        for legend in ("总体评价", "履职尽责", "联系群众"):
            voter.get_by_role("group", name=legend).get_by_label(answer, exact=True).check()
        voter.get_by_role("button", name="提交评议").click()
        expect(voter.locator("[role=status]")).to_contain_text("评议已提交")
        no_serious_violations(voter, "participant page")
    again = open_as(None, **PHONE)
    again.goto(f"{live.base_url}/r/{report_id}?c={codes[0]}")
    for legend in ("总体评价", "履职尽责", "联系群众"):
        again.get_by_role("group", name=legend).get_by_label("满意", exact=True).check()
    again.get_by_role("button", name="提交评议").click()
    expect(again.locator("[role=alert]")).to_contain_text("已经评议过")

    office.goto(report_url)
    expect(office.locator("#evaluations")).to_have_text("2")
    office.get_by_role("button", name="结束评议").click()
    expect(office.locator("#report-status")).to_have_text("评议已结束")
    expect(office.locator("#summary-table tr[data-question='overall'] .rate")).to_have_text("50.0%")
    no_serious_violations(office, "report summary")
    screenshot(office, "reports-office-summary")

    deputy = open_as("deputy-2", **PHONE)
    deputy.get_by_role("link", name="我的述职").click()
    expect(deputy.locator("#my-reports")).to_contain_text(title)
    expect(deputy.locator("#my-reports")).to_contain_text("总体满意率 50.0%")
    deputy.get_by_role("link", name=title).click()
    expect(deputy.locator("#summary-table")).to_be_visible()
    no_serious_violations(deputy, "deputy report")

"""答复模板 in the browser, through the UI only: the office finds the class-B template of 安全隐患
in the list (filtered), opens it, is refused a text naming an unknown variable (the message
beside the field, what was typed kept), saves a new text whose variables it writes as 〔承诺日期〕,
sees the change in the history (who, before, after) and the service answers the new text; a
unit is refused the page. axe-core finds no serious or critical violation. This module runs
its own system."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.live import LiveSystem

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem().start()
    yield system
    system.stop()


def test_the_office_edits_a_reply_template_with_its_history(live, sign_in):
    before = live.get("office", "/api/v1/reply-templates", category="safety_hazard",
                      result_class="B")["text"]
    page = sign_in("office")
    page.get_by_role("link", name="答复模板").click()
    expect(page.locator("#reply-templates")).to_contain_text("所有类别（默认）")
    no_serious_violations(page, "reply-templates")
    page.locator("#category").select_option(label="安全隐患")
    page.locator("#result_class").select_option(value="B")
    page.get_by_role("button", name="查找").click()
    rows = page.locator("#reply-templates tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("〔承诺日期〕")
    expect(rows.first).to_contain_text("系统初始导入")
    rows.first.get_by_role("link", name="修改").click()

    text = page.get_by_label("模板内容")
    expect(text).to_have_value(before.replace("{title}", "〔标题〕")
                               .replace("{commitment_date}", "〔承诺日期〕")
                               .replace("{details}", "〔具体情况〕"))
    text.fill("关于〔标题〕，计划于{deadline}前整改")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#f-text-error")).to_contain_text("未知的变量")
    expect(page.get_by_label("模板内容")).to_have_value("关于〔标题〕，计划于{deadline}前整改")
    no_serious_violations(page, "reply-template-refused")

    new = "关于《〔标题〕》反映的隐患，〔承办单位〕将于〔承诺日期〕前整改到位。〔具体情况〕"
    page.get_by_label("模板内容").fill(new)
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash")).to_have_text("答复模板已保存")
    last = page.locator("#template-history tbody tr").last
    expect(last).to_contain_text("修改")
    expect(last).to_contain_text("office")
    expect(last.locator("td").nth(3)).to_contain_text("〔承诺日期〕前整改到位")  # before
    expect(last.locator("td").nth(4)).to_have_text(new)
    screenshot(page, "reply-template")
    no_serious_violations(page, "reply-template")

    answered = live.get("unit-a", "/api/v1/reply-templates", category="safety_hazard",
                        result_class="B")
    assert answered["text"] == ("关于《{title}》反映的隐患，{unit_name}将于{commitment_date}"
                                "前整改到位。{details}")

    unit = sign_in("unit-a")
    response = unit.goto(f"{live.base_url}/app/admin/reply-templates")
    assert response is not None and response.status == 403
    expect(unit.get_by_role("link", name="答复模板")).to_have_count(0)

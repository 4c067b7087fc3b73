"""答复模板 in the browser, through the UI only: the office finds the class-B template of 安全隐患
in the list (filtered), opens it, is refused a text naming an unknown variable (the message
beside the field, what was typed kept), saves a new text whose variables it writes as 〔承诺日期〕,
sees the change in the history (who, before, after) and the service answers the new text; a
unit is refused the page. The statistics page (办理统计) selects a term (届) and lists the
follow-up reviews recorded in it (本届以来回头看). axe-core finds no serious or critical
violation. This module runs its own system."""

from __future__ import annotations

import uuid
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


def test_the_statistics_select_a_term_and_list_its_follow_up_reviews(live, sign_in):
    title = f"老旧小区加装电梯{str(uuid.uuid4().int)[:5]}"
    case_id = live.post("deputy-1", "/api/v1/suggestions", {
        "title": title, "body": f"{title}，建议研究解决。", "category": "livelihood",
        "co_signers": []})["id"]
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    task = live.eventually(lambda: live.get("office", "/api/v1/tasks", case_id=case_id))[0]
    unit = task["unit_id"]
    live.post(unit, f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已电话联系"})
    live.post(unit, f"/api/v1/tasks/{task['task_id']}/reply", {
        "result_class": "B", "text": "已列入计划", "commitment_date": "2099-12-31"})
    live.post("office", f"/api/v1/suggestions/{case_id}/reviews/r1",
              {"outcome": "partly_kept", "note": "已开工，尚未完工"})

    page = sign_in("office")
    page.goto(f"{live.base_url}/app/stats")
    reviews = page.locator("#term-reviews")
    expect(page.locator("#reviews-h")).to_have_text("第十七届以来回头看")
    expect(reviews).to_contain_text(title)
    page.get_by_label("届次").select_option(value="term-17")
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#stats-period")).to_contain_text("第十七届：统计 2021-10-01 至")
    row = page.locator("#term-reviews tr", has_text=title)
    expect(row).to_contain_text("部分落实")
    expect(row).to_contain_text("B类答复承诺到期")
    assert int(page.locator("#stat-cases").inner_text()) >= 1
    no_serious_violations(page, "stats-term")

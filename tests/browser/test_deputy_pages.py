"""A deputy on a phone (390×844), through the UI only: home with what needs them now,
submitting a suggestion with a co-signer (a refused form keeps what was typed), reading the
unit's reply in full and rating it, no rating form during re-handling, statuses in Chinese,
and their suggestions page by page. This module runs its own system."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.live import LiveSystem

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
             device_scale_factor=3)
ENGLISH = re.compile(r"\b[A-Za-z_]{3,}\b")


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem().start()
    yield system
    system.stop()


def no_horizontal_scroll(page) -> None:
    scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner == 390, f"horizontal scroll on a phone: {scroll} > {inner}"


def no_english(page) -> None:
    text = page.locator("main").inner_text()
    assert not ENGLISH.findall(text), f"English or raw identifiers on {page.url}: {ENGLISH.findall(text)}"


def replied(live, case_id: str, unit: str, text: str) -> str:
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    task = live.eventually(lambda: [t for t in live.get(unit, "/api/v1/tasks", year="all")
                                    if t["case_id"] == case_id])[0]
    live.post(unit, f"/api/v1/tasks/{task['task_id']}/acknowledge")
    live.post(unit, f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系代表"})
    live.post(unit, f"/api/v1/tasks/{task['task_id']}/reply", {"result_class": "A", "text": text})
    return task["task_id"]


def test_a_deputy_submits_reads_the_reply_in_full_and_rates_on_a_phone(live, sign_in):
    tag = uuid.uuid4().hex[:6]
    page = sign_in("deputy-1", **PHONE)
    expect(page.locator("#now")).to_be_visible()
    no_horizontal_scroll(page)
    no_english(page)

    # Submit with a co-signer; the first try lacks the text and keeps what was typed.
    page.get_by_role("link", name="提交建议").click()
    title = f"社区卫生服务站延长服务时间{tag}"
    page.get_by_label("标题").fill(title)
    page.get_by_label("类别").select_option(label="民生服务")
    page.get_by_label("李秀英").check()
    page.get_by_role("button", name="提交建议").click()
    expect(page.locator("#form-error")).to_contain_text("请填写建议内容")
    expect(page.get_by_label("标题")).to_have_value(title)
    expect(page.get_by_label("李秀英")).to_be_checked()
    expect(page.get_by_label("类别")).to_have_value("livelihood")
    page.get_by_label("建议内容").fill("居民反映下班后无法就诊，建议服务站晚间开放至20时。")
    page.get_by_role("button", name="提交建议").click()
    expect(page.locator(".flash")).to_have_text("已提交建议")
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.locator("#status")).to_have_text("待审核")
    expect(page.locator("main")).to_contain_text("联名代表：李秀英")
    no_horizontal_scroll(page)
    case_id = page.url.rsplit("/", 1)[-1]

    # The unit replies (through the API): the home says a rating is due and shows the
    # reply in full, with the rating form.
    reply_text = f"经研究，自下月起服务站晚间开放至20时，并增加一名值班医生。{tag}" * 3
    replied(live, case_id, "unit-b", reply_text)
    page.goto(f"{live.base_url}/app/deputy")
    expect(page.locator("#due-count")).to_have_text("1")
    due = page.locator(f"#due article[data-id='{case_id}']")
    expect(due.locator(".reply-text")).to_have_text(reply_text)
    no_english(page)
    no_serious_violations(page, "deputy-phone-rating-due")
    screenshot(page, "deputy-phone-rating-due")
    # the result and the handling attitude (办理态度) are rated apart (seed 003); both asked
    due.get_by_role("group", name="对办理结果的评价").get_by_label("基本满意").check()
    due.get_by_label("意见（可选）").fill("希望按期落实")
    due.get_by_role("button", name="提交评价").click()
    attitude = due.get_by_role("group", name="对办理态度的评价")
    expect(attitude.locator("input:invalid")).to_have_count(3)  # the browser asks for it first
    expect(page.locator("#due-count")).to_have_text("1")
    attitude.get_by_label("满意", exact=True).check()
    due.get_by_role("button", name="提交评价").click()
    expect(page.locator(".flash")).to_have_text("已提交评价")
    expect(page.locator("#due-count")).to_have_text("0")
    mine = page.locator(f"#deputy-suggestions article[data-id='{case_id}']")
    expect(mine.locator(".my-rating")).to_have_text("基本满意")
    expect(mine.locator(".my-attitude")).to_have_text("（办理态度：满意）")
    no_horizontal_scroll(page)


def test_no_rating_form_during_re_handling_and_statuses_in_chinese(live, sign_in):
    tag = uuid.uuid4().hex[:6]
    case_id = live.post("deputy-3", "/api/v1/suggestions", {
        "title": f"农贸市场排水改造{tag}", "body": "雨天积水。", "category": "urban_construction",
        "co_signers": []})["id"]
    replied(live, case_id, "unit-a", "已安排改造。")
    live.eventually(lambda: live.call("POST", "deputy-3", f"/api/v1/suggestions/{case_id}/rating",
                                      json={"rating": "unsatisfied"}).status_code == 200)

    page = sign_in("deputy-3", **PHONE)
    page.goto(f"{live.base_url}/app/deputy/suggestions/{case_id}")
    expect(page.locator("#status")).to_have_text("重新办理")
    expect(page.locator("#replies .reply-text")).to_have_text("已安排改造。")
    expect(page.locator("#no-rating")).to_be_visible()
    expect(page.get_by_role("button", name="提交评价")).to_have_count(0)
    no_english(page)
    page.goto(f"{live.base_url}/app/deputy")
    expect(page.locator("#due-count")).to_have_text("0")
    expect(page.locator(f"#deputy-suggestions article[data-id='{case_id}'] .status")).to_have_text("重新办理")
    no_english(page)


def test_the_deputy_s_suggestions_come_page_by_page(live, sign_in):
    tag = uuid.uuid4().hex[:6]
    for i in range(12):
        live.post("deputy-2", "/api/v1/suggestions", {
            "title": f"乡村道路亮化{tag}第{i:02d}段", "body": "夜间无照明。", "category": "urban_construction",
            "co_signers": []})
    total = len(live.get("deputy-2", "/api/v1/suggestions", year="all", limit=100))
    assert 10 < total <= 20
    page = sign_in("deputy-2", **PHONE)
    cards = page.locator("#deputy-suggestions article.suggestion")
    expect(cards).to_have_count(10)
    height = page.evaluate("document.scrollingElement.scrollHeight")
    assert height < 6000, f"the deputy's page is {height} px long"
    page.locator("#next-page").click()
    expect(cards).to_have_count(total - 10)
    expect(page.locator(".pager")).to_contain_text(f"第 11–{total} 件")
    no_english(page)
    no_horizontal_scroll(page)
    no_serious_violations(page, "deputy-phone-page-2")
    screenshot(page, "deputy-phone-page-2")


def test_a_deputy_claims_answers_and_forwards_citizen_messages_on_a_phone(live, sign_in):
    tag = str(uuid.uuid4().int)[:6]
    posted = []
    for text in (f"小区路灯坏了{tag}", f"垃圾站臭味严重{tag}"):
        r = httpx.post(f"{live.base_url}/api/v1/stations/station-fengjie/messages", timeout=10,
                       json={"content": text, "category": "ecology"})
        assert r.status_code == 201, r.text
        posted.append(r.json()["id"])
    page = sign_in("deputy-1", **PHONE)
    for message_id in posted:
        pool = page.locator(f"article[data-pool='{message_id}']")
        pool.get_by_role("button", name="认领").click()
        expect(page.locator(".flash")).to_have_text("已认领留言")
    expect(page.locator("#claimed-count")).to_have_text("2")
    first = page.locator(f"article[data-message='{posted[0]}']")
    first.get_by_label("答复群众").fill("已联系街道，本周内修复。")
    first.get_by_role("button", name="答复").click()
    expect(page.locator(".flash")).to_have_text("已答复群众留言")
    second = page.locator(f"article[data-message='{posted[1]}']")
    second.get_by_label("转交部门").select_option(label="区生态环境局")
    second.get_by_role("button", name="转交").click()
    expect(page.locator(".flash")).to_have_text("已转交部门办理")
    expect(page.locator("#claimed-count")).to_have_text("0")
    assert live.get("office", f"/api/v1/messages/{posted[0]}")["status"] == "answered"
    assert live.get("office", f"/api/v1/messages/{posted[1]}")["unit_id"] == "unit-c"
    no_horizontal_scroll(page)
    no_english(page)


def test_a_deputy_reports_an_activity_with_evidence_and_switches_the_points_year(live, sign_in):
    tag = str(uuid.uuid4().int)[:6]
    page = sign_in("deputy-3", **PHONE)
    page.get_by_role("link", name="报告履职活动").click()
    kind = page.get_by_label("活动类型")
    kind.select_option(index=1)
    chosen = kind.input_value()
    page.get_by_label("活动日期").fill("2026-02-20")
    page.get_by_label("佐证材料（如签到表、照片编号）").fill(f"签到表{tag}")
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator("#form-error")).to_contain_text("请填写活动情况")
    expect(page.get_by_label("活动类型")).to_have_value(chosen)
    expect(page.get_by_label("活动日期")).to_have_value("2026-02-20")
    expect(page.get_by_label("佐证材料（如签到表、照片编号）")).to_have_value(f"签到表{tag}")
    page.get_by_label("活动情况").fill(f"在联络站接待群众 6 人次{tag}")
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".flash")).to_have_text("已报告履职活动，等待审核")
    item = page.locator("#my-activities li", has_text=f"在联络站接待群众 6 人次{tag}")
    expect(item.locator(".status")).to_have_text("待审核")
    expect(item).to_contain_text(f"佐证：签到表{tag}")
    no_english(page)
    no_horizontal_scroll(page)
    no_serious_violations(page, "deputy-activities")

    page.goto(f"{live.base_url}/app/deputy")
    page.get_by_label("年度").select_option("2025")
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#points-h")).to_have_text("2025 年履职积分")

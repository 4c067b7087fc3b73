"""A handling unit's clerk in the browser: the inbox (tabs by state, most urgent first,
search, paging) and the task page with everything needed to act — the suggestion's text,
its deputies and their phones, the co-unit's opinion, previous rounds with the deputy's
rating and comment; a forwarded citizen message with its content; a refused reply that
keeps what was typed; the class-B template with the commitment date filled; overdue said
as 超期 N 个工作日.

This module runs its own system: the last test moves its clock past the deadlines."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
import yaml
from playwright.sync_api import expect

from shared.clock import CHINA_TZ, ManualClock
from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.live import LiveSystem
from tests.harness import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem(clock=ManualClock(START)).start()
    yield system
    system.stop()


def lead_and_co_tasks(live, case_id: str) -> dict[str, dict]:
    def both():
        tasks = live.get("office", "/api/v1/tasks", case_id=case_id)
        roles = {t["role"]: t for t in tasks}
        return roles if {"lead", "co"} <= set(roles) else None
    return live.eventually(both)


def test_the_task_page_has_everything_to_act_and_a_refused_reply_keeps_the_text(live, sign_in):
    tag = uuid.uuid4().hex[:6]
    title = f"社区养老服务站建设{tag}"
    body = f"建议在各社区建设养老服务站，提供助餐、助浴服务。{tag}"
    case_id = live.post("deputy-1", "/api/v1/suggestions", {
        "title": title, "body": body, "category": "grassroots_governance",
        "co_signers": ["deputy-2"]})["id"]
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "red"})
    tasks = lead_and_co_tasks(live, case_id)   # lead 区民政局 (unit-b), co 区住房和城乡建设局
    live.post("unit-a", f"/api/v1/tasks/{tasks['co']['task_id']}/opinion",
              {"text": f"我局可配合提供场地改造支持{tag}"})

    page = sign_in("unit-b")
    page.get_by_label("搜索任务").fill(tag)
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name=re.compile(title)).click()
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.locator("#suggestion-body")).to_have_text(body)
    deputies = page.locator("#deputies")
    expect(deputies.locator("li[data-deputy='deputy-1']")).to_contain_text("王建国（领衔代表）")
    expect(deputies.locator("li[data-deputy='deputy-1'] a.phone")).to_have_attribute(
        "href", "tel:023-56550101")
    expect(deputies.locator("li[data-deputy='deputy-2']")).to_contain_text("李秀英（联名代表）")
    expect(page.locator("#co-opinions")).to_contain_text("区住房和城乡建设局")
    expect(page.locator("#co-opinions")).to_contain_text(f"我局可配合提供场地改造支持{tag}")
    expect(page.locator("#days-left")).to_have_text(re.compile(r"^剩 \d+ 个工作日$"))

    page.get_by_role("button", name="签收").click()
    expect(page.locator(".flash")).to_have_text("已签收")
    page.get_by_label("沟通情况").fill("已电话联系王建国代表。")
    page.get_by_role("button", name="记录沟通").click()
    expect(page.locator(".flash")).to_have_text("已记录办前沟通")

    # Class B without a commitment date: the template leaves a blank to fill, not a variable.
    page.get_by_label("答复类别").select_option("B")
    page.get_by_role("button", name="套用答复模板").click()
    reply = page.get_by_label("答复内容")
    expect(reply).to_have_value(re.compile(f"《{title}》.*____年__月__日前完成"))
    assert "{" not in reply.input_value()
    typed = reply.input_value() + "已列入今年民生实事项目。"
    reply.fill(typed)
    page.get_by_role("button", name="提交答复").click()
    # Refused (B needs a date): the same page, in Chinese, with the text and class kept.
    expect(page.locator("#form-error")).to_contain_text("B 类答复须填写承诺解决日期")
    expect(page.get_by_label("答复内容")).to_have_value(typed)
    expect(page.get_by_label("答复类别")).to_have_value("B")
    assert not re.search(r"[A-Za-z]{4,}", page.locator("#form-error").inner_text())
    no_serious_violations(page, "unit-task-refused-reply")
    screenshot(page, "unit-task-refused-reply")

    # With the date, the template says it in Chinese.
    page.get_by_label("承诺解决日期（B 类必填）").fill("2026-12-30")
    page.get_by_role("button", name="套用答复模板").click()
    expect(page.get_by_label("答复内容")).to_have_value(re.compile("2026年12月30日前完成"))
    page.get_by_label("答复内容").fill(page.get_by_label("答复内容").input_value() + "已立项。")
    page.get_by_role("button", name="提交答复").click()
    expect(page.locator(".flash")).to_have_text("已答复")
    expect(page.locator("#task-status")).to_have_text("已答复")

    # The deputy is not satisfied: the second round shows the first reply, the rating and
    # the comment, and why the task is back.
    live.eventually(lambda: live.call(
        "POST", "deputy-1", f"/api/v1/suggestions/{case_id}/rating",
        json={"rating": "unsatisfied", "comment": f"进度太慢，请加快{tag}"}).status_code == 200)
    live.eventually(lambda: live.get("unit-b", f"/api/v1/tasks/{tasks['lead']['task_id']}")["round"] == 2)
    page.reload()
    first = page.locator("#rounds article[data-round='1']")
    expect(first.locator(".reply-text")).to_contain_text("已立项。")
    expect(first.locator(".rating")).to_contain_text("王建国 评价：不满意")
    expect(first.locator(".comment")).to_have_text(f"进度太慢，请加快{tag}")
    expect(page.locator("#rounds article[data-round='2'] h3")).to_contain_text("重新办理：代表不满意")
    expect(page.locator("#send-reply")).to_be_visible()
    no_serious_violations(page, "unit-task-second-round")
    screenshot(page, "unit-task-second-round")


def test_a_forwarded_citizen_message_shows_its_content_and_asks_for_feedback(live, sign_in):
    station = yaml.safe_load((ROOT / "config" / "stations.yaml").read_text(encoding="utf-8"))[0]
    content = f"小区垃圾站臭味严重，夏天尤其明显。{uuid.uuid4().hex[:6]}"

    r = httpx.post(f"{live.base_url}/api/v1/stations/{station['id']}/messages",
                   json={"content": content, "category": "ecology"}, timeout=10)
    assert r.status_code == 201, r.text
    posted = r.json()
    live.post("deputy-1", f"/api/v1/messages/{posted['id']}/claim")
    live.post("deputy-1", f"/api/v1/messages/{posted['id']}/forward", {"unit_id": "unit-c"})
    task = live.eventually(lambda: [t for t in live.get("unit-c", "/api/v1/tasks", year="all")
                                    if t["case_id"] == posted["id"]])[0]

    page = sign_in("unit-c")
    page.goto(f"{live.base_url}/app/unit/tasks/{task['task_id']}")
    expect(page.locator("#message-content")).to_have_text(content)
    expect(page.locator("#reply-h")).to_have_text("反馈办理结果")
    expect(page.locator("body")).not_to_contain_text("答复代表")
    expect(page.get_by_role("button", name="提交反馈")).to_be_visible()
    no_serious_violations(page, "unit-task-message")
    screenshot(page, "unit-task-message")


def test_the_inbox_pages_and_says_overdue_in_working_days(live, sign_in):
    tag = uuid.uuid4().hex[:5]
    # 21 tasks of 区住房和城乡建设局 (urban construction is assigned at registration).
    for i in range(21):
        case_id = live.post("deputy-3", "/api/v1/suggestions", {
            "title": f"背街小巷路面修补{tag}号{i:02d}", "body": "路面坑洼，雨天积水。",
            "category": "urban_construction", "co_signers": []})["id"]
        live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    live.eventually(lambda: len(live.get("unit-a", "/api/v1/tasks", q=tag, year="all")) == 21)

    page = sign_in("unit-a")
    page.get_by_label("搜索任务").fill(tag)
    page.get_by_role("button", name="搜索").click()
    items = page.locator("#task-list li.task")
    expect(items).to_have_count(20)
    expect(page.locator("#task-tabs a[data-tab='open'] .count")).to_have_text("21")
    expect(page.locator(".pager")).to_contain_text("第 1–20 条，共 21 条")
    page.locator("#next-page").click()
    expect(items).to_have_count(1)
    expect(page.locator(".pager")).to_contain_text("第 21–21 条，共 21 条")
    page.locator("#first-page").click()
    expect(items).to_have_count(20)

    # Three months later every one of them is overdue: said in working days, red first.
    live.clock.set(START + timedelta(days=120))
    page.reload()
    first = items.first
    expect(first).to_have_attribute("data-colour", "red")
    expect(first.locator(".days-left")).to_have_text(re.compile(r"^超期 \d+ 个工作日$"))
    assert "剩 -" not in page.content()
    no_serious_violations(page, "unit-inbox-overdue")
    screenshot(page, "unit-inbox-overdue")

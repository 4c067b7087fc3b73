"""In the browser (Debian's Chromium): the notifications inbox with the header's unread count
and the settings page,
the citizen's follow-up page /f/{token} through to their rating, and the public page of
published results with its search and feed link. Each page is checked with axe-core (the
copy the axe-playwright-python package ships, injected by Playwright: nothing is fetched from
the internet) and must have no serious or critical violation."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.axe import describe, serious_violations
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STATION = "station-fengjie"
PHONE = "13900001111"
NAME = "钱多多"


def no_serious_violations(page, name: str) -> None:
    serious = serious_violations(page)
    assert not serious, f"{name}: {describe(serious)}"


def post_message(live, content: str) -> dict:
    r = httpx.post(f"{live.base_url}/api/v1/stations/{STATION}/messages", timeout=10, json={
        "content": content, "contact_name": NAME, "contact_phone": PHONE})
    assert r.status_code == 201, r.text
    return r.json()


def test_the_inbox_shows_the_unread_count_and_marks_read(live, sign_in):
    # The package's system is shared: other modules' messages at this station also tell
    # deputy-2, and may still be arriving. Read what is there, and count from a settled inbox.
    def unread_now() -> list[dict]:
        return live.get("deputy-2", "/api/v1/notifications", unread="true", limit=100)

    def settled(previous: list[int]):
        count = len(unread_now())
        previous.append(count)
        return len(previous) >= 4 and len(set(previous[-4:])) == 1 and count

    for n in unread_now():
        live.post("deputy-2", f"/api/v1/notifications/{n['id']}/read")
    tag = uuid.uuid4().hex[:6]
    posted = {post_message(live, f"小区门口路灯不亮，夜间出行不便。{tag}")["id"],
              post_message(live, f"公交站台缺少遮雨棚。{tag}")["id"]}

    def told():
        return posted <= {n.get("message_id") for n in unread_now()
                          if n["kind"] == "message_waiting"}
    live.eventually(told, timeout=30)
    counts: list[int] = []
    unread = live.eventually(lambda: settled(counts), timeout=30, interval=0.5)

    page = sign_in("deputy-2")
    link = page.locator("#nav-notifications")
    expect(link).to_contain_text(f"{unread} 条未读")  # the badge, loaded into the header
    link.click()
    page.wait_for_url(re.compile(r"/app/notifications$"))
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    items = page.locator("#notification-list li.unread")
    expect(items).to_have_count(unread)
    expect(items.first).to_contain_text("联络站有新的群众留言待认领")
    no_serious_violations(page, "inbox")
    screenshot(page, "notifications-inbox")

    items.first.get_by_role("button", name=re.compile("标为已读")).click()
    expect(page.get_by_role("status")).to_contain_text("已标为已读")
    expect(page.locator("#notification-list li.unread")).to_have_count(unread - 1)
    expect(page.locator("#nav-notifications")).to_contain_text(f"{unread - 1} 条未读")
    page.locator("#unread-tab").click()
    expect(page.locator("#notification-list li")).to_have_count(unread - 1)
    no_serious_violations(page, "inbox (unread)")

    # the settings: a daily digest and quiet hours; a bad time is said in Chinese, in place
    page.locator("#settings-link").click()
    page.wait_for_url(re.compile(r"/app/notifications/settings$"))
    no_serious_violations(page, "settings")
    page.get_by_label("每日摘要", exact=True).check()
    page.get_by_label("开始").fill("22:00")
    page.get_by_role("button", name="保存设置").click()
    expect(page.locator("#form-error")).to_contain_text("设置未保存")
    expect(page.locator("#quiet_end-error")).to_be_visible()
    no_serious_violations(page, "settings (refused)")
    page.get_by_label("结束").fill("07:30")
    page.get_by_role("button", name="保存设置").click()
    expect(page.get_by_role("status")).to_contain_text("通知设置已保存")
    prefs = live.get("deputy-2", "/api/v1/notifications/preferences")
    assert prefs["email_mode"] == "daily_digest"
    assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:30"}


def test_the_citizen_follows_a_forwarded_message_to_the_feedback_and_rates(live, browser):
    tag = uuid.uuid4().hex[:6]
    message = post_message(live, f"河边护栏松动，存在安全隐患。{tag}")
    token = message["follow_up_token"]
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{live.base_url}/f/{token}")
        expect(page.get_by_role("heading", name="办理进度查询")).to_be_visible()
        expect(page.locator("#not-yet")).to_be_visible()
        expect(page.locator("#rate-form")).to_have_count(0)
        assert PHONE not in page.content() and NAME not in page.content()
        no_serious_violations(page, "follow-up (received)")

        live.post("office", f"/api/v1/messages/{message['id']}/forward", {"unit_id": "unit-a"})

        def task():
            found = [t for t in live.get("unit-a", "/api/v1/tasks", limit=100)
                     if t["case_id"] == message["id"]]
            return found[0] if found else None
        t = live.eventually(task)
        live.post("unit-a", f"/api/v1/tasks/{t['task_id']}/reply",
                  {"result_class": "A", "text": f"已安排加固护栏。{tag}"})

        def feedback():
            r = httpx.get(f"{live.base_url}/api/v1/follow-up/{token}", timeout=10)
            return r.json().get("feedback")
        live.eventually(feedback)
        page.reload()
        expect(page.locator("#feedback")).to_contain_text("区住房和城乡建设局已反馈")
        expect(page.locator("#reply-text")).to_contain_text(f"已安排加固护栏。{tag}")
        expect(page.locator("#rate-form")).to_be_visible()
        no_serious_violations(page, "follow-up (feedback)")
        screenshot(page, "follow-up-feedback")

        page.get_by_role("button", name="满意", exact=True).click()
        expect(page.locator("#result")).to_have_text("感谢您的评价。")
        expect(page.locator("#rate-form")).to_have_count(0)
        page.reload()
        expect(page.locator("#rated")).to_contain_text("满意")
        assert PHONE not in page.content() and NAME not in page.content()

        # the citizen's own notice was recorded for the follow-up token's message
        r = live.get("deputy-1", "/api/v1/notifications")  # not a deputy's: nothing leaks
        assert all(n.get("message_id") != message["id"] or n["kind"] != "citizen_reply"
                   for n in r)
    finally:
        context.close()


def test_the_public_page_lists_searches_and_links_its_feed(live, browser):
    tag = uuid.uuid4().hex[:6]
    title = f"背街小巷照明改造{tag}"
    case_id = live.post("deputy-1", "/api/v1/suggestions", {
        "title": title, "body": f"建议对背街小巷路灯进行改造。联系电话 {PHONE}",
        "category": "livelihood"})["id"]
    number = live.post("office", f"/api/v1/suggestions/{case_id}/register",
                       {"urgency": "blue"})["number"]

    def task():
        found = [t for t in live.get("office", "/api/v1/tasks", case_id=case_id)
                 if t["role"] == "lead"]
        return found[0] if found else None
    t = live.eventually(task)
    live.post(t["unit_id"], f"/api/v1/tasks/{t['task_id']}/contact", {"note": "已联系"})
    live.post(t["unit_id"], f"/api/v1/tasks/{t['task_id']}/reply",
              {"result_class": "A", "text": "已完成改造。"})

    def published():
        r = live.call("POST", "office", f"/api/v1/suggestions/{case_id}/publication",
                      json={"summary": f"已完成背街小巷路灯改造{tag}"})
        return r.status_code == 200 and r.json()
    live.eventually(published)

    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{live.base_url}/public")
        expect(page.get_by_role("heading", name="代表建议和群众留言办理结果公开")).to_be_visible()
        no_serious_violations(page, "public")
        page.get_by_label("查询").fill(tag)
        page.get_by_role("button", name="查询").click()
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(number)
        expect(rows.first).to_contain_text(f"已完成背街小巷路灯改造{tag}")
        assert PHONE not in page.content()
        no_serious_violations(page, "public (search)")
        screenshot(page, "public-results")
        href = page.locator("#feed").get_attribute("href")
        feed = httpx.get(f"{live.base_url}{href}", timeout=10)
        assert feed.status_code == 200 and number in feed.text and PHONE not in feed.text
    finally:
        context.close()

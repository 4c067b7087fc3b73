"""Livelihood-project voting in the browser, through the UI: a deputy votes on a phone (more
choices than the ballot allows are refused in Chinese and kept; then one ballot, after which
the page says only that they voted), the office closes the vote and reads the frozen results,
the unit reports a milestone, and the public page shows the results without names. axe-core
finds no serious or critical violation on the pages."""

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
    token (the pages under test are the projects pages, not the sign-in form)."""
    contexts = []

    def open_page(username: str, **options):
        context = browser.new_context(locale="zh-CN", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        context.add_cookies([{"name": "duty_session", "value": live.token(username),
                              "domain": "127.0.0.1", "path": "/app", "httpOnly": True,
                              "sameSite": "Strict"}])
        page = context.new_page()
        page.on("request", lambda request: None if request.url.startswith(live.base_url)
                or request.url.startswith(("data:", "about:"))
                else outside_requests.append(request.url))
        page.goto(f"{live.base_url}/app/")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert outside_requests == []


def test_a_deputy_votes_on_a_phone_and_the_office_publishes_the_results(live, open_as):
    tag = str(uuid.uuid4().int)[:5]
    titles = [f"老旧小区加装电梯{tag}", f"社区食堂{tag}", f"口袋公园{tag}"]
    ids = [live.post("office", "/api/v1/projects/proposals", {
        "title": t, "description": f"{t}：惠及居民", "unit_id": "unit-a"})["proposal_id"]
        for t in titles]
    ballot = live.post("office", "/api/v1/projects/ballots", {
        "session": "区第七届人民代表大会第五次会议", "year": 2026,
        "title": f"民生实事项目票决{tag}", "max_choices": 2, "seats": 1, "proposal_ids": ids})
    ballot_id = ballot["ballot_id"]
    live.post("office", f"/api/v1/projects/ballots/{ballot_id}/open")

    page = open_as("deputy-1", **PHONE)
    page.get_by_role("link", name="民生实事项目").first.click()
    page.get_by_role("link", name=f"民生实事项目票决{tag}").click()
    for title in titles:  # three where two are allowed
        page.get_by_label(title).check()
    page.get_by_role("button", name="投票").click()
    expect(page.locator("#vote-error")).to_contain_text("最多可以选择 2 个项目")
    expect(page.get_by_label(titles[2])).to_be_checked()  # what was chosen is kept
    page.get_by_label(titles[2]).uncheck()
    page.get_by_role("button", name="投票").click()
    expect(page.locator(".flash-ok").first).to_contain_text("投票成功")
    expect(page.locator("#voted")).to_be_visible()
    expect(page.locator("#vote-form")).to_have_count(0)
    assert not re.search("|".join(titles), page.locator("#voted").inner_text())
    no_serious_violations(page, "deputy ballot")
    screenshot(page, "projects-deputy-voted")

    live.post("deputy-2", f"/api/v1/projects/ballots/{ballot_id}/votes", {"choices": [ids[0]]})

    office = open_as("office")
    office.get_by_role("link", name="民生实事票决").click()
    office.get_by_role("link", name=f"民生实事项目票决{tag}").click()
    expect(office.locator("#voters-count")).to_have_text("2")
    expect(office.locator("#results-table")).to_have_count(0)  # no tally while open
    office.once("dialog", lambda dialog: dialog.accept())
    office.get_by_role("button", name="结束投票并公布结果").click()
    expect(office.locator("#ballot-status")).to_have_text("已结束")
    rows = office.locator("#results-table tbody tr")
    expect(rows).to_have_count(3)
    expect(office.locator(f"#results-table tr[data-id='{ids[0]}'] .votes")).to_have_text("2")
    expect(office.locator(f"#results-table tr[data-id='{ids[1]}'] .votes")).to_have_text("1")
    expect(office.locator(f"#results-table tr[data-id='{ids[0]}']")).to_contain_text("当选")
    no_serious_violations(office, "office ballot results")
    screenshot(office, "projects-office-results")

    # the chosen project: a milestone planned by the office, reported by its unit
    office.get_by_role("link", name="民生实事票决").click()
    office.get_by_role("link", name=titles[0]).click()
    office.get_by_label("节点名称").fill("完成施工招标")
    office.get_by_label("完成期限").fill("2026-06-30")
    office.get_by_role("button", name="添加节点").click()
    expect(office.locator("#milestones")).to_contain_text("完成施工招标")
    unit = open_as("unit-a")
    unit.get_by_role("link", name="民生实事项目").click()
    unit.get_by_role("link", name=titles[0]).click()
    unit.get_by_label("进展情况").fill("已完成招标，6 月开工")
    unit.get_by_label("本节点已完成").check()
    unit.get_by_role("button", name="报告进展").click()
    expect(unit.locator("#milestones .status").first).to_have_text("已完成")
    no_serious_violations(unit, "unit project")

    public = office.context.new_page()
    public.goto(f"{live.base_url}/public/projects")
    expect(public.locator("body")).to_contain_text(titles[0])
    assert "deputy-" not in public.content() and "王建国" not in public.content()

"""交办规则 in the browser, through the UI only: the office finds the economy rule by its
category, opens it, is refused a co-unit that is also the lead unit (the message beside the
field, what was chosen kept), saves 区民政局 as co-unit and the rule no longer automatic, sees
the change in the history (who, before, after) and the service answers the changed rule; adds
a keyword rule ahead of the livelihood rule, moves it down on the list, deletes it after
confirming (a dismissed confirmation deletes nothing); a unit is refused the page. axe-core
finds no serious or critical violation. This module runs its own system."""

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


def test_the_office_edits_a_routing_rule_on_its_page(live, sign_in):
    page = sign_in("office")
    page.get_by_role("link", name="交办规则").click()
    expect(page.locator("#routing-rules")).to_contain_text("rule-safety")
    no_serious_violations(page, "routing-rules")
    page.locator("#category").select_option(label="经济发展")
    page.get_by_role("button", name="查找").click()
    rows = page.locator("#routing-rules tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("区发展和改革委员会")
    rows.first.get_by_role("link", name="rule-economy").click()

    expect(page.get_by_label("主办单位")).to_have_value("unit-d")
    page.get_by_label("区发展和改革委员会", exact=True).check()  # the lead unit as co-unit
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#f-co_units-error")).to_contain_text("主办单位不能同时是协办单位")
    expect(page.get_by_label("区发展和改革委员会", exact=True)).to_be_checked()
    no_serious_violations(page, "routing-rule-refused")

    page.get_by_label("区发展和改革委员会", exact=True).uncheck()
    page.get_by_label("区民政局", exact=True).check()
    page.get_by_label("自动交办").uncheck()
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash")).to_have_text("已保存")
    expect(page.locator("#rule-facts")).to_contain_text("区民政局")
    last = page.locator("#rule-history tbody tr").last
    expect(last).to_contain_text("修改")
    expect(last).to_contain_text("office")
    expect(last).to_contain_text("协办单位：无")
    expect(last).to_contain_text("协办单位：区民政局")
    expect(last).to_contain_text("自动交办：否")
    no_serious_violations(page, "routing-rule")
    screenshot(page, "routing-rule")
    rule = live.get("office", "/api/v1/admin/routing-rules/rule-economy")
    assert (rule["co_units"], rule["automatic"]) == (["unit-b"], False)


def test_the_office_adds_moves_and_deletes_a_rule(live, sign_in):
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/admin/routing-rules")
    page.get_by_label("新规则编号").fill("rule-lift")
    page.get_by_role("button", name="填写新规则").click()
    page.get_by_label("类别").select_option(label="民生服务")
    page.get_by_label("关键词").fill("电梯，加装电梯")
    page.get_by_label("主办单位").select_option(label="区住房和城乡建设局")
    page.get_by_label("位置").select_option(value="rule-livelihood")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash")).to_contain_text("已新建交办规则 rule-lift")
    ids = [r["id"] for r in live.get("office", "/api/v1/admin/routing-rules", limit=100)]
    assert ids.index("rule-lift") == ids.index("rule-livelihood") - 1

    page.get_by_role("link", name="返回交办规则列表").click()
    page.get_by_role("button", name="下移 rule-lift").click()
    expect(page.locator(".flash")).to_contain_text("已下移")
    ids = [r["id"] for r in live.get("office", "/api/v1/admin/routing-rules", limit=100)]
    assert ids.index("rule-lift") == ids.index("rule-livelihood") + 1

    page.get_by_role("link", name="rule-lift").click()
    page.once("dialog", lambda dialog: dialog.dismiss())  # not confirmed: nothing happens
    page.get_by_role("button", name="删除这条规则").click()
    expect(page.locator("#rule-facts")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="删除这条规则").click()
    expect(page.locator(".flash")).to_have_text("已删除交办规则 rule-lift")
    expect(page.locator("#routing-rules")).not_to_contain_text("rule-lift")

    unit = sign_in("unit-a")
    response = unit.goto(f"{live.base_url}/app/admin/routing-rules")
    assert response is not None and response.status == 403

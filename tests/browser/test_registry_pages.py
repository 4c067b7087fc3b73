"""基础数据 in the browser (services/registry/, issue 29 points 1 and 4): the office finds a
deputy by name, creates a unit (an empty name is named beside its field, in Chinese), changes
it and reads the change in its history (who, before, after); on 换届 it opens a new term with
two continuing deputies and the others show as 届满未连任. The list links to 导入/导出. axe-core
finds no serious or critical violation. Its own live system: a term change closes deputies."""

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


def test_the_office_edits_a_record_and_reads_its_history(live, sign_in):
    page = sign_in("office")
    page.get_by_role("link", name="基础数据").click()
    records = page.locator("#registry-records")
    expect(records).to_contain_text("王建国")
    expect(page.get_by_role("link", name="导入/导出")).to_have_attribute(
        "href", "/app/admin/imports")
    page.get_by_label("按编号或名称查找").fill("李秀英")
    page.get_by_role("button", name="查找").click()
    expect(records.locator("tbody tr")).to_have_count(1)
    expect(records).to_contain_text("deputy-2")
    no_serious_violations(page, "基础数据")

    page.get_by_role("link", name="承办单位").click()
    page.get_by_label("新记录编号").fill("unit-web")
    page.get_by_role("button", name="填写新记录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("（新建）")
    page.get_by_label("上级单位").fill("区人民政府")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#f-name-error")).to_have_text("必填")  # the name, beside its field
    page.get_by_label("名称", exact=True).fill("区交通运输局")
    page.get_by_label("办理类别（多个用逗号分隔）").fill("economy")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("已新建")
    expect(page.locator("#registry-facts")).to_contain_text("区交通运输局")

    page.get_by_label("名称", exact=True).fill("区交通局")
    page.get_by_role("button", name="保存").click()
    history = page.locator("#record-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(1)).to_contain_text("修改")
    expect(history.nth(1)).to_contain_text("office")
    expect(history.nth(1)).to_contain_text("名称：区交通运输局")
    expect(history.nth(1)).to_contain_text("名称：区交通局")
    no_serious_violations(page, "基础数据记录")
    screenshot(page, "registry-record")


def test_the_office_opens_a_new_term_with_the_continuing_deputies(live, sign_in):
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/admin/terms")
    expect(page.locator("#terms")).to_contain_text("第十七届（本届）")
    page.get_by_label("编号（如 term-18）").fill("term-18")
    page.get_by_label("名称（如 第十八届）").fill("第十八届")
    page.get_by_label("届数").fill("18")
    page.get_by_label("开始日期（YYYY-MM-DD）").fill("2026-10-01")
    page.get_by_label("王建国（deputy-1）").check()
    page.locator("input[name=continuing][value=deputy-3]").check()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="换届").click()
    expect(page.get_by_role("status")).to_contain_text("连任 2 名，届满未连任 3 名")
    expect(page.locator("#terms")).to_contain_text("第十八届（本届）")
    expect(page.locator("#terms")).to_contain_text("2026-09-30")
    no_serious_violations(page, "换届")
    screenshot(page, "registry-terms")

    page.goto(f"{live.base_url}/app/admin/registry/deputy?active=no")
    rows = page.locator("#registry-records tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("届满未连任")

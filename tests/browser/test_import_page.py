"""名册导入 in the browser (issue 29 point 2): the office opens the page from its menu, checks
a roster with problems (预检: each problem's row, column and message; the counts), is refused
the import of that file (nothing imported), checks and imports the corrected Excel file, and
downloads the deputies' roster, which holds the new deputies. A deputy is refused the page.
axe-core finds no serious or critical violation. Its own live system: the import adds
deputies."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from openpyxl import Workbook
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.live import LiveSystem

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADER = "代表编号,姓名,层级,代表小组,联络站,电话,届次"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem().start()
    yield system
    system.stop()


def roster_xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in [HEADER.split(","), *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def choose(page, name: str, data: bytes, mime: str) -> None:
    page.get_by_label("名册文件").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_the_office_checks_a_roster_then_imports_the_corrected_one(live, sign_in):
    page = sign_in("office")
    page.get_by_role("link", name="名册导入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("名册导入")
    no_serious_violations(page, "名册导入")

    bad = "\r\n".join([HEADER,
                       "web-1,周一,县,城建环保组,station-fengjie,13800000001,第十七届",
                       "web-2,,县,城建环保组,station-fengjie,13800000002,第十七届",
                       "web-3,吴三,村,城建环保组,station-nowhere,123,第十七届"]).encode()
    page.get_by_label("代表", exact=True).check()
    choose(page, "名册.csv", bad, "text/csv")
    page.get_by_role("button", name="预检").click()
    expect(page.get_by_role("heading", level=2, name="预检结果 · 名册.csv")).to_be_visible()
    expect(page.locator("#count-rows")).to_have_text("3")
    expect(page.locator("#count-errors")).to_have_text("4")
    problems = page.locator("#import-problems tbody tr")
    expect(problems).to_have_count(4)
    expect(problems.nth(0)).to_contain_text("3姓名姓名不能为空")
    expect(problems.nth(1)).to_contain_text("4层级")
    expect(problems.nth(2)).to_contain_text("4联络站")
    expect(problems.nth(3)).to_contain_text("4电话")
    expect(page.locator("#import-problems thead")).to_have_text("行列问题")
    no_serious_violations(page, "名册导入·预检")
    screenshot(page, "roster-import-check")

    # 导入 with the problems: refused, nothing imported
    choose(page, "名册.csv", bad, "text/csv")
    page.get_by_role("button", name="导入").click()
    expect(page.locator("#import-error")).to_contain_text("名册有 4 处问题，未导入任何记录")
    expect(page.get_by_role("heading", level=2, name="导入未完成 · 名册.csv")).to_be_visible()

    # the corrected roster, as Excel: checked, then imported
    good = roster_xlsx([
        ["web-1", "周一", "县", "城建环保组", "station-fengjie", "13800000001", "第十七届"],
        ["web-2", "郑二", "县", "城建环保组", "station-fengjie", "13800000002", "第十七届"],
        ["web-3", "吴三", "乡", "民生保障组", "嘉定区菊园新区人大代表实践站", "023-56550109",
         "term-17"]])
    choose(page, "名册.xlsx", good, XLSX)
    page.get_by_role("button", name="预检").click()
    expect(page.locator("#import-ready")).to_contain_text("预检通过")
    expect(page.locator("#count-create")).to_have_text("3")
    expect(page.locator("#import-problems")).to_have_count(0)
    choose(page, "名册.xlsx", good, XLSX)
    page.get_by_role("button", name="导入").click()
    expect(page.locator("#import-done")).to_contain_text("已导入代表名册：共 3 行，新建 3 条")

    # the deputies' roster downloaded holds them, in the import's columns
    with page.expect_download() as download:
        page.locator("#export-links").get_by_role("link", name="CSV").first.click()
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.splitlines()[0] == "代表编号,姓名,层级,代表小组,代表团,选区,联络站,电话,届次"
    assert "web-3,吴三,乡,民生保障组,,,station-jiading,023-56550109,term-17" in text


def test_a_deputy_may_not_open_the_import_page(live, sign_in):
    page = sign_in("deputy-1")
    expect(page.get_by_role("link", name="名册导入")).to_have_count(0)
    response = page.goto(f"{live.base_url}/app/admin/imports")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("此页面仅供")

"""The account pages in the browser, through the UI only: the office user switches to their
administrator role (修改密码 → 切换角色), creates an account on 账号管理 (a weak first password
refused with the field's Chinese message, then created), resets its password, and reads the
account's history; the new user signs in, is sent to 修改密码, and sets a password after
mismatched and weak tries (each refused in Chinese). axe-core finds no serious or critical
violation on each page."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser]


def test_the_administrator_creates_an_account_and_its_holder_changes_the_password(
        live, sign_in, browser):
    username = f"web-clerk-{uuid.uuid4().hex[:6]}"
    page = sign_in("office")
    page.get_by_role("link", name="修改密码").click()
    no_serious_violations(page, "修改密码")
    page.get_by_label("以此角色工作").select_option(value="admin")
    page.get_by_role("button", name="切换").click()
    page.wait_for_url(re.compile(r"/app/admin/accounts$"))
    expect(page.locator(".flash")).to_have_text("已切换为账号管理员")
    no_serious_violations(page, "账号管理")

    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("姓名", exact=True).fill("网页秘书")
    page.get_by_label("初始密码").fill("short")
    page.get_by_label("代表工委").check()
    page.get_by_role("button", name="创建账号").click()
    expect(page.locator("#new-password-error")).to_contain_text("密码至少需要 10 个字符")
    expect(page.get_by_label("用户名", exact=True)).to_have_value(username)  # kept
    page.get_by_label("初始密码").fill("Chushi-2026-mima")
    page.get_by_role("button", name="创建账号").click()
    expect(page.locator(".flash")).to_contain_text(f"已创建账号 {username}")
    expect(page.locator("#account-roles")).to_have_text("代表工委")

    page.get_by_label("新的临时密码").fill("Linshi-2026-mima")
    page.get_by_role("button", name="重置密码").click()
    expect(page.locator(".flash")).to_contain_text("已重置密码")
    expect(page.locator("#account-state")).to_contain_text("下次登录须修改密码")
    history = page.locator("#account-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("创建账号")
    expect(history.nth(1)).to_contain_text("管理员重置密码")
    expect(history.nth(1)).to_contain_text("office")
    no_serious_violations(page, "账号详情")

    # the holder signs in with the temporary password and must change it first
    context = browser.new_context(locale="zh-CN")
    try:
        mine = context.new_page()
        mine.goto(f"{live.base_url}/app/login")
        mine.get_by_label("用户名").fill(username)
        mine.get_by_label("密码").fill("Linshi-2026-mima")
        mine.get_by_role("button", name="登录").click()
        mine.wait_for_url(re.compile(r"/app/me/password$"))
        expect(mine.get_by_role("alert").first).to_contain_text("请先设置新密码")
        mine.goto(f"{live.base_url}/app/board")  # nothing else until then
        expect(mine.get_by_text("请先在“修改密码”页设置新密码")).to_be_visible()
        mine.goto(f"{live.base_url}/app/me/password")

        def change(old: str, new: str, confirm: str | None = None) -> None:
            mine.get_by_label("原密码").fill(old)
            mine.get_by_label("新密码", exact=True).fill(new)
            mine.get_by_label("再次输入新密码").fill(confirm or new)
            mine.get_by_role("button", name="修改密码").click()

        change("Linshi-2026-mima", "Xin-mima-2026", "Xin-mima-2027")
        expect(mine.locator("#confirm-error")).to_have_text("两次输入的新密码不一致")
        change("Linshi-2026-mima", "1234567890")
        expect(mine.locator("#new_password-error")).to_contain_text("不能只由一类字符组成")
        no_serious_violations(mine, "修改密码（有误）")
        change("Linshi-2026-mima", "Xin-mima-2026")
        mine.wait_for_url(re.compile(r"/app/board$"))
        expect(mine.locator(".flash")).to_have_text("密码已修改")
    finally:
        context.close()


def as_administrator(sign_in):
    page = sign_in("office")
    page.get_by_role("link", name="修改密码").click()
    page.get_by_label("以此角色工作").select_option(value="admin")
    page.get_by_role("button", name="切换").click()
    page.wait_for_url(re.compile(r"/app/admin/accounts$"))
    return page


@pytest.fixture
def namesakes(live):
    """25 open deputies sharing a name (more than a search shows), closed again afterwards."""
    tag = uuid.uuid4().hex[:6]
    keys = [f"deputy-ns{tag}{n:02d}" for n in range(25)]

    def put(key: str, n: int, active: bool) -> None:
        record = {"id": key, "name": f"欧阳明{n:02d}", "level": "district", "level_zh": "县",
                  "group": "城建环保组", "station": "station-fengjie",
                  "phone": f"023-565502{n:02d}", "terms": ["term-17"]}
        r = live.call("PUT", "office", f"/api/v1/admin/registry/deputy/{key}",
                      json={"record": record, "active": active})
        assert r.status_code == 200, r.text

    for n, key in enumerate(keys):
        put(key, n, True)
    yield keys
    for n, key in enumerate(keys):
        put(key, n, False)


def test_the_administrator_links_accounts_by_choosing_names_not_typing_ids(
        live, sign_in, namesakes):
    tag = uuid.uuid4().hex[:6]
    page = as_administrator(sign_in)

    # the search box asks the server: 20 matches at most, and says there are more
    r = page.request.get(f"{live.base_url}/app/admin/deputy-search",
                         params={"deputy_q": "欧阳明", "prefix": "new"},
                         headers={"HX-Request": "true"})
    assert r.ok, r.status
    fragment = r.text()
    assert len(re.findall(r'name="deputy_id" value="deputy-ns', fragment)) == 20
    assert "只显示前 20 位相符的代表" in fragment
    page.get_by_label("按姓名或编号查找代表").fill("欧阳明")
    expect(page.locator("#new-deputy-choices input[type=radio]")).to_have_count(21)  # +不关联
    expect(page.locator("#new-deputy-hint")).to_contain_text("只显示前 20 位")

    # a unit clerk: the unit chosen from the list by its name
    clerk = f"web-unit-{tag}"
    page.get_by_label("用户名", exact=True).fill(clerk)
    page.get_by_label("姓名", exact=True).fill("生态环境局联络员")
    page.get_by_label("初始密码").fill("Chushi-2026-mima")
    page.get_by_label("关联单位或联络站").select_option(label="区生态环境局")
    page.get_by_label("承办单位", exact=True).check()
    page.get_by_role("button", name="创建账号").click()
    expect(page.locator(".flash")).to_contain_text(f"已创建账号 {clerk}")
    expect(page.locator("#account-unit")).to_have_text("区生态环境局（编号 unit-c）")
    expect(page.locator("#account-deputy")).to_have_text("无")
    expect(page.get_by_label("关联单位或联络站")).to_have_value("unit-c")  # the link form shows it
    no_serious_violations(page, "账号详情（关联单位）")

    # a deputy's account: the deputy found by name through the search box
    page.get_by_role("link", name="返回账号管理").click()
    deputy = f"web-deputy-{tag}"
    page.get_by_label("用户名", exact=True).fill(deputy)
    page.get_by_label("姓名", exact=True).fill("王建国")
    page.get_by_label("初始密码").fill("Chushi-2026-mima")
    page.get_by_label("按姓名或编号查找代表").fill("王建")
    page.get_by_role("radio", name=re.compile(r"^王建国（编号 deputy-1，")).check()
    no_serious_violations(page, "账号管理（查找代表）")
    screenshot(page, "account-link-choices")
    page.get_by_label("人大代表").check()
    page.get_by_role("button", name="创建账号").click()
    expect(page.locator(".flash")).to_contain_text(f"已创建账号 {deputy}")
    expect(page.locator("#account-deputy")).to_have_text("王建国（编号 deputy-1）")

    # the leader chosen from the list; the history names the link
    page.get_by_label("关联领导或专门委员会").select_option(label="财政经济委员会")
    page.get_by_role("button", name="保存关联").click()
    expect(page.locator(".flash")).to_have_text("已更新关联")
    expect(page.locator("#account-leader")).to_have_text("财政经济委员会（编号 committee-1）")
    expect(page.locator("#account-deputy")).to_have_text("王建国（编号 deputy-1）")  # kept
    expect(page.locator("#account-history tbody tr").last).to_contain_text(
        "领导：财政经济委员会（编号 committee-1）")

    # an id no list offers (a forged form) is refused beside its field, the choice kept
    page.locator("#link-unit_id option[value='unit-a']").evaluate("o => o.value = 'unit-nobody'")
    page.get_by_label("关联单位或联络站").select_option(value="unit-nobody")
    page.get_by_role("button", name="保存关联").click()
    expect(page.locator("#link-unit_id-error")).to_have_text(
        "没有编号为 unit-nobody 的单位或联络站，请从列表中选择")
    expect(page.get_by_label("关联领导或专门委员会")).to_have_value("committee-1")
    expect(page.get_by_role("radio", name=re.compile("^王建国"))).to_be_checked()
    expect(page.locator("#account-unit")).to_have_text("无")  # nothing was saved
    no_serious_violations(page, "账号详情（关联有误）")

    page.get_by_role("link", name="返回账号管理").click()
    page.get_by_label("用户名", exact=True).fill(f"web-forged-{tag}")
    page.get_by_label("初始密码").fill("Chushi-2026-mima")
    page.get_by_label("按姓名或编号查找代表").fill("王建国")
    radio = page.get_by_role("radio", name=re.compile("^王建国"))
    radio.evaluate("r => r.value = 'deputy-nobody'")
    radio.check()
    page.get_by_label("人大代表").check()
    page.get_by_role("button", name="创建账号").click()
    expect(page.locator("#new-deputy_id-error")).to_have_text(
        "没有编号为 deputy-nobody 的代表，请从查找结果中选择")
    expect(page.get_by_label("用户名", exact=True)).to_have_value(f"web-forged-{tag}")
    expect(page.get_by_label("按姓名或编号查找代表")).to_have_value("王建国")
    page.goto(f"{live.base_url}/app/admin/accounts?q=web-forged-{tag}")
    expect(page.locator("table tbody")).to_have_text("没有找到账号")  # nothing was created

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

"""The office's administrative pages in the browser, through the UI only: 积分管理 (a
deputy's ledger of a year; revoking an award line asks first — dismissed, nothing happens —
and then records a revocation line with its reason), 个人信息 (the messages list, a
message's contact details read with a stated purpose and that read in the access log; the
erasure refused without the typed confirmation phrase, keeping what was typed, then done),
and 联络站二维码 (every station's QR code on one printable page, one station alone, the
print button). axe-core finds no serious or critical violation on each. This module runs its
own system."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.live import LiveSystem
from tests.harness import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STATIONS = yaml.safe_load((ROOT / "config" / "stations.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem().start()
    yield system
    system.stop()


def test_revoking_a_points_line_asks_first_and_records_the_reason(live, sign_in):
    title = f"社区养老服务站建设{str(uuid.uuid4().int)[:5]}"
    case_id = live.post("deputy-1", "/api/v1/suggestions", {
        "title": title, "body": f"{title}，建议研究解决。", "category": "livelihood",
        "co_signers": []})["id"]
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})

    def awarded() -> list[dict]:
        points = live.get("office", "/api/v1/deputies/deputy-1/points", limit=500)
        return [line for line in points["lines"] if line.get("case_id") == case_id
                and line["type"] == "award"]
    line_no = live.eventually(awarded)[0]["line_no"]

    page = sign_in("office")
    page.get_by_role("link", name="积分管理").click()
    page.get_by_label("代表").select_option(value="deputy-1")
    page.get_by_role("button", name="查看").click()
    row = page.locator(f"#ledger tr[data-line='{line_no}']")
    while not row.count() and page.locator("#next-page").count():
        page.locator("#next-page").click()
    expect(row).to_contain_text(title)
    expect(row.locator(".state")).to_have_text("有效")
    total_before = float(page.locator("#points-total").inner_text())

    row.get_by_text("撤销此条").click()
    row.get_by_label("撤销理由").fill("同一事项重复登记")
    page.once("dialog", lambda dialog: dialog.dismiss())        # not confirmed: nothing happens
    row.get_by_role("button", name="确认撤销").click()
    expect(row.locator(".state")).to_have_text("有效")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="确认撤销").click()
    expect(page.locator(".flash")).to_have_text(f"已撤销第 {line_no} 条积分")
    expect(page.locator("#points-deputy")).to_have_value("deputy-1")
    row = page.locator(f"#ledger tr[data-line='{line_no}']")
    while not row.count() and page.locator("#next-page").count():
        page.locator("#next-page").click()
    expect(row.locator(".state")).to_contain_text("已撤销")
    revocation = live.eventually(lambda: [
        line for line in live.get("office", "/api/v1/deputies/deputy-1/points", limit=500)["lines"]
        if line.get("refers_to_line") == line_no])[0]
    assert revocation["reason"] == "同一事项重复登记"
    page.goto(page.url.split("&cursor")[0])
    assert float(page.locator("#points-total").inner_text()) < total_before
    no_serious_violations(page, "office-points")
    screenshot(page, "office-points")


def test_a_line_revoked_meanwhile_is_refused_in_chinese(live, sign_in):
    title = f"农村道路安装护栏{str(uuid.uuid4().int)[:5]}"
    case_id = live.post("deputy-2", "/api/v1/suggestions", {
        "title": title, "body": f"{title}，建议研究解决。", "category": "livelihood",
        "co_signers": []})["id"]
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    line = live.eventually(lambda: [
        line for line in live.get("office", "/api/v1/deputies/deputy-2/points", limit=500)["lines"]
        if line.get("case_id") == case_id and line["type"] == "award"])[0]

    page = sign_in("office")
    page.get_by_role("link", name="积分管理").click()
    expect(page.locator("#deputies a").first).to_contain_text("积分明细")
    page.get_by_label("代表").select_option(value="deputy-2")
    page.get_by_role("button", name="查看").click()
    row = page.locator(f"#ledger tr[data-line='{line['line_no']}']")
    while not row.count() and page.locator("#next-page").count():
        page.locator("#next-page").click()
    row.get_by_text("撤销此条").click()
    row.get_by_label("撤销理由").fill("与活动登记重复")
    live.post("office", "/api/v1/deputies/deputy-2/points/revocations", {
        "year": live.get("office", "/api/v1/deputies/deputy-2/points")["year"],
        "line_no": line["line_no"], "reason": "另一位工作人员已撤销"})
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="确认撤销").click()
    expect(page.locator(".flash-error")).to_have_text("未完成：这条积分已经撤销过")


def test_contact_details_are_read_with_a_purpose_logged_and_erased_after_confirming(live, sign_in):
    tag = str(uuid.uuid4().int)[:6]
    content = f"楼道堆放杂物存在消防隐患{tag}"
    r = httpx.post(f"{live.base_url}/api/v1/stations/{STATIONS[0]['id']}/messages", timeout=10,
                   json={"content": content, "category": "ecology", "contact_name": "张先生",
                         "contact_phone": "13912345678"})
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]

    page = sign_in("office")
    page.get_by_role("link", name="个人信息").click()
    page.get_by_label("搜索留言").fill(tag)
    page.get_by_role("button", name="搜索").click()
    row = page.locator(f"#personal-messages tr[data-message='{message_id}']")
    expect(row).to_contain_text(content)
    no_serious_violations(page, "office-personal-data")
    row.get_by_role("link", name="访问日志与删除").click()
    expect(page.locator("#message-content")).to_have_text(content)
    expect(page.locator("#no-log")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("13912345678")

    page.get_by_label("查看用途（记入访问日志）").fill("回访核实办理情况")
    page.get_by_role("button", name="查看联系方式").click()
    expect(page.locator("#contact")).to_contain_text("张先生")
    expect(page.locator("#contact")).to_contain_text("13912345678")
    entry = page.locator("#access-log tbody tr")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("代表工委")
    expect(entry).to_contain_text("姓名、电话")
    expect(entry).to_contain_text("回访核实办理情况")
    no_serious_violations(page, "office-message-personal-data")
    screenshot(page, "office-message-personal-data")

    # Without the typed phrase the erasure is refused, and what was typed stays.
    page.get_by_label("确认删除（请输入“确认删除”）").fill("删除")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="删除个人信息").click()
    expect(page.locator(".flash-error")).to_contain_text("确认删除")
    expect(page.get_by_label("确认删除（请输入“确认删除”）")).to_have_value("删除")
    expect(page.locator("#contact-erased")).to_have_count(0)

    page.get_by_label("确认删除（请输入“确认删除”）").fill("确认删除")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="删除个人信息").click()
    expect(page.locator(".flash")).to_have_text("已删除留言人的个人信息（办理记录保留）")
    expect(page.locator("#contact-erased")).to_be_visible()
    expect(page.locator("#message-content")).to_have_text("（已按留言人要求删除）")
    expect(page.get_by_role("button", name="删除个人信息")).to_have_count(0)
    expect(page.locator("#access-log tbody tr")).to_have_count(1)   # the log stays
    erased = live.get("office", f"/api/v1/messages/{message_id}", purpose="核对删除结果")
    assert erased["personal_data_erased"] is True
    assert "张先生" not in str(erased) and "13912345678" not in str(erased)
    screenshot(page, "office-message-erased")


def test_station_qr_codes_print_on_one_page_or_one_by_one(live, sign_in):
    page = sign_in("office")
    page.get_by_role("link", name="联络站二维码").click()
    cards = page.locator("#stations .qr-card")
    expect(cards).to_have_count(len(STATIONS))
    for station in STATIONS:
        card = page.locator(f".qr-card[data-station='{station['id']}']")
        expect(card.get_by_role("heading")).to_have_text(station["name"])
        image = card.get_by_role("img", name=f"{station['name']}留言二维码")
        expect(image).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=image.element_handle())
        qr = page.request.get(live.base_url + image.get_attribute("src"))
        assert qr.ok and qr.headers["content-type"].startswith("image/svg+xml")
    no_serious_violations(page, "office-stations")
    screenshot(page, "office-stations")

    first = STATIONS[0]
    page.locator(f".qr-card[data-station='{first['id']}']").get_by_role(
        "link", name="单独打印").click()
    expect(cards).to_have_count(1)
    expect(cards.get_by_role("heading")).to_have_text(first["name"])
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.get_by_role("button", name="打印本联络站二维码").click()
    assert page.evaluate("window.__printed") is True


def test_the_messages_and_a_ledger_are_paged(live, sign_in):
    tag = str(uuid.uuid4().int)[:6]
    for n in range(21):
        r = httpx.post(f"{live.base_url}/api/v1/stations/{STATIONS[1]['id']}/messages",
                       timeout=10, json={"content": f"夜间施工噪音扰民{tag}第{n:02d}号",
                                         "category": "ecology"})
        assert r.status_code == 201, r.text
    cases = []
    for n in range(21):
        title = f"乡村学校校车配备{tag}第{n:02d}号"
        cases.append(live.post("deputy-3", "/api/v1/suggestions", {
            "title": title, "body": f"{title}，建议研究解决。", "category": "livelihood",
            "co_signers": []})["id"])
        live.post("office", f"/api/v1/suggestions/{cases[-1]}/register", {"urgency": "blue"})
    live.eventually(lambda: live.get("office", "/api/v1/deputies/deputy-3/points",
                                     limit=500)["lines_total"] >= 21)

    page = sign_in("office")
    page.get_by_role("link", name="个人信息").click()
    page.get_by_label("搜索留言").fill(tag)
    page.get_by_role("button", name="搜索").click()
    rows = page.locator("#personal-messages tbody tr")
    expect(rows).to_have_count(20)
    first = set(rows.evaluate_all("rs => rs.map(r => r.innerText)"))
    page.locator("#next-page").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#personal-messages caption")).to_contain_text("第 21–21 条")
    seen = {re.search(r"第\d\d号", text).group(0) for text in
            first | set(rows.evaluate_all("rs => rs.map(r => r.innerText)"))}
    assert seen == {f"第{n:02d}号" for n in range(21)}          # every message once
    page.locator("#first-page").click()
    expect(rows).to_have_count(20)

    page.get_by_role("link", name="积分管理").click()
    page.get_by_label("代表").select_option(value="deputy-3")
    page.get_by_role("button", name="查看").click()
    lines = page.locator("#ledger tbody tr")
    expect(lines).to_have_count(20)
    total = int(live.get("office", "/api/v1/deputies/deputy-3/points")["lines_total"])
    page.locator("#next-page").click()
    expect(lines).to_have_count(total - 20)
    expect(page.locator("#ledger caption")).to_contain_text(f"第 21–{total} 条，共 {total} 条")

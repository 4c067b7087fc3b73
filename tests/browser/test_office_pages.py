"""The office in the browser: one list of every suggestion (declined, merged, reversed and
closed ones included) with tabs, search, a category filter and paging; confirmation before
立案 (dismissed: nothing happens); 办结销号 disabled while items are missing, which are listed
in Chinese; the citizen-message pool with dispatch to a unit; the board's refresh keeps an
opened row open and the keyboard focus where it was, with aria-live only on the counts.
This module runs its own system."""

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


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem(manual_routing=("rule-ecology",)).start()   # ecology: assigned by hand
    yield system
    system.stop()


def submit(live, title: str, category: str = "livelihood", deputy: str = "deputy-1") -> str:
    return live.post(deputy, "/api/v1/suggestions", {
        "title": title, "body": f"{title}，建议研究解决。", "category": category,
        "co_signers": []})["id"]


def test_one_case_list_with_every_status_search_filter_and_paging(live, sign_in):
    tag = str(uuid.uuid4().int)[:5]
    declined = submit(live, f"个人纠纷调解{tag}", "grassroots_governance")
    live.post("office", f"/api/v1/suggestions/{declined}/decline", {"reason": "属于个人诉求"})
    target = submit(live, f"老旧小区加装电梯{tag}", "grassroots_governance")
    merged = submit(live, f"老旧小区电梯加装{tag}", "grassroots_governance", "deputy-2")
    live.post("office", f"/api/v1/suggestions/{merged}/merge", {"into": target})
    reversed_ = submit(live, f"司法诉讼事项{tag}", "economy")
    live.post("office", f"/api/v1/suggestions/{reversed_}/register", {"urgency": "blue"})
    live.post("office", f"/api/v1/suggestions/{reversed_}/registration/reverse",
              {"reason": "误将诉讼事项立案"})
    for i in range(21):
        submit(live, f"社区停车位规划{tag}第{i:02d}号", "urban_construction")

    page = sign_in("office")
    page.goto(f"{live.base_url}/app/office/inbox")
    page.get_by_label("搜索").fill(tag)
    page.get_by_role("button", name="筛选").click()
    rows = page.locator("#cases tbody tr")
    expect(rows).to_have_count(20)                 # 待审核: 21 + the reversed one, page 1
    expect(page.locator("#case-tabs a[data-tab='submitted'] .count")).to_have_text("23")
    # The live system's clock stands still: the 23 were submitted at one moment and are ordered
    # by id, so the reversed one is on either page (it failed now and then on page 1 alone).
    reversed_status = page.locator(f"#cases tr[data-id='{reversed_}'] .status")
    on_first_page = reversed_status.count() == 1
    if on_first_page:
        expect(reversed_status).to_contain_text("曾撤销立案")
    page.locator("#next-page").click()
    expect(rows).to_have_count(3)
    if not on_first_page:
        expect(reversed_status).to_contain_text("曾撤销立案")
    for tab, case_id, status in (("declined", declined, "不予立案"), ("merged", merged, "已并案")):
        page.locator(f"#case-tabs a[data-tab='{tab}']").click()
        expect(rows).to_have_count(1)
        expect(page.locator(f"#cases tr[data-id='{case_id}'] .status")).to_have_text(status)
    page.locator("#case-tabs a[data-tab='submitted']").click()
    page.get_by_label("类别").select_option(label="经济发展")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f"#cases tr[data-id='{reversed_}']")).to_be_visible()
    no_serious_violations(page, "office-case-list")
    screenshot(page, "office-case-list")


def test_registering_asks_first_and_close_out_waits_for_what_is_missing(live, sign_in):
    title = f"菜市场周边交通拥堵{str(uuid.uuid4().int)[:5]}"
    case_id = submit(live, title)
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/office/suggestions/{case_id}")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_label("蓝·一般").check()
    page.get_by_role("button", name="立案", exact=True).click()
    expect(page.locator("#suggestion-status")).to_have_text("待审核")
    assert asked and "确定立案" in asked[0]
    assert live.get("office", f"/api/v1/suggestions/{case_id}")["status"] == "submitted"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="立案", exact=True).click()
    expect(page.locator(".flash")).to_have_text("已立案")

    live.eventually(lambda: live.get("office", "/api/v1/tasks", case_id=case_id))
    page.goto(f"{live.base_url}/app/cases/{case_id}")
    expect(page.locator("#missing")).to_contain_text("主办单位尚未答复")
    expect(page.locator("#close-case")).to_be_disabled()
    no_serious_violations(page, "office-close-out-waiting")
    screenshot(page, "office-close-out-waiting")


def test_the_message_pool_dispatches_a_message_to_a_unit(live, sign_in):
    station = yaml.safe_load((ROOT / "config" / "stations.yaml").read_text(encoding="utf-8"))[0]
    content = f"菜市场油烟扰民{str(uuid.uuid4().int)[:6]}"
    r = httpx.post(f"{live.base_url}/api/v1/stations/{station['id']}/messages", timeout=10,
                   json={"content": content, "category": "ecology"})
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]

    page = sign_in("office")
    page.get_by_role("link", name="群众留言").click()
    item = page.locator(f"article[data-message='{message_id}']")
    expect(item).to_contain_text(content)
    item.get_by_label("转交部门").select_option(label="区生态环境局")
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="转交").click()
    expect(page.locator(".flash")).to_have_text("已转交部门办理")
    page.locator("#message-tabs a[data-tab='forwarded']").click()
    expect(page.locator(f"article[data-message='{message_id}']")).to_contain_text("转交 区生态环境局")
    no_serious_violations(page, "office-messages")
    screenshot(page, "office-messages")


def test_a_message_is_merged_into_a_similar_one_from_its_page_and_the_merge_undone(live, sign_in):
    station = yaml.safe_load((ROOT / "config" / "stations.yaml").read_text(encoding="utf-8"))[0]
    tag = str(uuid.uuid4().int)[:6]
    posted = []
    for content in (f"幸福小区{tag}号楼门口路灯坏了一个星期，晚上漆黑一片，老人出门容易摔倒。",
                    f"幸福小区{tag}号楼前面的路灯不亮了好几天，夜里黑乎乎的走路很危险。"):
        r = httpx.post(f"{live.base_url}/api/v1/stations/{station['id']}/messages", timeout=10,
                       json={"content": content, "category": "safety_hazard"})
        assert r.status_code == 201, r.text
        posted.append(r.json()["id"])
    target, source = posted

    page = sign_in("office")
    page.get_by_role("link", name="群众留言").click()
    page.locator(f"article[data-message='{source}'] a.similar-link").click()
    candidate = page.locator(f"#similar li[data-candidate='{target}']")
    expect(candidate).to_contain_text("很可能是同一事项")
    candidate.get_by_role("radio").check()
    candidate.locator("summary").click()
    expect(candidate.locator(".side-by-side")).to_contain_text("门口路灯坏了")
    no_serious_violations(page, "office-message")
    screenshot(page, "office-message")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="合并到所选留言").click()
    expect(page.locator(".flash")).to_have_text("已合并：本留言随所选留言一并办理")
    expect(page.locator("#message-status")).to_have_text("已合并")
    expect(page.locator("#merged-into a")).to_have_attribute(
        "href", re.compile(f"/app/office/messages/{target}$"))

    # undone with a reason: back in the pool
    page.get_by_label("撤销理由").fill("两条留言说的不是同一栋楼")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="撤销合并").click()
    expect(page.locator(".flash")).to_have_text("已撤销合并，留言回到待认领")
    expect(page.locator("#message-status")).to_have_text("待认领")
    page.goto(f"{live.base_url}/app/office/messages?status=merged")
    expect(page.locator(f"article[data-message='{source}']")).to_have_count(0)


def test_the_board_refresh_keeps_an_opened_row_and_the_focus(live, sign_in):
    title = f"公交站台遮雨棚{str(uuid.uuid4().int)[:5]}"
    case_id = submit(live, title, "safety_hazard")
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "yellow"})
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/board?category=safety_hazard")
    cell = page.locator("#board details.cell", has_text=title)
    expect(cell).to_have_count(1, timeout=20_000)
    live_regions = page.eval_on_selector_all(
        "[aria-live]", "els => els.map(e => e.className + '|' + e.id)")
    assert live_regions and all(r.startswith("totals") for r in live_regions), live_regions
    page.evaluate("window.__swaps = 0; document.addEventListener('htmx:afterSwap', () => window.__swaps++)")
    cell.locator("summary").click()
    link = cell.get_by_role("link", name=re.compile(title))
    link.focus()
    # a refresh changes only what changed (morph swaps): the nodes on screen are kept
    link.evaluate("a => { a.__seen = true; a.closest('details').__seen = true; }")
    page.wait_for_function("window.__swaps >= 2", timeout=20_000)   # two refreshes (5 s each)
    expect(page.locator("#board details.cell", has_text=title)).to_have_attribute("open", "")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == f"/app/cases/{case_id}", focused
    assert page.evaluate("document.activeElement.__seen === true "
                         "&& document.activeElement.closest('details').__seen === true")


def test_a_refused_assignment_keeps_the_chosen_units_and_deadline(live, sign_in):
    title = f"河道漂浮物清理{str(uuid.uuid4().int)[:5]}"
    case_id = submit(live, title, "ecology")
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    live.eventually(lambda: live.get("office", f"/api/v1/suggestions/{case_id}/assignment"))
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/office/suggestions/{case_id}")
    expect(page.locator("#assignment-status")).to_have_text("待交办")
    page.get_by_label("主办单位").select_option(label="区民政局")
    for box in page.locator("input[name=co_unit_ids]").all():
        box.uncheck()
    page.get_by_label("区发展和改革委员会").check()
    page.get_by_label("办理时限（可选，工作日）").fill("2026-03-07")   # a Saturday
    page.get_by_role("button", name="按所选单位交办").click()
    expect(page.locator(".flash-error")).to_contain_text("所选日期不是工作日")
    # The same form, as it was filled in.
    expect(page.get_by_label("主办单位")).to_have_value("unit-b")
    expect(page.get_by_label("区发展和改革委员会")).to_be_checked()
    expect(page.get_by_label("区生态环境局")).not_to_be_checked()
    expect(page.get_by_label("办理时限（可选，工作日）")).to_have_value("2026-03-07")
    assert not re.search(r"[A-Za-z]{3,}", page.locator(".flash-error").inner_text())
    # A page that did not fail forgets it.
    page.reload()
    expect(page.get_by_label("办理时限（可选，工作日）")).to_have_value("")


def test_the_statistics_page_counts_a_replied_case_by_unit(live, sign_in):
    case_id = submit(live, f"人行道破损修复{str(uuid.uuid4().int)[:5]}", "urban_construction")
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    task = live.eventually(lambda: live.get("unit-a", "/api/v1/tasks", case_id=case_id))[0]
    live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/acknowledge")
    live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
    live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/reply", {"result_class": "A", "text": "已修复"})
    expected = live.eventually(lambda: (s := live.get("office", "/api/v1/stats", year="2026"))["cases"] and s)
    page = sign_in("leader")
    page.get_by_role("link", name="办理统计").click()
    expect(page.locator("#stat-cases")).to_have_text(str(expected["cases"]))
    row = page.locator("#stats-units tr[data-unit='unit-a']")
    expect(row).to_contain_text("区住房和城乡建设局")
    expect(row).to_contain_text("100.0%")          # replied on time
    expect(page.locator("svg.chart g.bar")).to_have_count(len(expected["per_unit"]))
    no_serious_violations(page, "stats")
    screenshot(page, "leader-stats")


def test_office_actions_on_the_case_and_suggestion_pages(live, sign_in):
    tag = str(uuid.uuid4().int)[:5]
    case_id = submit(live, f"学校周边交通安全{tag}", "urban_construction")
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "red"})
    task = live.eventually(lambda: live.get("unit-a", "/api/v1/tasks", case_id=case_id))[0]
    page = sign_in("office")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live.base_url}/app/cases/{case_id}")

    # Pause the clock and resume it; designate a leader to lead the case.
    clock = page.locator(f"form[data-task='{task['task_id']}']")
    clock.get_by_label("暂停计时理由").fill("等待代表补充材料")
    clock.get_by_role("button", name="暂停计时").click()
    expect(page.locator(".flash")).to_have_text("已暂停计时")
    expect(page.locator(f"form[data-task='{task['task_id']}']")).to_contain_text("已暂停计时")
    page.locator(f"form[data-task='{task['task_id']}']").get_by_role("button", name="恢复计时").click()
    expect(page.locator(".flash")).to_have_text("已恢复计时")
    page.get_by_label("领导或委员会").select_option(label="副区长")
    page.get_by_label("方式").select_option("lead")
    page.get_by_role("button", name="指定").click()
    expect(page.locator(".flash")).to_have_text("已指定领导领办或督办")
    live.eventually(lambda: live.get("office", f"/api/v1/cases/{case_id}/supervision")["leadership"])
    page.reload()
    expect(page.locator("#leadership")).to_have_text("副区长")

    # A class-B reply schedules a follow-up review (回头看), recorded here.
    live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/acknowledge")
    live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
    live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/reply",
              {"result_class": "B", "text": "已列入计划", "commitment_date": "2026-03-20"})
    live.eventually(lambda: live.get("office", f"/api/v1/cases/{case_id}/supervision")["follow_up_reviews"])
    page.reload()
    review = page.locator("#reviews form").first
    review.get_by_label("已落实").check()
    review.get_by_label("核查情况").fill("护栏已安装完毕")
    review.get_by_role("button", name="记录回头看结果").click()
    expect(page.locator(".flash")).to_have_text("已记录回头看结果")
    expect(page.locator("#reviews")).to_have_count(0)
    no_serious_violations(page, "case-office-actions")

    # Undo a registration and a merge from the suggestion page.
    other = submit(live, f"公园厕所改造{tag}")
    live.post("office", f"/api/v1/suggestions/{other}/register", {"urgency": "blue"})
    page.goto(f"{live.base_url}/app/office/suggestions/{other}")
    page.get_by_label("理由").fill("误将个人诉求立案")
    page.get_by_role("button", name="撤销立案").click()
    expect(page.locator(".flash")).to_have_text("已撤销立案")
    expect(page.locator("#suggestion-status")).to_have_text("待审核")
    target = submit(live, f"菜场扩建{tag}")
    merged = submit(live, f"菜场扩建改造{tag}", deputy="deputy-2")
    live.post("office", f"/api/v1/suggestions/{merged}/merge", {"into": target})
    page.goto(f"{live.base_url}/app/office/suggestions/{merged}")
    page.get_by_label("理由").fill("两件建议诉求不同")
    page.get_by_role("button", name="撤销并案").click()
    expect(page.locator(".flash")).to_have_text("已撤销并案")
    expect(page.locator("#suggestion-status")).to_have_text("待审核")


def test_bulk_registration_and_assignment_from_the_case_list(live, sign_in):
    """批量立案 and 批量交办: ticked rows stay ticked while the list refreshes; each suggestion
    gets its own outcome, and one that another clerk registered meanwhile is refused alone,
    in Chinese."""
    tag = str(uuid.uuid4().int)[:5]
    lamps = [submit(live, f"背街小巷路灯维修{tag}第{i}号") for i in range(3)]
    river = submit(live, f"河道保洁频次{tag}", "ecology")  # ecology: the office assigns by hand
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/office/inbox?status=submitted&q={tag}")
    expect(page.locator("#cases tbody tr")).to_have_count(4)

    page.locator("#bulk-submit").click()  # nothing ticked: said in place, nothing asked
    expect(page.locator("#bulk-error")).to_have_text("请先在列表中勾选要处理的建议。")
    for case_id in (lamps[0], lamps[1], river):
        page.locator(f"#pick-{case_id}").check()
    with page.expect_response(lambda r: "/office/inbox/fragment" in r.url):  # a refresh
        pass
    for case_id in (lamps[0], lamps[1], river):
        expect(page.locator(f"#pick-{case_id}")).to_be_checked()
    expect(page.locator(f"#pick-{lamps[2]}")).not_to_be_checked()
    no_serious_violations(page, "office-bulk-choose")

    live.post("office", f"/api/v1/suggestions/{lamps[1]}/register", {"urgency": "blue"})
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.locator("#bulk").get_by_label("红·紧急").check()
    page.locator("#bulk-submit").click()
    expect(page.locator("#bulk-summary")).to_have_text("已立案 2 件，未完成 1 件（原因见下表）。")
    assert asked and "确定批量立案" in asked[0]
    for case_id in (lamps[0], river):  # with the numbers registration gave them
        row = page.locator(f"#bulk-results tr[data-id='{case_id}']")
        expect(row.locator(".outcome")).to_have_text("已立案")
        expect(row.locator("td").first).to_have_text(re.compile(r"^\d{4}-\d{4,6}$"))
    refused = page.locator(f"#bulk-results tr[data-id='{lamps[1]}'] .outcome")
    expect(refused).to_contain_text("未完成：")
    assert not re.search(r"[A-Za-z]{3,}", refused.inner_text()), refused.inner_text()
    no_serious_violations(page, "office-bulk-result")
    screenshot(page, "office-bulk-result")
    shown = {i: live.get("office", f"/api/v1/suggestions/{i}") for i in (*lamps, river)}
    assert [shown[i]["status"] for i in lamps] == ["registered", "registered", "submitted"]
    assert (shown[lamps[0]]["urgency"], shown[lamps[1]]["urgency"]) == ("red", "blue")
    assert (shown[river]["status"], shown[river]["category"]) == ("registered", "ecology")

    # the river waits for the office (its rule is not automatic): assigned as proposed, in bulk
    page.locator("#back-to-list").click()
    page.goto(f"{live.base_url}/app/office/inbox?status=awaiting&q={tag}")
    expect(page.locator(f"#pick-{river}")).to_be_visible(timeout=20_000)
    page.locator(f"#pick-{river}").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#bulk-submit").click()
    expect(page.locator("#bulk-summary")).to_have_text("已交办 1 件。")
    live.eventually(lambda: live.get("office", "/api/v1/tasks", case_id=river))

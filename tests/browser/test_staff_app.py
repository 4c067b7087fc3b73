"""The staff web application in a real browser (Debian's Chromium, headless, Playwright).

One case goes round the loop through the UI — the office registers and assigns it, the unit
signs for it and replies with the template, the deputy rates, the office closes it — while an
open board page follows the colours and counts by polling. The exports are downloaded and
parsed; the deputy page and the citizen message page (/s/{station}) are checked at phone
size; a monthly dispatch is published over real cases and charts them; form controls have
accessible labels."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from openpyxl import load_workbook
from playwright.sync_api import expect

from shared.clock import CHINA_TZ, ManualClock
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.browser.live import LiveSystem
from tests.harness import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMESTAMPS = ("提交时间", "立案时间", "交办时间", "签收时间", "答复时间", "评价时间", "办结时间")


def submit(live, title: str, category: str, deputy: str = "deputy-1") -> str:
    return live.post(deputy, "/api/v1/suggestions", {
        "title": title, "body": f"{title}。群众反映强烈，建议尽快研究解决。", "category": category,
        "co_signers": []})["id"]


def download(page, selector: str, suffix: str) -> Path:
    """Click an export link; keep the file (named as the server names it) as an artefact."""
    with page.expect_download() as info:
        page.locator(selector).click()
    name = info.value.suggested_filename
    assert name.endswith(suffix), name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    info.value.save_as(path)
    return path


def totals(page) -> dict[str, int]:
    return {c: int(page.locator(f"#total-{c}").inner_text())
            for c in ("green", "yellow", "red", "closed")}


def test_a_case_goes_round_the_loop_in_the_ui_and_the_board_follows(live, sign_in):
    title = f"河道垃圾清理{uuid.uuid4().hex[:4]}"
    case_id = submit(live, title, "ecology")   # ecology is assigned by hand in this system

    # The office keeps the board open (ecology only): it refreshes itself by polling.
    board = sign_in("office")
    board.goto(f"{live.base_url}/app/board?category=ecology")
    expect(board.locator("html")).to_have_attribute("lang", "zh-CN")
    before = totals(board)

    # Inbox → the suggestion → register (立案) with an urgency.
    office = board.context.new_page()
    asked: list[str] = []   # irreversible steps ask for confirmation first (accepted here)
    office.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    office.goto(f"{live.base_url}/app/office/inbox")
    office.get_by_role("link", name=title).click()
    expect(office.locator("#similar-h")).to_be_visible()
    office.get_by_label("红·紧急").check()
    office.get_by_role("button", name="立案", exact=True).click()
    expect(office.locator(".flash")).to_have_text("已立案")
    expect(office.locator("#suggestion-status")).to_have_text("已立案")
    assert asked and "确定立案" in asked[-1], asked

    # Assign (交办): the routing rule proposes 区生态环境局; the office chooses 区民政局 alone.
    live.eventually(lambda: live.get("office", f"/api/v1/suggestions/{case_id}/assignment"))
    office.reload()
    expect(office.locator("#assignment-status")).to_have_text("待交办")
    office.get_by_label("主办单位").select_option(label="区民政局")
    for box in office.locator("input[name=co_unit_ids]").all():
        box.uncheck()
    office.get_by_role("button", name="按所选单位交办").click()
    expect(office.locator(".flash")).to_have_text("已交办")
    expect(office.locator("#assignment-status")).to_have_text("已交办")

    # The board page, untouched, now counts one more green task (htmx polling).
    expect(board.locator("#total-green")).to_have_text(str(before["green"] + 1), timeout=20_000)
    expect(board.locator("#board")).to_contain_text(title)

    # The unit signs for it, records the contact, and replies with the template.
    unit = sign_in("unit-b")
    task_link = unit.get_by_role("link", name=re.compile(title))
    expect(task_link).to_be_visible(timeout=20_000)
    task_link.click()
    unit.get_by_role("button", name="签收").click()
    expect(unit.locator(".flash")).to_have_text("已签收")
    expect(unit.locator("#task-status")).to_have_text("办理中")
    unit.get_by_label("沟通情况").fill("已电话联系王代表，约定现场查看。")
    unit.get_by_role("button", name="记录沟通").click()
    expect(unit.locator(".flash")).to_have_text("已记录办前沟通")
    unit.get_by_label("进展说明").fill("已安排清运。")
    unit.get_by_role("button", name="记录进展").click()
    unit.get_by_label("答复类别").select_option("A")
    unit.get_by_role("button", name="套用答复模板").click()
    expect(unit.get_by_label("答复内容")).to_have_value(re.compile(title))
    reply = unit.get_by_label("答复内容")
    reply.fill(reply.input_value() + "河道垃圾已全部清运，建立了长效保洁机制。")
    unit.get_by_role("button", name="提交答复").click()
    expect(unit.locator(".flash")).to_have_text("已答复")
    expect(unit.locator("#task-status")).to_have_text("已答复")
    screenshot(unit, "unit-task-replied")

    # The deputy rates (满意) on their own page.
    deputy = sign_in("deputy-1")
    card = deputy.locator(f"article.suggestion[data-id='{case_id}']")
    expect(card.get_by_role("button", name="提交评价")).to_be_visible(timeout=20_000)
    card.get_by_role("group", name="对办理结果的评价").get_by_label("满意", exact=True).check()
    card.get_by_role("group", name="对办理态度的评价").get_by_label("基本满意").check()
    card.get_by_role("button", name="提交评价").click()
    expect(deputy.locator(".flash")).to_have_text("已提交评价")
    expect(deputy.locator(f"article.suggestion[data-id='{case_id}'] .my-rating")).to_have_text("满意")

    # The office closes it (办结销号) on the case page, which shows the whole timeline.
    # (after a confirmation: close-out cannot be undone)
    office.goto(f"{live.base_url}/app/cases/{case_id}")
    office.get_by_role("button", name="办结销号").click()
    expect(office.locator(".flash")).to_have_text("已办结销号")
    assert "确定办结销号" in asked[-1], asked
    expect(office.locator("#case-status")).to_have_text("已办结")
    expect(office.locator("#verification")).to_contain_text("审计链校验通过")
    # The milestones in plain words, without the bookkeeping; the audit view has every event.
    milestones = office.locator("#milestones")
    for step in ("代表提交建议", "立案", "答复", "评价", "办结销号"):
        expect(milestones).to_contain_text(step)
    expect(milestones).not_to_contain_text("记录积分事实")
    expect(milestones).not_to_contain_text("关联任务")
    office.get_by_role("link", name="审计记录（全部事件）").click()
    for service in ("intake", "assignment", "supervision", "points"):
        assert office.locator(f"#timeline li[data-service='{service}']").count() > 0, service
    for event in ("Submitted", "Registered", "Replied", "Rated", "Closed"):
        assert office.locator(f"#timeline li[data-event='{event}']").count() > 0, event
    # The points service's own event for this case: the lead deputy's registration points,
    # with who earned them and why.
    awarded = office.locator("#timeline li[data-service='points'][data-event='PointsAwarded']",
                             has_text="suggestion_registered")
    expect(awarded.first).to_contain_text("积分入账")
    expect(awarded.first).to_contain_text(case_id)
    screenshot(office, "case-timeline")

    # ... and the board moves the task from green to closed without a reload.
    expect(board.locator("#total-closed")).to_have_text(str(before["closed"] + 1), timeout=20_000)
    expect(board.locator("#total-green")).to_have_text(str(before["green"]))
    cell = board.locator("details.cell[data-unit='unit-b'][data-category='ecology'][data-colour='closed']")
    expect(cell).to_contain_text(title)
    screenshot(board, "board-after-close")


def test_office_sees_a_registered_case_on_the_board_and_its_timeline(live, sign_in):
    title = f"路灯不亮{uuid.uuid4().hex[:4]}"
    case_id = submit(live, title, "safety_hazard")
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "yellow"})

    page = sign_in("office")
    page.goto(f"{live.base_url}/app/board?category=safety_hazard")
    cell = page.locator("#board details.cell", has_text=title)
    expect(cell).to_have_count(1, timeout=20_000)
    expect(cell).to_have_attribute("data-colour", "green")
    cell.locator("summary").click()
    screenshot(page, "board")
    cell.get_by_role("link", name=re.compile(title)).click()
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.locator("#verification")).to_contain_text("审计链校验通过")
    timeline = page.locator("#milestones")
    expect(timeline).to_contain_text("代表提交建议")
    expect(timeline).to_contain_text("立案")
    expect(timeline).to_contain_text("王建国（人大代表）")
    page.goto(f"{page.url}?view=audit")
    audit = page.locator("#timeline")
    expect(audit).to_contain_text("deputy-1")
    expect(audit.locator("li[data-service='assignment']").first).to_be_visible()


def _closed_case_via_api(live, title: str) -> str:
    case_id = submit(live, title, "urban_construction")   # automatic: 区住房和城乡建设局
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    tasks = live.eventually(lambda: live.get("unit-a", "/api/v1/tasks") and [
        t for t in live.get("unit-a", "/api/v1/tasks") if t["case_id"] == case_id])
    task_id = tasks[0]["task_id"]
    live.post("unit-a", f"/api/v1/tasks/{task_id}/acknowledge")
    live.post("unit-a", f"/api/v1/tasks/{task_id}/contact", {"note": "已联系"})
    live.post("unit-a", f"/api/v1/tasks/{task_id}/reply", {"result_class": "A", "text": "已解决"})
    live.eventually(lambda: live.call("POST", "deputy-1", f"/api/v1/suggestions/{case_id}/rating",
                                      json={"rating": "satisfied"}).status_code == 200)
    live.post("office", f"/api/v1/suggestions/{case_id}/close")
    return case_id


def test_office_downloads_the_ledgers_as_csv_and_xlsx(live, sign_in):
    title = f"危房改造{uuid.uuid4().hex[:4]}"
    case_id = _closed_case_via_api(live, title)
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/board?category=urban_construction")

    text = download(page, "#export-ledger-csv", ".csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    row = next(r for r in rows if r["案件ID"] == case_id)
    assert row["标题"] == title and row["主办单位"] == "区住房和城乡建设局"
    assert row["状态"] == "已办结" and row["答复类别"] == "A" and "满意" in row["代表评价"]
    for column in TIMESTAMPS:
        assert row[column], f"{column} is empty in the CSV ledger: {row}"
    # China time (the services' clock says 09:00 in Shanghai, 01:00 UTC), as the pages show it
    assert row["提交时间"] == "2026-03-02 09:00:00", row["提交时间"]
    for column in ("评价时间", "办结时间"):   # times, not only dates
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[column]), row[column]
    assert row["办理轮次"] == "1"
    assert all(r["类别"] == "城乡建设" for r in rows)   # filtered like the board

    sheet = load_workbook(download(page, "#export-ledger-xlsx", ".xlsx")).active
    header = [c.value for c in sheet[1]]
    records = [dict(zip(header, [c.value for c in r])) for r in sheet.iter_rows(min_row=2)]
    record = next(r for r in records if r["案件ID"] == case_id)
    for column in TIMESTAMPS:
        assert record[column], f"{column} is empty in the Excel ledger: {record}"
    # real dates in Excel, the same moment as the CSV
    assert isinstance(record["办结时间"], datetime), record["办结时间"]
    assert record["办结时间"].strftime("%Y-%m-%d %H:%M:%S") == row["办结时间"]
    assert record["提交时间"] == datetime(2026, 3, 2, 9, 0)

    sheet = load_workbook(download(page, "#export-points-xlsx", ".xlsx")).active
    header = [c.value for c in sheet[1]]
    lines = [dict(zip(header, [c.value for c in r])) for r in sheet.iter_rows(min_row=2)]
    assert any(line["代表ID"] == "deputy-1" and line["来源"] == case_id and line["来由"] == "建议立案"
               for line in lines), lines
    points = list(csv.DictReader(io.StringIO(
        download(page, "#export-points-csv", ".csv").read_text(encoding="utf-8-sig"))))
    assert any(p["来源"] == case_id and p["获得日期"] for p in points)


def test_the_deputy_page_fits_a_phone(live, sign_in, browser):
    submit(live, f"校门口增设护栏{uuid.uuid4().hex[:4]}", "safety_hazard", deputy="deputy-1")
    page = sign_in("deputy-1", viewport={"width": 375, "height": 740}, is_mobile=True,
                   has_touch=True, device_scale_factor=2)
    expect(page.locator("#points-total")).to_be_visible()
    expect(page.locator("#mine-h")).to_be_visible()
    # innerWidth too: a mobile browser widens the layout viewport to fit overflowing content.
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 375, f"horizontal scroll on a phone: {widths}"
    assert page.locator("meta[name=viewport]").get_attribute("content").startswith("width=device-width")
    screenshot(page, "deputy-phone")


LABEL_AUDIT = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""


def test_form_controls_have_accessible_labels(live, sign_in, browser):
    context = browser.new_context(locale="zh-CN")
    login = context.new_page()
    login.goto(f"{live.base_url}/app/login")
    expect(login.get_by_label("用户名")).to_be_editable()
    expect(login.get_by_label("密码")).to_have_attribute("type", "password")
    assert login.evaluate(LABEL_AUDIT) == []
    context.close()

    title = f"公交站台遮雨棚{uuid.uuid4().hex[:4]}"
    submit(live, title, "livelihood")
    office = sign_in("office")
    for path in ("/app/board", "/app/office/inbox", "/app/office/activities", "/app/rankings"):
        office.goto(f"{live.base_url}{path}")
        assert office.evaluate(LABEL_AUDIT) == [], path
    office.goto(f"{live.base_url}/app/office/inbox")
    office.get_by_role("link", name=title).click()
    expect(office.get_by_label("理由（转为意见处理）")).to_be_editable()
    assert office.evaluate(LABEL_AUDIT) == []


def test_rankings_chart_filters_by_group(live, sign_in):
    page = sign_in("office")
    page.goto(f"{live.base_url}/app/rankings")
    rows = page.locator("#rankings tbody tr")
    assert page.locator("svg.chart g.bar").count() == rows.count() >= 3
    page.get_by_label("代表小组").select_option("城建环保组")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"group="))
    # the package's system is shared: other modules add deputies to this group too
    in_group = live.get("office", "/api/v1/rankings", group="城建环保组", limit=500)["rows"]
    filtered = page.locator("#rankings tbody tr")
    assert page.locator("svg.chart g.bar").count() == filtered.count() == len(in_group) >= 2
    assert set(filtered.locator("td:nth-child(3)").all_inner_texts()) == {"城建环保组"}


@pytest.fixture
def march_system() -> Iterator[LiveSystem]:
    """A system of its own whose clock this test moves (the package's system keeps 2026-03-02)."""
    system = LiveSystem(clock=ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ))).start()
    yield system
    system.stop()


def test_a_published_bulletin_charts_the_period_s_tasks(march_system, sign_in):
    live = march_system
    # March 2026: three registered cases, assigned automatically — two to 区住房和城乡建设局
    # (urban construction), one to 区民政局 (livelihood).
    cases = [submit(live, f"{title}{uuid.uuid4().hex[:4]}", category) for title, category in (
        ("小区道路破损", "urban_construction"), ("老旧楼道照明", "urban_construction"),
        ("社区食堂就餐", "livelihood"))]
    for case_id in cases:
        live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})

    def all_tasks():
        tasks = [t for t in live.get("office", "/api/v1/tasks") if t["case_id"] in cases]
        return tasks if {t["case_id"] for t in tasks} == set(cases) else None
    tasks = live.eventually(all_tasks)
    per_unit = Counter(t["unit_id"] for t in tasks)
    assert per_unit == {"unit-a": 2, "unit-b": 1}, per_unit

    # April 1st: March has ended, its dispatch can be published (from the rankings page).
    live.clock.set(datetime(2026, 4, 1, 9, 0, tzinfo=CHINA_TZ))
    page = sign_in("office", system=live)
    page.goto(f"{live.base_url}/app/rankings")
    page.get_by_label(re.compile("发布期间")).fill("2026-03")
    page.get_by_role("button", name="发布通报").click()
    expect(page).to_have_url(re.compile(r"/app/bulletins/2026-03$"))
    expect(page.locator("h1")).to_contain_text("建议办理月度督办通报")
    assert "本期无在办任务" not in page.content()
    expect(page.locator("body")).to_contain_text(f"在办及办结任务共 {len(tasks)} 件")

    # The chart: one stacked bar per unit, labelled, with the unit's task count after it.
    chart = page.locator("svg[role=img][aria-label='各承办单位任务分布']")
    expect(chart).to_be_visible()
    texts = chart.locator("text").all_text_contents()
    names = {"unit-a": "区住房和城乡建设局", "unit-b": "区民政局"}
    for unit, count in per_unit.items():
        assert names[unit] in texts, texts
        assert texts[texts.index(names[unit]) + 1] == str(count), (unit, texts)
    bars = chart.locator("rect:has(title)")
    assert sum(int(t.split()[-1]) for t in bars.locator("title").all_text_contents()) == len(tasks)
    screenshot(page, "bulletin-2026-03")

    page.goto(f"{live.base_url}/app/bulletins/2025-01")
    expect(page.locator("h1")).to_contain_text("尚未发布")


PHONE = {"width": 390, "height": 844}


def test_the_citizen_message_page_works_on_a_phone(live, browser, outside_requests):
    station = yaml.safe_load((ROOT / "config" / "stations.yaml").read_text(encoding="utf-8"))[0]
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True,
                                  has_touch=True, device_scale_factor=3)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.on("request", lambda request: None if request.url.startswith(live.base_url)
                or request.url.startswith(("data:", "about:")) else outside_requests.append(request.url))
        page.goto(f"{live.base_url}/s/{station['id']}")
        expect(page.locator("h1")).to_have_text(station["name"])
        assert page.locator("meta[name=viewport]").get_attribute("content").startswith(
            "width=device-width")

        def no_horizontal_scroll(when: str) -> None:
            # A mobile browser widens the layout viewport (window.innerWidth) to fit content
            # that overflows, so the page must also keep innerWidth at the phone's width.
            scroll, inner, client = page.evaluate(
                "[document.scrollingElement.scrollWidth, window.innerWidth,"
                " document.documentElement.clientWidth]")
            assert scroll <= inner == PHONE["width"] and scroll <= client, \
                f"horizontal scroll on a phone {when}: scrollWidth {scroll}, " \
                f"innerWidth {inner}, clientWidth {client}"

        no_horizontal_scroll("before submitting")
        content = f"小区门口路灯坏了两周，晚上出行不便。{uuid.uuid4().hex[:6]}"
        page.get_by_label("留言内容").fill(content)
        page.get_by_label("类别").select_option(label="安全隐患")
        page.get_by_label("网格").select_option(station["grids"][0])
        page.get_by_label("姓名").fill("李女士")
        page.get_by_label("电话").fill("13812345678")
        with page.expect_response(lambda r: r.url.endswith(
                f"/s/{station['id']}/messages")) as answer:  # the form's post (photos optional)
            page.get_by_role("button", name="提交留言").tap()
        assert answer.value.status == 201, answer.value.text()
        posted = answer.value.json()
        result = page.get_by_role("status")
        expect(result).to_be_visible()
        expect(result).to_contain_text("已收到")
        expect(result).to_contain_text(posted["id"])
        expect(result).to_contain_text(f"查询码：{posted['follow_up_token']}")
        no_horizontal_scroll("after submitting")
        screenshot(page, "citizen-message-phone")

        # The token shown is the one that opens the message: the citizen can follow it up.
        message = httpx.get(f"{live.base_url}/api/v1/messages/{posted['id']}",
                            headers={"X-Follow-Up-Token": posted["follow_up_token"]}, timeout=10)
        assert message.status_code == 200, message.text
        data = message.json()
        assert data["content"] == content and data["station_id"] == station["id"]
        assert data["category"] == "safety_hazard" and data["grid"] == station["grids"][0]
        assert data["contact_phone"] and data["contact_phone"].endswith("5678")
    finally:
        context.close()


def test_session_cookie_and_csrf(live, sign_in):
    page = sign_in("unit-a")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["duty_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    jar = {"duty_session": session["value"], "duty_csrf": cookies["duty_csrf"]["value"]}
    url = f"{live.base_url}/app/logout"
    no_token = httpx.post(url, cookies=jar, headers={"Origin": live.base_url})
    assert no_token.status_code == 403
    other_site = httpx.post(url, cookies=jar, data={"csrf_token": jar["duty_csrf"]},
                            headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    ok = httpx.post(url, cookies=jar, data={"csrf_token": jar["duty_csrf"]},
                    headers={"Origin": live.base_url})
    assert ok.status_code == 303
    # Signed out: the pages send the browser to the sign-in form.
    page.context.clear_cookies()
    page.goto(f"{live.base_url}/app/unit")
    expect(page).to_have_url(re.compile(r"/app/login$"))


def test_office_merges_a_similar_suggestion_and_approves_an_activity(live, sign_in):
    tag = uuid.uuid4().hex[:4]
    first = submit(live, f"老旧小区加装电梯{tag}", "grassroots_governance", deputy="deputy-2")
    second = submit(live, f"老旧小区没有电梯加装{tag}", "grassroots_governance", deputy="deputy-3")
    activity = live.post("deputy-3", "/api/v1/deputies/deputy-3/activities", {
        "kind": "training", "date": "2026-02-20", "description": f"参加代表履职培训{tag}"})
    activity_id = activity.get("activity_id") or activity["id"]
    before = live.get("deputy-3", "/api/v1/deputies/deputy-3/points")["total"]

    page = sign_in("office")
    page.on("dialog", lambda dialog: dialog.accept())   # 并案 asks for confirmation
    page.goto(f"{live.base_url}/app/office/suggestions/{second}")
    similar = page.locator("#similar li", has_text=f"老旧小区加装电梯{tag}")
    expect(similar).to_contain_text(re.compile(r"相似度 \d+%"))
    similar.get_by_label(re.compile(f"老旧小区加装电梯{tag}")).check()
    page.get_by_role("button", name="并案").click()
    expect(page.locator(".flash")).to_have_text("已并案")
    expect(page).to_have_url(re.compile(first))
    assert live.get("office", f"/api/v1/suggestions/{second}")["status"] == "merged"

    page.goto(f"{live.base_url}/app/office/activities")
    item = page.locator(f"li[data-id='{activity_id}']")
    expect(item).to_contain_text(f"参加代表履职培训{tag}")
    item.get_by_role("button", name="通过").click()
    expect(page.locator(".flash")).to_have_text("已通过审核")
    expect(page.locator(f"li[data-id='{activity_id}']")).to_have_count(0)
    live.eventually(lambda: live.get("deputy-3", "/api/v1/deputies/deputy-3/points")["total"] > before)


def test_no_page_loaded_anything_from_outside(outside_requests):
    """Runs last: every page of every test above loaded only from the gateway."""
    assert outside_requests == []

"""Reception sessions and contact obligations in the browser: a citizen books a place on a
station's public reception calendar (/reception/{station_id}) on a phone — booked, the same phone
again refused, then the session full, each said in Chinese — and the office's 联系任务 page
lists the obligations behind the year's pace, and the check tells the deputy once a month
(their inbox).
axe-core finds no serious or critical violation on either page. This module runs its own
system, its clock in November (when the pace asks for every contact)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from playwright.sync_api import expect

from shared.clock import CHINA_TZ, ManualClock
from tests.browser.axe import no_serious_violations
from tests.browser.live import LiveSystem

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def own() -> Iterator[LiveSystem]:
    system = LiveSystem(clock=ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ))).start()
    yield system
    system.stop()


def test_a_citizen_books_a_place_on_the_public_calendar(own, browser):
    session = own.post("station-fengjie", "/api/v1/stations/station-fengjie/sessions", {
        "title": "人大代表接待选民日", "day": "2026-12-20", "starts": "09:00", "ends": "11:30",
        "deputy_ids": ["deputy-1", "deputy-2"], "capacity": 1})
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{own.base_url}/reception/station-fengjie")
        block = page.locator(f".session[data-session='{session['session_id']}']")
        expect(block).to_contain_text("王建国")
        expect(block.locator(".left")).to_have_text("1")
        no_serious_violations(page, "liaison-booking")

        def book(name: str, phone: str) -> None:
            block.get_by_label("姓名").fill(name)
            block.get_by_label("手机号").fill(phone)
            block.get_by_role("button", name="预约本场").click()

        book("李秀梅", "13812345678")
        expect(block.locator(".result")).to_have_text(
            "预约成功：李**，138****5678。请按时到站。")
        expect(block.locator(".left")).to_have_text("0")
        book("李秀梅", "13812345678")
        expect(block.locator(".result")).to_have_text("预约失败：该手机号已预约本场接待。")
        book("赵强", "13900000009")
        expect(block.locator(".result")).to_have_text("预约失败：本场名额已满。")
        page.reload()
        expect(block).to_contain_text("本场已约满")
    finally:
        context.close()
    stored = own.get("office", f"/api/v1/sessions/{session['session_id']}")
    assert [b["phone_masked"] for b in stored["bookings"]] == ["138****5678"]


def test_the_office_sees_who_is_behind_and_the_check_tells_the_deputy(own, sign_in):
    own.post("deputy-1", "/api/v1/obligations/voters:deputy-1/contacts", {
        "counterpart_id": "voter-1-1", "form": "visit", "topic": "了解加装电梯意见",
        "on": "2026-10-20"})
    page = sign_in("office", system=own)
    page.get_by_role("link", name="联系任务").click()
    page.get_by_label("年度").select_option(value="2026")
    page.get_by_role("button", name="查看").click()
    row = page.locator("#obligations tr[data-obligation='voters:deputy-1']")
    expect(row).to_contain_text("王建国")
    expect(row).to_contain_text("1 / 5")
    expect(row).to_contain_text("落后")
    expect(row).to_contain_text("孙*梅（0/1）")
    expect(row).not_to_contain_text("赵*华")
    no_serious_violations(page, "liaison-obligations")
    page.get_by_role("button", name="立即检查并通知落后的代表").click()
    expect(page.locator(".flash")).to_contain_text("已检查")
    expect(page.locator("#obligations tr[data-obligation='voters:deputy-1']")).to_contain_text(
        "已提醒 2026-11")

    def told() -> list[dict]:
        r = httpx.get(f"{own.base_url}/api/v1/notifications",
                      headers={"Authorization": f"Bearer {own.token('deputy-1')}"})
        return [n for n in r.json() if n["kind"] == "obligation_behind"]
    # told once this month (the service's own periodic check may have been first)
    [notice] = own.eventually(told)
    assert "孙*梅（已联系 0 次，全年至少 1 次）" in notice["body"]


def test_station_staff_record_a_walk_in_and_the_attendance_once(own, sign_in):
    session = own.post("station-fengjie", "/api/v1/stations/station-fengjie/sessions", {
        "title": "代表联系服务群众日", "day": "2026-11-16", "starts": "14:00", "ends": "16:00",
        "deputy_ids": ["deputy-1", "deputy-2"], "capacity": 5})
    page = sign_in("station-fengjie", system=own)
    page.goto(f"{own.base_url}/app/station?year=2026")
    page.locator(f"#sessions tr[data-session='{session['session_id']}'] a").click()
    expect(page.locator("h1")).to_contain_text("代表联系服务群众日")
    page.get_by_label("人数").fill("2")
    page.get_by_role("button", name="登记现场来访").click()
    expect(page.locator(".flash")).to_contain_text("已登记现场来访 2 人")
    page.get_by_label("王建国").check()
    page.get_by_label("接待群众人次").fill("2")
    no_serious_violations(page, "liaison-session")
    page.get_by_role("button", name="登记（只能登记一次）").click()
    expect(page.locator("#attendance")).to_contain_text("到站代表：王建国；接待群众 2 人次")
    expect(page.get_by_role("button", name="登记（只能登记一次）")).to_have_count(0)


def test_a_deputy_signs_up_on_the_phone_and_the_office_records_attendance_once(own, sign_in):
    """小组活动: deputy-1 signs up for their group's activity on a phone (and sees it signed
    up); on the day the office ticks the participants once; the deputy's page then shows it
    attended. Runs last in the module: it moves the clock to the activity's day (still
    November)."""
    activity = own.post("office", "/api/v1/group-activities", {
        "group": "城建环保组", "title": "无废社区专题调研", "kind": "topic_research",
        "day": "2026-11-25", "place": "鱼复街道社区服务中心"})
    phone = sign_in("deputy-1", system=own, viewport={"width": 390, "height": 844})
    phone.goto(f"{own.base_url}/app/deputy/group-activities?year=2026")
    card = phone.locator(f"section[data-activity='{activity['activity_id']}']")
    expect(card).to_contain_text("专题调研")
    card.get_by_role("button", name="报名参加").click()
    expect(phone.locator(".flash")).to_contain_text("已报名")
    expect(card.locator(".status")).to_have_text("已报名")
    no_serious_violations(phone, "liaison-deputy-activities")

    own.clock.set(datetime(2026, 11, 25, 17, 0, tzinfo=CHINA_TZ))
    page = sign_in("office", system=own)
    page.get_by_role("link", name="小组活动").click()
    page.locator(f"#activities tr[data-activity='{activity['activity_id']}'] a").click()
    expect(page.get_by_label("王建国（已报名）")).to_be_checked()
    no_serious_violations(page, "liaison-activity")
    page.get_by_role("button", name="登记出勤（只能登记一次）").click()
    expect(page.locator(".flash")).to_contain_text("已登记出勤")
    expect(page.locator("#attendance")).to_contain_text("参加代表：王建国")
    expect(page.get_by_role("button", name="登记出勤（只能登记一次）")).to_have_count(0)

    phone.reload()
    expect(card.locator(".status")).to_have_text("已参加")
    expect(card.get_by_label("调研成果")).to_be_visible()  # a research activity: its findings

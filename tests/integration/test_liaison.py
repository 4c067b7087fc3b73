"""The liaison service through the gateway, with a real nats-server: reception sessions
(booking, walk-ins, attendance, a message raised there linked back, the deputy's reception
points once, the station report) and contact obligations (recorded by either side, seen by
their own deputies, an obligation behind → a notice in the deputy's inbox)."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.clock import CHINA_TZ
from shared.contracts.liaison import GroupActivityAttendedV1, ReceptionAttendedV1
from tests.harness import eventually

STATION = "station-fengjie"


@pytest.fixture
async def liaison(system):
    await system.start("liaison")
    return system


async def schedule(api, **overrides) -> dict:
    body = {"title": "人大代表接待选民日", "day": "2026-03-10", "starts": "09:00",
            "ends": "11:30", "deputy_ids": ["deputy-1", "deputy-2"], "capacity": 2,
            **overrides}
    r = await api.post("station-fengjie", f"/api/v1/stations/{STATION}/sessions", body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_reception_session_from_booking_to_points_and_the_report(api, liaison):
    session = await schedule(api)
    sid = session["session_id"]
    assert session["places_left"] == 2 and session["bookings"] == []

    # public booking: capacity, one booking per phone
    book = f"/api/v1/sessions/{sid}/bookings"
    r = await api.client.post(book, json={"contact_name": "赵小明", "contact_phone": "13812345678"})
    assert r.status_code == 201, r.text
    assert r.json()["name_masked"] == "赵**" and r.json()["phone_masked"] == "138****5678"
    r = await api.client.post(book, json={"contact_name": "赵小明", "contact_phone": "13812345678"})
    assert r.status_code == 409, r.text
    r = await api.client.post(book, json={"contact_name": "钱多", "contact_phone": "13900000001"})
    assert r.status_code == 201, r.text
    r = await api.client.post(book, json={"contact_name": "孙三", "contact_phone": "13900000002"})
    assert r.status_code == 409 and "capacity" in r.json(), r.text
    r = await api.client.post(book, json={"contact_name": "孙三", "contact_phone": "123"})
    assert r.status_code == 422

    # the public calendar shows the places left, no booking
    r = await api.client.get("/api/v1/sessions", params={"station_id": STATION, "year": 2026})
    assert r.status_code == 200, r.text
    [listed] = [s for s in r.json() if s["session_id"] == sid]
    assert listed["places_left"] == 0 and "bookings" not in listed

    # another station's staff can neither record nor read it
    r = await api.post("station-jiading", f"/api/v1/sessions/{sid}/walk-ins", {"people": 1})
    assert r.status_code == 403, r.text
    r = await api.get("station-jiading", f"/api/v1/sessions/{sid}")
    assert r.status_code == 403, r.text
    r = await api.post("station-jiading", f"/api/v1/stations/{STATION}/sessions/{sid}/messages",
                       {"content": "别的站"})
    assert r.status_code == 403, r.text
    # a deputy not on duty does not see it; one on duty does
    assert (await api.get("deputy-3", f"/api/v1/sessions/{sid}")).status_code == 404
    assert (await api.get("deputy-1", f"/api/v1/sessions/{sid}")).status_code == 200

    r = await api.post("station-fengjie", f"/api/v1/sessions/{sid}/walk-ins",
                       {"people": 3, "note": "未预约，现场登记"})
    assert r.status_code == 200 and r.json()["walk_in_people"] == 3, r.text

    # what a citizen raised becomes a citizen message in intake, linked to the session
    r = await api.post("station-fengjie", f"/api/v1/stations/{STATION}/sessions/{sid}/messages", {
        "content": "小区路灯长期不亮，夜间出行不便", "contact_name": "赵小明",
        "contact_phone": "13812345678"})
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]

    async def linked():
        r = await api.get("station-fengjie", f"/api/v1/sessions/{sid}")
        return message_id in r.json()["message_ids"]
    await eventually(linked)
    r = await api.get("office", f"/api/v1/messages/{message_id}")
    assert r.status_code == 200 and r.json()["station_id"] == STATION, r.text

    # attendance, once
    r = await api.post("station-fengjie", f"/api/v1/sessions/{sid}/attendance",
                       {"deputies_present": ["deputy-1"], "people_received": 5})
    assert r.status_code == 200, r.text
    assert [d["deputy_id"] for d in r.json()["attendance"]["deputies_present"]] == ["deputy-1"]
    r = await api.post("station-fengjie", f"/api/v1/sessions/{sid}/attendance",
                       {"deputies_present": ["deputy-1", "deputy-2"], "people_received": 6})
    assert r.status_code == 409, r.text

    # the deputy present scores under the reception rule, once; the absent one does not
    async def reception_lines(deputy: str):
        r = await api.get("office", f"/api/v1/deputies/{deputy}/points", year=2026)
        return [line for line in r.json()["lines"] if line["cause_kind"] == "reception_attended"]
    lines = await eventually(lambda: reception_lines("deputy-1"))
    assert len(lines) == 1 and lines[0]["points"] == 2.0 and lines[0]["cause_ref"] == sid
    assert await reception_lines("deputy-2") == []
    # told again (another notification of the same attendance): nothing more is awarded
    again = ReceptionAttendedV1(
        event_id="liaison:999", case_id=sid, actor={"username": "station-fengjie",
                                                    "role": "station"},
        occurred_at=datetime(2026, 3, 10, 12, tzinfo=CHINA_TZ), source_service="liaison",
        source_notification_id=999, session_id=sid, station_id=STATION, deputy_id="deputy-1",
        held_on="2026-03-10", people_received=5)
    assert liaison.app("points").on_reception_attended(again) == []
    assert len(await reception_lines("deputy-1")) == 1

    # the station report
    r = await api.get("office", "/api/v1/reception-report", station_id=STATION, year=2026)
    assert r.status_code == 200, r.text
    [march] = r.json()["months"]
    assert march["month"] == 3 and march["held"] == 1 and march["on_duty"] == 2
    assert march["present"] == 1 and march["presence_rate"] == 0.5
    assert march["people_received"] == 5 and march["walk_ins"] == 3
    assert march["bookings"] == 2 and march["messages"] == 1
    # another station's staff get their own station's figures only
    r = await api.get("station-jiading", "/api/v1/reception-report", station_id=STATION)
    assert r.status_code == 200 and r.json()["station_id"] == "station-jiading"
    assert r.json()["months"] == []
    assert (await api.get("deputy-1", "/api/v1/reception-report")).status_code == 403


async def test_contact_obligations_progress_and_a_notice_when_behind(api, liaison):
    r = await api.post("deputy-1", "/api/v1/obligations/voters:deputy-1/contacts", {
        "counterpart_id": "voter-1-1", "form": "visit", "topic": "了解加装电梯意见",
        "on": "2026-03-01"})
    assert r.status_code == 201, r.text
    # the grassroots deputy records a contact from their side of the committee member's
    r = await api.post("deputy-1", "/api/v1/obligations/committee:deputy-2/contacts", {
        "counterpart_id": "deputy-1", "form": "phone", "topic": "听取基层意见",
        "on": "2026-03-02"})
    assert r.status_code == 201, r.text
    # not a party, or another counterpart's contact: refused
    r = await api.post("deputy-3", "/api/v1/obligations/voters:deputy-1/contacts", {
        "counterpart_id": "voter-1-1", "form": "visit", "topic": "x", "on": "2026-03-01"})
    assert r.status_code == 403, r.text
    r = await api.post("deputy-3", "/api/v1/obligations/committee:deputy-2/contacts", {
        "counterpart_id": "deputy-1", "form": "visit", "topic": "x", "on": "2026-03-01"})
    assert r.status_code == 403, r.text
    r = await api.post("deputy-1", "/api/v1/obligations/voters:deputy-1/contacts", {
        "counterpart_id": "voter-1-1", "form": "email", "topic": "x", "on": "2026-03-01"})
    assert r.status_code == 422

    # each deputy sees only their own contacts
    mine = (await api.get("deputy-1", "/api/v1/contacts", year=2026)).json()
    assert {c["obligation_id"] for c in mine} == {"voters:deputy-1", "committee:deputy-2"}
    theirs = (await api.get("deputy-3", "/api/v1/contacts", year=2026)).json()
    assert theirs == []
    holder = (await api.get("deputy-2", "/api/v1/contacts", year=2026)).json()
    assert [c["obligation_id"] for c in holder] == ["committee:deputy-2"]
    assert {o["obligation_id"] for o in (await api.get("deputy-3", "/api/v1/obligations")).json()} \
        == {"voters:deputy-3", "committee:deputy-2"}

    # in March nobody is behind yet; in November the pace asks for every contact
    r = await api.post("office", "/api/v1/obligations/check")
    assert r.status_code == 200 and r.json()["noticed"] == [], r.text
    liaison.clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ))
    r = await api.post("office", "/api/v1/obligations/check")
    assert r.status_code == 200, r.text
    assert {"voters:deputy-1", "committee:deputy-2"} <= set(r.json()["noticed"])
    again = await api.post("office", "/api/v1/obligations/check")
    assert again.json()["noticed"] == []  # once a month

    behind = (await api.get("office", "/api/v1/obligations", year=2026, behind="true")).json()
    [voters] = [o for o in behind if o["obligation_id"] == "voters:deputy-1"]
    assert voters["done"] == 1 and voters["required"] == 5
    assert [c["counterpart_id"] for c in voters["counterparts"] if c["behind"]] == [
        "voter-1-2", "voter-1-3", "voter-1-4", "voter-1-5"]

    async def told():
        r = await api.get("deputy-1", "/api/v1/notifications")
        return [n for n in r.json() if n["kind"] == "obligation_behind"]
    [notice] = await eventually(told)
    assert "孙*梅" in notice["body"]
    others = (await api.get("deputy-3", "/api/v1/notifications")).json()
    assert all("voter-1" not in n["body"] and "孙*梅" not in n["body"] for n in others)


async def test_a_citizen_leaves_a_message_for_one_deputy_through_their_qr_code(api, liaison):
    """亮身份、亮代表码 (issue 29 point 6): the deputy's own page and code; the message is
    received at the deputy's station and held by that deputy at once."""
    r = await api.client.get("/d/deputy-1")
    assert r.status_code == 200 and "王建国代表" in r.text
    assert "/d/deputy-1/messages" in r.text  # its form posts there (with optional photos)
    r = await api.client.get("/api/v1/deputies/deputy-1/qr.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg")
    assert (await api.client.get("/api/v1/deputies/nobody/qr.svg")).status_code == 404
    assert (await api.client.get("/d/nobody")).status_code == 404

    r = await api.client.post("/api/v1/deputies/deputy-1/messages", json={
        "content": "楼道灯坏了很久，请王代表帮忙反映", "contact_phone": "13812345678"})
    assert r.status_code == 201, r.text
    message_id, token = r.json()["id"], r.json()["follow_up_token"]
    assert r.json()["status"] == "claimed"
    r = await api.get("deputy-1", f"/api/v1/messages/{message_id}")
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] == "deputy-1" and r.json()["station_id"] == STATION
    # another deputy of the station cannot claim it: it is held
    r = await api.post("deputy-2", f"/api/v1/messages/{message_id}/claim")
    assert r.status_code == 409, r.text
    r = await api.client.post("/api/v1/deputies/nobody/messages", json={"content": "x"})
    assert r.status_code == 404, r.text
    r = await api.client.get(f"/api/v1/follow-up/{token}")
    assert r.status_code == 200, r.text


async def test_a_group_activity_sign_up_attendance_points_and_research_into_a_suggestion(
        api, liaison):
    """代表小组活动与专题调研 (issue 30 point 5): the office plans two activities of 城建环保组
    (deputy-1, deputy-3) in March's call; sign-up once, only the group's deputies; attendance
    once, by the office only; each deputy present scores once, the absent one not; the
    research findings become a joint suggestion in intake, the activity showing it."""
    async def plan(**overrides) -> dict:
        body = {"group": "城建环保组", "title": "老旧小区加装电梯视察", "kind": "inspection",
                "day": "2026-03-10", "place": "鱼复街道", **overrides}
        r = await api.post("office", "/api/v1/group-activities", body)
        assert r.status_code == 201, r.text
        return r.json()

    visit = await plan(capacity=5)
    research = await plan(title="无废社区共建共享专题调研", kind="topic_research")
    v, rs = (f"/api/v1/group-activities/{a['activity_id']}" for a in (visit, research))
    r = await api.post("office", "/api/v1/group-activities", {
        "group": "没有这个组", "title": "x", "kind": "forum", "day": "2026-03-10", "place": "x"})
    assert r.status_code == 422, r.text
    assert (await api.post("deputy-1", "/api/v1/group-activities", {
        "group": "城建环保组", "title": "x", "kind": "forum", "day": "2026-03-10",
        "place": "x"})).status_code == 403

    # sign-up: once each; a deputy of another group can neither sign up nor see it
    assert (await api.post("deputy-1", f"{v}/sign-up")).status_code == 200
    r = await api.post("deputy-1", f"{v}/sign-up")
    assert r.status_code == 409, r.text
    r = await api.post("deputy-2", f"{v}/sign-up")
    assert r.status_code == 403, r.text
    assert (await api.get("deputy-2", v)).status_code == 404
    r = await api.get("deputy-2", "/api/v1/group-activities", year=2026)
    assert r.status_code == 200 and r.json() == []
    assert (await api.post("deputy-3", f"{v}/sign-up")).status_code == 200
    r = await api.post("deputy-3", f"{v}/withdraw")
    assert r.status_code == 200 and r.json()["signed_up"] == [
        {"deputy_id": "deputy-1", "name": "王建国"}], r.text
    assert (await api.post("deputy-3", f"{v}/sign-up")).status_code == 200
    for deputy in ("deputy-1", "deputy-3"):
        assert (await api.post(deputy, f"{rs}/sign-up")).status_code == 200
    r = await api.get("deputy-3", "/api/v1/group-activities", year=2026, month=3)
    assert [a["me"]["signed_up"] for a in r.json()] == [True, True], r.text

    # the day: no more sign-ups; attendance once, by the office only
    liaison.clock.set(datetime(2026, 3, 10, 17, tzinfo=CHINA_TZ))
    assert (await api.post("deputy-3", f"{v}/withdraw")).status_code == 409
    r = await api.post("deputy-1", f"{v}/attendance", {"present": ["deputy-1"]})
    assert r.status_code == 403, r.text
    r = await api.post("office", f"{v}/attendance", {"present": ["deputy-1", "deputy-2"]})
    assert r.status_code == 422, r.text  # deputy-2 is not of the group
    r = await api.post("office", f"{v}/attendance", {"present": ["deputy-1"]})
    assert r.status_code == 200, r.text
    assert [d["deputy_id"] for d in r.json()["absent"]] == ["deputy-3"]
    r = await api.post("office", f"{v}/attendance", {"present": ["deputy-1", "deputy-3"]})
    assert r.status_code == 409, r.text
    r = await api.post("office", f"{rs}/attendance", {"present": ["deputy-1", "deputy-3"]})
    assert r.status_code == 200, r.text

    async def activity_lines(deputy: str):
        r = await api.get("office", f"/api/v1/deputies/{deputy}/points", year=2026)
        return sorted((line["cause_ref"], line["points"]) for line in r.json()["lines"]
                      if line["cause_kind"] == "group_activity_attended")
    ids = (visit["activity_id"], research["activity_id"])
    await eventually(lambda: len_is(activity_lines("deputy-1"), 2))
    assert await activity_lines("deputy-1") == sorted((i, 3.0) for i in ids)
    await eventually(lambda: len_is(activity_lines("deputy-3"), 1))
    assert await activity_lines("deputy-3") == [(research["activity_id"], 3.0)]
    # and they count in the duty record's 视察调研 indicator
    r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/record", year=2026)
    assert r.status_code == 200, r.text
    indicators = {i["code"]: i["value"] for i in r.json()["indicators"]}
    assert indicators["inspection_research"] == 2, indicators
    # told again: nothing more is awarded
    again = GroupActivityAttendedV1(
        event_id="liaison:998", case_id=ids[0], actor={"username": "office", "role": "office"},
        occurred_at=datetime(2026, 3, 10, 17, tzinfo=CHINA_TZ), source_service="liaison",
        source_notification_id=998, activity_id=ids[0], group="城建环保组", kind="inspection",
        title="老旧小区加装电梯视察", deputy_ids=["deputy-1"], held_on="2026-03-10")
    assert liaison.app("points").on_group_activity_attended(again) == []

    # research output → a joint suggestion: deputy-3 leads, deputy-1 co-signs
    suggestion = {"title": "关于推进无废社区共建共享的建议", "category": "livelihood",
                  "body": "调研发现可回收物去向不清。"}
    r = await api.post("deputy-3", f"{rs}/suggestion", suggestion)
    assert r.status_code == 409, r.text  # no findings yet
    r = await api.post("deputy-2", f"{rs}/findings", {"findings": "别的组"})
    assert r.status_code == 403, r.text
    r = await api.post("office", f"{v}/findings", {"findings": "视察不是调研"})
    assert r.status_code == 409, r.text
    r = await api.post("deputy-3", f"{rs}/findings",
                       {"findings": "走访三个小区：可回收物去向不清，旧物交换无平台。"})
    assert r.status_code == 200 and r.json()["findings"]["text"].startswith("走访"), r.text
    r = await api.post("deputy-3", f"{rs}/suggestion", suggestion)
    assert r.status_code == 201, r.text
    sid = r.json()["suggestion_id"]
    assert r.json()["co_signers"] == ["deputy-1"]
    r = await api.get("deputy-3", f"/api/v1/suggestions/{sid}")
    assert r.status_code == 200, r.text
    assert r.json()["lead_deputy_id"] == "deputy-3" and r.json()["co_signers"] == ["deputy-1"]
    r = await api.get("deputy-1", rs)
    assert r.json()["suggestion"] == {"lead_id": "deputy-3", "suggestion_id": sid}, r.text
    r = await api.post("deputy-1", f"{rs}/suggestion", suggestion)
    assert r.status_code == 409, r.text  # once


async def len_is(lines, n: int) -> bool:
    return len(await lines) >= n


async def test_every_deputy_present_at_a_reception_session_scores(api, liaison):
    """Two deputies present: both score (v1 published one event per deputy under one event
    id, and only the first reached points; points reads v2, which names them all)."""
    sid = (await schedule(api, day="2026-03-16"))["session_id"]
    r = await api.post("station-fengjie", f"/api/v1/sessions/{sid}/attendance",
                       {"deputies_present": ["deputy-1", "deputy-2"], "people_received": 4})
    assert r.status_code == 200, r.text

    async def scored(deputy: str) -> bool:
        r = await api.get("office", f"/api/v1/deputies/{deputy}/points", year=2026)
        return any(line["cause_kind"] == "reception_attended" and line["cause_ref"] == sid
                   for line in r.json()["lines"])
    await eventually(lambda: scored("deputy-1"))
    await eventually(lambda: scored("deputy-2"))

"""Reception sessions and contact obligations in the web app (liaison service):

- 接待日程 for a station's staff (role station): their station's sessions, a form to publish
  one, and each session's page (bookings masked, walk-ins, the attendance once, what a citizen
  raised there as a citizen message, the messages linked back);
- 联系任务 and 接待统计 for the office: every obligation's progress (those behind first, a
  button to run the check now) and the station report by month (进站率...);
- 接待与联系 for a deputy, on the phone: their sessions, their obligations' progress, a
  contact to record and their contacts;
- the public reception calendar with its booking form, ``/reception/{station_id}`` (no sign-in);
- 小组活动 for the office (the month's call: plan a group's activity, record attendance once,
  a research activity's findings) and for a deputy on the phone (their group's activities:
  sign up or withdraw, those attended, a research activity's findings turned into a joint
  suggestion with the findings prefilled, the activity linked).
Every command goes to the owning service; refusals come back in Chinese (errors_zh.py)."""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import request_of
from services.gateway.web.common import (BASE, WebRoute, act, check_csrf, need, redirect,
                                         render, send_form, services, today)
from shared.contracts.requests import liaison as lz
from shared.contracts.requests.intake import PostMessageV2, Reference, SubmitSuggestion

router = APIRouter(route_class=WebRoute)
Staff = Annotated[Principal, Depends(need("station", "office"))]
Office = Annotated[Principal, Depends(need("office", "leader"))]
Deputy = Annotated[Principal, Depends(need("deputy"))]
Csrf = [Depends(check_csrf)]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
Short = Annotated[str, Form(max_length=200)]
FORM_ZH = {"visit": "走访", "phone": "电话", "meeting": "座谈"}
KIND_ZH = {"committee_deputies": "常委会组成人员联系基层代表", "deputy_voters": "代表联系选民"}


async def _reference(request: Request) -> dict[str, Any]:
    return await services(request).send(Reference())


async def _stations(request: Request) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in (await _reference(request))["stations"]}


# --- station staff (and the office): sessions ----------------------------------------------

@router.get(f"{BASE}/station")
async def station_home(request: Request, user: Staff, station_id: Annotated[
        str | None, Query(max_length=100)] = None, year: YearQ = None) -> HTMLResponse:
    ref = await _reference(request)
    stations = {s["id"]: s for s in ref["stations"]}
    deputies = {d["id"]: d["name"] for d in ref["deputies"]}
    station_id = user.unit_id if user.role == "station" else (station_id or next(iter(stations)))
    if station_id not in stations:
        raise HTTPException(404, "未找到该联络站")
    year = year or today().year
    svc = services(request)
    found, report = await asyncio.gather(
        svc.send(request_of(lz.ListSessions, query={"station_id": station_id, "year": year}),
                 user),
        svc.send(request_of(lz.StationReport, query={"station_id": station_id, "year": year}),
                 user))
    return render(request, "liaison_station.html", {
        "station": stations[station_id], "stations": list(stations.values()),
        "sessions": found["items"], "report": report, "year": year,
        "deputies": stations[station_id].get("deputies", []), "today": today().isoformat(),
        "deputy_name": lambda d: deputies.get(d, d)})


@router.post(f"{BASE}/station/{{station_id}}/sessions", dependencies=Csrf)
async def schedule(request: Request, station_id: str, user: Staff,
                   day: Annotated[str, Form(max_length=10)], starts: Annotated[str, Form(max_length=5)],
                   ends: Annotated[str, Form(max_length=5)],
                   title: Short = "人大代表接待选民日",
                   capacity: Annotated[int, Form(ge=1, le=500)] = 20,
                   deputy_ids: Annotated[list[str] | None, Form()] = None) -> Response:
    back = f"{BASE}/station?station_id={station_id}"
    if not deputy_ids:
        return redirect(back, "未完成：请至少选择一名值班代表", "error")
    call = send_form(request, lz.ScheduleSession, user, station_id=station_id, title=title,
                     day=day, starts=starts, ends=ends, deputy_ids=deputy_ids,
                     capacity=capacity)
    return await act(request, call, back, "已发布接待日程")


@router.get(f"{BASE}/station/sessions/{{session_id}}")
async def session_page(request: Request, session_id: str, user: Staff) -> HTMLResponse:
    session = await services(request).send(lz.GetSession(session_id=session_id), user)
    return render(request, "liaison_session.html", {"s": session})


def _session_back(session_id: str) -> str:
    return f"{BASE}/station/sessions/{session_id}"


@router.post(f"{BASE}/station/sessions/{{session_id}}/walk-in", dependencies=Csrf)
async def walk_in(request: Request, session_id: str, user: Staff,
                  people: Annotated[int, Form(ge=1, le=200)] = 1,
                  note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    call = send_form(request, lz.RecordWalkIn, user, session_id=session_id, people=people,
                     note=note.strip() or None)
    return await act(request, call, _session_back(session_id), f"已登记现场来访 {people} 人")


@router.post(f"{BASE}/station/sessions/{{session_id}}/attendance", dependencies=Csrf)
async def attendance(request: Request, session_id: str, user: Staff,
                     people_received: Annotated[int, Form(ge=0, le=10000)],
                     deputies_present: Annotated[list[str] | None, Form()] = None) -> Response:
    call = send_form(request, lz.RecordAttendance, user, session_id=session_id,
                     deputies_present=deputies_present or [],
                     people_received=people_received)
    return await act(request, call, _session_back(session_id), "已登记出勤和接待人数")


@router.post(f"{BASE}/station/sessions/{{session_id}}/message", dependencies=Csrf)
async def session_message(request: Request, session_id: str, user: Staff,
                          station_id: Annotated[str, Form(max_length=100)],
                          content: Annotated[str, Form(max_length=5000)] = "",
                          contact_name: Annotated[str, Form(max_length=50)] = "",
                          contact_phone: Annotated[str, Form(max_length=20)] = "") -> Response:
    back = _session_back(session_id)
    if not content.strip():
        return redirect(back, "未完成：请填写群众反映的内容", "error")
    payload = {"station_id": station_id, "session_id": session_id, "content": content.strip()}
    if contact_name.strip():
        payload["contact_name"] = contact_name.strip()
    if contact_phone.strip():
        payload["contact_phone"] = contact_phone.strip()
    call = send_form(request, PostMessageV2, user, **payload)
    return await act(request, call, back, "已记为群众留言，稍后显示在本场接待下")


# --- the office: obligations and the station report ------------------------------------------

@router.get(f"{BASE}/office/obligations")
async def obligations(request: Request, user: Office, year: YearQ = None,
                      behind: bool = False) -> HTMLResponse:
    year = year or today().year
    rows = await services(request).send(lz.ListObligations(year=year, behind=behind), user)
    rows.sort(key=lambda r: (not r["behind"], r["progress"], r["obligation_id"]))
    return render(request, "liaison_obligations.html", {
        "rows": rows, "year": year, "behind": behind, "KIND_ZH": KIND_ZH,
        "years": list(range(today().year, today().year - 5, -1))})


@router.post(f"{BASE}/office/obligations/check", dependencies=Csrf)
async def check(request: Request, user: Office) -> Response:
    back = f"{BASE}/office/obligations"
    call = services(request).send(lz.CheckObligations(), user)
    return await act(request, call, back, "已检查：进度落后的联系任务已通知本人")


@router.get(f"{BASE}/office/reception")
async def reception(request: Request, user: Office, station_id: Annotated[
        str | None, Query(max_length=100)] = None, year: YearQ = None) -> HTMLResponse:
    stations = await _stations(request)
    year = year or today().year
    svc = services(request)
    report = await svc.send(request_of(lz.StationReport, query={
        "station_id": station_id or None, "year": year}), user)
    sessions = (await svc.send(request_of(lz.ListSessions, query={
        "station_id": station_id or None, "year": year}), user))["items"]
    return render(request, "liaison_report.html", {
        "report": report, "stations": list(stations.values()), "station_id": station_id or "",
        "year": year, "sessions": sessions,
        "years": list(range(today().year, today().year - 5, -1))})


# --- a deputy, on the phone ------------------------------------------------------------------

@router.get(f"{BASE}/deputy/liaison")
async def deputy_liaison(request: Request, user: Deputy, year: YearQ = None) -> HTMLResponse:
    year = year or today().year
    svc = services(request)
    found, mine, contacts = await asyncio.gather(
        svc.send(lz.ListSessions(deputy_id=user.deputy_id, year=year), user),
        svc.send(lz.ListObligations(year=year), user),
        svc.send(lz.ListContacts(year=year), user))
    return render(request, "liaison_deputy.html", {
        "sessions": found["items"], "obligations": mine, "contacts": contacts, "year": year,
        "FORM_ZH": FORM_ZH, "KIND_ZH": KIND_ZH, "today": today().isoformat(),
        "me": user.deputy_id})


@router.post(f"{BASE}/deputy/liaison/contacts", dependencies=Csrf)
async def record_contact(request: Request, user: Deputy,
                         target: Annotated[str, Form(max_length=200)],
                         form: Annotated[str, Form(max_length=20)],
                         on: Annotated[str, Form(max_length=10)],
                         topic: Annotated[str, Form(max_length=500)] = "") -> Response:
    back = f"{BASE}/deputy/liaison"
    obligation_id, _, counterpart_id = target.partition("|")
    if not topic.strip():
        return redirect(back, "未完成：请填写联系主题", "error")
    call = send_form(request, lz.RecordContact, user, obligation_id=obligation_id,
                     counterpart_id=counterpart_id, form=form, topic=topic.strip(), on=on)
    return await act(request, call, back, "已登记联系")


# --- the public reception calendar and booking (no sign-in) ---------------------------------

PUBLIC_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · 代表接待日预约</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1rem; max-width: 36rem; }}
 h1 {{ font-size: 1.3rem; }} h2 {{ font-size: 1.1rem; margin: 0; }}
 .session {{ border: 1px solid #ccc; border-radius: .4rem; padding: .8rem; margin: .8rem 0; }}
 label {{ display: block; margin-top: .6rem; font-weight: 600; }}
 input {{ width: 100%; box-sizing: border-box; font-size: 1rem; padding: .5rem; }}
 button {{ margin-top: .8rem; width: 100%; padding: .7rem; font-size: 1.05rem; }}
 .hint {{ color: #555; font-size: .9rem; }} .result {{ margin-top: .6rem; overflow-wrap: anywhere; }}
</style></head>
<body>
<main>
<h1>{name}</h1>
<p class="hint">{district} · 人大代表接待日程。预约后请按时到站，也可以不预约直接到站反映意见。</p>
{sessions}
<p class="hint" id="privacy">个人信息说明：预约只保存打码后的姓名和电话（如 赵**、138****5678），
用于到站时核对；每个手机号每场只能预约一次。需要回复的意见，请到站后由工作人员登记为群众留言。</p>
</main>
<script>
for (const form of document.querySelectorAll("form.booking")) {{
  let sending = false;
  form.addEventListener("submit", async (e) => {{
    e.preventDefault();
    if (sending) return;
    sending = true;
    const out = form.querySelector(".result");
    const body = {{}};
    for (const [k, v] of new FormData(form)) body[k] = v.trim();
    try {{
      const r = await fetch("/api/v1/sessions/" + form.dataset.session + "/bookings", {{
        method: "POST", headers: {{"content-type": "application/json"}}, body: JSON.stringify(body)}});
      const data = await r.json();
      if (r.ok) {{
        form.reset();
        out.textContent = "预约成功：" + data.name_masked + "，" + data.phone_masked + "。请按时到站。";
        const left = form.closest(".session").querySelector(".left");
        if (left) left.textContent = data.session.places_left;
      }} else if (r.status === 409 && data.capacity) {{
        out.textContent = "预约失败：本场名额已满。";
      }} else if (r.status === 409) {{
        out.textContent = /over/.test(data.detail || "") ? "预约失败：本场接待已结束。" : "预约失败：该手机号已预约本场接待。";
      }} else if (r.status === 422) {{
        out.textContent = "预约失败：请填写姓名和正确的11位手机号。";
      }} else {{
        out.textContent = "预约失败，请稍后再试。";
      }}
    }} finally {{ sending = false; }}
  }});
}}
</script>
</body></html>"""

SESSION_BLOCK = """<section class="session" data-session="{sid}" aria-labelledby="s-{n}">
<h2 id="s-{n}">{day} {starts}–{ends} · {title}</h2>
<p>值班代表：{deputies}{online}</p>
<p>剩余名额：<span class="left">{left}</span> / {capacity}</p>
{form}
</section>"""

BOOKING_FORM = """<form class="booking" data-session="{sid}">
<label for="name-{n}">姓名</label><input id="name-{n}" name="contact_name" required maxlength="50" autocomplete="name">
<label for="phone-{n}">手机号</label><input id="phone-{n}" name="contact_phone" type="tel" required maxlength="11" autocomplete="tel">
<button type="submit">预约本场</button>
<p class="result" role="status" aria-live="polite"></p>
</form>"""


@router.get("/reception/{station_id}", include_in_schema=False)
async def public_calendar(request: Request, station_id: str) -> HTMLResponse:
    stations = await _stations(request)
    station = stations.get(station_id)
    if station is None:
        raise HTTPException(404, "未找到该联络站")
    found = await services(request).send(request_of(lz.ListSessions, query={
        "station_id": station_id, "upcoming": True}))
    esc = html.escape
    blocks = []
    for n, s in enumerate(found["items"], 1):
        full = s["places_left"] <= 0 or s["held"]
        blocks.append(SESSION_BLOCK.format(
            n=n, sid=esc(s["session_id"]), day=esc(s["day"]), starts=esc(s["starts"]), ends=esc(s["ends"]),
            title=esc(s["title"]), online="（网上接待）" if s["online"] else "",
            deputies="、".join(esc(d["name"]) for d in s["deputies"]),
            left=s["places_left"], capacity=s["capacity"],
            form="<p>本场已约满。</p>" if full else BOOKING_FORM.format(sid=esc(s["session_id"]), n=n)))
    return HTMLResponse(PUBLIC_PAGE.format(
        name=esc(station["name"]), district=esc(station.get("district", "")),
        sessions="".join(blocks) or "<p>近期没有接待日程。</p>"))



# --- deputy groups' activities and research (代表小组活动与专题调研) --------------------------

ACTIVITY_KIND_ZH = {"inspection": "视察", "research": "调研", "forum": "座谈",
                    "topic_research": "专题调研"}
OfficeOnly = Annotated[Principal, Depends(need("office"))]
Long = Annotated[str, Form(max_length=20000)]


def _groups(ref: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for d in ref["deputies"]:
        if d.get("group"):
            found.setdefault(d["group"], []).append(d)
    return found


@router.get(f"{BASE}/office/group-activities")
async def group_activities(request: Request, user: Office, year: YearQ = None,
                           month: Annotated[int | None, Query(ge=1, le=12)] = None,
                           ) -> HTMLResponse:
    year = year or today().year
    ref = await _reference(request)
    rows = await services(request).send(lz.ListGroupActivities(year=year, month=month), user)
    return render(request, "liaison_activities.html", {
        "rows": rows, "year": year, "month": month or "", "groups": _groups(ref),
        "KINDS": ACTIVITY_KIND_ZH, "today": today().isoformat(),
        "years": list(range(today().year + 1, today().year - 5, -1))})


@router.post(f"{BASE}/office/group-activities", dependencies=Csrf)
async def plan_activity(request: Request, user: OfficeOnly, group: Short, title: Short,
                        kind: Annotated[str, Form(max_length=20)],
                        day: Annotated[str, Form(max_length=10)], place: Short,
                        capacity: Annotated[str, Form(max_length=5)] = "") -> Response:
    back = f"{BASE}/office/group-activities"
    if not title.strip() or not place.strip():
        return redirect(back, "未完成：请填写活动名称和地点", "error")
    if capacity.strip() and not capacity.strip().isdigit():
        return redirect(back, "未完成：名额须为正整数（不限名额请留空）", "error")
    call = send_form(request, lz.PlanGroupActivity, user, group=group, title=title.strip(),
                     kind=kind, day=day, place=place.strip(),
                     capacity=int(capacity) if capacity.strip() else None)
    return await act(request, call, back, "已发布本月小组活动")


def _activity_back(activity_id: str) -> str:
    return f"{BASE}/office/group-activities/{activity_id}"


@router.get(f"{BASE}/office/group-activities/{{activity_id}}")
async def group_activity(request: Request, activity_id: str, user: Office) -> HTMLResponse:
    ref = await _reference(request)
    a = await services(request).send(lz.GetGroupActivity(activity_id=activity_id), user)
    signed = {d["deputy_id"] for d in a["signed_up"]}
    return render(request, "liaison_activity.html", {
        "a": a, "members": _groups(ref).get(a["group"], []), "signed": signed})


@router.post(f"{BASE}/office/group-activities/{{activity_id}}/attendance", dependencies=Csrf)
async def activity_attendance(request: Request, activity_id: str, user: OfficeOnly,
                              present: Annotated[list[str] | None, Form()] = None) -> Response:
    call = send_form(request, lz.RecordActivityAttendance, user, activity_id=activity_id,
                     present=present or [])
    return await act(request, call, _activity_back(activity_id), "已登记出勤，参加代表已记积分")


@router.post(f"{BASE}/office/group-activities/{{activity_id}}/findings", dependencies=Csrf)
async def office_findings(request: Request, activity_id: str, user: OfficeOnly,
                          findings: Long = "") -> Response:
    back = _activity_back(activity_id)
    if not findings.strip():
        return redirect(back, "未完成：请填写调研成果", "error")
    call = send_form(request, lz.RecordFindings, user, activity_id=activity_id,
                     findings=findings.strip())
    return await act(request, call, back, "已登记调研成果")


@router.get(f"{BASE}/deputy/group-activities")
async def deputy_activities(request: Request, user: Deputy, year: YearQ = None) -> HTMLResponse:
    year = year or today().year
    ref = await _reference(request)
    rows = await services(request).send(lz.ListGroupActivities(year=year), user)
    return render(request, "liaison_deputy_activities.html", {
        "rows": rows, "year": year, "today": today().isoformat(),
        "categories": [c for c in ref["categories"] if c.get("active", True)],
        "me": user.deputy_id})


DEPUTY_BACK = f"{BASE}/deputy/group-activities"


@router.post(f"{BASE}/deputy/group-activities/{{activity_id}}/sign-up", dependencies=Csrf)
async def deputy_sign_up(request: Request, activity_id: str, user: Deputy) -> Response:
    call = send_form(request, lz.SignUpForActivity, user, activity_id=activity_id)
    return await act(request, call, DEPUTY_BACK, "已报名")


@router.post(f"{BASE}/deputy/group-activities/{{activity_id}}/withdraw", dependencies=Csrf)
async def deputy_withdraw(request: Request, activity_id: str, user: Deputy) -> Response:
    call = send_form(request, lz.WithdrawFromActivity, user, activity_id=activity_id)
    return await act(request, call, DEPUTY_BACK, "已取消报名")


@router.post(f"{BASE}/deputy/group-activities/{{activity_id}}/findings", dependencies=Csrf)
async def deputy_findings(request: Request, activity_id: str, user: Deputy,
                          findings: Long = "") -> Response:
    if not findings.strip():
        return redirect(DEPUTY_BACK, "未完成：请填写调研成果", "error")
    call = send_form(request, lz.RecordFindings, user, activity_id=activity_id,
                     findings=findings.strip())
    return await act(request, call, DEPUTY_BACK, "已登记调研成果")


@router.post(f"{BASE}/deputy/group-activities/{{activity_id}}/suggestion", dependencies=Csrf)
async def deputy_suggestion(request: Request, activity_id: str, user: Deputy, title: Short,
                            category: Annotated[str, Form(max_length=100)],
                            body: Long = "") -> Response:
    """The lead deputy takes the findings to intake: claimed in liaison (the co-signers are
    the other participants present), submitted in intake as this deputy, linked back."""
    if not title.strip() or not body.strip():
        return redirect(DEPUTY_BACK, "未完成：请填写建议标题和正文", "error")
    async def run() -> None:
        claimed = await send_form(request, lz.ClaimActivitySuggestion, user,
                                  activity_id=activity_id)
        made = await send_form(request, SubmitSuggestion, user, title=title.strip(),
                               body=body.strip(), category=category,
                               co_signers=claimed["co_signers"])
        await send_form(request, lz.LinkActivitySuggestion, user, activity_id=activity_id,
                        suggestion_id=made["id"])

    return await act(request, run(), DEPUTY_BACK, "调研成果已转为联名建议")

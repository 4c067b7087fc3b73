"""The role × endpoint authorization matrix, every cell, against the real running services.

A role that may use an endpoint never gets 401 or 403 (it may get 404 or 422 for the dummy
ids and empty bodies used here); a role that may not gets 403 (or 404 where existence must not
leak), and an anonymous caller 401. Every /api/v1 endpoint must be classified here: a new
endpoint without a row fails the test. The object-level half (below) has each role try another
party's real objects, by id and in every list and count."""

from __future__ import annotations

import pytest

from services.gateway.app import create_app
from tests.harness import ALL_SERVICES

SYSTEM_SERVICES = ALL_SERVICES  # the system fixture starts every service the routes reach

USERS = {"office": "office", "leader": "leader", "unit": "unit-a", "deputy": "deputy-1"}
STAFF = "office leader unit deputy"
IDS = {"suggestion_id": "00000000-0000-0000-0000-0000000000aa",
       "task_id": "00000000-0000-0000-0000-0000000000bb",
       "message_id": "00000000-0000-0000-0000-0000000000cc",
       "case_id": "00000000-0000-0000-0000-0000000000dd",
       "activity_id": "00000000-0000-0000-0000-0000000000ee",
       "review_id": "r1", "period": "2026-01", "station_id": "st-none", "fmt": "svg",
       "deputy_id": "deputy-1", "unit_id": "unit-a", "sha256": "0" * 64,
       "rule_id": "rule-none",
       "notification_id": "00000000-0000-0000-0000-0000000000ff",
       "token": "no-such-follow-up-token", "username": "no-such-user",
       "ballot_id": "00000000-0000-0000-0000-000000000b01",
       "project_id": "00000000-0000-0000-0000-000000000f01", "milestone_id": "M-none",
       "report_id": "00000000-0000-0000-0000-000000000e01",
       "session_id": "00000000-0000-0000-0000-00000000c001",
       "obligation_id": "00000000-0000-0000-0000-00000000c002",
       "kind": "unit", "key": "unit-none", "category": "no_such_category",
       "result_class": "A"}

# endpoint → the roles allowed ("anon": no token needed)
MATRIX = {
    "POST /api/v1/auth/token": "anon " + STAFF,
    "GET /api/v1/me": STAFF,
    # accounts (services/accounts): your own; the administrator's (role admin, not a STAFF
    # role here: every STAFF role is refused; tests/integration/test_accounts.py)
    "GET /api/v1/me/account": STAFF,
    "POST /api/v1/me/password": STAFF,
    "POST /api/v1/auth/role": STAFF,
    "GET /api/v1/admin/accounts": "",
    "POST /api/v1/admin/accounts": "",
    "GET /api/v1/admin/accounts/{username}": "",
    "PATCH /api/v1/admin/accounts/{username}": "",
    "GET /api/v1/admin/accounts/{username}/history": "",
    "POST /api/v1/admin/accounts/{username}/grant-roles": "",
    "POST /api/v1/admin/accounts/{username}/revoke-roles": "",
    "POST /api/v1/admin/accounts/{username}/disable": "",
    "POST /api/v1/admin/accounts/{username}/enable": "",
    "POST /api/v1/admin/accounts/{username}/reset-password": "",
    "GET /api/v1/categories": STAFF,
    "GET /api/v1/stations": STAFF,
    "GET /api/v1/deputies": STAFF,
    "GET /api/v1/units": STAFF,
    "GET /api/v1/leaders": STAFF,
    "POST /api/v1/suggestions": "deputy",
    "POST /api/v1/suggestions/{suggestion_id}/register": "office",
    "POST /api/v1/suggestions/{suggestion_id}/decline": "office",
    "POST /api/v1/suggestions/{suggestion_id}/registration/reverse": "office",
    "GET /api/v1/suggestions": STAFF,
    "GET /api/v1/suggestions/{suggestion_id}": STAFF,
    "POST /api/v1/suggestions/{suggestion_id}/assignment": "office",
    "GET /api/v1/suggestions/{suggestion_id}/assignment": "office leader unit",
    "GET /api/v1/cases/{case_id}/assignment": "office leader unit",
    "POST /api/v1/suggestions/{suggestion_id}/leadership": "office",
    "GET /api/v1/suggestions/{suggestion_id}/similar": "office",
    "POST /api/v1/suggestions/{suggestion_id}/merge": "office",
    "POST /api/v1/suggestions/{suggestion_id}/merge/undo": "office",
    "GET /api/v1/tasks": STAFF,
    "GET /api/v1/leader/cases": "office leader",
    "GET /api/v1/tasks/{task_id}": STAFF,
    "POST /api/v1/tasks/{task_id}/return-request": "unit",
    "POST /api/v1/tasks/{task_id}/return-request/refuse": "office",
    "POST /api/v1/tasks/{task_id}/reassign": "office",
    "POST /api/v1/tasks/{task_id}/clock/pause": "office",
    "POST /api/v1/tasks/{task_id}/clock/resume": "office",
    "GET /api/v1/units/workload": "office leader",
    "GET /api/v1/units/{unit_id}/workload": "office leader unit",
    "POST /api/v1/stations/{station_id}/messages": "anon " + STAFF,
    "GET /api/v1/stations/{station_id}/qr.{fmt}": "anon " + STAFF,
    "POST /api/v1/messages/{message_id}/claim": "deputy",
    "POST /api/v1/messages/{message_id}/release": "deputy",
    "POST /api/v1/messages/{message_id}/answer": "deputy",
    "POST /api/v1/messages/{message_id}/convert": "deputy",
    "POST /api/v1/messages/{message_id}/forward": "deputy office",
    "POST /api/v1/messages/{message_id}/rating": "anon " + STAFF,  # the follow-up token decides
    "POST /api/v1/messages/{message_id}/erasure": "office",
    "GET /api/v1/messages/{message_id}": STAFF,  # anonymous only with the follow-up token
    "GET /api/v1/messages": STAFF,
    "GET /api/v1/messages/{message_id}/access-log": "office",
    "GET /api/v1/messages/{message_id}/similar": "office",
    "POST /api/v1/tasks/{task_id}/acknowledge": "unit office",
    "POST /api/v1/tasks/{task_id}/contact": "unit office",
    "POST /api/v1/tasks/{task_id}/contact/waiver": "unit office",
    "POST /api/v1/tasks/{task_id}/progress": "unit office",
    "POST /api/v1/tasks/{task_id}/opinion": "unit office",
    "POST /api/v1/tasks/{task_id}/reply": "unit office",
    "POST /api/v1/tasks/{task_id}/reply-letter": "unit office",
    "POST /api/v1/attachments": STAFF,
    "GET /api/v1/attachments/{sha256}": STAFF,
    "POST /api/v1/suggestions/{suggestion_id}/attachments": "office deputy",
    "POST /api/v1/messages/{message_id}/attachments": "office deputy",
    "GET /api/v1/reply-templates": STAFF,
    "GET /api/v1/admin/reply-templates": STAFF,
    "GET /api/v1/reviews": STAFF,
    "GET /api/v1/admin/reply-templates/{category}/{result_class}": STAFF,
    "PUT /api/v1/admin/reply-templates/{category}/{result_class}": "office",
    "DELETE /api/v1/admin/reply-templates/{category}/{result_class}": "office",
    "POST /api/v1/suggestions/{suggestion_id}/rating": "deputy",
    "POST /api/v1/suggestions/{suggestion_id}/reviews/{review_id}": "office leader",
    "POST /api/v1/suggestions/{suggestion_id}/close": "office",
    "GET /api/v1/cases/{case_id}/supervision": STAFF,
    "GET /api/v1/board": STAFF,
    "GET /api/v1/stats": STAFF,
    "POST /api/v1/bulletins": "office",
    "GET /api/v1/bulletins/{period}": STAFF,
    "GET /api/v1/bulletins/{period}/page": STAFF,
    "POST /api/v1/supervision/deadline-clock": "office",
    "GET /api/v1/deputies/{deputy_id}/points": "office leader deputy",
    "POST /api/v1/deputies/{deputy_id}/activities": "deputy",
    "GET /api/v1/activities": "office leader deputy",
    "GET /api/v1/activities/{activity_id}": "office leader deputy",
    "POST /api/v1/activities/{activity_id}/approve": "office",
    "POST /api/v1/activities/{activity_id}/reject": "office",
    "POST /api/v1/deputies/{deputy_id}/points/revocations": "office",
    "GET /api/v1/rankings": "office leader deputy",
    "GET /api/v1/deputies/{deputy_id}/record": "office leader deputy",
    "GET /api/v1/deputies/{deputy_id}/record/suggestions": "office leader deputy",
    "GET /api/v1/deputies/{deputy_id}/record/messages": "office leader deputy",
    "GET /api/v1/deputies/{deputy_id}/report": "office leader deputy",
    "GET /api/v1/points/rules": STAFF,
    "POST /api/v1/points/recalculations": "office",
    "GET /api/v1/points/recalculations": "office leader",
    "GET /api/v1/cases/{case_id}/history": STAFF,
    "GET /api/v1/cases/{case_id}/verify": STAFF,
    "GET /api/v1/cases/{case_id}/export": "office leader",
    "GET /api/v1/notifications": STAFF,
    "POST /api/v1/notifications/{notification_id}/read": STAFF,
    "GET /api/v1/notifications/preferences": STAFF,
    "PUT /api/v1/notifications/preferences": STAFF,
    "GET /api/v1/follow-up/{token}": "anon " + STAFF,
    "POST /api/v1/suggestions/{suggestion_id}/publication": "office",
    "DELETE /api/v1/suggestions/{suggestion_id}/publication": "office",
    "POST /api/v1/messages/{message_id}/publication": "office",
    "DELETE /api/v1/messages/{message_id}/publication": "office",
    "GET /api/v1/public/results": "anon " + STAFF,
    "POST /api/v1/messages/{message_id}/merge": "office",
    "POST /api/v1/messages/{message_id}/merge/undo": "office",
    # liaison (services/liaison): reception sessions and contact obligations
    "GET /api/v1/sessions": "anon " + STAFF,
    "GET /api/v1/sessions/{session_id}": "office leader deputy",
    "POST /api/v1/sessions/{session_id}/bookings": "anon " + STAFF,
    "POST /api/v1/sessions/{session_id}/attendance": "office",
    "POST /api/v1/sessions/{session_id}/walk-ins": "office",
    "POST /api/v1/stations/{station_id}/sessions": "office",
    "POST /api/v1/stations/{station_id}/sessions/{session_id}/messages": "office",
    "GET /api/v1/reception-report": "office leader",
    "GET /api/v1/obligations": "office leader deputy",
    "POST /api/v1/obligations/check": "office",
    # a deputy's own QR code (亮代表码): a citizen's message for that deputy
    "POST /api/v1/deputies/{deputy_id}/messages": "anon " + STAFF,
    "GET /api/v1/deputies/{deputy_id}/qr.{fmt}": "anon " + STAFF,
    "POST /api/v1/obligations/{obligation_id}/contacts": "office deputy",
    "GET /api/v1/contacts": "office leader deputy",
    # deputy groups' activities and research (services/liaison)
    "GET /api/v1/group-activities": "office leader deputy",
    "POST /api/v1/group-activities": "office",
    "GET /api/v1/group-activities/{activity_id}": "office leader deputy",
    "POST /api/v1/group-activities/{activity_id}/sign-up": "deputy",
    "POST /api/v1/group-activities/{activity_id}/withdraw": "deputy",
    "POST /api/v1/group-activities/{activity_id}/attendance": "office",
    "POST /api/v1/group-activities/{activity_id}/findings": "office deputy",
    "POST /api/v1/group-activities/{activity_id}/suggestion": "deputy",
    # livelihood-project voting (services/projects)
    "POST /api/v1/projects/proposals": "office deputy",
    "GET /api/v1/projects/proposals": "office leader deputy",
    "POST /api/v1/projects/ballots": "office",
    "GET /api/v1/projects/ballots": "office leader deputy",
    "GET /api/v1/projects/results": "anon " + STAFF,
    "GET /api/v1/projects/ballots/{ballot_id}": "office leader deputy",
    "POST /api/v1/projects/ballots/{ballot_id}/open": "office",
    "POST /api/v1/projects/ballots/{ballot_id}/close": "office",
    "POST /api/v1/projects/ballots/{ballot_id}/votes": "deputy",
    "GET /api/v1/projects": STAFF,
    "GET /api/v1/projects/{project_id}": STAFF,
    "PUT /api/v1/projects/{project_id}/unit": "office",
    "POST /api/v1/projects/{project_id}/milestones": "office",
    "POST /api/v1/projects/{project_id}/milestones/{milestone_id}/reports": "unit",
    "POST /api/v1/projects/{project_id}/complete": "office",
    "POST /api/v1/projects/{project_id}/evaluations": "deputy",
    "POST /api/v1/projects/{project_id}/evaluation/close": "office",
    # reports to voters and their evaluation (services/reports)
    "POST /api/v1/reports": "office",
    "GET /api/v1/reports": "office leader deputy",
    "GET /api/v1/reports/due": "office leader",
    "GET /api/v1/reports/{report_id}": "office leader deputy",
    "GET /api/v1/reports/{report_id}/basis": "office leader deputy",
    "POST /api/v1/reports/{report_id}/held": "office",
    "POST /api/v1/reports/{report_id}/evaluations": "anon " + STAFF,
    "POST /api/v1/reports/{report_id}/evaluation/close": "office",
    # reference data (services/registry): the office (and the administrator) change records
    # and open terms; any signed-in staff member lists them
    "GET /api/v1/admin/registry/{kind}": STAFF,
    "GET /api/v1/admin/registry/{kind}/{key}": "office",
    "PUT /api/v1/admin/registry/{kind}/{key}": "office",
    "GET /api/v1/admin/terms": STAFF,
    "POST /api/v1/admin/terms": "office",
    # roster import and export (services/gateway/routes_imports.py): the office (and the
    # administrator: tests/integration/test_roster_import.py)
    "POST /api/v1/admin/imports/{kind}": "office",
    "GET /api/v1/admin/exports/{kind}": "office",
    # routing rules (交办规则, services/assignment): the office changes them, the office and
    # leaders read them (tests/integration/test_routing_rules.py)
    "GET /api/v1/admin/routing-rules": "office leader",
    "GET /api/v1/admin/routing-rules/{rule_id}": "office leader",
    "PUT /api/v1/admin/routing-rules/{rule_id}": "office",
    "DELETE /api/v1/admin/routing-rules/{rule_id}": "office",
    "POST /api/v1/admin/routing-rules/order": "office",
}


def api_endpoints() -> list[str]:
    app = create_app()
    return sorted(f"{m} {r.path}" for r in app.routes if hasattr(r, "methods")
                  and r.path.startswith("/api/v1") for m in r.methods - {"HEAD"})


def test_every_endpoint_is_in_the_matrix():
    assert sorted(MATRIX) == api_endpoints()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_every_cell_of_the_role_by_endpoint_matrix(api, system):
    wrong = []
    for endpoint, allowed in MATRIX.items():
        method, template = endpoint.split(" ", 1)
        path = template.format(**IDS)
        for role in ("anon", *USERS):
            headers = await api.login(USERS[role]) if role != "anon" else {}
            r = await api.client.request(method, path, headers=headers,
                                         json=None if method == "GET" else {})
            if role in allowed.split():
                ok = r.status_code not in (401, 403) and r.status_code < 500
            elif role == "anon":
                ok = r.status_code == 401
            else:
                ok = r.status_code in (403, 404)
            if not ok:
                wrong.append(f"{endpoint} as {role}: {r.status_code} {r.text[:120]}")
    assert wrong == []


# --- the object-level half -------------------------------------------------------------------
#
# The same roles against real objects of other parties: deputy-1 (lead of A, co-signed by
# deputy-2) tries deputy-3's suggestions B (registered, handled by unit-b) and C (never
# registered), the messages of deputy-3's station (one held and answered by deputy-3, one
# forwarded to unit-b, one waiting in that pool), deputy-2's answer at their shared station,
# deputy-3's activity and duty record; unit-a (A's handling unit) tries unit-b's task, case,
# suggestion and message and deputy-3's unregistered suggestion. Each is answered 404 (or 403)
# or left out of the list, and the counts of the board and the statistics count only what is
# visible. The office and leaders see every one. Decided by the service that owns the data
# (docs/security.md, "Who sees what"), the gateway's role checks in front.

FENGJIE, JIADING = "station-fengjie", "station-jiading"


async def _task_of(api, case_id: str) -> dict:
    async def found():
        r = await api.get("office", "/api/v1/tasks", case_id=case_id)
        return r.status_code == 200 and r.json() and r.json()[0]

    from tests.harness import eventually

    return await eventually(found)


async def _suggestion(api, deputy: str, category: str, co: list[str], title: str,
                      register: bool = True) -> str:
    r = await api.post(deputy, "/api/v1/suggestions",
                       {"title": title, "body": "正文", "category": category, "co_signers": co})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    if register:
        r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
        assert r.status_code == 200, r.text
    return sid


async def _message(api, station: str, content: str) -> str:
    r = await api.client.post(f"/api/v1/stations/{station}/messages",
                              json={"content": content, "contact_phone": "13812345678"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _answered(api, deputy: str, station: str, content: str, answer: str) -> str:
    mid = await _message(api, station, content)
    r = await api.post(deputy, f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 200, r.text
    r = await api.post(deputy, f"/api/v1/messages/{mid}/answer", {"text": answer})
    assert r.status_code == 200, r.text
    return mid


async def _replied(api, unit: str, task_id: str) -> None:
    r = await api.post(unit, f"/api/v1/tasks/{task_id}/contact", {"note": "已联系代表"})
    assert r.status_code == 200, r.text
    r = await api.post(unit, f"/api/v1/tasks/{task_id}/reply",
                       {"result_class": "A", "text": "已办结"})
    assert r.status_code == 200, r.text


@pytest.fixture
async def parties(api, system) -> dict[str, str]:
    from tests.harness import eventually

    o: dict[str, str] = {}
    o["A"] = await _suggestion(api, "deputy-1", "urban_construction", ["deputy-2"], "修缮社区道路")
    o["B"] = await _suggestion(api, "deputy-3", "livelihood", [], "加装电梯")
    o["C"] = await _suggestion(api, "deputy-3", "ecology", [], "河道治理", register=False)
    o["task_A"] = (await _task_of(api, o["A"]))["task_id"]
    o["task_B"] = (await _task_of(api, o["B"]))["task_id"]
    await _replied(api, "unit-a", o["task_A"])
    await _replied(api, "unit-b", o["task_B"])
    o["m_fengjie"] = await _answered(api, "deputy-2", FENGJIE, "路灯不亮", "已联系街道修复路灯")
    o["m_jiading"] = await _answered(api, "deputy-3", JIADING, "垃圾清运不及时", "已督促物业")
    o["m_forwarded"] = await _message(api, JIADING, "噪声扰民")
    r = await api.post("office", f"/api/v1/messages/{o['m_forwarded']}/forward",
                       {"unit_id": "unit-b"})
    assert r.status_code == 200, r.text
    o["m_pool"] = await _message(api, JIADING, "小区停车难")
    r = await api.post("deputy-3", "/api/v1/deputies/deputy-3/activities",
                       {"kind": "reception_day", "date": "2026-02-16",
                        "description": "进站接待群众 6 人次"})
    assert r.status_code == 201, r.text
    o["activity"] = r.json()["id"]

    async def settled():  # the points of A (deputy-1 and deputy-2) and B (deputy-3) are in
        view = (await api.get("office", f"/api/v1/suggestions/{o['A']}")).json()
        three = (await api.get("office", "/api/v1/deputies/deputy-3/points")).json()
        return len(view["points_awarded"]) >= 2 and three["total"] > 0

    await eventually(settled)
    return o


def _ids(rows: list[dict], key: str = "id") -> set[str]:
    return {r[key] for r in rows}


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_each_role_tries_another_partys_objects(api, system, parties):
    o = parties
    wrong: list[str] = []

    def expect(what: str, ok: bool, r=None) -> None:
        if not ok:
            wrong.append(f"{what}: {r.status_code if r is not None else ''} "
                         f"{r.text[:160] if r is not None else ''}")

    async def hidden(user: str, path: str, **params) -> None:
        r = await api.get(user, path, **params)
        expect(f"GET {path} {params or ''} as {user} → 403/404", r.status_code in (403, 404), r)

    async def rows(user: str, path: str, **params) -> tuple[list[dict], object]:
        r = await api.get(user, path, limit=500, **params)
        assert r.status_code == 200, (user, path, r.text)
        return r.json(), r

    # --- deputy-1: deputy-3's suggestions, tasks, cases, messages, activity and record ----
    for sid in ("B", "C"):
        await hidden("deputy-1", f"/api/v1/suggestions/{o[sid]}")
    listed, r = await rows("deputy-1", "/api/v1/suggestions")
    expect("deputy-1's suggestions without B and C", _ids(listed) == {o["A"]}, r)
    await hidden("deputy-1", f"/api/v1/tasks/{o['task_B']}")
    listed, r = await rows("deputy-1", "/api/v1/tasks")
    expect("deputy-1's tasks: A's only", _ids(listed, "task_id") == {o["task_A"]}, r)
    listed, r = await rows("deputy-1", "/api/v1/tasks", case_id=o["B"])
    expect("deputy-1's tasks of case B: none", listed == [], r)
    for path in (f"/api/v1/cases/{o['B']}/supervision", f"/api/v1/cases/{o['B']}/history",
                 f"/api/v1/cases/{o['B']}/verify", f"/api/v1/cases/{o['B']}/assignment",
                 f"/api/v1/suggestions/{o['B']}/assignment"):
        await hidden("deputy-1", path)
    r = await api.get("deputy-1", "/api/v1/board")
    board = r.json()
    expect("deputy-1's board counts A's task only",
           sum(board["totals"].values()) == 1 and o["B"] not in r.text
           and o["task_B"] not in r.text and set(board["by_unit"]) == {"unit-a"}, r)
    r = await api.get("deputy-1", "/api/v1/stats")
    expect("deputy-1's statistics count case A only",
           r.json()["cases"] == 1 and set(r.json()["per_unit"]) == {"unit-a"}, r)
    await hidden("deputy-1", f"/api/v1/messages/{o['m_jiading']}")
    await hidden("deputy-1", f"/api/v1/messages/{o['m_forwarded']}")
    await hidden("deputy-1", f"/api/v1/messages/{o['m_pool']}")
    listed, r = await rows("deputy-1", "/api/v1/messages")
    expect("deputy-1's messages: their station's only", _ids(listed) == {o["m_fengjie"]}, r)
    listed, r = await rows("deputy-1", "/api/v1/messages", station_id=JIADING)
    expect("deputy-1's messages of another station: none", listed == [], r)
    r = await api.get("deputy-1", f"/api/v1/messages/{o['m_fengjie']}")
    expect("deputy-2's answer not shown to deputy-1",
           r.status_code == 200 and r.json()["answer"] is None
           and "已联系街道修复路灯" not in r.text, r)
    r = await api.post("deputy-1", f"/api/v1/messages/{o['m_pool']}/claim")
    expect("deputy-1 cannot claim from another station's pool", r.status_code == 404, r)
    for path in ("/api/v1/deputies/deputy-3/points", "/api/v1/deputies/deputy-3/record",
                 "/api/v1/deputies/deputy-3/report", f"/api/v1/activities/{o['activity']}"):
        await hidden("deputy-1", path)
    await hidden("deputy-1", "/api/v1/activities", deputy_id="deputy-3")
    listed, r = await rows("deputy-1", "/api/v1/activities")
    expect("deputy-1's activities without deputy-3's", o["activity"] not in _ids(listed), r)
    r = await api.get("deputy-1", f"/api/v1/suggestions/{o['A']}")
    expect("deputy-1 sees their own points of A, not deputy-2's",
           r.status_code == 200 and r.json()["points_awarded"]
           and {p["deputy_id"] for p in r.json()["points_awarded"]} == {"deputy-1"}, r)
    r = await api.get("deputy-1", "/api/v1/rankings")
    expect("rankings stay public to deputies", r.status_code == 200, r)

    # --- unit-a: unit-b's task, case, suggestion and message; unregistered suggestions ----
    await hidden("unit-a", f"/api/v1/tasks/{o['task_B']}")
    listed, r = await rows("unit-a", "/api/v1/tasks")
    expect("unit-a's tasks: its own", _ids(listed, "task_id") == {o["task_A"]}, r)
    await hidden("unit-a", "/api/v1/tasks", unit_id="unit-b")
    for path in (f"/api/v1/suggestions/{o['B']}", f"/api/v1/suggestions/{o['C']}",
                 f"/api/v1/cases/{o['B']}/supervision", f"/api/v1/cases/{o['B']}/history",
                 f"/api/v1/messages/{o['m_forwarded']}", f"/api/v1/messages/{o['m_pool']}",
                 "/api/v1/deputies/deputy-3/points"):
        await hidden("unit-a", path)
    listed, r = await rows("unit-a", "/api/v1/suggestions")
    expect("unit-a's suggestions: those assigned to it", _ids(listed) == {o["A"]}, r)
    listed, r = await rows("unit-a", "/api/v1/suggestions", status="submitted")
    expect("unit-a's suggestions: no unregistered one", listed == [], r)
    await hidden("unit-a", "/api/v1/suggestions", unit_id="unit-b")
    listed, r = await rows("unit-a", "/api/v1/messages")
    expect("unit-a's messages: none forwarded to it", listed == [], r)
    r = await api.get("unit-a", "/api/v1/board")
    expect("unit-a's board counts its own task only",
           sum(r.json()["totals"].values()) == 1 and o["task_B"] not in r.text, r)
    r = await api.get("unit-a", "/api/v1/stats")
    expect("unit-a's statistics count its own case only",
           r.json()["cases"] == 1 and set(r.json()["per_unit"]) == {"unit-a"}, r)
    r = await api.get("unit-a", f"/api/v1/suggestions/{o['A']}")
    expect("unit-a sees A without duty points",
           r.status_code == 200 and r.json()["points_awarded"] == [], r)

    # --- the office and leaders see every party's objects ---------------------------------
    for user in ("office", "leader"):
        for path in (f"/api/v1/tasks/{o['task_B']}", f"/api/v1/messages/{o['m_jiading']}",
                     f"/api/v1/suggestions/{o['C']}", f"/api/v1/cases/{o['B']}/supervision"):
            r = await api.get(user, path)
            expect(f"GET {path} as {user} → 200", r.status_code == 200, r)
        listed, r = await rows(user, "/api/v1/tasks")  # A's, B's and the forwarded message's
        expect(f"{user}'s tasks: all", {o["task_A"], o["task_B"]} <= _ids(listed, "task_id")
               and len(listed) == 3, r)
        r = await api.get(user, "/api/v1/stats")
        expect(f"{user}'s statistics count both cases", r.json()["cases"] == 2, r)
        r = await api.get(user, "/api/v1/board")
        expect(f"{user}'s board counts every task", sum(r.json()["totals"].values()) == 3, r)
        listed, r = await rows(user, "/api/v1/messages")
        expect(f"{user}'s messages: all", len(listed) == 4, r)
        r = await api.get(user, f"/api/v1/messages/{o['m_fengjie']}")
        expect(f"{user} reads the answer", r.json()["answer"] == "已联系街道修复路灯", r)
    r = await api.get("office", "/api/v1/suggestions", limit=500)
    expect("the office lists every suggestion", {o["A"], o["B"], o["C"]} <= _ids(r.json()), r)

    # --- a deputy keeps seeing what they held, and deputy-3 sees their own ----------------
    r = await api.get("deputy-3", f"/api/v1/messages/{o['m_jiading']}")
    expect("deputy-3 reads their own answer", r.json()["answer"] == "已督促物业", r)
    listed, r = await rows("deputy-3", "/api/v1/tasks")
    expect("deputy-3's tasks: B's", _ids(listed, "task_id") == {o["task_B"]}, r)
    r = await api.get("deputy-2", f"/api/v1/tasks/{o['task_A']}")
    expect("the co-signer deputy-2 reads A's task", r.status_code == 200, r)
    assert wrong == [], "\n".join(wrong)

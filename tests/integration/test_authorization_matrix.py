"""The role × endpoint authorization matrix, every cell, against the real running services.

A role that may use an endpoint never gets 401 or 403 (it may get 404 or 422 for the dummy
ids and empty bodies used here); a role that may not gets 403 (or 404 where existence must not
leak), and an anonymous caller 401. Object-level rules (a unit's own tasks, a deputy's own
suggestions) are tested with real objects in the feature tests. Every /api/v1 endpoint must be
classified here: a new endpoint without a row fails the test."""

from __future__ import annotations

import pytest

from services.gateway.app import create_app

USERS = {"office": "office", "leader": "leader", "unit": "unit-a", "deputy": "deputy-1"}
STAFF = "office leader unit deputy"
IDS = {"suggestion_id": "00000000-0000-0000-0000-0000000000aa",
       "task_id": "00000000-0000-0000-0000-0000000000bb",
       "message_id": "00000000-0000-0000-0000-0000000000cc",
       "case_id": "00000000-0000-0000-0000-0000000000dd",
       "activity_id": "00000000-0000-0000-0000-0000000000ee",
       "review_id": "r1", "period": "2026-01", "station_id": "st-none", "fmt": "svg",
       "deputy_id": "deputy-1", "unit_id": "unit-a",
       "notification_id": "00000000-0000-0000-0000-0000000000ff",
       "token": "no-such-follow-up-token"}

# endpoint → the roles allowed ("anon": no token needed)
MATRIX = {
    "POST /api/v1/auth/token": "anon " + STAFF,
    "GET /api/v1/me": STAFF,
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
    "GET /api/v1/reply-templates": STAFF,
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
    "GET /api/v1/public/results": "anon " + STAFF,
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

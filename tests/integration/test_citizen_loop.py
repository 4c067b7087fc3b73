"""The citizen's loop after a message is forwarded: the unit's feedback reaches the message,
the follow-up API and page show it, the citizen rates only once it is there, and Open311
shows the feedback and the closed status."""

from __future__ import annotations

from tests.harness import eventually
from tests.integration.test_citizen_messages import post_message


async def test_a_forwarded_message_reaches_the_units_feedback(api, system):
    message = await post_message(api)
    mid, token = message["id"], message["follow_up_token"]
    r = await api.client.get(f"/api/v1/follow-up/{token}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "received" and r.json()["can_rate"] is False

    r = await api.post("office", f"/api/v1/messages/{mid}/forward", {"unit_id": "unit-a"})
    assert r.status_code == 200, r.text
    # forwarded, no feedback yet: nothing to rate
    r = await api.client.post(f"/api/v1/messages/{mid}/rating",
                              json={"rating": "satisfied", "token": token})
    assert r.status_code == 409, r.text
    r = await api.client.get(f"/open311/v2/requests/{mid}.json")
    assert r.status_code == 200 and r.json()[0]["status"] == "open"
    page = await api.client.get(f"/f/{token}")
    assert page.status_code == 200 and "已转交承办单位办理" in page.text
    assert 'id="not-yet"' in page.text and "rate-form" not in page.text

    async def task():
        r = await api.get("unit-a", "/api/v1/tasks")
        found = [t for t in r.json() if t["case_id"] == mid]
        return found[0] if found else None

    t = await eventually(task)
    r = await api.post("unit-a", f"/api/v1/tasks/{t['task_id']}/reply",
                       {"result_class": "B", "text": "已列入维修计划",
                        "commitment_date": "2026-06-30"})
    assert r.status_code == 200, r.text

    async def feedback():
        r = await api.client.get(f"/api/v1/follow-up/{token}")
        return r.json().get("feedback") and r.json()

    view = await eventually(feedback)
    assert view["can_rate"] is True and view["status"] == "forwarded"
    assert view["feedback"]["result_class"] == "B"
    assert view["feedback"]["commitment_date"] == "2026-06-30"
    assert "区住房和城乡建设局已反馈" in view["feedback"]["text"]
    assert view["feedback"]["reply_text"] == "已列入维修计划"  # the unit's own words

    r = await api.client.get(f"/open311/v2/requests/{mid}.json")
    request = r.json()[0]
    assert request["status"] == "closed"
    assert "区住房和城乡建设局已反馈" in request["status_notes"]
    assert "2026-06-30" in request["status_notes"]
    assert "已列入维修计划" not in r.text  # the reply's text is the citizen's, not public

    page = await api.client.get(f"/f/{token}")
    assert 'id="feedback"' in page.text and "rate-form" in page.text
    assert 'id="reply-text"' in page.text and "已列入维修计划" in page.text
    assert message.get("contact_phone") is None or message["contact_phone"] not in page.text

    r = await api.client.post(f"/api/v1/messages/{mid}/rating",
                              json={"rating": "satisfied", "token": token})
    assert r.status_code == 200, r.text
    r = await api.client.get(f"/api/v1/follow-up/{token}")
    assert r.json()["can_rate"] is False and r.json()["rating"] == "satisfied"
    r = await api.client.get("/api/v1/follow-up/not-a-real-token-at-all")
    assert r.status_code == 404


async def test_the_station_form_clears_guards_and_explains(api, system):
    r = await api.client.get("/s/station-fengjie")
    assert r.status_code == 200
    assert 'id="privacy"' in r.text and "个人信息说明" in r.text
    assert "e.target.reset()" in r.text and "if (sending) return" in r.text
    assert '"/f/"' in r.text

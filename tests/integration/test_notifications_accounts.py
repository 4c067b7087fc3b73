"""Who notifications tells follows the accounts the administrator manages (issue 29, point 3):
a unit clerk's account created through the accounts API is told of the unit's next task, a
deputy's second account of their case's reply; a disabled account is told nothing while it is
disabled (the notification is made for the people of that moment); the directory is
notifications' own replica, so it holds across a restart of the service."""

from __future__ import annotations

from tests.harness import eventually
from tests.integration.test_accounts import ADMIN_URL, STRONG, admin, bearer, create
from tests.integration.test_supervision import assigned_case, reply


async def inbox(api, headers: dict, case_id: str) -> list[str]:
    r = await api.client.get("/api/v1/notifications", params={"limit": 500}, headers=headers)
    assert r.status_code == 200, r.text
    return [n["kind"] for n in r.json() if n["case_id"] == case_id]


async def test_accounts_created_linked_and_disabled_decide_who_is_told(api, system):
    boss = await admin(api)
    for username in ("clerk-b1", "clerk-b2"):
        r = await create(api, boss, username=username, roles=["unit"], unit_id="unit-b",
                         deputy_id=None)
        assert r.status_code == 201, r.text
    r = await create(api, boss, username="deputy-1-aide", roles=["deputy"],
                     deputy_id="deputy-1")
    assert r.status_code == 201, r.text

    async def directory_has(username: str, **expected):
        app = system.app("notifications")
        account = app.recipients.accounts.get(username)
        return account is not None and all(account.get(k) == v for k, v in expected.items())

    await eventually(lambda: directory_has("clerk-b2", unit_id="unit-b", enabled=True))
    r = await api.client.post(f"{ADMIN_URL}/clerk-b2/disable", json={"reason": "借调"},
                              headers=boss)
    assert r.status_code == 200, r.text
    await eventually(lambda: directory_has("clerk-b2", enabled=False))

    case_id, task = await assigned_case(api)
    b1 = await bearer(api, "clerk-b1", STRONG)

    async def told(headers: dict, kind: str):
        return kind in await inbox(api, headers, case_id)

    await eventually(lambda: told(b1, "task_assigned"))
    await api.post("unit-b", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
    r = await reply(api, task["task_id"], "A")
    assert r.status_code == 200, r.text
    aide = await bearer(api, "deputy-1-aide", STRONG)
    await eventually(lambda: told(aide, "reply_submitted"))

    # clerk-b2 was disabled when the task came: enabled again, it has nothing of that case
    r = await api.client.post(f"{ADMIN_URL}/clerk-b2/enable", json={}, headers=boss)
    assert r.status_code == 200, r.text
    b2 = await bearer(api, "clerk-b2", STRONG)
    assert await inbox(api, b2, case_id) == []
    await eventually(lambda: directory_has("clerk-b2", enabled=True))

    # the directory is rebuilt from notifications' own log
    await system.stop("notifications")
    await system.start("notifications")
    assert await directory_has("clerk-b1", unit_id="unit-b", roles=["unit"], enabled=True)
    assert await directory_has("clerk-b2", enabled=True)

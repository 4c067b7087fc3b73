"""Accounts (issue 29, point 3) through the gateway, against the real system on nats-server:
the administrator manages accounts, a person holds several roles and acts in one, a change
to an account holds at the next request, passwords have strength rules, every change is in the
account's history."""

from __future__ import annotations


import pytest

from tests.harness import eventually, rpc

ADMIN_URL = "/api/v1/admin/accounts"
STRONG = "Lianluo-2026-mima"


async def token(api, username: str, password: str, role: str | None = None):
    data = {"username": username, "password": password}
    if role:
        data["scope"] = role
    return await api.client.post("/api/v1/auth/token", data=data)


async def bearer(api, username: str, password: str, role: str | None = None) -> dict:
    r = await token(api, username, password, role)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def admin(api) -> dict:
    """The development office user acting as the accounts administrator."""
    return await bearer(api, "office", "office", "admin")


async def create(api, headers, **fields):
    body = {"username": "clerk-3", "display_name": "王秘书", "password": STRONG,
            "roles": ["deputy", "office"], "deputy_id": "deputy-3",
            "must_change_password": False, **fields}
    return await api.client.post(ADMIN_URL, json=body, headers=headers)


async def test_a_person_with_two_roles_acts_in_one_and_the_self_review_rule_holds(api, system):
    boss = await admin(api)
    r = await create(api, boss)
    assert r.status_code == 201, r.text
    assert r.json()["roles"] == ["deputy", "office"] and "password_hash" not in r.json()

    # the first role by default; the other chosen at sign-in or switched to
    as_deputy = await bearer(api, "clerk-3", STRONG)
    me = (await api.client.get("/api/v1/me", headers=as_deputy)).json()
    assert me["role"] == "deputy" and me["deputy_id"] == "deputy-3"
    assert me["roles"] == ["deputy", "office"] and me["must_change_password"] is False
    as_office = await bearer(api, "clerk-3", STRONG, "office")
    me = (await api.client.get("/api/v1/me", headers=as_office)).json()
    assert me["role"] == "office" and me["deputy_id"] == "deputy-3"
    switched = await api.client.post("/api/v1/auth/role", json={"role": "office"},
                                     headers=as_deputy)
    assert switched.status_code == 200 and switched.json()["role"] == "office"
    r = await token(api, "clerk-3", STRONG, "leader")  # a role not held
    assert r.status_code == 401

    # as a deputy they report an activity of deputy-3; as an office clerk they may not
    # approve it: the self-review rule holds whichever role the person acts in
    r = await api.client.post("/api/v1/deputies/deputy-3/activities", headers=as_deputy, json={
        "kind": "reception_day", "date": system.clock.now().date().isoformat(),
        "description": "代表联系服务群众日在联络站接待群众"})
    assert r.status_code == 201, r.text
    r = await api.client.post(f"/api/v1/activities/{r.json()['id']}/approve", headers=as_office)
    assert r.status_code == 403, r.text


async def test_role_change_and_disablement_hold_at_the_next_request(api):
    boss = await admin(api)
    assert (await create(api, boss)).status_code == 201
    as_deputy = await bearer(api, "clerk-3", STRONG)
    points = "/api/v1/deputies/deputy-3/points"
    assert (await api.client.get(points, headers=as_deputy)).status_code == 200

    r = await api.client.post(f"{ADMIN_URL}/clerk-3/revoke-roles", json={"roles": ["deputy"]},
                              headers=boss)
    assert r.status_code == 200 and r.json()["roles"] == ["office"], r.text
    r = await api.client.get(points, headers=as_deputy)
    assert r.status_code == 401, r.text
    assert (await token(api, "clerk-3", STRONG, "deputy")).status_code == 401
    as_office = await bearer(api, "clerk-3", STRONG)
    assert (await api.client.get("/api/v1/me", headers=as_office)).json()["role"] == "office"

    # granting a role withdraws nothing
    r = await api.client.post(f"{ADMIN_URL}/clerk-3/grant-roles", json={"roles": ["deputy"]},
                              headers=boss)
    assert r.status_code == 200 and r.json()["roles"] == ["office", "deputy"]
    assert (await api.client.get("/api/v1/me", headers=as_office)).status_code == 200

    r = await api.client.post(f"{ADMIN_URL}/clerk-3/disable", json={"reason": "调离"},
                              headers=boss)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await api.client.get("/api/v1/me", headers=as_office)).status_code == 401
    assert (await token(api, "clerk-3", STRONG)).status_code == 401
    r = await api.client.post(f"{ADMIN_URL}/clerk-3/enable", headers=boss)
    assert r.status_code == 200
    assert (await api.client.get("/api/v1/me", headers=as_office)).status_code == 401  # stays withdrawn
    assert (await token(api, "clerk-3", STRONG)).status_code == 200

    # an administrator does not lock themselves out
    r = await api.client.post(f"{ADMIN_URL}/office/disable", json={}, headers=boss)
    assert r.status_code == 403


async def test_a_reset_password_must_be_changed_with_a_strong_one(api):
    boss = await admin(api)
    assert (await create(api, boss, roles=["office"], deputy_id=None)).status_code == 201
    r = await api.client.post(f"{ADMIN_URL}/clerk-3/reset-password",
                              json={"new_password": "short"}, headers=boss)
    assert r.status_code == 422
    assert {e["loc"][-1] for e in r.json()["errors"]} == {"new_password"}
    r = await api.client.post(f"{ADMIN_URL}/clerk-3/reset-password",
                              json={"new_password": "Chongzhi-2026"}, headers=boss)
    assert r.status_code == 200 and r.json()["must_change_password"] is True

    assert (await token(api, "clerk-3", STRONG)).status_code == 401  # the old one is gone
    r = await token(api, "clerk-3", "Chongzhi-2026")
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await api.client.get("/api/v1/suggestions", headers=headers)
    assert r.status_code == 403 and "password" in r.json()["detail"]
    assert (await api.client.get("/api/v1/me", headers=headers)).json()["must_change_password"]

    weak = {"11111111111": "密码不能只由一类字符组成", "clerk-3-abcdef": "用户名",
            "Ab1": "至少需要 10 个字符"}
    for password, problem in weak.items():
        r = await api.client.post("/api/v1/me/password", headers=headers, json={
            "old_password": "Chongzhi-2026", "new_password": password})
        assert r.status_code == 422, r.text
        messages = [e["msg"] for e in r.json()["errors"] if e["loc"][-1] == "new_password"]
        assert any(problem in m for m in messages), (password, r.json())
    r = await api.client.post("/api/v1/me/password", headers=headers, json={
        "old_password": "wrong-old-password", "new_password": "Xin-mima-2026"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "old_password"
    r = await api.client.post("/api/v1/me/password", headers=headers, json={
        "old_password": "Chongzhi-2026", "new_password": "Xin-mima-2026"})
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await api.client.get("/api/v1/suggestions", headers=fresh)).status_code == 200
    assert (await api.client.get("/api/v1/me", headers=headers)).status_code == 401  # withdrawn


async def test_every_change_is_in_the_history_and_only_the_administrator_manages(api):
    boss = await admin(api)
    assert (await create(api, boss)).status_code == 201
    await api.client.post(f"{ADMIN_URL}/clerk-3/revoke-roles", json={"roles": ["office"]},
                          headers=boss)
    r = await api.client.patch(f"{ADMIN_URL}/clerk-3", json={"leader_id": "leader-1"},
                               headers=boss)
    assert r.status_code == 200 and r.json()["leader_id"] == "leader-1"
    await api.client.post(f"{ADMIN_URL}/clerk-3/disable", json={"reason": "调离"}, headers=boss)

    r = await api.client.get(f"{ADMIN_URL}/clerk-3/history", headers=boss)
    assert r.status_code == 200, r.text
    history = r.json()
    assert [h["event_type"] for h in history] == ["Created", "RolesRevoked", "Linked",
                                                  "Disabled"]
    assert all(h["actor"]["username"] == "office" and h["time"] for h in history)
    assert history[1]["data"]["before"] == ["deputy", "office"]
    assert history[1]["data"]["after"] == ["deputy"]
    assert history[2]["data"]["after"]["leader_id"] == "leader-1"
    assert "password_hash" not in str(history)

    r = await api.client.get(ADMIN_URL, params={"q": "clerk", "limit": 1}, headers=boss)
    assert r.status_code == 200 and [a["username"] for a in r.json()] == ["clerk-3"]
    r = await api.client.get(ADMIN_URL, params={"limit": 2}, headers=boss)
    assert len(r.json()) == 2 and 'rel="next"' in r.headers["Link"]

    # office (without acting as admin), a deputy, a unit: 403
    for user in ("office", "deputy-1", "unit-a"):
        r = await api.get(user, ADMIN_URL)
        assert r.status_code == 403, (user, r.text)
        r = await api.post(user, ADMIN_URL, {"username": "x-1", "password": STRONG,
                                             "roles": ["office"]})
        assert r.status_code == 403, (user, r.text)
    # and the service itself refuses whoever is not an administrator
    reply = await rpc(api.app.state.settings.nats_url, "accounts", "list_accounts", {},
                      actor={"username": "office", "role": "office"})
    assert reply["status"] == 403


async def test_a_seeded_scrypt_hash_is_rehashed_with_argon2_at_sign_in(api, system):
    app = system.app("accounts")
    assert app.find("deputy-1").password_hash.startswith("scrypt$")
    await bearer(api, "deputy-1", "deputy-1")
    assert app.find("deputy-1").password_hash.startswith("$argon2id$")
    await bearer(api, "deputy-1", "deputy-1")  # the new hash holds the same password
    assert (await token(api, "deputy-1", "wrong")).status_code == 401


def test_outside_development_mode_development_users_are_not_seeded(store, tmp_path, monkeypatch):
    """The shipped config/users.yaml (every password is the username) is refused outside
    development mode; a list of real users is seeded once, into an empty store only."""
    from services.accounts.application import AccountsApplication
    from services.accounts.bootstrap import InsecureUsers, seed_if_empty
    from services.gateway.passwords import hash_password
    from tests.harness import scratch_settings

    settings = scratch_settings(store, "accounts_seed", duty_dev_mode=False)
    app = AccountsApplication(settings)
    with pytest.raises(InsecureUsers, match="office"):
        seed_if_empty(app, settings)
    people = tmp_path / "users.yaml"
    people.write_text(f"- {{username: clerk, roles: [office, admin], password_hash: "
                      f"'{hash_password('clerk-Pass-2026')}'}}\n", encoding="utf-8")
    monkeypatch.setenv("USERS_FILE", str(people))
    assert seed_if_empty(app, settings) == 1
    assert app.find("clerk").roles == ["office", "admin"]
    assert seed_if_empty(app, settings) == 0  # never again
    app.close()


async def test_another_gateway_replica_forgets_the_account_on_its_event(api, system):
    """A second gateway, keeping account statuses for an hour, still refuses a disabled
    account's token within moments: it forgets the account on accounts.account_changed.v1."""
    import httpx
    from asgi_lifespan import LifespanManager

    from services.gateway.app import GatewaySettings, create_app
    from tests.harness import eventually

    boss = await admin(api)
    assert (await create(api, boss)).status_code == 201
    other = create_app(GatewaySettings(nats_url=system.nats_url, account_cache_seconds=3600))
    async with LifespanManager(other) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway-2") as client:
            r = await client.post("/api/v1/auth/token",
                                  data={"username": "clerk-3", "password": STRONG})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200

            r = await api.client.post(f"{ADMIN_URL}/clerk-3/disable", json={}, headers=boss)
            assert r.status_code == 200

            async def refused() -> bool:
                return (await client.get("/api/v1/me", headers=headers)).status_code == 401

            await eventually(refused, timeout=10)


async def test_an_account_is_linked_only_to_what_is_there_and_open(api, system):
    """The accounts service checks each link against its replica of the registry's records:
    an unknown deputy, unit or leader is a 422 on its field; a station's clerk is linked to
    their station as their unit; a deputy closed in the registry takes no new account."""
    boss = await admin(api)
    r = await create(api, boss, username="nobody-1", roles=["deputy"], deputy_id="deputy-99",
                     unit_id="unit-zz", leader_id="leader-99")
    assert r.status_code == 422, r.text
    assert {e["loc"][-1] for e in r.json()["errors"]} == {"deputy_id", "unit_id", "leader_id"}
    r = await create(api, boss, username="station-clerk", roles=["unit"], deputy_id=None,
                     unit_id="station-jiading")
    assert r.status_code == 201 and r.json()["unit_id"] == "station-jiading", r.text

    await system.start("registry")
    office = await bearer(api, "office", "office")
    record = (await api.client.get("/api/v1/admin/registry/deputy/deputy-4",
                                   headers=office)).json()["record"]
    r = await api.client.put("/api/v1/admin/registry/deputy/deputy-4", headers=office,
                             json={"record": record, "active": False})
    assert r.status_code == 200, r.text

    accounts = system.app("accounts")  # its replica learns of the closure from the bus
    await eventually(lambda: _false(accounts.reference.active("deputy", "deputy-4")),
                     timeout=30, interval=0.2)
    r = await create(api, boss, username="late-deputy", roles=["deputy"], deputy_id="deputy-4")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "deputy_id", r.text
    r = await api.client.patch(f"{ADMIN_URL}/station-clerk", json={"deputy_id": "deputy-4"},
                               headers=boss)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "deputy_id", r.text


async def _false(value: bool) -> bool:
    return not value

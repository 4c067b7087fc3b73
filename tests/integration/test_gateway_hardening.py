"""Gateway hardening (issue 24, findings 5-9; docs/security.md): start-up refusals outside
development mode, token versions and lifetimes, sign-in throttling, trusted proxies, body size
and time limits, Idempotency-Key, and credentials for /metrics and detailed health. Each test
runs a real gateway application on a real nats-server (in-process services where a route needs
them)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from asgi_lifespan import LifespanManager

from services.gateway import passwords
from services.gateway.app import DEV_SECRET, GatewaySettings, create_app
from services.gateway.auth import Authenticator, InsecureConfiguration, load_users, user_version
from services.gateway.passwords import hash_password
from tests.harness import ROOT

STRONG = secrets.token_urlsafe(32)  # 43 bytes
STATION = "station-fengjie"
MESSAGE = {"content": "小区路灯长期不亮", "category": "safety_hazard"}
# Users of a production-like list: nobody's password is their username.
PEOPLE = {"clerk": ("office", "clerk-pass-1", {}),
          "rep": ("deputy", "rep-pass-1", {"deputy_id": "deputy-1"})}


def write_users(path: Path, people: dict[str, tuple[str, str, dict[str, Any]]],
                **extra: dict[str, Any]) -> Path:
    """Write a user list (atomically, as an operator's deploy would)."""
    users = [{"username": name, "role": role, "password_hash": hash_password(password),
              **ids, **extra.get(name, {})} for name, (role, password, ids) in people.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(users), encoding="utf-8")
    tmp.replace(path)
    return path


@pytest.fixture(scope="module")
def people_file(tmp_path_factory) -> Path:
    return write_users(tmp_path_factory.mktemp("users") / "users.yaml", PEOPLE)


def production(users_file: Path, **settings: Any) -> dict[str, Any]:
    """Settings of a gateway outside development mode."""
    # the gateway's own user list (accounts_source="file"), as it was before the accounts
    # service; the accounts service's sign-in is tested in test_accounts.py
    return {"duty_dev_mode": False, "jwt_secret": STRONG, "users_file": users_file,
            "accounts_source": "file", **settings}


@asynccontextmanager
async def gateway(nats_url: str, client: tuple[str, int] = ("127.0.0.1", 40000),
                  **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(nats_url=nats_url, rpc_timeout_seconds=3.0, **settings))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


async def sign_in(http: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await http.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- 5. secret, development users, token versions and lifetimes ----------------------------

def test_outside_development_mode_the_gateway_refuses_weak_secrets_and_development_users(
        people_file):
    with pytest.raises(InsecureConfiguration, match="at least 32"):
        create_app(GatewaySettings(**production(people_file, jwt_secret="x" * 31)))
    with pytest.raises(InsecureConfiguration, match="JWT_SECRET is not set"):
        create_app(GatewaySettings(**production(people_file, jwt_secret=DEV_SECRET)))
    # the shipped config/users.yaml: every password is the username
    with pytest.raises(InsecureConfiguration, match="development users") as refused:
        create_app(GatewaySettings(duty_dev_mode=False, jwt_secret=STRONG, accounts_source="file"))
    assert "office" in str(refused.value) and "deputy-1" in str(refused.value)
    # what passes: a strong secret and a list of real users; and development mode, explicitly
    assert create_app(GatewaySettings(**production(people_file))).state.authenticator.users
    create_app(GatewaySettings(duty_dev_mode=True, jwt_secret="short"))


def test_the_entry_point_exits_with_a_short_secret_outside_development_mode(people_file):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DUTY_DEV_MODE="false", JWT_SECRET="only-20-bytes-secret", USERS_FILE=str(people_file),
               NATS_URL="nats://127.0.0.1:1", GATEWAY_PORT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "services.gateway"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "InsecureConfiguration" in proc.stderr and "at least 32" in proc.stderr


async def test_a_removed_user_or_a_changed_password_revokes_the_users_tokens(nats_server, tmp_path):
    users = write_users(tmp_path / "users.yaml", PEOPLE)
    async with gateway(nats_server.url, **production(users, users_reload_seconds=0)) as http:
        clerk = await sign_in(http, "clerk", "clerk-pass-1")
        rep = await sign_in(http, "rep", "rep-pass-1")
        for headers in (clerk, rep):
            assert (await http.get("/api/v1/me", headers=headers)).status_code == 200

        # the clerk leaves (removed from the list); the deputy changes their password
        write_users(users, {"rep": ("deputy", "rep-pass-2", {"deputy_id": "deputy-1"})})
        r = await http.get("/api/v1/me", headers=clerk)
        assert r.status_code == 401 and "no such user" in r.json()["detail"]
        r = await http.get("/api/v1/me", headers=rep)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        rep = await sign_in(http, "rep", "rep-pass-2")
        assert (await http.get("/api/v1/me", headers=rep)).status_code == 200

        # an administrator revokes every token of a user by bumping token_version
        write_users(users, {"rep": ("deputy", "rep-pass-2", {"deputy_id": "deputy-1"})},
                    rep={"token_version": 2})
        assert (await http.get("/api/v1/me", headers=rep)).status_code == 401
        # ... and disables a user: no token, no sign-in
        write_users(users, {"rep": ("deputy", "rep-pass-2", {"deputy_id": "deputy-1"})},
                    rep={"disabled": True})
        r = await http.post("/api/v1/auth/token", data={"username": "rep", "password": "rep-pass-2"})
        assert r.status_code == 401


async def test_a_self_signed_ten_year_token_is_refused_even_with_the_right_key(nats_server,
                                                                             people_file):
    clerk = next(u for u in load_users(people_file) if u["username"] == "clerk")
    now = datetime.now(timezone.utc)

    def token(**override: Any) -> dict[str, str]:
        claims = {"sub": "clerk", "role": "office", "iss": "duty-liaison-gateway",
                  "aud": "duty-liaison-api", "iat": now, "exp": now + timedelta(minutes=30),
                  "ver": user_version(clerk), **override}
        claims = {k: v for k, v in claims.items() if v is not None}
        return {"Authorization": f"Bearer {jwt.encode(claims, STRONG, algorithm='HS256')}"}

    async with gateway(nats_server.url, **production(people_file)) as http:
        assert (await http.get("/api/v1/me", headers=token())).status_code == 200  # the control
        for refused in (token(exp=now + timedelta(days=3650)),
                        token(iat=None, exp=now + timedelta(days=3650)),
                        token(iat=now - timedelta(days=1), exp=now + timedelta(minutes=5)),
                        token(sub="ghost"), token(ver=None)):
            r = await http.get("/api/v1/me", headers=refused)
            assert r.status_code == 401, r.text


# --- 6. sign-in throttling and timing -------------------------------------------------------

async def test_repeated_failed_sign_ins_get_429_with_retry_after(nats_server, people_file):
    settings = production(people_file, login_failure_limit="3/minute",
                          login_address_failure_limit="6/minute")
    async with gateway(nats_server.url, **settings) as http:
        for _ in range(3):
            r = await http.post("/api/v1/auth/token", data={"username": "clerk", "password": "guess"})
            assert r.status_code == 401
        # the username is locked for now: even the right password is not looked at
        r = await http.post("/api/v1/auth/token",
                            data={"username": "clerk", "password": "clerk-pass-1"})
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 429
        # the same (case-folded) name in a multipart form is the same username
        r = await http.post("/api/v1/auth/token", files={"username": (None, "CLERK"),
                                                         "password": (None, "x")})
        assert r.status_code == 429
        # another user signs in from the same address ...
        await sign_in(http, "rep", "rep-pass-1")
        # ... until the address has used up its failures, whatever the usernames
        for name in ("a", "b", "c"):
            r = await http.post("/api/v1/auth/token", data={"username": name, "password": "x"})
            assert r.status_code == 401
        r = await http.post("/api/v1/auth/token", data={"username": "rep", "password": "rep-pass-1"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # the web application's sign-in is counted with the same throttle
        r = await http.post("/app/login", data={"username": "rep", "password": "rep-pass-1"})
        assert r.status_code == 429


def test_an_unknown_username_costs_the_same_scrypt_as_a_known_one(monkeypatch, people_file):
    authenticator = Authenticator([], STRONG, "iss", "aud", timedelta(minutes=5),
                                  users_file=people_file)
    calls: list[int] = []
    real = passwords.hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs["n"])
        return real(*args, **kwargs)

    passwords.dummy_hash()  # made once, before counting
    monkeypatch.setattr(passwords.hashlib, "scrypt", counted)
    assert authenticator.authenticate("clerk", "wrong") is None
    assert authenticator.authenticate("nobody-by-this-name", "wrong") is None
    assert calls == [passwords.N, passwords.N]


# --- 7. trusted proxies ---------------------------------------------------------------------

async def test_a_forged_x_forwarded_for_is_not_believed_by_default(nats_server, people_file):
    path = f"/api/v1/stations/{STATION}/messages"
    async with gateway(nats_server.url, **production(people_file, citizen_rate_limit="2/minute")) as http:
        statuses = [(await http.post(path, json={}, headers={"X-Forwarded-For": f"203.0.113.{i}"})
                     ).status_code for i in range(3)]
        assert statuses[:2] == [422, 422] and statuses[2] == 429  # all one client: the peer

    # behind a configured proxy the header names the client, and only from that proxy
    async with gateway(nats_server.url, **production(people_file, citizen_rate_limit="2/minute",
                                                     trusted_proxies="127.0.0.1, 10.0.0.0/8")) as http:
        for i in range(3):
            r = await http.post(path, json={}, headers={
                "X-Forwarded-For": f"198.51.100.{i}, 10.1.2.3"})  # client, then an inner proxy
            assert r.status_code == 422, r.text
        for i in range(3):  # a client's own forged hop to the left does not matter
            r = await http.post(path, json={}, headers={
                "X-Forwarded-For": f"192.0.2.{i}, 198.51.100.50"})
        assert r.status_code == 429
    async with gateway(nats_server.url, client=("203.0.113.99", 5000),
                       **production(people_file, citizen_rate_limit="2/minute",
                                    trusted_proxies="127.0.0.1")) as http:
        statuses = [(await http.post(path, json={}, headers={"X-Forwarded-For": f"192.0.2.{i}"})
                     ).status_code for i in range(3)]
        assert statuses[2] == 429  # not a trusted proxy: its header is ignored


def test_uvicorn_does_not_read_proxy_headers_itself(monkeypatch):
    from services.gateway.__main__ import uvicorn_options

    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    options = uvicorn_options(GatewaySettings(trusted_proxies="10.0.0.1"))
    assert options["proxy_headers"] is False


# --- 8. body size and time ------------------------------------------------------------------

async def test_a_body_over_one_mib_gets_413_before_it_is_read(nats_server, people_file):
    path = f"/api/v1/stations/{STATION}/messages"
    async with gateway(nats_server.url, **production(people_file)) as http:
        big = b'{"content": "' + b"x" * (1024 * 1024) + b'"}'
        r = await http.post(path, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 413

        sent: list[int] = []

        async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length
            for i in range(64):  # 4 MiB in all
                sent.append(i)
                yield b"x" * 65536

        r = await http.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert len(sent) <= 17 < 64  # stopped just past 1 MiB, the rest never read

        # just under the limit: read, and refused by the route's own validation
        r = await http.post(path, json={"content": "x" * (1000 * 1000)})
        assert r.status_code == 422


async def test_a_body_that_does_not_arrive_in_time_gets_408(nats_server, people_file):
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b'{"content": '
        started.set()
        await asyncio.sleep(3600)
        yield b'"x"}'

    async with gateway(nats_server.url, **production(people_file, body_timeout_seconds=0.3)) as http:
        r = await http.post(f"/api/v1/stations/{STATION}/messages", content=slow(),
                            headers={"content-type": "application/json"})
        assert started.is_set()
        assert r.status_code == 408, r.text
        assert r.json()["title"] == "Request timeout"


# --- 9. Idempotency-Key ---------------------------------------------------------------------

SUGGESTION = {"title": "幂等提交测试", "body": "同一个 Idempotency-Key 只记录一次。",
              "category": "livelihood", "co_signers": []}


def rows(answer: Any) -> list[dict[str, Any]]:
    return answer if isinstance(answer, list) else answer.get("items", [])


async def suggestions_titled(api: Any, title: str) -> list[dict[str, Any]]:
    r = await api.get("office", "/api/v1/suggestions")
    assert r.status_code == 200, r.text
    return [s for s in rows(r.json()) if s["title"] == title]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_the_same_idempotency_key_twice_records_one_suggestion(api, system):
    key = {"Idempotency-Key": "submit-7f3a2c"}
    headers = {**await api.login("deputy-1"), **key}
    first = await api.client.post("/api/v1/suggestions", json=SUGGESTION, headers=headers)
    assert first.status_code == 201, first.text
    again = await api.client.post("/api/v1/suggestions", json=SUGGESTION, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [s["id"] for s in await suggestions_titled(api, SUGGESTION["title"])] == \
        [first.json()["id"]]

    # the same key with another body: refused, nothing recorded
    r = await api.client.post("/api/v1/suggestions", headers=headers,
                              json={**SUGGESTION, "title": "另一条"})
    assert r.status_code == 422 and "different request" in r.json()["detail"]
    assert await suggestions_titled(api, "另一条") == []
    # the key belongs to its user: another deputy's same key is another request
    r = await api.client.post("/api/v1/suggestions", json=SUGGESTION,
                              headers={**await api.login("deputy-2"), **key})
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]
    # keys are bounded
    r = await api.client.post("/api/v1/suggestions", json=SUGGESTION,
                              headers={**headers, "Idempotency-Key": "k" * 256})
    assert r.status_code == 400

    # an anonymous citizen's message: the same answer, follow-up token included
    path = f"/api/v1/stations/{STATION}/messages"
    one = await api.client.post(path, json=MESSAGE, headers={"Idempotency-Key": "msg-1"})
    two = await api.client.post(path, json=MESSAGE, headers={"Idempotency-Key": "msg-1"})
    assert one.status_code == 201 and two.json() == one.json()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_idempotency_holds_across_a_gateway_restart(api, system):
    headers = {**await api.login("deputy-1"), "Idempotency-Key": "restart-1"}
    first = await api.client.post("/api/v1/suggestions", json=SUGGESTION, headers=headers)
    assert first.status_code == 201, first.text
    # another gateway instance (a restart, or another replica) on the same NATS
    async with gateway(system.nats_url) as other:
        again = await other.post("/api/v1/suggestions", json=SUGGESTION, headers=headers)
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await suggestions_titled(api, SUGGESTION["title"])) == 1


async def test_a_concurrent_request_with_the_same_key_gets_409(nats_server):
    """The second request arrives while the first is being carried out."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from services.gateway.idempotency import IdempotencyMiddleware, IdempotencyStore

    entered, release = asyncio.Event(), asyncio.Event()
    done: list[int] = []

    async def command(request: Any) -> JSONResponse:
        entered.set()
        await release.wait()
        done.append(1)
        return JSONResponse({"done": len(done)}, status_code=201)

    # as the gateway connects (its own identity where the bus has authorization)
    connection = await __import__("nats").connect(
        GatewaySettings(nats_url=nats_server.url).nats_servers())
    try:
        settings = GatewaySettings()
        store = IdempotencyStore(lambda: connection, settings.idempotency_bucket,
                                 settings.idempotency_ttl_hours * 3600, 1,
                                 secrets.token_urlsafe(32))  # a key space of its own
        app = IdempotencyMiddleware(Starlette(routes=[Route("/api/v1/do", command, methods=["POST"])]),
                                    store=store, caller=lambda scope: "user:someone",
                                    pending_seconds=60)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gateway") as http:
            headers = {"Idempotency-Key": "same"}
            first = asyncio.create_task(http.post("/api/v1/do", json={"a": 1}, headers=headers))
            await asyncio.wait([first, asyncio.create_task(entered.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            assert entered.is_set(), (await first).text
            second = await http.post("/api/v1/do", json={"a": 1}, headers=headers)
            assert second.status_code == 409 and second.headers["Retry-After"] == "1"
            release.set()
            assert (await first).status_code == 201
            third = await http.post("/api/v1/do", json={"a": 1}, headers=headers)
            assert (third.status_code, third.json()) == (201, {"done": 1})
            assert done == [1]
    finally:
        await connection.close()


# --- /metrics and detailed health -----------------------------------------------------------

@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_metrics_and_detailed_health_need_a_credential(system, people_file):
    metrics_token = secrets.token_urlsafe(32)
    async with gateway(system.nats_url, **production(people_file, metrics_token=metrics_token)) as http:
        r = await http.get("/health")
        assert r.status_code in (200, 503) and set(r.json()) == {"status"}
        r = await http.get("/metrics/intake")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        deputy = await sign_in(http, "rep", "rep-pass-1")
        assert (await http.get("/metrics/intake", headers=deputy)).status_code == 403
        assert set((await http.get("/health", headers=deputy)).json()) == {"status"}
        office = await sign_in(http, "clerk", "clerk-pass-1")
        for credential in (office, {"Authorization": f"Bearer {metrics_token}"}):
            r = await http.get("/metrics/intake", headers=credential)
            assert r.status_code == 200 and "duty_" in r.text
            r = await http.get("/health", headers=credential)
            from services.gateway.app import SERVICES as WAITED_FOR
            assert set(r.json()["services"]) == set(WAITED_FOR)  # every service, projects too
            assert {"intake", "assignment", "supervision", "points", "notifications",
                    "projects"} <= set(WAITED_FOR)

"""The gateway's security edges: tokens it must refuse on every kind of route, strict bodies,
who may see and act on what, and the rate limits on the anonymous citizen endpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import DEV_SECRET, GatewaySettings, create_app
from services.gateway.auth import load_users
from services.gateway.ratelimit import CitizenRateLimiter, parse_limits
from tests.harness import eventually

# Short HMAC keys are what some of these tokens are about.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ISSUER, AUDIENCE = "duty-liaison-gateway", "duty-liaison-api"
STATION = "station-fengjie"
MESSAGE = {"content": "小区路灯长期不亮", "category": "safety_hazard"}
SUGGESTION = {"title": "建议加装老旧小区电梯", "body": "老人上下楼困难，建议纳入加装计划。",
              "category": "livelihood", "co_signers": []}
# Each development user's token version (the "ver" claim the gateway checks): the accounts
# service's token_version, 1 for every account seeded from config/users.yaml.
VERSIONS = {u["username"]: "1"
            for u in load_users(GatewaySettings().config_dir / "users.yaml")}


def claims(**override) -> dict:
    now = datetime.now(timezone.utc)
    base = {"sub": "office", "role": "office", "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + timedelta(minutes=5)}
    base.update(override)
    base.setdefault("ver", VERSIONS.get(base["sub"]))
    return {k: v for k, v in base.items() if v is not None}


def b64(obj: dict) -> str:
    raw = json.dumps(obj, default=lambda d: int(d.timestamp())).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(**override) -> str:
    return jwt.encode(claims(**override), DEV_SECRET, algorithm="HS256")


def alg_none(**override) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(**override))}."


def bad_tokens() -> dict[str, str]:
    now = datetime.now(timezone.utc)
    good = signed()
    head, body, _ = good.split(".")
    return {
        "forged signature": jwt.encode(claims(), "not-the-secret-though-as-long-as-a-real-one", algorithm="HS256"),
        "tampered payload": f"{head}.{b64(claims(sub='deputy-1', role='deputy', deputy_id='deputy-1'))}.{good.split('.')[2]}",
        "expired": signed(exp=now - timedelta(seconds=1)),
        "not yet valid": signed(nbf=now + timedelta(minutes=5)),
        "wrong audience": signed(aud="someone-else"),
        "wrong issuer": signed(iss="evil"),
        "alg none": alg_none(),
        "alg none, capitalised": (f"{b64({'alg': 'None', 'typ': 'JWT'})}."
                                  f"{b64(claims())}."),
        "another HMAC algorithm": jwt.encode(claims(), DEV_SECRET, algorithm="HS512"),
        "no exp": signed(exp=None),
        "no sub": signed(sub=None),
        "no aud": signed(aud=None),
        "unknown role": signed(role="root"),  # admin is a role now (accounts)
        # signed with the right key, but not what the gateway issues or its users are now
        "ten-year lifetime": signed(exp=now + timedelta(days=3650)),
        "ten-year lifetime, no iat": signed(iat=None, exp=now + timedelta(days=3650)),
        "unknown user": signed(sub="ghost"),
        "no version": signed(ver=None),
        "stale version": signed(ver="0" * 16),
        "another user's role": signed(sub="deputy-1"),
        "unit without its unit": signed(sub="unit-x", role="unit"),
        "deputy without their id": signed(sub="deputy-x", role="deputy"),
        "garbage": "not.a.token",
        "empty": "",
    }


# A signed-in route, a role-restricted GET and POST, the optional-principal routes.
PROTECTED = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/tasks"),
    ("get", "/api/v1/messages"),
    ("post", "/api/v1/suggestions"),
    ("get", "/api/v1/messages/00000000-0000-0000-0000-000000000000"),
    ("get", "/open311/v2/requests.json"),
    ("get", "/open311/v2/requests/00000000-0000-0000-0000-000000000000.json"),
]


@pytest.fixture
def no_citizen_rate_limit(monkeypatch):
    """A bad bearer token counts as anonymous, and anonymous reads are limited per address:
    the next test sends hundreds of them, so its gateway has no limit."""
    monkeypatch.setenv("CITIZEN_RATE_LIMIT", "off")


async def test_bad_tokens_are_refused_with_401_everywhere(no_citizen_rate_limit, api, system, subtests):
    for kind, token in bad_tokens().items():
        for method, path in PROTECTED:
            with subtests.test(kind=kind, path=path):
                headers = {"Authorization": f"Bearer {token}"}
                r = await api.client.request(method, path, headers=headers,
                                             json=SUGGESTION if method == "post" else None)
                assert r.status_code == 401, (kind, path, r.text)
                assert r.headers.get("WWW-Authenticate") == "Bearer"
                if path.startswith("/open311"):
                    assert r.json()[0]["code"] == 401
                else:
                    assert r.headers["content-type"] == "application/problem+json"
                    assert r.json()["status"] == 401
    # The control: a good token passes where the bad ones did not.
    r = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {signed()}"})
    assert r.status_code == 200 and r.json()["role"] == "office"
    r = await api.client.get("/api/v1/me", headers={"Authorization": f"Basic {signed()}"})
    assert r.status_code == 401


async def test_a_unit_token_without_its_unit_cannot_see_every_task(api, system):
    """Before the fix in auth.py such a token listed every unit's tasks and messages."""
    for path in ("/api/v1/tasks", "/api/v1/messages"):
        r = await api.client.get(path, headers={"Authorization": f"Bearer {signed(role='unit', sub='u')}"})
        assert r.status_code == 401, r.text
        assert "must name its unit" in r.json()["detail"]


UNKNOWN_FIELDS = [
    ("deputy-1", "/api/v1/suggestions", {**SUGGESTION, "is_admin": True}, "is_admin"),
    ("office", "/api/v1/suggestions/x/register", {"urgency": "red", "number": "X-1"}, "number"),
    ("office", "/api/v1/suggestions/x/decline", {"reason": "重复", "status": "closed"}, "status"),
    ("office", "/api/v1/suggestions/x/assignment", {"lead_unit_id": "unit-a", "force": 1}, "force"),
    ("unit-a", "/api/v1/tasks/x/reply", {"result_class": "A", "text": "已办", "points": 9}, "points"),
    ("deputy-1", "/api/v1/deputies/deputy-1/activities",
     {"kind": "reception_day", "date": "2026-03-02", "description": "接待群众", "approved": True},
     "approved"),
    (None, f"/api/v1/stations/{STATION}/messages", {**MESSAGE, "status": "closed"}, "status"),
    (None, "/api/v1/messages/x/rating", {"rating": "satisfied", "token": "t", "as": "office"}, "as"),
]


@pytest.mark.parametrize(("user", "path", "body", "field"), UNKNOWN_FIELDS,
                         ids=[f"{p} {f}" for _, p, _, f in UNKNOWN_FIELDS])
async def test_unknown_body_fields_are_refused_by_name(api, system, user, path, body, field):
    if user:
        r = await api.post(user, path, body)
    else:
        r = await api.client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert ["body", field] in [e["loc"] for e in r.json()["errors"]], r.json()


async def registered_case(api) -> tuple[str, dict]:
    """A suggestion of deputy-1, registered; routed to unit-b (livelihood); its lead task."""
    r = await api.post("deputy-1", "/api/v1/suggestions", SUGGESTION)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text

    async def task():
        r = await api.get("unit-b", "/api/v1/tasks")
        return [t for t in r.json() if t["case_id"] == case_id]

    (lead,) = await eventually(task)
    return case_id, lead


async def test_a_unit_cannot_read_or_act_on_another_units_task(api, system):
    case_id, task = await registered_case(api)
    task_id = task["task_id"]
    assert task["unit_id"] == "unit-b"

    r = await api.get("unit-b", f"/api/v1/tasks/{task_id}")
    assert r.status_code == 200, r.text
    # 404, not 403: the task's existence does not leak to another unit.
    r = await api.get("unit-a", f"/api/v1/tasks/{task_id}")
    assert r.status_code == 404, r.text
    r = await api.get("unit-a", "/api/v1/tasks", unit_id="unit-b")
    assert r.status_code == 403
    r = await api.get("unit-a", "/api/v1/tasks")
    assert all(t["case_id"] != case_id for t in r.json())
    r = await api.get("unit-a", f"/api/v1/suggestions/{case_id}")
    assert r.status_code in (403, 404)
    r = await api.get("unit-a", f"/api/v1/cases/{case_id}/history")
    assert r.status_code in (403, 404)
    for action, body in [("acknowledge", None), ("contact", {"note": "已电话联系"}),
                         ("progress", {"note": "推进中"}),
                         ("reply", {"result_class": "A", "text": "已解决"}),
                         ("return-request", {"reason": "不属于本单位职责"})]:
        r = await api.post("unit-a", f"/api/v1/tasks/{task_id}/{action}", body)
        assert r.status_code == 404, (action, r.text)
    # Nothing happened to the task.
    r = await api.get("unit-b", f"/api/v1/tasks/{task_id}")
    assert r.json()["status"] == task["status"]


async def test_a_deputy_cannot_act_for_another_deputy(api, system):
    case_id, _ = await registered_case(api)
    activity = {"kind": "reception_day", "date": "2026-03-02", "description": "接待群众 6 人次"}
    r = await api.post("deputy-2", "/api/v1/deputies/deputy-1/activities", activity)
    assert r.status_code == 403, r.text
    r = await api.get("deputy-2", "/api/v1/deputies/deputy-1/points")
    assert r.status_code == 403
    r = await api.get("deputy-2", "/api/v1/activities", deputy_id="deputy-1")
    assert r.status_code == 403
    r = await api.post("deputy-2", f"/api/v1/suggestions/{case_id}/rating", {"rating": "unsatisfied"})
    assert r.status_code == 403, r.text

    # A message held by deputy-1: deputy-2 can neither answer, convert, forward nor release it.
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages", json=MESSAGE)
    mid = r.json()["id"]
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/claim")
    assert r.status_code == 200
    for action, body in [("answer", {"text": "我来答复"}), ("convert", None),
                         ("forward", {"unit_id": "unit-a"}), ("release", None)]:
        r = await api.post("deputy-2", f"/api/v1/messages/{mid}/{action}", body)
        assert r.status_code == 409, (action, r.text)  # "another deputy holds this message"
    r = await api.get("office", f"/api/v1/messages/{mid}")
    assert r.json()["status"] == "claimed" and r.json()["claimed_by"] == "deputy-1"


# --- rate limits ---------------------------------------------------------------------------

def test_rate_limit_settings_parse():
    assert parse_limits("off") == [] and parse_limits("") == []
    assert [str(x) for x in parse_limits("3/minute;20/hour")] == ["3 per 1 minute", "20 per 1 hour"]
    with pytest.raises(ValueError):
        parse_limits("lots")
    limiter = CitizenRateLimiter("2/minute")
    assert limiter.hit("message", "1.2.3.4") is None
    assert limiter.hit("message", "1.2.3.4") is None
    assert 1 <= limiter.hit("message", "1.2.3.4") <= 60
    assert limiter.hit("rating", "1.2.3.4") is None  # its own bucket
    assert limiter.hit("message", "5.6.7.8") is None  # another address
    limiter.reset()
    assert limiter.hit("message", "1.2.3.4") is None


@pytest.fixture
async def limited_app(system, monkeypatch) -> AsyncIterator:
    monkeypatch.setenv("CITIZEN_RATE_LIMIT", "3/minute")
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=3.0)
    assert settings.citizen_rate_limit == "3/minute"
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        yield app, manager.app


def client_from(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def test_citizen_posts_are_limited_per_address(limited_app):
    app, asgi = limited_app
    async with client_from(asgi, "203.0.113.7") as citizen, \
            client_from(asgi, "198.51.100.9") as neighbour:
        path = f"/api/v1/stations/{STATION}/messages"
        tokens = []
        for _ in range(2):
            r = await citizen.post(path, json=MESSAGE)
            assert r.status_code == 201, r.text
            tokens.append((r.json()["id"], r.json()["follow_up_token"]))
        # Open311 posts share the bucket with the native path.
        r = await citizen.post("/open311/v2/requests.json", data={
            "service_code": "safety_hazard", "jurisdiction_id": STATION,
            "description": "路灯不亮", "address_string": "滨江路"})
        assert r.status_code == 201, r.text

        r = await citizen.post(path, json=MESSAGE)
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        problem = r.json()
        assert problem["status"] == 429 and problem["title"] == "Too many requests"
        # Invalid posts count too, and are refused before validation.
        r = await citizen.post(path, json={"x": 1})
        assert r.status_code == 429
        r = await citizen.post("/open311/v2/requests.json", data={"service_code": "x"})
        assert r.status_code == 429 and r.json()[0]["code"] == 429
        assert int(r.headers["Retry-After"]) >= 1
        r = await citizen.post("/open311/v2/requests.xml", data={"service_code": "x"})
        assert r.status_code == 429 and b"<code>429</code>" in r.content

        # Reading is not limited; another address is not affected.
        r = await citizen.get("/open311/v2/services.json")
        assert r.status_code == 200
        r = await neighbour.post(path, json=MESSAGE)
        assert r.status_code == 201

        # Rating with the token has a bucket of its own.
        mid, token = tokens[0]
        url = f"/api/v1/messages/{mid}/rating"
        for _ in range(3):
            r = await citizen.post(url, json={"rating": "satisfied", "token": token})
            assert r.status_code == 409  # not handled yet: not limited, refused by intake
        r = await citizen.post(url, json={"rating": "satisfied", "token": token})
        assert r.status_code == 429 and "Retry-After" in r.headers

        # Form posts to the station page's path are counted as messages too.
        for _ in range(2):
            r = await neighbour.post(f"/s/{STATION}", data={"content": "x"})
            assert r.status_code != 429
        r = await neighbour.post(path, json=MESSAGE)
        assert r.status_code == 429
        app.state.citizen_rate_limiter.reset()
        r = await citizen.post(path, json=MESSAGE)
        assert r.status_code == 201


async def test_anonymous_token_reads_are_limited_per_address(limited_app):
    """Follow-up-token reads (native and Open311) are limited so that tokens cannot be tried
    without end; a signed-in staff member's reads are not counted."""
    app, asgi = limited_app
    async with client_from(asgi, "203.0.113.20") as citizen, \
            client_from(asgi, "203.0.113.21") as guesser, \
            client_from(asgi, "203.0.113.22") as open311, \
            client_from(asgi, "203.0.113.20") as staff:
        r = await citizen.post(f"/api/v1/stations/{STATION}/messages", json=MESSAGE)
        assert r.status_code == 201, r.text
        mid, token = r.json()["id"], r.json()["follow_up_token"]
        url = f"/api/v1/messages/{mid}"

        # The native read with the token: three allowed, the fourth refused.
        for _ in range(3):
            r = await citizen.get(url, headers={"X-Follow-Up-Token": token})
            assert r.status_code == 200, r.text
        r = await citizen.get(url, headers={"X-Follow-Up-Token": token})
        assert r.status_code == 429, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        problem = r.json()
        assert problem["status"] == 429 and problem["title"] == "Too many requests"
        assert problem["retry_after"] == int(r.headers["Retry-After"])

        # Guessing tokens: wrong tokens count, then even the right one is refused.
        for guess in range(3):
            r = await guesser.get(url, headers={"X-Follow-Up-Token": f"guess-{guess}"})
            assert r.status_code == 403, r.text
        r = await guesser.get(url, headers={"X-Follow-Up-Token": token})
        assert r.status_code == 429
        # A bogus bearer token does not lift the limit.
        r = await guesser.get(url, headers={"X-Follow-Up-Token": token,
                                            "Authorization": "Bearer not.a.token"})
        assert r.status_code == 429

        # Open311 reads of one request (token as query or header) and the request list.
        one = f"/open311/v2/requests/{mid}.json"
        r = await open311.get(one, params={"follow_up_token": token})
        assert r.status_code == 200, r.text
        r = await open311.get(one, headers={"X-Follow-Up-Token": "wrong"})
        assert r.status_code == 403, r.text
        r = await open311.get("/open311/v2/requests.json")
        assert r.status_code == 200, r.text
        r = await open311.get(one, params={"follow_up_token": token})
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.json()[0]["code"] == 429 and "too many requests" in r.json()[0]["description"]
        r = await open311.get(f"/open311/v2/requests/{mid}.xml")
        assert r.status_code == 429 and b"<code>429</code>" in r.content
        assert int(r.headers["Retry-After"]) >= 1
        # The service list stays open.
        r = await open311.get("/open311/v2/services.json")
        assert r.status_code == 200

        # Staff from the same (limited) address read without limit.
        token_office = (await staff.post("/api/v1/auth/token", data={
            "username": "office", "password": "office"})).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token_office}"}
        for _ in range(5):
            r = await staff.get(url, headers=bearer)
            assert r.status_code == 200, r.text
            r = await staff.get(one, headers=bearer)
            assert r.status_code == 200, r.text

        # Posting has a bucket of its own: reading did not use it up.
        r = await citizen.post(f"/api/v1/stations/{STATION}/messages", json=MESSAGE)
        assert r.status_code == 201, r.text
        app.state.citizen_rate_limiter.reset()
        r = await citizen.get(url, headers={"X-Follow-Up-Token": token})
        assert r.status_code == 200


async def test_an_invalid_rate_limit_setting_stops_the_gateway(system):
    with pytest.raises(ValueError):
        create_app(GatewaySettings(nats_url=system.nats_url, citizen_rate_limit="many"))
    app = create_app(GatewaySettings(nats_url=system.nats_url, citizen_rate_limit="off"))
    assert not app.state.citizen_rate_limiter.enabled

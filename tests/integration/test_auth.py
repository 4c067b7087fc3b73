"""Tokens the gateway must refuse, and role checks on the endpoints that exist so far."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from services.gateway.app import DEV_SECRET


def claims(**override):
    now = datetime.now(timezone.utc)
    base = {"sub": "office", "role": "office", "iss": "duty-liaison-gateway",
            "aud": "duty-liaison-api", "iat": now, "exp": now + timedelta(minutes=5)}
    base.update(override)
    return base


def unsigned(payload: dict) -> str:
    def b64(obj: dict) -> str:
        raw = json.dumps(obj, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


BAD_TOKENS = {
    "forged": jwt.encode(claims(), "not-the-secret-though-as-long-as-a-real-one", algorithm="HS256"),
    "expired": jwt.encode(claims(exp=datetime.now(timezone.utc) - timedelta(seconds=1)),
                          DEV_SECRET, algorithm="HS256"),
    "wrong audience": jwt.encode(claims(aud="someone-else"), DEV_SECRET, algorithm="HS256"),
    "wrong issuer": jwt.encode(claims(iss="evil"), DEV_SECRET, algorithm="HS256"),
    "alg none": unsigned(claims()),
    "unknown role": jwt.encode(claims(role="root"), DEV_SECRET, algorithm="HS256"),
    "garbage": "not.a.token",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_tokens_are_refused(api, kind):
    r = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {BAD_TOKENS[kind]}"})
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_a_good_token_names_the_user_and_role(api):
    r = await api.get("unit-a", "/api/v1/me")
    assert r.json() == {"username": "unit-a", "role": "unit", "unit_id": "unit-a",
                        "roles": ["unit"], "must_change_password": False}
    r = await api.client.post("/api/v1/auth/token", data={"username": "office", "password": "wrong"})
    assert r.status_code == 401


ROLE_MATRIX = [
    # (method, path, body, user, expected status)
    ("post", "/api/v1/suggestions", {"title": "t", "body": "b", "category": "livelihood"}, "deputy-1", 201),
    ("post", "/api/v1/suggestions", {"title": "t", "body": "b", "category": "livelihood"}, "office", 403),
    ("post", "/api/v1/suggestions", {"title": "t", "body": "b", "category": "livelihood"}, "unit-a", 403),
    ("post", "/api/v1/suggestions", {"title": "t", "body": "b", "category": "livelihood"}, "leader", 403),
    ("post", "/api/v1/suggestions/x/register", {"urgency": "red"}, "deputy-1", 403),
    ("post", "/api/v1/suggestions/x/register", {"urgency": "red"}, "unit-a", 403),
    ("post", "/api/v1/suggestions/x/register", {"urgency": "red"}, "leader", 403),
    ("post", "/api/v1/suggestions/x/assignment", {}, "unit-a", 403),
    ("post", "/api/v1/suggestions/x/assignment", {}, "deputy-1", 403),
    ("get", "/api/v1/deputies/deputy-2/points", None, "deputy-1", 403),
    ("get", "/api/v1/deputies/deputy-1/points", None, "deputy-1", 200),
    ("get", "/api/v1/deputies/deputy-1/points", None, "unit-a", 403),
    ("get", "/api/v1/deputies/deputy-1/points", None, "office", 200),
    ("get", "/api/v1/tasks?unit_id=unit-b", None, "unit-a", 403),
    ("get", "/api/v1/tasks", None, "unit-a", 200),
]


@pytest.mark.parametrize(("method", "path", "body", "user", "expected"), ROLE_MATRIX)
async def test_roles(api, method, path, body, user, expected):
    if method == "post":
        r = await api.post(user, path, body)
    else:
        r = await api.client.get(path, headers=await api.login(user))
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("unit", ["unit-c", "unit-d"])
async def test_every_routed_unit_has_a_development_user(api, unit):
    """Routing sends ecology cases to unit-c and economy cases to unit-d: both can sign in."""
    r = await api.get(unit, "/api/v1/me")
    assert r.json() == {"username": unit, "role": "unit", "unit_id": unit, "roles": ["unit"],
                        "must_change_password": False}
    r = await api.get(unit, "/api/v1/tasks")
    assert r.status_code == 200 and all(t["unit_id"] == unit for t in r.json())

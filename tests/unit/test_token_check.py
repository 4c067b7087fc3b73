"""The gateway remembers tokens it has checked: a remembered token must still expire on time,
and nothing it refused, or could not check in full, is remembered."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from fastapi import HTTPException

from services.gateway import auth
from services.gateway.auth import Authenticator, Principal

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def authenticator(**kw) -> Authenticator:
    return Authenticator([], SECRET, "iss", "aud", timedelta(minutes=5), **kw)


def test_a_remembered_token_stops_working_when_it_expires(monkeypatch):
    a = Authenticator([], SECRET, "iss", "aud", timedelta(seconds=1))
    token = a.issue(Principal(username="deputy-1", role="deputy", deputy_id="deputy-1"))
    assert a.decode(token).deputy_id == "deputy-1"

    # the second use is answered from memory: the signature is not checked again
    real = auth.jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *a, **k: pytest.fail("checked again"))
    assert a.decode(token).username == "deputy-1"
    monkeypatch.setattr(auth.jwt, "decode", real)

    time.sleep(1.1)  # past "exp" (whole seconds, at most 1 s after issue)
    with pytest.raises(HTTPException) as refused:
        a.decode(token)
    assert refused.value.status_code == 401
    assert "expired" in refused.value.detail


def test_refused_tokens_are_checked_every_time():
    a = authenticator()
    forged = jwt.encode({"sub": "office", "role": "office", "iss": "iss", "aud": "aud",
                         "exp": datetime.now(timezone.utc) + timedelta(minutes=5)},
                        "another-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    for _ in range(2):
        with pytest.raises(HTTPException) as refused:
            a.decode(forged)
        assert refused.value.status_code == 401


def test_a_token_not_yet_valid_is_checked_in_full_each_time(monkeypatch):
    a = authenticator()
    now = datetime.now(timezone.utc)
    token = jwt.encode({"sub": "office", "role": "office", "iss": "iss", "aud": "aud",
                        "nbf": now - timedelta(seconds=1), "exp": now + timedelta(minutes=5)},
                       SECRET, algorithm="HS256")
    assert a.decode(token).role == "office"
    calls = []
    real = auth.jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *x, **k: calls.append(1) or real(*x, **k))
    a.decode(token)
    assert calls == [1]


def test_memory_is_bounded_and_can_be_turned_off(monkeypatch):
    a = authenticator(verified_tokens=2)
    tokens = [a.issue(Principal(username=f"u{i}", role="office")) for i in range(3)]
    for t in tokens:
        a.decode(t)
    calls = []
    real = auth.jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *x, **k: calls.append(1) or real(*x, **k))
    a.decode(tokens[0])  # the least recently used one was dropped
    a.decode(tokens[2])
    assert calls == [1]

    off = authenticator(verified_tokens=0)
    t = off.issue(Principal(username="u", role="office"))
    off.decode(t)
    off.decode(t)
    assert len(calls) == 3

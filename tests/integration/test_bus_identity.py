"""Services do not believe the actor a request names: only an assertion signed by the
gateway or ops, addressed to that service and still valid, is accepted (issue 24, finding 1:
`{"actor": {"username": "ghost", "role": "office"}}` sent to intake's get_message returned a
citizen's unmasked contact details and put "ghost" in the access log)."""

from __future__ import annotations

import json
import time

import jwt
import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.identity import Signer, signed_request
from tests.harness import rpc

pytestmark = pytest.mark.usefixtures("system")

OFFICE = {"username": "ghost", "role": "office"}


async def _posted_message(system) -> str:
    reply = await rpc(system.nats_url, "intake", "post_message",
                      {"station_id": "station-fengjie", "content": "楼道灯坏了",
                       "contact_name": "王小明", "contact_phone": "13800138000"},
                      actor={"username": "anonymous", "role": "anonymous"})
    assert reply["ok"], reply
    return reply["result"]["id"]


async def _raw(nats_url: str, subject: str, body: dict) -> dict:
    nc = await nats.connect(nats_url)
    try:
        return json.loads((await nc.request(subject, json.dumps(body).encode(), timeout=5)).data)
    finally:
        await nc.close()


async def test_an_actor_written_in_the_request_is_refused_and_nothing_is_shown(system):
    message_id = await _posted_message(system)
    reply = await _raw(system.nats_url, "duty.rpc.intake.get_message",
                       {"actor": OFFICE, "payload": {"message_id": message_id,
                                                     "purpose": "回访"}})
    assert reply["ok"] is False and reply["status"] == 401
    assert "13800138000" not in json.dumps(reply, ensure_ascii=False)
    # nothing was logged as read by "ghost"
    log = await rpc(system.nats_url, "intake", "message_access_log", {"message_id": message_id},
                    actor={"username": "office", "role": "office"})
    assert log["ok"], log
    assert "ghost" not in json.dumps(log["result"])


@pytest.mark.parametrize("forgery", ["foreign key", "expired", "other service", "garbage"])
async def test_forged_or_misaddressed_assertions_are_refused(system, forgery):
    if forgery == "foreign key":
        signer = Signer("gateway", Ed25519PrivateKey.generate())  # a key no service trusts
        body = signer.request("intake", OFFICE, {})
    elif forgery == "expired":
        from shared.identity import ensure_keys
        from shared.settings import ServiceSettings

        signer = Signer.load(ServiceSettings(), "ops")
        now = int(time.time())
        token = jwt.encode({"act": OFFICE, "aud": "duty.intake", "iss": "duty-ops",
                            "iat": now - 600, "exp": now - 300}, signer.key, algorithm="EdDSA")
        assert ensure_keys(ServiceSettings())
        body = {"assertion": token, "payload": {}}
    elif forgery == "other service":
        body = json.loads(signed_request("points", {}, OFFICE))  # addressed to points
    else:
        body = {"assertion": "not.a.token", "payload": {}}
    reply = await _raw(system.nats_url, "duty.rpc.intake.list_suggestions", body)
    assert reply["ok"] is False and reply["status"] == 401, reply


async def test_a_signed_assertion_is_the_actor_the_service_acts_as(system):
    message_id = await _posted_message(system)
    shown = await rpc(system.nats_url, "intake", "get_message",
                      {"message_id": message_id, "purpose": "回访核实"},
                      actor={"username": "office", "role": "office"})
    assert shown["ok"], shown
    log = await rpc(system.nats_url, "intake", "message_access_log", {"message_id": message_id},
                    actor={"username": "office", "role": "office"})
    assert [r["username"] for r in log["result"]] == ["office"]

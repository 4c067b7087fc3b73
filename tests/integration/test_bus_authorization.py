"""The bus authorizes each process kind (shared/bus_auth.py), against a real nats-server
started with the platform's authorization (issue 24, finding 1: an open bus on which anyone
published `duty.intake.suggestion_registered.v1` and sent requests as any actor)."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.errors import NoServersError

from shared.bus_auth import with_credentials
from tests.harness import NatsServer, nats_credentials_dir

pytestmark = pytest.mark.skipif(nats_credentials_dir() is None,
                                reason="the run has no bus credentials (tests/conftest.py)")


async def _as(server: NatsServer, identity: str):
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(with_credentials(server.bare_url, identity, nats_credentials_dir()),
                            error_cb=on_error, allow_reconnect=False)
    return nc, errors


async def _denied_publish(server: NatsServer, identity: str, subject: str) -> bool:
    nc, errors = await _as(server, identity)
    try:
        await nc.publish(subject, b"{}")
        await nc.flush()
        await asyncio.sleep(0.2)  # the server's -ERR arrives asynchronously
        return any("permissions violation" in str(e).lower() for e in errors)
    finally:
        await nc.close()


async def test_an_anonymous_connection_is_refused(fresh_nats):
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await nats.connect(fresh_nats.bare_url, allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=2)


async def test_a_wrong_password_is_refused(fresh_nats):
    url = fresh_nats.bare_url.replace("nats://", "nats://intake:guessed@")
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=2)


@pytest.mark.parametrize("identity, subject", [
    ("gateway", "duty.intake.suggestion_registered.v1"),  # the forged registration
    ("assignment", "duty.intake.suggestion_registered.v1"),  # another service's events
    ("points", "duty.rpc.intake.get_message"),  # a service asking another for data
    ("intake", "duty.dlq.points"),  # another consumer's dead letters
])
async def test_an_identity_cannot_publish_what_is_not_its_own(fresh_nats, identity, subject):
    assert await _denied_publish(fresh_nats, identity, subject)


@pytest.mark.parametrize("identity, subject", [
    ("intake", "duty.intake.suggestion_registered.v1"),
    ("gateway", "duty.rpc.intake.get_message"),
    ("ops", "duty.rpc.points.health"),
])
async def test_an_identity_publishes_what_is_its_own(fresh_nats, identity, subject):
    assert not await _denied_publish(fresh_nats, identity, subject)


async def test_a_service_cannot_listen_to_another_services_requests(fresh_nats):
    nc, errors = await _as(fresh_nats, "points")
    try:
        await nc.subscribe("duty.rpc.intake.>")
        await nc.flush()
        await asyncio.sleep(0.2)
        assert any("permissions violation" in str(e).lower() for e in errors)
    finally:
        await nc.close()


async def test_the_whole_loop_runs_on_the_authorized_bus(api):
    """Every service, the gateway and their JetStream streams and consumers under their own
    identities: a suggestion submitted and registered reaches supervision as a task."""
    from tests.harness import eventually

    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {"title": "加装电梯", "body": "老旧小区无电梯", "category": "livelihood"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text

    async def task_opened() -> bool:
        found = await api.get("office", f"/api/v1/suggestions/{sid}")
        return found.status_code == 200 and bool(found.json()["tasks"])

    await eventually(task_opened, timeout=30)


async def test_each_service_consumes_exactly_what_its_permissions_declare(system):
    from shared.bus_auth import CONSUMES

    declared = {name: tuple(sorted(r.consumers)) for name, r in system.runtimes.items()}
    assert declared == {name: tuple(sorted(CONSUMES[name])) for name in declared}


async def test_a_service_cannot_read_through_another_services_consumer(fresh_nats):
    nc, errors = await _as(fresh_nats, "points")
    try:
        # assignment's durable consumer of intake's events, asked for its next messages
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.DUTY_INTAKE.assignment--intake", b"1",
                         reply=nc.new_inbox())
        await nc.publish("$JS.API.CONSUMER.CREATE.DUTY_INTAKE.spy", b"{}",
                         reply=nc.new_inbox())
        await nc.flush()
        await asyncio.sleep(0.2)
        violations = [e for e in errors if "permissions violation" in str(e).lower()]
        assert len(violations) == 2, errors
    finally:
        await nc.close()

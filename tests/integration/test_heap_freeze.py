"""A process's start-up heap is taken out of the cyclic collector's scans (shared/heap.py):
the gateway's full collections scanned its whole start-up heap (75 ms of CPU every 5-10 s
under load, no request answered meanwhile) until its entry point froze it once started."""

from __future__ import annotations

import gc

import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import GatewaySettings, create_app
from shared.heap import freeze_heap


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # frozen objects never leave otherwise: give them back to the collector


def test_objects_alive_when_frozen_are_no_longer_scanned_and_new_ones_are(unfrozen):
    long_lived = [[i] for i in range(20_000)]  # lists: tracked by the collector
    tracked_before = {id(o) for o in gc.get_objects()}
    assert id(long_lived[0]) in tracked_before

    freeze_heap()

    assert gc.get_freeze_count() >= 20_000
    scanned = {id(o) for o in gc.get_objects()}  # what a full collection would scan
    assert not any(id(o) in scanned for o in long_lived[:100])
    newcomer = [object()]
    assert id(newcomer) in {id(o) for o in gc.get_objects()}
    # still alive and usable
    assert long_lived[19_999] == [19_999]


async def test_the_gateway_entry_point_freezes_its_heap_once_started(nats_server, unfrozen):
    settings = GatewaySettings(nats_url=nats_server.url)
    plain = create_app(settings)
    async with LifespanManager(plain):
        assert gc.get_freeze_count() == 0  # in-process use (tests) leaves the collector alone

    app = create_app(settings, freeze_heap=True)
    assert gc.get_freeze_count() == 0
    async with LifespanManager(app):
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the application, its routes and every imported module
        routes = {id(r) for r in app.routes}
        assert not routes & {id(o) for o in gc.get_objects()}

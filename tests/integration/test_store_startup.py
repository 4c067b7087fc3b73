"""Replicas of a service starting at the same moment on a new PostgreSQL schema: both come
up. CREATE SCHEMA / TABLE IF NOT EXISTS race in PostgreSQL ("tuple concurrently updated",
a unique violation on pg_type): replicas take turns under an advisory lock."""

from __future__ import annotations

import threading
import uuid

import pytest

from shared.eventstore import ServiceApplication
from tests.conftest import POSTGRES_SKIP_REASON, _postgres_store
from tests.harness import service_settings

pytestmark = pytest.mark.postgres


class RaceApplication(ServiceApplication):
    """Snapshotting on, as in intake and points: the snapshot table is created too."""

    name = "race"

    def __init__(self, settings) -> None:
        super().__init__(settings, env={"IS_SNAPSHOTTING_ENABLED": "y"})


@pytest.mark.skipif(bool(POSTGRES_SKIP_REASON), reason=POSTGRES_SKIP_REASON or "")
def test_replicas_starting_together_on_a_new_schema_all_come_up():
    stores = _postgres_store()
    store = next(stores)
    try:
        for round_ in range(6):
            settings = service_settings("nats://127.0.0.1:1", store).model_copy(
                update={"service_name": f"race{round_}_{uuid.uuid4().hex[:4]}"})
            barrier = threading.Barrier(6)
            errors: list[BaseException] = []
            apps: list[ServiceApplication] = []

            def start() -> None:
                barrier.wait()
                try:
                    apps.append(RaceApplication(settings))
                except BaseException as error:  # noqa: BLE001 - reported below
                    errors.append(error)

            threads = [threading.Thread(target=start) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert not errors, errors
            assert len(apps) == 6
            for app in apps:
                app.close()
    finally:
        stores.close()

"""The key store behind crypto-shredding: one long-lived connection per store, no cache, so
an erasure on one replica is an erasure on every replica at once, on both stores."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.personal_data import KeyStore
from shared.settings import ServiceSettings

ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
PHONE = {"name": "王小明", "phone": "13812345678"}


def _settings(store: dict[str, Any]) -> ServiceSettings:
    settings = ServiceSettings(service_name="intake", **store)
    if settings.event_store == "postgres":  # the event store creates it in the service
        import psycopg

        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.postgres_schema}"')
    return settings


def test_an_erasure_on_one_replica_is_seen_by_another_at_once(store: dict[str, Any]) -> None:
    replica_a, replica_b = KeyStore(_settings(store)), KeyStore(_settings(store))
    try:
        sealed = replica_a.encrypt("subject-1", PHONE)
        other = replica_a.encrypt("subject-2", {"phone": "13900000000"})
        assert replica_b.decrypt("subject-1", sealed) == PHONE  # B's connection is now open
        assert replica_a.delete("subject-1") is True
        assert replica_b.decrypt("subject-1", sealed) is None  # not served from a cache
        assert replica_b.get("subject-1") is None and replica_b.delete("subject-1") is False
        assert replica_b.decrypt("subject-2", other) == {"phone": "13900000000"}
    finally:
        replica_a.close()
        replica_b.close()


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_postgres_connection_lost_between_reads_is_replaced(store: dict[str, Any]) -> None:
    import psycopg

    keys = KeyStore(_settings(store))
    try:
        sealed = keys.encrypt("subject-1", PHONE)
        pid = keys._conn.info.backend_pid
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert keys.decrypt("subject-1", sealed) == PHONE
        assert keys._conn.info.backend_pid != pid
    finally:
        keys.close()


def test_a_key_is_remembered_only_for_the_page_a_read_model_is_applying(
        store: dict[str, Any]) -> None:
    keys, other_replica = KeyStore(_settings(store)), KeyStore(_settings(store))
    try:
        sealed = keys.encrypt("subject-1", PHONE)
        assert keys.decrypt("subject-1", sealed, remembered=True) == PHONE
        other_replica.delete("subject-1")
        assert keys.decrypt("subject-1", sealed) is None  # plain reads always ask the table
        assert keys.decrypt("subject-1", sealed, remembered=True) == PHONE  # same page
        keys.forget()  # the page is applied
        assert keys.decrypt("subject-1", sealed, remembered=True) is None
    finally:
        keys.close()
        other_replica.close()

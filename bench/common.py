"""Shared helpers: a throw-away nats-server, free ports, timing."""

from __future__ import annotations

import socket
from pathlib import Path

# The same throw-away nats-server the tests use (free loopback port, temporary store).
from tests.harness import NatsServer

ROOT = Path(__file__).resolve().parent.parent
# The PostgreSQL the bench uses when it answers (the machine's, trust auth, database test).
PG_CONNINFO = "host=127.0.0.1 port=5432 dbname=test user=postgres"
__all__ = ["PG_CONNINFO", "ROOT", "NatsServer", "percentile", "postgres_available", "rate", "read_and_decode"]


def postgres_available() -> str | None:
    """None when 127.0.0.1:5432 accepts a connection to database ``test``, else the reason."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        import psycopg

        with psycopg.connect(PG_CONNINFO, connect_timeout=2):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "skip"
        return f"{type(exc).__name__}: {exc}"


def read_and_decode(app) -> int:
    """Read a store's whole notification log and decode every event, keeping nothing."""
    decoded = 0
    position = 0
    while True:
        notifications = app.recorder.select_notifications(start=position + 1, limit=1000)
        if not notifications:
            return decoded
        for n in notifications:
            app.mapper.to_domain_event(n)
            position = n.id
            decoded += 1


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

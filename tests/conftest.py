from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import NatsServer

# The gateway refuses the development secret and users outside development mode
# (docs/security.md); the tests use both, in-process and in every process they start.
os.environ["DUTY_DEV_MODE"] = "true"
# One set of actor-assertion keys for the whole run (shared/identity.py), made on first use:
# the gateway and the tests sign, every service (in-process or spawned) verifies.
if "ACTOR_KEYS_DIR" not in os.environ:
    import tempfile

    from shared.identity import generate_keys

    os.environ["ACTOR_KEYS_DIR"] = tempfile.mkdtemp(prefix="duty-test-keys-")
    generate_keys(Path(os.environ["ACTOR_KEYS_DIR"]))  # before any spawned process needs them
# ... and one set of bus passwords: every nats-server the tests start authorizes each
# process kind by them (shared/bus_auth.py); processes the tests spawn inherit the variable.
if "NATS_CREDENTIALS_DIR" not in os.environ:
    import tempfile

    from shared.bus_auth import generate_credentials

    os.environ["NATS_CREDENTIALS_DIR"] = str(generate_credentials(
        Path(tempfile.mkdtemp(prefix="duty-test-nats-"))))


def _postgres_available() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
    except OSError as exc:
        return f"PostgreSQL does not answer on 127.0.0.1:5432 ({exc})"
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", connect_timeout=2):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL at 127.0.0.1:5432 refused the connection ({exc})"


POSTGRES_SKIP_REASON = _postgres_available()


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own (streams start empty)."""
    server = NatsServer(store_dir=tmp_path / "nats")
    server.start()
    yield server
    server.stop()


def _sqlite_store(tmp_path: Path) -> dict[str, Any]:
    return {"event_store": "sqlite", "var_dir": tmp_path / "var"}


def _postgres_store() -> Iterator[dict[str, Any]]:
    import psycopg

    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield {"event_store": "postgres", "postgres_host": "127.0.0.1", "postgres_port": 5432,
           "postgres_dbname": "test", "postgres_user": "postgres",
           "postgres_schema_prefix": prefix}
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres",
                         autocommit=True) as conn:
        schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                               (f"{prefix}%",)).fetchall()
        for (schema,) in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# TEST_EVENT_STORE=both (default) runs every store-parametrised test on SQLite and on
# PostgreSQL; =postgres runs them (and the broker-restart test) on PostgreSQL only; =sqlite on
# SQLite only. `make test-postgres` is the whole suite on PostgreSQL.
TEST_EVENT_STORE = os.environ.get("TEST_EVENT_STORE", "both")
if TEST_EVENT_STORE not in ("both", "sqlite", "postgres"):
    raise pytest.UsageError(f"TEST_EVENT_STORE must be both, sqlite or postgres, not {TEST_EVENT_STORE!r}")
STORE_PARAMS = [p for p in ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))
                if TEST_EVENT_STORE == "both" or getattr(p, "values", (p,))[0] == TEST_EVENT_STORE]


@pytest.fixture(params=STORE_PARAMS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Event-store settings for every service: SQLite files, and PostgreSQL where it answers."""
    if request.param == "sqlite":
        yield _sqlite_store(tmp_path)
        return
    if POSTGRES_SKIP_REASON:
        pytest.skip(POSTGRES_SKIP_REASON)
    yield from _postgres_store()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The embedded default store (PostgreSQL when the suite runs with TEST_EVENT_STORE=postgres)."""
    if TEST_EVENT_STORE == "postgres":
        yield from _postgres_store()
        return
    yield _sqlite_store(tmp_path)


# `make test` runs two workers (pytest-xdist). Each module's tests stay together on one worker
# (its module-scoped systems start once), the browser tests share one live system and one
# Chromium, and every PostgreSQL test runs on one worker: two PostgreSQL systems of nine services
# each, or one beside the benchmark's, would exhaust the server's 100 connections. The groups
# are read from the test ids, which is all xdist's scheduler sees (its own ``xdist_group`` marks
# do not reach it with this pytest: they rename ``_nodeid``, pytest 9 reads ``_id``).
POSTGRES_MODULES = ("tests/e2e/test_replicas.py", "tests/integration/test_bench_smoke.py",
                    "tests/integration/test_store_startup.py")
_POSTGRES_PARAM = re.compile(r"\[(?:[^\]]*-)?postgres(?:-[^\]]*)?\]$")


def worker_group(nodeid: str) -> str:
    """The group of the test ``nodeid``: "postgres", "browser", or its module."""
    path, _, name = nodeid.partition("::")
    if path in POSTGRES_MODULES or _POSTGRES_PARAM.search(nodeid) or "postgres" in name:
        return "postgres"
    if path.startswith("tests/browser/"):
        return "browser"
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        """LoadScopeScheduling by ``worker_group``: the largest groups first."""

        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return ByGroup(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A PostgreSQL test that ``worker_group`` would not keep with the others is named here,
    so the list above cannot fall behind."""
    stray = [i.nodeid for i in items
             if i.get_closest_marker("postgres") and worker_group(i.nodeid) != "postgres"]
    if stray:
        raise pytest.UsageError("PostgreSQL tests outside the postgres worker group "
                                f"(add their module to POSTGRES_MODULES): {stray}")

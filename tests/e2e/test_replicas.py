"""Two replicas of every service on PostgreSQL share the work (one durable consumer, one RPC
queue group, one store per service) and keep the guarantees: a replica is killed with -9 halfway
through and the reconciliation, counted in every service's PostgreSQL store, is exact."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import POSTGRES_SKIP_REASON
from tests.e2e.test_crash_recovery import submit_and_register
from tests.harness import SERVICES, ServiceProcess, eventually, process_env, rpc, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG = "host=127.0.0.1 port=5432 dbname=test user=postgres"
WORKLOAD = int(__import__("os").environ.get("REPLICA_WORKLOAD", "200"))


def count(schema: str, topic_suffix: str) -> tuple[int, int]:
    import psycopg

    service = schema.split("_", 1)[1]
    with psycopg.connect(PG) as conn:
        return conn.execute(
            f'SELECT COUNT(*), COUNT(DISTINCT originator_id) FROM "{schema}".{service}_events '
            "WHERE topic LIKE %s", (f"%{topic_suffix}",)).fetchone()


@pytest.fixture
def pg_prefix():
    if POSTGRES_SKIP_REASON:
        pytest.skip(POSTGRES_SKIP_REASON)
    import psycopg

    prefix = f"r{uuid.uuid4().hex[:8]}_"
    yield prefix
    with psycopg.connect(PG, autocommit=True) as conn:
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                      (f"{prefix}%",)).fetchall():
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_two_replicas_of_every_service_share_the_work_and_lose_nothing(fresh_nats, tmp_path,
                                                                              pg_prefix):
    env = process_env(fresh_nats.url, {
        "EVENT_STORE": "postgres", "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432",
        "POSTGRES_DBNAME": "test", "POSTGRES_USER": "postgres",
        "POSTGRES_SCHEMA_PREFIX": pg_prefix, "CONSUMER_BATCH_SIZE": "5",
        # ten processes, each with its event store's and its read models' connections, within
        # the test server's 100 connections (a deployment sizes max_connections to its replicas)
        "POSTGRES_POOL_SIZE": "2"})
    replicas = [ServiceProcess(name, env, tmp_path / f"r{n}") for name in SERVICES for n in (1, 2)]
    for p in replicas:
        p.log_path.parent.mkdir(parents=True, exist_ok=True)
        p.start()
    try:
        await wait_until_ready(fresh_nats.url, timeout=90)
        # every replica came up and stayed up (one answering is not both starting)
        await asyncio.sleep(3)
        exited = [(p.name, p.log_path.parent.name) for p in replicas if p.proc.poll() is not None]
        assert not exited, f"replicas exited at start: {exited} (see their logs)"

        first = await submit_and_register(fresh_nats.url, WORKLOAD // 2, 0)
        # kill -9 one of the two assignment replicas; the other carries on alone
        victim = next(p for p in replicas if p.name == "assignment")
        victim.kill9()
        second = await submit_and_register(fresh_nats.url, WORKLOAD // 2, WORKLOAD // 2)
        assert len(set(first + second)) == WORKLOAD

        progress: dict[str, int] = {}

        async def everything_arrived():
            progress.update(
                registered=count(f"{pg_prefix}intake", "Suggestion.Registered")[0],
                assigned=count(f"{pg_prefix}assignment", "Assignment.Assigned")[0],
                opened=count(f"{pg_prefix}supervision", "SupervisedTask.Opened")[0],
                awarded=count(f"{pg_prefix}points", "DutyLedger.PointsAwarded")[0])
            return progress["opened"] >= WORKLOAD and progress["awarded"] >= WORKLOAD

        try:
            await eventually(everything_arrived, timeout=180, interval=1.0)
        except AssertionError:
            raise AssertionError(f"not everything arrived: {progress}") from None

        # Both replicas of each consumer did part of the work.
        async def instances(service: str) -> dict[str, int]:
            seen: dict[str, int] = {}
            for _ in range(40):
                health = (await rpc(fresh_nats.url, service, "health", timeout=2))["result"]
                processed = sum(c["processed"] for c in health["consumers"].values())
                seen[health["instance"]] = processed
                if len(seen) == 2:
                    break
            return seen

        for service in ("supervision", "points"):
            seen = await instances(service)
            assert len(seen) == 2 and all(n > 0 for n in seen.values()), (service, seen)

        await asyncio.sleep(2)  # let any wrong extra effect show up
        assert count(f"{pg_prefix}intake", "Suggestion.Registered") == (WORKLOAD, WORKLOAD)
        assert count(f"{pg_prefix}assignment", "Assignment.Assigned") == (WORKLOAD, WORKLOAD)
        assert count(f"{pg_prefix}assignment", "Task.Assigned") == (WORKLOAD, WORKLOAD)
        assert count(f"{pg_prefix}supervision", "SupervisedTask.Opened") == (WORKLOAD, WORKLOAD)
        assert count(f"{pg_prefix}points", "DutyLedger.PointsAwarded")[0] == WORKLOAD
        numbers = await rpc(fresh_nats.url, "intake", "list_suggestions", {}, {"username": "office", "role": "office"})
        assigned = sorted(s["number"] for s in numbers["result"])
        assert len(set(assigned)) == WORKLOAD  # yearly numbers unique under two replicas
    finally:
        for p in replicas:
            p.stop()

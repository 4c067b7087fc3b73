"""``duty-ops backup`` and ``duty-ops restore`` (ops/backup.py): a running system with a few
cases is backed up; the backup is restored into a new, empty place (a new VAR_DIR, or the
PostgreSQL schemas after they were dropped) with a new, empty nats-server; the services
started on it publish their logs again (``duty-ops replay``), give the same answers, pass
``duty-ops verify`` and go on handling cases. A restore refuses a non-empty target and an
archive whose contents do not match its manifest."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ops.verify import _call, verify_platform
from services.gateway.app import GatewaySettings, create_app
from tests.harness import ROOT, InProcessSystem, NatsServer, eventually
from tests.integration.conftest import Api

CASES = [("老旧小区加装电梯", "livelihood"), ("河道垃圾清理", "ecology"),
         ("学校周边交通拥堵", "livelihood")]


def needs_pg_client(store: dict[str, Any]) -> None:
    """A PostgreSQL backup needs pg_dump and psql (``make pg-client`` installs them)."""
    import shutil

    if store["event_store"] == "postgres" and not (shutil.which("pg_dump")
                                                    and shutil.which("psql")):
        pytest.skip("pg_dump/psql not installed (make pg-client: apt-get install "
                    "postgresql-client): a PostgreSQL backup needs them")


def keep_kek(store: dict[str, Any], new_var: Path) -> None:
    """Put the development key-encryption key (VAR_DIR/personal-data.kek, never in a backup)
    where the restored system looks for it, as docs/operations.md tells the operator."""
    import shutil

    from services.intake.personal_data import DEV_KEK_FILE_NAME

    old = Path(store.get("var_dir") or "var") / DEV_KEK_FILE_NAME
    new = Path(store.get("var_dir") or "var") if store["event_store"] == "postgres" else new_var
    if old.exists() and old.resolve() != (new / DEV_KEK_FILE_NAME).resolve():
        new.mkdir(parents=True, exist_ok=True)
        shutil.copy2(old, new / DEV_KEK_FILE_NAME)


def _env(store: dict[str, Any], var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env.update(VAR_DIR=str(var_dir), EVENT_STORE=store["event_store"])
    if store["event_store"] == "postgres":
        env.update(POSTGRES_HOST=store["postgres_host"], POSTGRES_PORT=str(store["postgres_port"]),
                   POSTGRES_DBNAME=store["postgres_dbname"], POSTGRES_USER=store["postgres_user"],
                   POSTGRES_SCHEMA_PREFIX=store["postgres_schema_prefix"])
    return env


async def duty_ops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ops", *args],
                                   cwd=ROOT, env=env, capture_output=True, text=True)


async def _open_case(api: Api, title: str, category: str) -> str:
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {"title": title, "body": f"{title}，群众反映强烈。", "category": category,
                        "co_signers": ["deputy-2"]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "yellow"})
    assert r.status_code == 200, r.text
    return sid


async def _settled(api: Api, sid: str) -> dict[str, Any]:
    async def check():
        view = (await api.get("office", f"/api/v1/suggestions/{sid}")).json()
        return view if view.get("tasks") and view.get("points_awarded") else None

    return await eventually(check, timeout=30, interval=0.2)


def _drop_schemas(prefix: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres",
                         autocommit=True) as conn:
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                      (f"{prefix}%",)).fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.timeout(240)
async def test_backup_restore_into_an_empty_place_gives_back_the_same_system(
        system, api, store, tmp_path):
    needs_pg_client(store)
    cases = [await _open_case(api, title, category) for title, category in CASES]
    before = {sid: await _settled(api, sid) for sid in cases}
    env = _env(store, Path(store.get("var_dir") or tmp_path / "unused"))

    # duty-ops without a bus refuses (no silent 127.0.0.1:4222)
    refused = await duty_ops(env, "backup", str(tmp_path / "backups"))
    assert refused.returncode == 2 and "NATS_URL" in refused.stderr

    made = await duty_ops(env, "backup", str(tmp_path / "backups"), "--nats-url", system.nats_url)
    assert made.returncode == 0, made.stderr + made.stdout
    [archive] = (tmp_path / "backups").glob("duty-backup-*.tar.gz")
    checksum = (tmp_path / "backups" / f"{archive.name}.sha256").read_text().split()[0]
    import hashlib

    assert hashlib.sha256(archive.read_bytes()).hexdigest() == checksum
    with tarfile.open(archive) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
        manifest = json.load(tar.extractfile(f"{archive.name[:-7]}/manifest.json"))
    if store["event_store"] == "sqlite":
        assert {f"stores/{s}.sqlite" for s in ("intake", "assignment", "supervision",
                                               "points", "notifications", "accounts")} <= names
        assert "stores/intake-keys.sqlite" in names
    else:
        assert {f"stores/{s}.sql" for s in ("intake", "assignment", "supervision",
                                            "points", "notifications", "accounts")} <= names
    assert {"manifest.json", "streams/streams.json", "streams/dlq.json",
            "config/users.yaml", "keys/gateway.pub"} <= names
    assert any(n.startswith("nats-credentials/") for n in names)
    assert manifest["services"]["intake"]["last_notification_id"] > 0
    # one consistent cut: nobody has processed more of a producer than its saved log holds
    for consumer, info in manifest["services"].items():
        for producer, position in info["tracked"].items():
            if producer in manifest["services"]:
                assert position <= manifest["services"][producer]["last_notification_id"]
            else:  # a producer not running here (no store): nothing of it was processed
                assert position == 0, (consumer, producer)
    assert manifest["services"]["notifications"]["tracked"]["intake"] > 0
    assert manifest["streams"]["DUTY_INTAKE"]["last_seq"] > 0
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert manifest["versions"]["eventsourcing"]

    # The old system goes away: services stopped, its bus gone, its store wiped.
    await system.stop()
    if store["event_store"] == "postgres":
        _drop_schemas(store["postgres_schema_prefix"])
        new_store = dict(store)
    else:
        new_store = {**store, "var_dir": tmp_path / "restored" / "var"}
    new_var = tmp_path / "restored" / "var"
    new_env = _env(new_store, new_var)

    # a target that is not empty is refused
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something").write_text("x")
    busy = await duty_ops(_env(new_store, tmp_path / "busy"), "restore", str(archive))
    assert busy.returncode == 1 and "not empty" in busy.stderr

    # an archive that does not match its manifest is refused, and nothing is written
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name.endswith("config/users.yaml"):
                content = data.read() + b"\n# changed\n"
                member.size = len(content)
                import io

                data = io.BytesIO(content)
            dst.addfile(member, data)
    bad = await duty_ops(_env(new_store, tmp_path / "elsewhere"), "restore", str(tampered))
    assert bad.returncode == 1 and "checksum differs: config/users.yaml" in bad.stderr
    assert not (tmp_path / "elsewhere" / "intake.sqlite").exists()

    restored = await duty_ops(new_env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "duty-ops replay intake --from 1 --to" in restored.stdout
    assert (new_var / "keys" / "ops.key").exists()
    assert (new_var / "config" / "users.yaml").exists()
    # the personal-data keys' key-encryption key is not in the backup (kept apart); in
    # development mode it lives in VAR_DIR: the operator puts it back
    keep_kek(store, new_var)

    with NatsServer(store_dir=tmp_path / "nats-restored") as bus:
        new_system = InProcessSystem(bus.url, new_store)
        await new_system.start()
        try:
            # publish every service's log again: the new stream gets it, consumers skip what
            # their restored stores tracked
            import nats

            nc = await nats.connect(bus.url)
            try:
                for service, info in manifest["services"].items():
                    if service == "notifications":
                        continue  # no producer
                    result = await _call(nc, service, "republish",
                                         {"start": 1, "end": info["last_notification_id"]})
                    assert result["republished"] >= 0
            finally:
                await nc.close()
            app = create_app(GatewaySettings(nats_url=bus.url, rpc_timeout_seconds=3.0))
            async with LifespanManager(app) as manager:
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport,
                                             base_url="http://gateway") as client:
                    new_api = Api(client)
                    for sid, view in before.items():
                        again = (await new_api.get("office", f"/api/v1/suggestions/{sid}")).json()
                        assert again == view
                    verified = await verify_platform(bus.url)
                    assert verified["ok"], verified
                    assert verified["reconciliation"]["registered_suggestions"] == len(CASES)
                    # ... and through the command line
                    ok = await duty_ops(new_env, "verify", "--json", "--nats-url", bus.url)
                    assert ok.returncode == 0, ok.stderr + ok.stdout
                    # the case flow goes on, numbers continuing, effects exactly once
                    after = await _open_case(new_api, "路灯不亮", "livelihood")
                    view = await _settled(new_api, after)
                    numbers = sorted(v["number"] for v in [*before.values(), view])
                    assert len(set(numbers)) == len(CASES) + 1
                    for sid in [*cases, after]:
                        lines = (await new_api.get("office", f"/api/v1/suggestions/{sid}")).json()
                        assert len(lines["tasks"]) == len(before.get(sid, view)["tasks"])
                        assert len(lines["points_awarded"]) == len(
                            before.get(sid, view)["points_awarded"])
        finally:
            await new_system.stop()

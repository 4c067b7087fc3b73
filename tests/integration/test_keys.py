"""Issue 24, finding 11: the per-person keys are stored wrapped under a key-encryption key
(KEK) that is in no store; store files are 0600; rotation; erasure keeps working.

On SQLite and PostgreSQL: the key store's contents are unreadable without the KEK (the raw
file or table holds no usable key, a wrong KEK fails), a store written by the previous version
(plaintext keys) is wrapped on first start, ``duty-ops rotate-keys`` re-wraps every key and
intake restarted on the new KEK reads everything (an interrupted rotation leaves every key
readable with one of the two), erasure still hides the data, and every store file is 0600."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.intake.personal_data import (
    DEV_KEK_FILE_NAME,
    KEY_FILE_NAME,
    Kek,
    KeyEncryptionKeyError,
    KeyStore,
    load_keks,
    seal,
    unseal,
    write_kek_file,
)
from shared.settings import ServiceSettings
from tests.harness import ROOT

ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
PHONE = {"name": "王小明", "phone": "13812345678"}


def _settings(store: dict[str, Any], tmp_path: Path) -> ServiceSettings:
    settings = ServiceSettings(service_name="intake", **{"var_dir": tmp_path / "var", **store})
    if settings.event_store == "postgres":  # the event store makes it in the service
        import psycopg

        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.postgres_schema}"')
    return settings


def raw_rows(settings: ServiceSettings, table: str = "personal_data_keys") -> list[tuple]:
    """The key table as someone with a copy of var/ or a dump of the schema reads it."""
    column = "subject_id" if table == "personal_data_keys" else "name"
    if settings.event_store == "postgres":
        import psycopg

        with psycopg.connect(ADMIN) as conn:
            rows = conn.execute(f'SELECT {column}, key, kek_id FROM '
                                f'"{settings.postgres_schema}".{table}').fetchall()
    else:
        with sqlite3.connect(settings.var_dir / KEY_FILE_NAME) as conn:
            rows = conn.execute(f"SELECT {column}, key, kek_id FROM {table}").fetchall()
    return [(r[0], bytes(r[1]), r[2]) for r in rows]


def test_the_key_store_is_unreadable_without_the_kek(store, tmp_path):
    settings = _settings(store, tmp_path)
    kek = Kek.generate()
    keys = KeyStore(settings, kek=kek)
    try:
        sealed = keys.encrypt("subject-1", PHONE)
        data_key = keys.get("subject-1")
        index_key = keys.index_key()
        assert keys.decrypt("subject-1", sealed) == PHONE
    finally:
        keys.close()

    [(subject, stored, kek_id)] = raw_rows(settings)
    assert subject == "subject-1" and kek_id == kek.id
    assert stored != data_key and data_key not in stored and len(stored) == 12 + 32 + 16
    # Whatever part of the stored value one takes as the key, the data stays sealed.
    for guess in (stored[:32], stored[12:44], stored[-32:]):
        assert unseal(guess, "subject-1", sealed) is None
    [(_, stored_index, _)] = raw_rows(settings, "index_keys")
    assert index_key not in stored_index
    if settings.event_store == "sqlite":
        raw = (settings.var_dir / KEY_FILE_NAME).read_bytes()
        assert data_key not in raw and index_key not in raw

    # A wrong KEK: unwrapping fails, and intake's key store refuses to open.
    with pytest.raises(InvalidTag):
        Kek.generate().unwrap(stored, "subject:subject-1")
    with pytest.raises(KeyEncryptionKeyError, match=kek.id):
        KeyStore(settings, kek=Kek.generate())
    # The right one reads it again (a restart).
    again = KeyStore(settings, kek=kek)
    try:
        assert again.decrypt("subject-1", sealed) == PHONE and again.index_key() == index_key
        assert again.delete("subject-1") and again.decrypt("subject-1", sealed) is None
    finally:
        again.close()
    if settings.event_store == "sqlite":  # the erased key is not left in a free page
        assert stored not in (settings.var_dir / KEY_FILE_NAME).read_bytes()


def _legacy_store(settings: ServiceSettings) -> tuple[bytes, bytes]:
    """A key store as the previous version wrote it: no kek_id, plaintext keys."""
    data_key, index_key = AESGCM.generate_key(256), AESGCM.generate_key(256)
    create = ["CREATE TABLE personal_data_keys (subject_id TEXT PRIMARY KEY, key {b} NOT NULL, "
              "created_at {t} NOT NULL)",
              "CREATE TABLE index_keys (name TEXT PRIMARY KEY, key {b} NOT NULL)"]
    if settings.event_store == "postgres":
        import psycopg

        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{settings.postgres_schema}"')
            for statement in create:
                conn.execute(statement.format(b="BYTEA", t="TIMESTAMPTZ"))
            conn.execute("INSERT INTO personal_data_keys VALUES (%s, %s, now())",
                         ("old-subject", data_key))
            conn.execute("INSERT INTO index_keys VALUES ('message-text', %s)", (index_key,))
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        path = settings.var_dir / KEY_FILE_NAME
        with sqlite3.connect(path) as conn:
            for statement in create:
                conn.execute(statement.format(b="BLOB", t="TEXT"))
            conn.execute("INSERT INTO personal_data_keys VALUES (?, ?, '2026-01-01')",
                         ("old-subject", data_key))
            conn.execute("INSERT INTO index_keys VALUES ('message-text', ?)", (index_key,))
        conn.close()
        os.chmod(path, 0o644)  # as the previous version left it
    return data_key, index_key


def test_plaintext_keys_of_the_previous_version_are_wrapped_on_first_start(store, tmp_path):
    settings = _settings(store, tmp_path)
    data_key, index_key = _legacy_store(settings)
    sealed = seal(data_key, "old-subject", PHONE)
    kek = Kek.generate()
    keys = KeyStore(settings, kek=kek)
    try:
        assert keys.decrypt("old-subject", sealed) == PHONE
        assert keys.index_key() == index_key  # the blind index needs no rebuild
        assert keys.kek_ids() == {kek.id: 2}
    finally:
        keys.close()
    [(_, stored, kek_id)] = raw_rows(settings)
    assert kek_id == kek.id and data_key not in stored
    [(_, stored_index, _)] = raw_rows(settings, "index_keys")
    assert index_key not in stored_index
    if settings.event_store == "sqlite":
        path = settings.var_dir / KEY_FILE_NAME
        raw = path.read_bytes()
        assert data_key not in raw and index_key not in raw  # rewritten, not left behind
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_interrupted_rotation_leaves_every_key_readable_and_finishes_when_run_again(
        store, tmp_path):
    settings = _settings(store, tmp_path)
    old, new = Kek.generate(), Kek.generate()
    keys = KeyStore(settings, kek=old)
    sealed = {f"s{i}": keys.encrypt(f"s{i}", {"n": i}) for i in range(7)}
    index_key = keys.index_key()
    calls = {"n": 0}
    real = keys._run_many

    def crash_after_the_first_batch(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(*args)

    keys._run_many = crash_after_the_first_batch
    keys.keks[new.id] = new
    with pytest.raises(RuntimeError, match="power cut"):
        keys._rewrap(new, only_unwrapped=False, batch=3)
    keys.close()

    assert {k for _, _, k in raw_rows(settings)} == {old.id, new.id}
    # Every key is readable with one of the two (intake run with both: new, and old as previous)
    both = KeyStore(settings, kek=new, previous=old)
    try:
        assert all(both.decrypt(s, c) == {"n": int(s[1:])} for s, c in sealed.items())
    finally:
        both.close()
    with pytest.raises(KeyEncryptionKeyError):
        KeyStore(settings, kek=new)  # not finished: the new KEK alone does not open it
    finishing = KeyStore(settings, kek=old, previous=new)
    try:
        finishing.rotate(new)
    finally:
        finishing.close()
    after = KeyStore(settings, kek=new)
    try:
        assert all(after.decrypt(s, c) == {"n": int(s[1:])} for s, c in sealed.items())
        assert after.index_key() == index_key and after.kek_ids() == {new.id: 8}
    finally:
        after.close()


def test_a_kek_comes_from_a_file_or_the_environment_and_only_development_makes_one(tmp_path):
    settings = ServiceSettings(service_name="intake", var_dir=tmp_path / "var",
                               duty_dev_mode=False)
    with pytest.raises(KeyEncryptionKeyError, match="PERSONAL_DATA_KEK_FILE"):
        load_keks(settings, environ={})
    with pytest.raises(KeyEncryptionKeyError, match="32 bytes"):
        load_keks(settings, environ={"PERSONAL_DATA_KEK": base64.b64encode(b"short").decode()})
    kek = Kek.generate()
    assert load_keks(settings, environ={"PERSONAL_DATA_KEK": kek.to_text()})[0] == kek
    path = tmp_path / "kek"
    write_kek_file(path, kek)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keks(settings, environ={"PERSONAL_DATA_KEK_FILE": str(path)})[0] == kek
    assert not (settings.var_dir / DEV_KEK_FILE_NAME).exists()

    dev = settings.model_copy(update={"duty_dev_mode": True})
    made, previous = load_keks(dev, environ={})
    kek_file = dev.var_dir / DEV_KEK_FILE_NAME
    assert previous is None and Kek.from_file(kek_file) == made
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert load_keks(dev, environ={})[0] == made  # kept, not made again


def _ops_env(system, tmp_path: Path) -> dict[str, str]:
    store = system.store
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POSTGRES_", "PERSONAL_DATA_KEK"))}
    env["EVENT_STORE"] = store["event_store"]
    env["VAR_DIR"] = str(store.get("var_dir", ROOT / "var"))
    if store["event_store"] == "postgres":
        env.update(POSTGRES_HOST="127.0.0.1", POSTGRES_PORT="5432", POSTGRES_DBNAME="test",
                   POSTGRES_USER="postgres",
                   POSTGRES_SCHEMA_PREFIX=store["postgres_schema_prefix"])
    return env


async def test_rotation_then_restart_reads_everything_and_erasure_still_hides(
        api, system, tmp_path, monkeypatch):
    from tests.integration.test_citizen_messages import MESSAGE, NAME, PHONE as CITIZEN_PHONE, \
        post_message

    message = await post_message(api)
    mid = message["id"]
    r = await api.get("office", f"/api/v1/messages/{mid}")
    assert r.json()["contact_phone"] == CITIZEN_PHONE
    found_before = (await api.get("office", "/api/v1/messages", q=MESSAGE["content"][:6],
                                  year="all")).json()

    await system.stop("intake")
    new_kek = tmp_path / "new.kek"
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ops", "rotate-keys", "--new-kek-file",
                         str(new_kek)],
        cwd=ROOT, capture_output=True, text=True, env=_ops_env(system, tmp_path))
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 1 personal-data keys" in done.stdout or "re-wrapped" in done.stdout
    assert stat.S_IMODE(new_kek.stat().st_mode) == 0o600

    # intake restarts on the new KEK: everything reads as before
    monkeypatch.setenv("PERSONAL_DATA_KEK_FILE", str(new_kek))
    await system.start("intake")
    assert set(system.app("intake").keys.kek_ids()) == {Kek.from_file(new_kek).id}
    r = await api.get("office", f"/api/v1/messages/{mid}")
    assert r.status_code == 200, r.text
    assert r.json()["contact_phone"] == CITIZEN_PHONE and r.json()["contact_name"] == NAME
    found_after = (await api.get("office", "/api/v1/messages", q=MESSAGE["content"][:6],
                                 year="all")).json()
    assert [m["id"] for m in found_after] == [m["id"] for m in found_before]
    assert mid in [m["id"] for m in found_after]

    # erasure still deletes the key
    r = await api.post("office", f"/api/v1/messages/{mid}/erasure")
    assert r.status_code == 200, r.text
    r = await api.get("office", f"/api/v1/messages/{mid}")
    assert r.json()["contact_phone"] == "[erased]" and r.json()["content"] == "[erased]"

    # and intake restarted on the old KEK alone refuses to start
    await system.stop("intake")
    monkeypatch.delenv("PERSONAL_DATA_KEK_FILE")
    if system.store["event_store"] == "sqlite":
        with pytest.raises(KeyEncryptionKeyError):
            await system.start("intake")
    monkeypatch.setenv("PERSONAL_DATA_KEK_FILE", str(new_kek))
    await system.start("intake")


async def test_every_store_file_is_0600(api, system):
    if system.store["event_store"] != "sqlite":
        pytest.skip("store files are SQLite's")
    from tests.integration.test_citizen_messages import post_message

    await post_message(api)
    var_dir: Path = system.store["var_dir"]
    files = sorted(p for p in var_dir.iterdir() if p.is_file())
    names = {p.name for p in files}
    assert {"intake.sqlite", "intake-views.sqlite", KEY_FILE_NAME, DEV_KEK_FILE_NAME,
            "assignment.sqlite", "supervision.sqlite", "points.sqlite"} <= names, names
    wide = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files
            if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert wide == {}

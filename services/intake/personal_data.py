"""Personal data (citizens' names and phone numbers) encrypted per data subject.

Each message poster is one data subject with its own AES-256-GCM key. The events carry only
the ciphertext and the subject's reference; the keys live outside the event log, in the
table ``personal_data_keys``:

- SQLite mode: a separate file ``<var_dir>/intake-keys.sqlite`` (never the event store file);
- PostgreSQL mode: a table in the service's own schema (``duty_intake.personal_data_keys``).

The message's free text (content) is sealed under the same key (every message has a
subject, anonymous ones too: a citizen may write personal details into the text).

The blind index of message texts (services/intake/read_models.py) is keyed with a service
secret of its own, kept in the table ``index_keys`` beside the per-person keys.

Erasure deletes the key (crypto-shredding): the events stay intact and replayable, the
personal fields can no longer be decrypted and are shown as ``[erased]``.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from datetime import datetime, timezone
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.settings import ServiceSettings

ERASED = "[erased]"
KEY_FILE_NAME = "intake-keys.sqlite"


class KeyStore:
    """One AES-GCM key per data subject, outside the event log.

    One connection per store, opened on first use and kept (a replay reads one key per
    message: a connection per read would cost a PostgreSQL connect each), serialised by a
    lock. Nothing is cached across reads (only while a read model applies one page of the
    log, see ``get_remembered``): every other read asks the table, so a key deleted by
    another replica (an erasure) is gone for this one at once. A PostgreSQL connection found broken is
    replaced and the statement tried once more."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.postgres = settings.event_store == "postgres"
        self._lock = threading.Lock()
        self._conn: Any = None
        self._remembered: dict[str, bytes | None] = {}
        if self.postgres:
            from psycopg import sql

            self._table = sql.SQL("{}.{}").format(sql.Identifier(settings.postgres_schema),
                                                  sql.Identifier("personal_data_keys"))
            self._index_table = sql.SQL("{}.{}").format(
                sql.Identifier(settings.postgres_schema), sql.Identifier("index_keys"))
            self._pg("CREATE TABLE IF NOT EXISTS {t} (subject_id TEXT PRIMARY KEY, "
                     "key BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL)")
            self._pg("CREATE TABLE IF NOT EXISTS {i} (name TEXT PRIMARY KEY, key BYTEA NOT NULL)")
        else:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
            self.path = settings.var_dir / KEY_FILE_NAME
            self._sqlite("CREATE TABLE IF NOT EXISTS personal_data_keys (subject_id TEXT PRIMARY "
                         "KEY, key BLOB NOT NULL, created_at TEXT NOT NULL)")
            self._sqlite("CREATE TABLE IF NOT EXISTS index_keys (name TEXT PRIMARY KEY, "
                         "key BLOB NOT NULL)")
        self._index_keys: dict[str, bytes] = {}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- backends -----------------------------------------------------------------------

    def _pg(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg
        from psycopg import sql

        from shared.eventstore import postgres_conninfo

        query = sql.SQL(statement).format(t=self._table, i=self._index_table)
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(postgres_conninfo(self.settings),
                                                 autocommit=True)
                try:
                    cur = self._conn.execute(query, params)
                    return cur.fetchall() if cur.description else []
                except psycopg.OperationalError:
                    self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _sqlite(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            with self._conn:  # one transaction: committed, or rolled back on error
                return self._conn.execute(statement, params).fetchall()

    def _run(self, sqlite_stmt: str, pg_stmt: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._pg(pg_stmt, params) if self.postgres else self._sqlite(sqlite_stmt, params)

    # --- keys ---------------------------------------------------------------------------

    def create(self, subject_id: str) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        now = datetime.now(timezone.utc)
        self._run("INSERT INTO personal_data_keys (subject_id, key, created_at) VALUES (?, ?, ?)",
                  "INSERT INTO {t} (subject_id, key, created_at) VALUES (%s, %s, %s)",
                  (subject_id, key, now.isoformat() if not self.postgres else now))
        return key

    def get(self, subject_id: str) -> bytes | None:
        rows = self._run("SELECT key FROM personal_data_keys WHERE subject_id = ?",
                         "SELECT key FROM {t} WHERE subject_id = %s", (subject_id,))
        return bytes(rows[0][0]) if rows else None

    def get_many(self, subject_ids: Iterable[str]) -> dict[str, bytes]:
        """The keys of several subjects in one statement (the erased ones are absent)."""
        ids = list(dict.fromkeys(subject_ids))
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self._run(f"SELECT subject_id, key FROM personal_data_keys WHERE subject_id IN ({marks})",
                         "SELECT subject_id, key FROM {t} WHERE subject_id = ANY(%s)",
                         tuple(ids) if not self.postgres else (ids,))
        return {r[0]: bytes(r[1]) for r in rows}

    def index_key(self, name: str = "message-text") -> bytes:
        """A service secret for a blind index (``name``): made once, kept beside the
        per-person keys (never in the event log or the read models), the same for every
        replica, and remembered by this process."""
        if name not in self._index_keys:
            fresh = AESGCM.generate_key(bit_length=256)
            self._run("INSERT INTO index_keys (name, key) VALUES (?, ?) ON CONFLICT DO NOTHING",
                      "INSERT INTO {i} (name, key) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                      (name, fresh))
            rows = self._run("SELECT key FROM index_keys WHERE name = ?",
                             "SELECT key FROM {i} WHERE name = %s", (name,))
            self._index_keys[name] = bytes(rows[0][0])
        return self._index_keys[name]

    def get_remembered(self, subject_id: str) -> bytes | None:
        """``get``, remembered until ``forget``: for the read models, which look up the same
        subject once each while they apply one page of the log and call ``forget`` after
        the page. Every other read asks the table."""
        if subject_id not in self._remembered:
            self._remembered[subject_id] = self.get(subject_id)
        return self._remembered[subject_id]

    def forget(self) -> None:
        self._remembered.clear()

    def delete(self, subject_id: str) -> bool:
        before = self.get(subject_id) is not None
        self._run("DELETE FROM personal_data_keys WHERE subject_id = ?",
                  "DELETE FROM {t} WHERE subject_id = %s", (subject_id,))
        return before

    # --- encryption ---------------------------------------------------------------------

    def encrypt(self, subject_id: str, data: dict[str, Any]) -> str:
        """Ciphertext (base64 of nonce + AES-GCM output) under a new key for this subject."""
        return seal(self.create(subject_id), subject_id, data)

    def decrypt(self, subject_id: str, ciphertext: str, purpose: str = "",
                remembered: bool = False) -> Any | None:
        """The personal data, or None when the subject's key is gone (erased)."""
        key = self.get_remembered(subject_id) if remembered else self.get(subject_id)
        if key is None:
            return None
        return unseal(key, subject_id, ciphertext, purpose)


def _aad(subject_id: str, purpose: str) -> bytes:
    # The personal data (name, phone) is bound to the subject alone, as it always was; other
    # fields (the content) to the subject and the field, so the two cannot be swapped.
    return (subject_id if not purpose else f"{subject_id}|{purpose}").encode()


def seal(key: bytes, subject_id: str, value: Any, purpose: str = "") -> str:
    """Base64 of nonce + AES-GCM(JSON of value), bound to the subject (and purpose)."""
    nonce = os.urandom(12)
    plaintext = json.dumps(value, ensure_ascii=False).encode()
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext,
                                                        _aad(subject_id, purpose))).decode()


def unseal(key: bytes, subject_id: str, ciphertext: str, purpose: str = "") -> Any | None:
    raw = base64.b64decode(ciphertext)
    try:
        plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], _aad(subject_id, purpose))
    except InvalidTag:
        return None
    return json.loads(plaintext)


def mask_phone(phone: str | None) -> str | None:
    """138****5678: the first three and the last four digits stay."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str | None) -> str | None:
    """王** : only the first character stays."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)

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

Every key in both tables is stored *wrapped*: AES-256-GCM under a key-encryption key (KEK)
that is in no store, bound to the row (``subject:<id>`` or ``index:<name>``), with the KEK's
id (a fingerprint, ``kek_id``) recorded on the row. The KEK comes from the file named by
``PERSONAL_DATA_KEK_FILE`` or from ``PERSONAL_DATA_KEK`` (base64 of 32 bytes); in development
mode (``DUTY_DEV_MODE``) a KEK file is made under ``var/`` when neither is given; otherwise
intake refuses to start. A previous KEK (``PERSONAL_DATA_KEK_PREVIOUS_FILE`` or
``PERSONAL_DATA_KEK_PREVIOUS``) is also read while a rotation (``duty-ops rotate-keys``)
re-wraps the keys: each row names the KEK that wrapped it, so a rotation stopped half-way
leaves every key readable with one of the two. Keys written by a version before wrapping
(``kek_id`` NULL) are wrapped at the first start (``migrate``). A copy of ``var/`` or a dump
of the schema without the KEK decrypts nothing.

Erasure deletes the key (crypto-shredding): the events stay intact and replayable, the
personal fields can no longer be decrypted and are shown as ``[erased]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timezone
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.settings import ServiceSettings

ERASED = "[erased]"
KEY_FILE_NAME = "intake-keys.sqlite"
DEV_KEK_FILE_NAME = "personal-data.kek"
log = logging.getLogger(__name__)


class KeyEncryptionKeyError(RuntimeError):
    """No key-encryption key, a malformed one, or not the one the keys were wrapped under:
    intake does not start."""


@dataclass(frozen=True)
class Kek:
    """A key-encryption key and its id (a fingerprint: names it without revealing it)."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise KeyEncryptionKeyError(
                f"a key-encryption key is 32 bytes (base64 of them), not {len(self.key)}")

    @property
    def id(self) -> str:
        return hashlib.sha256(b"duty-liaison personal-data KEK id|" + self.key).hexdigest()[:16]

    def wrap(self, key: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.key).encrypt(nonce, key, b"duty-kek|" + bound_to.encode())

    def unwrap(self, wrapped: bytes, bound_to: str) -> bytes:
        """The key; raises ``InvalidTag`` under another KEK or for another row."""
        return AESGCM(self.key).decrypt(wrapped[:12], wrapped[12:],
                                        b"duty-kek|" + bound_to.encode())

    @classmethod
    def generate(cls) -> Kek:
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_text(cls, text: str, where: str) -> Kek:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyEncryptionKeyError(f"{where}: not base64") from None
        try:
            return cls(raw)
        except KeyEncryptionKeyError as exc:
            raise KeyEncryptionKeyError(f"{where}: {exc}") from None

    @classmethod
    def from_file(cls, path: Path) -> Kek:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise KeyEncryptionKeyError(f"cannot read the key-encryption key {path}: {exc}") \
                from None
        return cls.from_text(text, str(path))

    def to_text(self) -> str:
        return base64.b64encode(self.key).decode() + "\n"


def write_kek_file(path: Path, kek: Kek | None = None) -> Kek:
    """A new KEK file (mode 0600; refuses to overwrite one)."""
    kek = kek or Kek.generate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(kek.to_text())
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # atomic, and fails when another process made it first
    finally:
        os.unlink(tmp)
    return kek


def kek_from(file: str | Path | None, text: str | None, where: str) -> Kek | None:
    if file:
        return Kek.from_file(Path(file))
    if text:
        return Kek.from_text(text, where)
    return None


def load_keks(settings: ServiceSettings, environ: dict[str, str] | None = None,
              ) -> tuple[Kek, Kek | None]:
    """The current KEK (``PERSONAL_DATA_KEK_FILE`` or ``PERSONAL_DATA_KEK``; in development
    mode a file under ``var_dir`` made when missing) and the previous one, if given."""
    env = os.environ if environ is None else environ
    current = kek_from(env.get("PERSONAL_DATA_KEK_FILE"), env.get("PERSONAL_DATA_KEK"),
                       "PERSONAL_DATA_KEK")
    if current is None:
        dev_mode = settings.duty_dev_mode or \
            env.get("DUTY_DEV_MODE", "").strip().lower() in ("1", "true", "yes", "on")
        if not dev_mode:
            raise KeyEncryptionKeyError(
                "no key-encryption key for the personal-data keys: set PERSONAL_DATA_KEK_FILE "
                "(a file holding base64 of 32 random bytes, mode 0600, outside the stores and "
                "their backups) or PERSONAL_DATA_KEK; see docs/security.md")
        path = settings.var_dir / DEV_KEK_FILE_NAME
        if not path.exists():
            try:
                write_kek_file(path)
                log.warning("development mode: made the key-encryption key %s", path)
            except FileExistsError:
                pass  # another replica made it meanwhile
        current = Kek.from_file(path)
    previous = kek_from(env.get("PERSONAL_DATA_KEK_PREVIOUS_FILE"),
                        env.get("PERSONAL_DATA_KEK_PREVIOUS"), "PERSONAL_DATA_KEK_PREVIOUS")
    return current, previous


class KeyStore:
    """One AES-GCM key per data subject, outside the event log.

    One connection per store, opened on first use and kept (a replay reads one key per
    message: a connection per read would cost a PostgreSQL connect each), serialised by a
    lock. Nothing is cached across reads (only while a read model applies one page of the
    log, see ``get_remembered``): every other read asks the table, so a key deleted by
    another replica (an erasure) is gone for this one at once. A PostgreSQL connection found broken is
    replaced and the statement tried once more."""

    def __init__(self, settings: ServiceSettings, kek: Kek | None = None,
                 previous: Kek | None = None, *, migrate: bool = True) -> None:
        self.settings = settings
        self.postgres = settings.event_store == "postgres"
        self._lock = threading.Lock()
        self._conn: Any = None
        self._remembered: dict[str, bytes | None] = {}
        if kek is None:
            kek, found_previous = load_keks(settings)
            previous = previous or found_previous
        self.kek = kek
        # the KEKs this process can unwrap with: the current one, and the previous one
        # while a rotation is under way
        self.keks = {kek.id: kek, **({previous.id: previous} if previous else {})}
        if self.postgres:
            from psycopg import sql

            self._table = sql.SQL("{}.{}").format(sql.Identifier(settings.postgres_schema),
                                                  sql.Identifier("personal_data_keys"))
            self._index_table = sql.SQL("{}.{}").format(
                sql.Identifier(settings.postgres_schema), sql.Identifier("index_keys"))
            from shared.eventstore import schema_creation_lock

            # serialised among replicas starting together (concurrent CREATE ... IF NOT
            # EXISTS statements race on pg_type)
            with schema_creation_lock(settings):
                self._pg("CREATE TABLE IF NOT EXISTS {t} (subject_id TEXT PRIMARY KEY, "
                         "key BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL, kek_id TEXT)")
                self._pg("CREATE TABLE IF NOT EXISTS {i} (name TEXT PRIMARY KEY, "
                         "key BYTEA NOT NULL, kek_id TEXT)")
                # a store written before keys were wrapped has no kek_id column
                self._pg("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS kek_id TEXT")
                self._pg("ALTER TABLE {i} ADD COLUMN IF NOT EXISTS kek_id TEXT")
        else:
            from shared.eventstore import private_file

            settings.var_dir.mkdir(parents=True, exist_ok=True)
            self.path = private_file(settings.var_dir / KEY_FILE_NAME)
            self._sqlite("CREATE TABLE IF NOT EXISTS personal_data_keys (subject_id TEXT PRIMARY "
                         "KEY, key BLOB NOT NULL, created_at TEXT NOT NULL, kek_id TEXT)")
            self._sqlite("CREATE TABLE IF NOT EXISTS index_keys (name TEXT PRIMARY KEY, "
                         "key BLOB NOT NULL, kek_id TEXT)")
            for table in ("personal_data_keys", "index_keys"):
                columns = {r[1] for r in self._sqlite(f"PRAGMA table_info({table})")}
                if "kek_id" not in columns:
                    self._sqlite(f"ALTER TABLE {table} ADD COLUMN kek_id TEXT")
        self._index_keys: dict[str, bytes] = {}
        if migrate:
            self.migrate()
            self.check_keks()

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

    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            # a deleted (erased) or re-wrapped key is overwritten in the file, not left in
            # a free page
            self._conn.execute("PRAGMA secure_delete = ON")
        return self._conn

    def _sqlite(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._sqlite_conn()
            with conn:  # one transaction: committed, or rolled back on error
                return conn.execute(statement, params).fetchall()

    def _run(self, sqlite_stmt: str, pg_stmt: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._pg(pg_stmt, params) if self.postgres else self._sqlite(sqlite_stmt, params)

    def _run_many(self, sqlite_stmt: str, pg_stmt: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement for each of ``rows``, all in one transaction."""
        if not rows:
            return
        if not self.postgres:
            with self._lock:
                conn = self._sqlite_conn()
                with conn:
                    conn.executemany(sqlite_stmt, rows)
            return
        import psycopg
        from psycopg import sql

        from shared.eventstore import postgres_conninfo

        query = sql.SQL(pg_stmt).format(t=self._table, i=self._index_table)
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(postgres_conninfo(self.settings), autocommit=True)
            with self._conn.transaction():
                with self._conn.cursor() as cur:
                    cur.executemany(query, rows)

    # --- wrapping under the key-encryption key --------------------------------------------

    def _unwrap(self, stored: Any, kek_id: str | None, bound_to: str) -> bytes:
        if kek_id is None:
            return bytes(stored)  # written before wrapping, not migrated yet (another replica)
        kek = self.keks.get(kek_id)
        if kek is None:
            raise KeyEncryptionKeyError(
                f"the key of {bound_to} is wrapped under the key-encryption key {kek_id}, "
                f"which this process does not have (it has {', '.join(self.keks)})")
        return kek.unwrap(bytes(stored), bound_to)

    def _rows(self, table: str) -> list[tuple[str, bytes, str | None]]:
        if table == "personal_data_keys":
            rows = self._run("SELECT subject_id, key, kek_id FROM personal_data_keys",
                             "SELECT subject_id, key, kek_id FROM {t}", ())
        else:
            rows = self._run("SELECT name, key, kek_id FROM index_keys",
                             "SELECT name, key, kek_id FROM {i}", ())
        return [(r[0], bytes(r[1]), r[2]) for r in rows]

    def _rewrap(self, target: Kek, only_unwrapped: bool, batch: int = 500) -> dict[str, int]:
        """Wrap every key not yet under ``target`` (``only_unwrapped``: only keys stored in
        plaintext) under it, ``batch`` rows a transaction. Each row is updated only while it
        still holds what was read (its ``kek_id``), and names the KEK that wrapped it, so an
        interruption leaves every row readable with one of the KEKs."""
        done = {"personal_data_keys": 0, "index_keys": 0}
        for table, prefix, column, pg_table in (
                ("personal_data_keys", "subject:", "subject_id", "{t}"),
                ("index_keys", "index:", "name", "{i}")):
            pending = [r for r in self._rows(table)
                       if (r[2] is None if only_unwrapped else r[2] != target.id)]
            for start in range(0, len(pending), batch):
                updates = []
                for ident, stored, kek_id in pending[start:start + batch]:
                    key = self._unwrap(stored, kek_id, prefix + ident)
                    updates.append((target.wrap(key, prefix + ident), target.id, ident, kek_id))
                self._run_many(
                    f"UPDATE {table} SET key = ?, kek_id = ? WHERE {column} = ? AND kek_id IS ?",
                    f"UPDATE {pg_table} SET key = %s, kek_id = %s WHERE {column} = %s AND "
                    "kek_id IS NOT DISTINCT FROM %s::text",
                    updates)
                done[table] += len(updates)
        return done

    def migrate(self) -> dict[str, int]:
        """Wrap the keys a version before wrapping stored in plaintext (first start)."""
        done = self._rewrap(self.kek, only_unwrapped=True)
        if any(done.values()):
            log.warning("wrapped %d personal-data keys and %d index keys stored in plaintext "
                        "under the key-encryption key %s", done["personal_data_keys"],
                        done["index_keys"], self.kek.id)
            self._compact()
        return done

    def rotate(self, new: Kek) -> dict[str, int]:
        """Re-wrap every key under ``new`` (the data keys themselves do not change). This
        store must have been opened with the old KEK (current or previous)."""
        self.keks[new.id] = new
        done = self._rewrap(new, only_unwrapped=False)
        self.kek = new
        self._compact()
        return done

    def _compact(self) -> None:
        """Leave no copy of a replaced row behind: SQLite rewrites the file; PostgreSQL
        vacuums the tables (dead row versions)."""
        try:
            if self.postgres:
                self._pg("VACUUM {t}")
                self._pg("VACUUM {i}")
            else:
                with self._lock:
                    self._sqlite_conn().execute("VACUUM")
        except Exception:  # pragma: no cover - best effort
            log.warning("could not compact the key store", exc_info=True)

    def kek_ids(self) -> dict[str | None, int]:
        """How many keys each KEK wraps (None: stored in plaintext)."""
        counts: dict[str | None, int] = {}
        for table in ("personal_data_keys", "index_keys"):
            for _, _, kek_id in self._rows(table):
                counts[kek_id] = counts.get(kek_id, 0) + 1
        return counts

    def check_keks(self) -> None:
        """Refuse a store with keys wrapped under a KEK this process does not have (the wrong
        KEK given, or a rotation's new one missing)."""
        unknown = {k for k in self.kek_ids() if k is not None and k not in self.keks}
        if unknown:
            raise KeyEncryptionKeyError(
                f"personal-data keys are wrapped under key-encryption key(s) "
                f"{', '.join(sorted(unknown))}, not under the one given ({self.kek.id}): "
                "give the right PERSONAL_DATA_KEK_FILE (or PERSONAL_DATA_KEK_PREVIOUS_FILE "
                "while a rotation is unfinished)")

    # --- keys ---------------------------------------------------------------------------

    def create(self, subject_id: str) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        now = datetime.now(timezone.utc)
        self._run("INSERT INTO personal_data_keys (subject_id, key, created_at, kek_id) "
                  "VALUES (?, ?, ?, ?)",
                  "INSERT INTO {t} (subject_id, key, created_at, kek_id) VALUES (%s, %s, %s, %s)",
                  (subject_id, self.kek.wrap(key, f"subject:{subject_id}"),
                   now.isoformat() if not self.postgres else now, self.kek.id))
        return key

    def get(self, subject_id: str) -> bytes | None:
        rows = self._run("SELECT key, kek_id FROM personal_data_keys WHERE subject_id = ?",
                         "SELECT key, kek_id FROM {t} WHERE subject_id = %s", (subject_id,))
        return self._unwrap(rows[0][0], rows[0][1], f"subject:{subject_id}") if rows else None

    def get_many(self, subject_ids: Iterable[str]) -> dict[str, bytes]:
        """The keys of several subjects in one statement (the erased ones are absent)."""
        ids = list(dict.fromkeys(subject_ids))
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self._run(f"SELECT subject_id, key, kek_id FROM personal_data_keys "
                         f"WHERE subject_id IN ({marks})",
                         "SELECT subject_id, key, kek_id FROM {t} WHERE subject_id = ANY(%s)",
                         tuple(ids) if not self.postgres else (ids,))
        return {r[0]: self._unwrap(r[1], r[2], f"subject:{r[0]}") for r in rows}

    def index_key(self, name: str = "message-text") -> bytes:
        """A service secret for a blind index (``name``): made once, kept beside the
        per-person keys wrapped under the KEK like them (never in the event log or the read
        models), the same for every replica, and remembered by this process."""
        if name not in self._index_keys:
            fresh = AESGCM.generate_key(bit_length=256)
            self._run("INSERT INTO index_keys (name, key, kek_id) VALUES (?, ?, ?) "
                      "ON CONFLICT DO NOTHING",
                      "INSERT INTO {i} (name, key, kek_id) VALUES (%s, %s, %s) "
                      "ON CONFLICT DO NOTHING",
                      (name, self.kek.wrap(fresh, f"index:{name}"), self.kek.id))
            rows = self._run("SELECT key, kek_id FROM index_keys WHERE name = ?",
                             "SELECT key, kek_id FROM {i} WHERE name = %s", (name,))
            self._index_keys[name] = self._unwrap(rows[0][0], rows[0][1], f"index:{name}")
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

"""Read models that persist: tables in the service's own read-model database.

Each service's read models are tables beside its event store, written in the same
transaction as the log position they reflect, so a process that starts (or restarts after a
crash) reads only the events recorded since that position, and its memory does not grow with
the history.

- **Where.** SQLite: ``var/<service>-views.sqlite`` (a file of its own, so writing the read
  models never waits for the event store's write lock, WAL mode); PostgreSQL: the schema
  ``<service schema>_views`` of the same database. The event store stays the record: the read
  models can be dropped and rebuilt from it at any time with the same result.
- **Positions.** ``read_model_positions`` holds, per read model, its definition's version,
  its generation (which set of tables is live) and the last notification id applied. Every
  page of events applied and its position commit together (``TableProjection``).
- **Versions and rebuilds.** A read model's tables are named ``<table>_v<version>g<generation>``.
  When its definition changes (a new ``version``) or an operator asks for a rebuild
  (``duty-ops rebuild``), a new generation is built from the log in the background while the
  live one keeps answering (and keeps following the log); when the new one has caught up it
  takes over in one step and the old tables are dropped. A read model with no live generation
  yet (a new version) answers queries with 503 until its first build is done.
- **SQL.** Statements are written once with ``?`` placeholders; for PostgreSQL they become
  ``%s``. Both dialects share ``INSERT … ON CONFLICT … DO UPDATE``, row values in keyset
  comparisons and ``LIKE``; full-text search over Chinese uses SQLite FTS5's trigram tokenizer
  and PostgreSQL's ``pg_trgm`` (``ViewStore.dialect`` tells a projection which DDL to use).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgres"]


@lru_cache(maxsize=1024)
def _to_pyformat(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Tx:
    """One transaction on the read-model database (a thin cursor wrapper)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return _to_pyformat(sql) if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Tx:
        self.cursor.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self._sql(sql), tuple(params))
        rows = self.cursor.fetchall()
        if self.dialect == "sqlite":
            return [dict(r) for r in rows]
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return next(iter(row.values())) if row else None

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


class ViewStore:
    """A service's read-model database.

    Writes take one writer at a time in this process (a re-entrant lock: a catch-up that
    applies several read models joins them in one transaction); SQLite writers in several
    processes take turns with ``BEGIN IMMEDIATE``. Reads run concurrently with writes (WAL on
    SQLite, MVCC on PostgreSQL)."""

    POSITIONS = "read_model_positions"

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.dialect: Dialect = settings.event_store
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._closed = False
        if self.dialect == "postgres":
            self._open_postgres()
        else:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
            self.path: Path = settings.var_dir / f"{settings.service_name}-views.sqlite"
            from shared.eventstore import private_file

            private_file(self.path)  # 0600, as every store file
            self._connections: list[sqlite3.Connection] = []
            self._connections_lock = threading.Lock()
        from shared.eventstore import schema_creation_lock

        # Replicas starting together on a new PostgreSQL schema would race in CREATE TABLE IF
        # NOT EXISTS (a unique violation on pg_type): creation is serialised among them.
        with schema_creation_lock(settings), self.write() as tx:
            tx.execute(f"CREATE TABLE IF NOT EXISTS {self.POSITIONS} ("
                       "name TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                       "generation INTEGER NOT NULL, position BIGINT NOT NULL, "
                       "built_at TEXT)")

    # --- connections --------------------------------------------------------------------

    def _open_postgres(self) -> None:
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        from shared.eventstore import postgres_conninfo, schema_creation_lock

        self.schema = f"{self.settings.postgres_schema}_views"
        conninfo = postgres_conninfo(self.settings)
        with schema_creation_lock(self.settings), \
                psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.schema)))
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except psycopg.Error:  # not allowed to: searches fall back to a scan
                log.warning("pg_trgm is not available: searches will scan")
        self.pool = ConnectionPool(
            conninfo, min_size=1, max_size=max(2, self.settings.postgres_pool_size),
            kwargs={"row_factory": dict_row, "autocommit": False,
                    "options": f"-c search_path={self.schema},public"},
            open=True, name=f"{self.settings.service_name}-views")

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # The read models are derived: a power cut may lose the last pages applied (their
            # position with them), never make rows and position disagree.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction; nested calls in the same thread join the outer one."""
        with self._write_lock:
            outer = getattr(self._local, "tx", None)
            if outer is not None:
                yield outer
                return
            if self.dialect == "postgres":
                with self.pool.connection() as conn:
                    with conn.transaction(), conn.cursor() as cursor:
                        tx = Tx(cursor, "postgres")
                        self._local.tx = tx
                        try:
                            yield tx
                        finally:
                            self._local.tx = None
                return
            conn = self._sqlite()
            conn.execute("BEGIN IMMEDIATE")
            tx = Tx(conn.cursor(), "sqlite")
            self._local.tx = tx
            try:
                yield tx
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._local.tx = None

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction (inside a write in the same thread: that one)."""
        outer = getattr(self._local, "tx", None)
        if outer is not None:
            yield outer
            return
        if self.dialect == "postgres":
            with self.pool.connection() as conn:
                with conn.transaction(), conn.cursor() as cursor:
                    yield Tx(cursor, "postgres")
            return
        conn = self._sqlite()
        conn.execute("BEGIN")
        try:
            yield Tx(conn.cursor(), "sqlite")
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def build_lock(self, name: str) -> Iterator[None]:
        """Held while a read model is built: one builder at a time across the processes that
        share this database (a PostgreSQL advisory lock; an exclusive lock on a file beside
        the SQLite file)."""
        if self.dialect == "postgres":
            import hashlib

            import psycopg

            from shared.eventstore import postgres_conninfo

            digest = hashlib.sha256(f"duty-build:{self.schema}:{name}".encode()).digest()
            key = int.from_bytes(digest[:8], "big", signed=True)
            with psycopg.connect(postgres_conninfo(self.settings), autocommit=True) as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            return
        import fcntl

        lock_path = self.path.with_name(f"{self.path.name}.{name}.lock")
        # owner-only like the store beside it (every file under var/ is 0600)
        with os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.dialect == "postgres":
            self.pool.close()
        else:
            with self._connections_lock:
                for conn in self._connections:
                    try:
                        conn.close()
                    except sqlite3.Error:
                        pass
                self._connections.clear()

    # --- positions ----------------------------------------------------------------------

    def position_row(self, name: str, tx: Tx | None = None) -> dict[str, Any] | None:
        sql = f"SELECT name, version, generation, position FROM {self.POSITIONS} WHERE name = ?"
        if tx is not None:
            return tx.one(sql, (name,))
        with self.read() as t:
            return t.one(sql, (name,))

    def table_names(self) -> list[str]:
        with self.read() as tx:
            if self.dialect == "postgres":
                rows = tx.all("SELECT table_name AS name FROM information_schema.tables "
                              "WHERE table_schema = ?", (self.schema,))
            else:
                rows = tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [r["name"] for r in rows]


class Rebuilding(Exception):
    """A query reached a read model that has no live generation yet (its first build runs)."""

    def __init__(self, name: str, progress: dict[str, Any]) -> None:
        super().__init__(name)
        self.name = name
        self.progress = progress


def fts_match_sqlite(text: str) -> str:
    """An FTS5 phrase for ``text`` (quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    """A LIKE pattern finding ``text`` anywhere (its own % and _ escaped with \\)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- persisted projections ----------------------------------------------------------------

from shared.projection import LogProjection, PositionMoved  # noqa: E402


class TableProjection(LogProjection):
    """A read model kept as tables in the service's ``ViewStore``.

    A subclass names itself (``name``), its definition's ``version`` (raise it whenever the
    tables or what is written to them change: the new definition is built once from the log,
    in the background, see ``ReadModels``), its tables' base names (``tables``), creates them
    in ``create(tx)`` with ``self.t(base)`` as each table's name, and writes in
    ``apply(event, notification_id)`` through ``self.tx``, the transaction of the page being
    applied, which also records the page's position. Its queries read with
    ``self.store.read()`` after ``self.require_ready()``.
    """

    name: str = ""  # every table's base name starts with it
    version: int = 1
    tables: tuple[str, ...] = ()
    batch_size = 1000

    def __init__(self, app: Any, store: ViewStore, *, slot: str = "live",
                 generation: int | None = None) -> None:
        super().__init__(app, batch_size=self.batch_size)
        if not self.name:
            raise TypeError(f"{type(self).__name__} needs a name")
        self.store = store
        self.slot = slot
        self.tx: Tx | None = None
        self.ready = False
        self.generation = generation or 0
        if slot == "live":
            row = store.position_row(self.key)
            if row is not None and row["version"] == self.version:
                self.generation = row["generation"]
                self.position = row["position"]
                self.ready = True

    # --- naming -------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """This projection's row in the positions table."""
        return self.name if self.slot == "live" else f"{self.name}@{self.slot}"

    def t(self, base: str, generation: int | None = None, version: int | None = None) -> str:
        """The name of one of this read model's tables in the live (or given) generation."""
        return f"{base}_v{version or self.version}g{generation or self.generation}"

    # --- definition (subclasses) --------------------------------------------------------

    def create(self, tx: Tx) -> None:  # pragma: no cover
        raise NotImplementedError

    def clear(self) -> None:
        """Persisted read models are rebuilt into a new generation (ReadModels.rebuild)."""
        raise TypeError("a persisted read model is rebuilt, not cleared")

    # --- applying -----------------------------------------------------------------------

    @contextmanager
    def page(self) -> Iterator[None]:
        start = self.position
        with self.store.write() as tx:
            lock = " FOR UPDATE" if tx.dialect == "postgres" else ""
            row = tx.one(f"SELECT version, generation, position FROM {ViewStore.POSITIONS} "
                         f"WHERE name = ?{lock}", (self.key,))
            if row is None or row["generation"] != self.generation \
                    or row["version"] != self.version:
                self._lost(row)
                raise PositionMoved(self.key)
            if row["position"] != self.position:
                self.position = row["position"]
                raise PositionMoved(self.key)
            self.tx = tx
            try:
                yield
                tx.execute(f"UPDATE {ViewStore.POSITIONS} SET position = ? WHERE name = ?",
                           (self.position, self.key))
            except BaseException:
                self.position = start  # rolled back with the page
                raise
            finally:
                self.tx = None
        self.flush()

    def _lost(self, row: dict[str, Any] | None) -> None:
        """The live generation changed under this process (another replica adopted a newer
        one, or a newer version of the code took over): follow it when it is this version's,
        else stop applying (this process's code is older)."""
        if row is not None and row["version"] == self.version:
            self.generation, self.position = row["generation"], row["position"]
        else:
            log.warning("read model %s v%s: the store holds %s; not applying", self.name,
                        self.version, row)
            self.ready = False

    def require_ready(self) -> None:
        if not self.ready:
            raise Rebuilding(self.name, {"position": self.position})

    # --- building -----------------------------------------------------------------------

    def install(self) -> None:
        """Create this (new) generation's tables and its position row, replacing what a
        build of the same generation left behind."""
        with self.store.write() as tx:
            for base in self.tables:
                _drop(tx, self.t(base))
            self.create(tx)
            tx.execute(f"DELETE FROM {ViewStore.POSITIONS} WHERE name = ?", (self.key,))
            tx.execute(f"INSERT INTO {ViewStore.POSITIONS} (name, version, generation, "
                       "position, built_at) VALUES (?, ?, ?, 0, ?)",
                       (self.key, self.version, self.generation, now_text()))
        self.position = 0
        self.ready = True


def _drop(tx: Tx, table: str) -> None:
    tx.execute(f"DROP TABLE IF EXISTS {table}")


class ReadModels:
    """A service's persisted read models: what to build at start, background builds with
    their progress, and the switch from one generation to the next."""

    def __init__(self, app: Any, store: ViewStore, projections: Sequence[TableProjection],
                 sync_build_limit: int = 20_000) -> None:
        self.app = app
        self.store = store
        self.projections = list(projections)
        self.sync_build_limit = sync_build_limit
        self.builds: dict[str, dict[str, Any]] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def to_build(self) -> list[TableProjection]:
        return [p for p in self.projections if not p.ready]

    def start(self) -> None:
        """At start: build what has no live generation of its definition's version, here and
        now when the log is short, else in the background (queries on it answer 503 until
        it is done)."""
        head = self.app.max_notification_id()
        for projection in self.to_build():
            if head <= self.sync_build_limit:
                self.rebuild(projection, force=False)
            else:
                self.rebuild_in_background(projection, force=False)

    def rebuild_in_background(self, projection: TableProjection, force: bool = True) -> None:
        thread = threading.Thread(target=self._build_logged, args=(projection, force),
                                  name=f"build-{projection.name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _build_logged(self, projection: TableProjection, force: bool = True) -> None:
        try:
            self.rebuild(projection, force=force)
        except Exception:
            log.exception("building read model %s failed", projection.name)
            self.builds.setdefault(projection.name, {})["failed"] = True

    def rebuild(self, projection: TableProjection, force: bool = True) -> dict[str, Any]:
        """Build a new generation of ``projection`` from the whole log while the live one
        (if any) keeps answering and following the log, then switch to it.

        One process at a time builds a read model (replicas sharing its tables take turns,
        ``ViewStore.build_lock``); without ``force`` (a start-up build of a definition that
        has no live generation) a process that finds one built meanwhile by another adopts it
        instead of building again."""
        with self.store.build_lock(projection.name):
            if not force:
                live = self.store.position_row(projection.key)
                if live is not None and live["version"] == projection.version:
                    with projection._lock:
                        projection.generation = live["generation"]
                        projection.position = live["position"]
                        projection.ready = True
                    return {"name": projection.name, "version": projection.version,
                            "generation": live["generation"], "applied": live["position"],
                            "done": True, "adopted": True}
            return self._rebuild(projection)

    def _rebuild(self, projection: TableProjection) -> dict[str, Any]:
        name = projection.name
        live = self.store.position_row(projection.key)
        generation = (live["generation"] if live else 0) + 1
        next_ = type(projection)(projection.app, self.store, slot="next", generation=generation)
        next_.install()
        progress = {"name": name, "version": projection.version, "generation": generation,
                    "applied": 0, "head": self.app.max_notification_id(),
                    "started": time.monotonic(), "rate": None, "eta_seconds": None,
                    "done": False}
        self.builds[name] = progress
        while not self._stopping.is_set():
            applied = next_.catch_up_some()
            head = self.app.max_notification_id()
            elapsed = max(time.monotonic() - progress["started"], 1e-6)
            progress.update(applied=next_.position, head=head,
                            rate=round(next_.position / elapsed, 1),
                            eta_seconds=round((head - next_.position) /
                                              max(next_.position / elapsed, 1e-6), 1))
            if applied == 0 or head - next_.position < next_.batch_size:
                break
        if self._stopping.is_set():
            return progress
        with projection._lock:  # no ordinary catch-up applies to the old generation meanwhile
            next_.catch_up()
            tables = self.store.table_names()
            with self.store.write() as tx:
                old = tx.one(f"SELECT version, generation FROM {ViewStore.POSITIONS} "
                             "WHERE name = ?", (projection.key,))
                tx.execute(f"DELETE FROM {ViewStore.POSITIONS} WHERE name = ?",
                           (projection.key,))
                tx.execute(f"UPDATE {ViewStore.POSITIONS} SET name = ? WHERE name = ?",
                           (projection.key, next_.key))
                if old is not None:  # the old generation's tables (its definition's names)
                    suffix = f"_v{old['version']}g{old['generation']}"
                    for table in tables:
                        # (PostgreSQL folds unquoted names to lower case)
                        if table.lower().startswith(projection.name.lower()) \
                                and table.endswith(suffix):
                            _drop(tx, table)
            projection.generation = next_.generation
            projection.position = next_.position
            projection.ready = True
        progress.update(done=True, applied=projection.position, eta_seconds=0)
        log.info("read model %s v%d generation %d built (%d events)", name,
                 projection.version, generation, projection.position)
        return progress

    def status(self) -> dict[str, Any]:
        head = self.app.max_notification_id()
        out = {}
        for p in self.projections:
            build = dict(self.builds.get(p.name) or {})
            build.pop("started", None)
            out[p.name] = {"version": p.version, "generation": p.generation,
                           "ready": p.ready, "position": p.position, "head": head,
                           "build": build or None}
        return out

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)

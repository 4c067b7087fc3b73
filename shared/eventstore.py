"""Event-store plumbing shared by every service's ``eventsourcing`` Application.

- The store is a SQLite file under ``var/`` by default, PostgreSQL (one schema per service)
  when ``EVENT_STORE=postgres``.
- Every recorded event carries metadata (who caused it, the trace context, the upstream
  event that caused it) under the reserved key ``_meta``. Aggregates never read it: the
  library passes only a method's own parameters when replaying.
- Every aggregate's events form a hash chain (``_chain``), so a changed stored event is
  detected (shared/audit.py).
- Tracking is multi-row (one row per processed upstream notification) so that upstream
  messages may be processed out of order and by several replicas; ``is_tracked`` asks for an
  exact (upstream, notification id) pair. Several upstream messages may be recorded in one
  transaction: their tracking rows go in as one ``Trackings`` (see shared/consumer.py).
- Inside ``unit_of_work()`` the repository answers with the aggregates changed earlier in the
  same unit (not yet stored), so several messages can change one aggregate before one commit.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from eventsourcing.application import LRUCache, ProcessingEvent, Recording, Repository, project_aggregate
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    PersistenceError,
    Mapper,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.utils import get_topic

from shared.group_commit import GroupCommit
from shared.library import (  # noqa: F401  (Trackings: shared/consumer.py imports it here)
    ApplicationOverrides,
    LibraryRecord,
    MultiTrackingPostgresProcessRecorder,
    MultiTrackingSQLiteProcessRecorder,
    Trackings,
    record_grouped,
    retype_repository,
    tracked_notification_ids,
)
from shared.audit import (
    CHAIN_KEY,
    ChainLinker,
    aggregate_state,
    as_uuid,
    history_entry,
    verify_chain,
)
from shared.settings import ServiceSettings
from shared.telemetry import current_trace_carrier

META_KEY = "_meta"
OUTBOX_TRACKING_NAME = "__outbox__"


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a signed-in user, a service reacting to an event, or the system."""

    username: str
    role: str
    unit_id: str | None = None
    deputy_id: str | None = None
    leader_id: str | None = None  # a leader's own id (config/leaders.yaml): "my cases"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Actor:
        data = data or {}
        return cls(
            username=str(data.get("username", "system")),
            role=str(data.get("role", "system")),
            unit_id=data.get("unit_id"),
            deputy_id=data.get("deputy_id"),
            leader_id=data.get("leader_id"),
        )


SYSTEM_ACTOR = Actor("system", "system")


@dataclass
class EventMetadata:
    actor: Actor = SYSTEM_ACTOR
    causation_id: str | None = None  # "<service>:<notification id>" of the upstream event
    extra: dict[str, Any] = field(default_factory=dict)


_current_metadata: contextvars.ContextVar[EventMetadata] = contextvars.ContextVar(
    "event_metadata", default=EventMetadata()
)


def current_event_metadata() -> dict[str, Any]:
    """The metadata an event recorded now carries (actor, causation, trace context)."""
    metadata = _current_metadata.get()
    return {
        "actor": metadata.actor.as_dict(),
        "causation_id": metadata.causation_id,
        "trace": current_trace_carrier(),
        **metadata.extra,
    }


def stamp_metadata(domain_events: Iterator[Any] | list[Any]) -> None:
    """Fix the current metadata on events now, for events stored later in another context
    (a batch of upstream messages is stored in one transaction after all of them ran)."""
    for domain_event in domain_events:
        if META_KEY not in vars(domain_event):
            object.__setattr__(domain_event, META_KEY, current_event_metadata())


_unit_of_work: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "unit_of_work", default=None
)


@contextmanager
def _bound(variable: contextvars.ContextVar[Any], value: Any) -> Iterator[Any]:
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


def unit_of_work() -> AbstractContextManager[dict[Any, Any]]:
    """Aggregates changed in this unit but not stored yet, by id: the repository returns
    them instead of reading the store (the caller registers them)."""
    return _bound(_unit_of_work, {})


class UnitOfWorkRepository(Repository):
    """The library's repository, with two things in front of its ``get``:

    - inside ``unit_of_work()``, the aggregates changed earlier in the unit (not stored yet);
    - for the aggregate classes an application keeps (``ServiceApplication.kept_aggregates``),
      a copy kept in memory and brought up to date with the events stored after it (by any
      process), so a long-lived aggregate (a deputy's yearly ledger, the registration
      sequence) is not rebuilt from its snapshot and later events for every message. The
      caller always gets its own copy; the kept one changes only by applying stored events.
    """

    kept_types: tuple[type, ...] = ()
    kept: LRUCache | None = None
    _kept_locks: tuple[threading.Lock, ...] = ()

    def keep(self, types: tuple[type, ...], maxsize: int) -> None:
        self.kept_types = types
        self.kept = LRUCache(maxsize=maxsize) if types and maxsize > 0 else None
        self._kept_locks = tuple(threading.Lock() for _ in range(32))

    def get(self, aggregate_id: Any, *, version: int | None = None, **kwargs: Any) -> Any:
        if version is None:
            pending = _unit_of_work.get()
            if pending and aggregate_id in pending:
                return pending[aggregate_id]
            if self.kept is not None and not kwargs:
                return self._get_kept(aggregate_id)
        return super().get(aggregate_id, version=version, **kwargs)

    def _get_kept(self, aggregate_id: Any) -> Any:
        with self._kept_locks[hash(aggregate_id) % len(self._kept_locks)]:
            try:
                kept = self.kept.get(aggregate_id)
            except KeyError:
                aggregate = super().get(aggregate_id)
                if isinstance(aggregate, self.kept_types):
                    self.kept.put(aggregate_id, deepcopy(aggregate))
                return aggregate
            try:
                newer = self.event_store.get(originator_id=aggregate_id, gt=kept.version)
                kept = project_aggregate(kept, newer)
            except BaseException:
                self.kept.get(aggregate_id, evict=True)  # maybe half brought up to date
                raise
            return deepcopy(kept)


def recording_as(actor: Actor, causation_id: str | None = None,
                 ) -> AbstractContextManager[EventMetadata]:
    """Events recorded inside this block carry this actor and causation id."""
    return _bound(_current_metadata, EventMetadata(actor=actor, causation_id=causation_id))


class MetadataMapper(Mapper):
    """Adds actor, causation and trace context to every stored event, and links each
    aggregate's events into a hash chain (see shared/audit.py)."""

    chain: ChainLinker | None = None

    def raw_state(self, stored: StoredEvent) -> dict[str, Any]:
        """A stored event's state as plain JSON (transcoded values as ``_type_``/``_data_``)."""
        state = stored.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return json.loads(state)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        if META_KEY not in event_state:
            event_state[META_KEY] = current_event_metadata()
        stored_state = self.transcoder.encode(event_state)
        if self.chain is not None and not isinstance(domain_event, Snapshot):
            raw = json.loads(stored_state)
            raw[CHAIN_KEY] = self.chain.link(originator_id, originator_version, topic, raw)
            stored_state = json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=stored_state,
        )


def event_metadata(domain_event: Any) -> dict[str, Any]:
    return getattr(domain_event, META_KEY, None) or {}


def store_environment(settings: ServiceSettings) -> dict[str, str]:
    """The ``eventsourcing`` persistence environment for one service."""
    env = {"SINGLE_ROW_TRACKING": "n"}
    if settings.event_store == "postgres":
        ensure_postgres_schema(settings)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=settings.postgres_dbname,
            POSTGRES_HOST=settings.postgres_host,
            POSTGRES_PORT=str(settings.postgres_port),
            POSTGRES_USER=settings.postgres_user,
            POSTGRES_PASSWORD=settings.postgres_password,
            POSTGRES_SCHEMA=settings.postgres_schema,
            POSTGRES_POOL_SIZE=str(settings.postgres_pool_size),
            POSTGRES_MAX_OVERFLOW=str(settings.postgres_max_overflow),
            # Not POSTGRES_ENABLE_DB_FUNCTIONS: in eventsourcing 9.5.6 its insert path skips
            # the tracking row, which would break exactly-once processing (tested).
            POSTGRES_ENABLE_DB_FUNCTIONS="n",
            PROCESS_RECORDER_TOPIC=get_topic(MultiTrackingPostgresProcessRecorder),
        )
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        private_file(settings.sqlite_path)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(settings.sqlite_path),
            SQLITE_LOCK_TIMEOUT="10",
            PROCESS_RECORDER_TOPIC=get_topic(MultiTrackingSQLiteProcessRecorder),
        )
    return env


def private_file(path: Path) -> Path:
    """A store file readable by its owner only (0600): created so when missing, narrowed when
    an earlier version left it wider. SQLite gives its journal and WAL files the database
    file's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        os.chmod(path, 0o600)
    return path


def postgres_conninfo(settings: ServiceSettings) -> str:
    parts = [
        f"host={settings.postgres_host}",
        f"port={settings.postgres_port}",
        f"dbname={settings.postgres_dbname}",
        f"user={settings.postgres_user}",
    ]
    if settings.postgres_password:
        parts.append(f"password={settings.postgres_password}")
    return " ".join(parts)


@contextmanager
def schema_creation_lock(settings: ServiceSettings) -> Iterator[None]:
    """Serialise schema and table creation among replicas starting together on one
    PostgreSQL schema (a session advisory lock named after the schema): concurrent
    CREATE ... IF NOT EXISTS statements otherwise fail with "tuple concurrently updated" or
    a unique violation on pg_type. Nothing to do for SQLite."""
    if settings.event_store != "postgres":
        yield
        return
    import hashlib

    import psycopg

    digest = hashlib.sha256(f"duty-schema:{settings.postgres_schema}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def ensure_postgres_schema(settings: ServiceSettings) -> None:
    import psycopg
    from psycopg import sql

    statement = sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
        sql.Identifier(settings.postgres_schema))
    for attempt in range(5):
        try:
            with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
                conn.execute(statement)
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.InternalError_):
            # a replica created it at the same moment
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(ApplicationOverrides):
    """Base of every service's application: process recorder, metadata, settings-driven store."""

    # Aggregate classes read by many commands and messages, kept in memory between them
    # (see UnitOfWorkRepository), at most this many aggregates.
    kept_aggregates: tuple[type, ...] = ()
    kept_aggregates_size = 1000
    # Commands recorded at the same moment share one transaction (shared/group_commit.py);
    # None where settings.group_commit is off.
    group_commit: GroupCommit | None = None

    def __init__(self, settings: ServiceSettings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        # Replicas starting together on a new schema take turns creating its tables (the
        # event, tracking and snapshot tables), see schema_creation_lock.
        with schema_creation_lock(settings):
            merged = store_environment(settings)
            merged.update(env or {})
            super().__init__(env=merged)
        if settings.group_commit:
            self.group_commit = GroupCommit(self.recorder.insert_events)
        self._recorded_here = threading.local()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self):  # type: ignore[override]
        # Replicas starting together on a new PostgreSQL schema race in CREATE TABLE IF NOT
        # EXISTS (the loser sees a unique violation on pg_type, "relation already exists" or
        # "tuple concurrently updated"): it tries again, and by then the tables exist.
        # Replicas take turns (see __init__); the retries remain for stores shared with
        # processes that do not take the lock.
        for attempt in range(5):
            try:
                return self.factory.process_recorder()
            except PersistenceError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def construct_repository(self) -> Repository:
        # The library's repository, configured from the environment as usual, with the
        # unit-of-work lookup in front of its ``get``.
        repository = retype_repository(super().construct_repository(), UnitOfWorkRepository)
        repository.keep(self.kept_aggregates, self.kept_aggregates_size)
        return repository

    def construct_mapper(self) -> Mapper:
        mapper = self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=MetadataMapper
        )
        mapper.chain = ChainLinker(self._stored_chain_hash)
        return mapper

    def recorded(self, processing_event: ProcessingEvent, library_record: LibraryRecord,
                 ) -> list[Recording]:
        chain: ChainLinker = self.mapper.chain  # type: ignore[attr-defined]
        chain.batch.clear()
        try:
            if (self.group_commit is not None and processing_event.tracking is None
                    and not processing_event.saved_kwargs):
                recordings = record_grouped(self, processing_event,
                                            self.group_commit.insert)
            else:
                recordings = library_record(processing_event)
        except BaseException:
            chain.batch.clear()  # not stored: its hashes must not be linked to
            raise
        chain.commit()
        if recordings:
            self._recorded_here.last_id = recordings[-1].notification.id
        return recordings

    def last_recorded_notification_id(self) -> int | None:
        """The notification id of the last event this thread recorded (None before any)."""
        return getattr(self._recorded_here, "last_id", None)

    # --- audit: hash chains and case histories ------------------------------------------

    def stored_records(self, originator_id: Any) -> list[dict[str, Any]]:
        """An aggregate's stored events as plain records, in version order."""
        mapper: MetadataMapper = self.mapper  # type: ignore[assignment]
        return [
            {"originator_id": str(e.originator_id), "version": e.originator_version,
             "topic": e.topic, "state": mapper.raw_state(e)}
            for e in self.recorder.select_events(as_uuid(originator_id))
        ]

    def _stored_chain_hash(self, originator_id: Any, version: int) -> str:
        found = self.recorder.select_events(originator_id, gt=version - 1, lte=version)
        if not found:
            return "missing"
        chain = self.mapper.raw_state(found[0]).get(CHAIN_KEY)  # type: ignore[attr-defined]
        return chain["hash"] if chain else "unchained"

    def audit(self, aggregate_ids: list[Any], include: Any = None,
              as_of: Any = None, *, limit: int | None = None,
              after: list[Any] | None = None) -> dict[str, Any]:
        """The history of some aggregates with each chain verified.

        ``include(entry)`` keeps only some entries (a ledger lists only the case's lines; its
        chain is still verified over all its events); ``as_of`` (aware datetime) keeps entries
        recorded up to then.

        Paged with ``limit``: the entries in the order (time, service, aggregate id, version)
        after the key ``after`` (such a 4-tuple), at most ``limit`` of them, with ``more`` (entries follow) and ``total``
        (entries of the whole history); every chain is still verified whole and the states
        are as of the whole history's last entries, each attribute over 16 KB as JSON left
        out (named in ``omitted``). ``limit=0``: the chains only, no entries and no states.
        """
        def history_key(entry: dict[str, Any]) -> tuple[str, str, str, int]:
            # a case history's order across services: time, service, aggregate id, version
            return (entry["time"] or "", entry["service"], entry["aggregate_id"],
                    entry["version"])

        def bounded(state: dict[str, Any], cap: int = 16 * 1024) -> dict[str, Any]:
            # an attribute over ``cap`` bytes as JSON (a deputy's ledger of a busy year) is
            # left out and named in ``omitted`` with its number of items
            kept: dict[str, Any] = {}
            omitted: dict[str, int] = {}
            for key, value in state.items():
                if isinstance(value, (list, dict)) and len(json.dumps(
                        value, ensure_ascii=False, default=str)) > cap:
                    omitted[key] = len(value)
                else:
                    kept[key] = value
            return {**kept, "omitted": omitted} if omitted else kept

        entries, chains = [], []
        last_version: dict[str, int] = {}
        for aggregate_id in aggregate_ids:
            records = self.stored_records(aggregate_id)
            if not records:
                continue
            result = verify_chain(records)
            chains.append({"service": self.name, "aggregate_id": str(aggregate_id), **result})
            if limit == 0:
                continue
            for record in records:
                ok = result["ok"] or record["version"] < result["broken_at"]
                entry = history_entry(self.name, record, ok)
                if include is not None and not include(entry):
                    continue
                if as_of is not None and entry["time"] and \
                        _aware(entry["time"]) > as_of:
                    continue
                entries.append(entry)
                last_version[str(aggregate_id)] = record["version"]
        states = {}
        for aggregate_id, version in last_version.items():
            try:
                aggregate = self.repository.get(as_uuid(aggregate_id), version=version)
            except Exception:  # a chain that no longer decodes is reported by the chain check
                continue
            state = {"type": type(aggregate).__name__, "version": version,
                     **aggregate_state(aggregate)}
            states[aggregate_id] = state if limit is None else bounded(state)
        if limit is None:
            return {"service": self.name, "events": entries, "chains": chains, "state": states}
        entries.sort(key=history_key)
        total = len(entries)
        if after is not None:
            start = tuple(after)
            entries = [e for e in entries if history_key(e) > start]
        return {"service": self.name, "events": entries[:limit],
                "more": len(entries) > limit, "total": total, "chains": chains,
                "state": states}

    def record_processing(self, processing: ProcessingEvent) -> None:
        """Record the events of a processed upstream message with its tracking, atomically."""
        self._record(processing)
        self._take_snapshots(processing)

    # --- tracking of upstream positions -------------------------------------------------

    def is_tracked(self, upstream: str, notification_id: int) -> bool:
        return bool(self.tracked_among(upstream, [notification_id]))

    def tracked_among(self, upstream: str, notification_ids: list[int]) -> set[int]:
        """Which of these positions of ``upstream`` were already processed (one query)."""
        return tracked_notification_ids(self.recorder, upstream, notification_ids)

    def outbox_position(self) -> int:
        return self.recorder.max_tracking_id(OUTBOX_TRACKING_NAME) or 0  # type: ignore[attr-defined]

    def record_outbox_position(self, notification_id: int) -> None:
        try:
            self.recorder.insert_tracking(Tracking(OUTBOX_TRACKING_NAME, notification_id))  # type: ignore[attr-defined]
        except IntegrityError:
            pass  # another replica published the same batch (de-duplicated by Nats-Msg-Id)

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0


def _aware(text: str) -> Any:
    from datetime import datetime, timezone

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

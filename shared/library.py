"""Every place the platform reaches into a library's internals, gathered here.

Pinned versions (requirements / pyproject): eventsourcing 9.5.6, faststream 0.7.8,
nats-py 2.16. Each override below names what it relies on, and
tests/unit/test_library_overrides.py has one test per override that fails when the pinned
library changes it (a private method's signature, an attribute, a table name), so an
upgrade shows at once what to look at instead of failing somewhere in a running service.

eventsourcing
  1. ``Trackings`` / ``MultiTracking*ProcessRecorder``: the process recorders' private
     ``_insert_tracking(cursor, tracking)`` inserts one row per upstream message of a batch.
  2. ``retype_repository``: the repository the library builds (``construct_repository``)
     becomes a subclass's instance (``__class__``), keeping the state the library's
     ``Repository.__init__`` gave it from the environment.
  3. ``ApplicationOverrides._record``: the private ``Application._record(processing_event)``
     goes through ``recorded(processing_event, library_record)`` (hash chains, group commit);
     ``record_grouped`` reproduces its body with another insert.
  4. ``ApplicationOverrides._take_snapshots``: the private ``Application._take_snapshots``
     takes a due snapshot from the aggregate just saved (see its docstring).
  5. ``tracked_notification_ids``: SQL on the recorders' tracking table (its name, columns and
     ``datastore.transaction``), one query for many positions.
  7. ``MultiTrackingPostgresProcessRecorder._insert_stored_events`` /
     ``_fetch_ids_after_insert_events``: a large save's events inserted in chunks (see the
     class), relying on the private pair being called in that order in ``insert_events``.
  (``MetadataMapper.to_stored_event`` in shared/eventstore.py overrides a public method
  through the documented ``mapper_class``; its reliance on ``Mapper``'s attributes is tested
  with the others.)

faststream
  6. ``nats_connection`` / ``nats_stream``: the broker's nats-py connection and JetStream
     context (``broker.config.connection_state``, not public API in 0.7).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eventsourcing.application import (Application, ProcessingEvent, Recording, Repository)
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder

if TYPE_CHECKING:
    from faststream.nats import NatsBroker
    from nats.aio.client import Client
    from nats.js import JetStreamContext


# --- 1. several tracking rows in one transaction ----------------------------------------

class Trackings(tuple):
    """The tracking rows of several upstream messages recorded in one transaction."""

    __slots__ = ()


class MultiTrackingRecorder:
    """Mixed into the library's process recorders: a ``Trackings`` inserts each row."""

    def _insert_tracking(self, c: Any, tracking: Any) -> None:
        if isinstance(tracking, Trackings):
            for one in tracking:
                super()._insert_tracking(c, tracking=one)  # type: ignore[misc]
        else:
            super()._insert_tracking(c, tracking=tracking)  # type: ignore[misc]


class MultiTrackingSQLiteProcessRecorder(MultiTrackingRecorder, SQLiteProcessRecorder):
    pass


class MultiTrackingPostgresProcessRecorder(MultiTrackingRecorder, PostgresProcessRecorder):
    """Also (7.) inserts a large save's events in statements of ``INSERT_CHUNK`` events, in the
    one transaction the library opens: one INSERT of 10,000+ events (a roster import's single
    save) sent in psycopg's pipeline mode hung with the server waiting for the rest of the
    query (ClientRead) and the client for its results. Each chunk's notification ids are read
    at once (which syncs the pipeline) and returned together, in order."""

    INSERT_CHUNK = 500

    def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
        if len(stored_events) <= self.INSERT_CHUNK:
            _chunked_ids.ids = None
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        ids: list[int] = []
        for start in range(0, len(stored_events), self.INSERT_CHUNK):
            chunk = stored_events[start:start + self.INSERT_CHUNK]
            super()._insert_stored_events(curs, chunk, **kwargs)
            ids += [row["notification_id"] for row in curs.fetchall()]  # flushes the pipeline
        _chunked_ids.ids = ids

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Any,
                                       **kwargs: Any) -> Any:
        ids, _chunked_ids.ids = getattr(_chunked_ids, "ids", None), None
        if ids is not None:
            return ids
        return super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)


_chunked_ids = threading.local()  # the ids of a chunked insert, until fetched (per thread)


# --- 2. the repository's class --------------------------------------------------------------

def retype_repository(repository: Repository, cls: type[Repository]) -> Repository:
    """The library's repository, configured from the environment as usual, as an instance
    of ``cls`` (a subclass adding no ``__init__`` state of its own)."""
    if not issubclass(cls, type(repository)) or "__init__" in vars(cls):
        raise TypeError(f"{cls.__name__} must subclass {type(repository).__name__} "
                        "without an __init__ of its own")
    repository.__class__ = cls
    return repository


# --- 3 and 4. recording and snapshotting ----------------------------------------------------

LibraryRecord = Callable[[ProcessingEvent], "list[Recording]"]


class ApplicationOverrides(Application):
    """The private methods of ``eventsourcing.application.Application`` the services change,
    routed to named methods of the subclass."""

    def _record(self, processing_event: ProcessingEvent) -> Any:
        return self.recorded(processing_event, super()._record)

    def recorded(self, processing_event: ProcessingEvent, library_record: LibraryRecord,
                 ) -> list[Recording]:
        """Record a processing event (override; ``library_record`` is the library's way)."""
        return library_record(processing_event)

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:
        """A snapshot whenever a save takes an aggregate past a multiple of its snapshotting
        interval, taken from the aggregate just saved, at the version it was saved at.

        The library instead takes it at exactly the multiple, reading that version back from
        the store (its last snapshot and every event since) whenever the save went past it
        with several events, as a consumer's batch often does for a deputy's ledger: a tenth
        of the points service's CPU in the profile of 2026-11-24. Any version is a valid
        snapshot (a read takes the latest one at or below the version it wants), so the
        snapshots are as many and as useful. Aggregates with a custom snapshotting projector
        go the library's way."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        due: dict[Any, Any] = {}
        library: list[Any] = []
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate else None
            if interval is None or event.originator_version % interval:
                continue
            if type(aggregate) in self.snapshotting_projectors:
                library.append(event)
            else:
                due[event.originator_id] = aggregate
        for aggregate in due.values():
            snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            self.snapshots.put([snapshot_class.take(aggregate)])
        for event in library:
            aggregate = processing_event.aggregates[event.originator_id]
            self.take_snapshot(event.originator_id, version=event.originator_version,
                               projector_func=self.snapshotting_projectors[type(aggregate)])


def record_grouped(app: Application, processing_event: ProcessingEvent,
                   insert: Callable[[list[StoredEvent]], list[int] | None]) -> list[Recording]:
    """As ``Application._record`` (``EventStore.put``), with ``insert`` storing the events
    and answering their notification ids (shared/group_commit.py)."""
    events = processing_event.events
    stored = [app.mapper.to_stored_event(e) for e in events]
    ids = insert(stored) if stored else None
    recordings = [
        Recording(e, Notification(originator_id=s.originator_id,
                                  originator_version=s.originator_version,
                                  topic=s.topic, state=s.state, id=n))
        for e, s, n in zip(events, stored, ids or (), strict=False)
    ]
    if app.repository.cache and not app.repository.fastforward:
        for aggregate_id, aggregate in processing_event.aggregates.items():
            app.repository.cache.put(aggregate_id, aggregate)
    return recordings


# --- 5. the tracking table ------------------------------------------------------------------

def tracked_notification_ids(recorder: Any, upstream: str, notification_ids: list[int],
                             ) -> set[int]:
    """Which of these positions of ``upstream`` the recorder's tracking table holds (one
    query; the library asks for one position at a time)."""
    ids = list(notification_ids)
    if not ids:
        return set()
    if isinstance(recorder, PostgresProcessRecorder):
        from psycopg import sql

        query = sql.SQL(
            "SELECT notification_id FROM {}.{} "
            "WHERE application_name = %s AND notification_id = ANY(%s)"
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.tracking_table_name),
        )
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(query, (upstream, ids))
            return {row["notification_id"] for row in curs.fetchall()}
    marks = ",".join("?" * len(ids))
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(
            f"SELECT notification_id FROM {SQLITE_TRACKING_TABLE} WHERE application_name = ? "
            f"AND notification_id IN ({marks})",
            (upstream, *ids),
        )
        return {row[0] for row in c.fetchall()}


SQLITE_TRACKING_TABLE = "tracking"  # SQLiteProcessRecorder's table (not configurable in 9.5)


# --- 6. faststream's NATS connection ----------------------------------------------------

def nats_connection(broker: NatsBroker) -> Client:
    """The connected broker's nats-py client (core NATS requests and subscriptions)."""
    return broker.config.connection_state.connection


def nats_stream(broker: NatsBroker) -> JetStreamContext:
    """The connected broker's JetStream context (streams, consumers, publishing with
    headers such as ``Nats-Msg-Id``)."""
    return broker.config.connection_state.stream

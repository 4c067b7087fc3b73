"""A service's replica of the registry's reference records (issue 29, point 1).

The registry owns deputies, units, stations (with their grids), terms (届), categories and the
working-day calendars (one record per year) and publishes every change as
``duty.registry.record_changed.v2`` (shared/contracts/registry.py), the whole record after the
change, and beside it as v1 for the first four kinds. The replica's consumer handles BOTH
versions with one handler: a v1 published before the registry published v2 (a consumer down
during the upgrade) must still be replicated, and the two versions of one change are one
registry notification, which the consumer tracks once (the second is a duplicate). v1 can be
dropped here once the registry stops publishing it and every replica has caught up. A service that uses them keeps its own replica, recorded in ITS OWN
log, so it rebuilds its state from its own log (never by asking the registry):

- ``ReferenceRecord``: one aggregate per ``(kind, key)`` (id ``uuid5(NAMESPACE,
  "<kind>:<key>")``); ``Replicated`` records the record, whether it is active, and which
  registry event it came from. ``on_record_changed`` is the consumer's handler: it returns the
  changed aggregate (shared/consumer.py records it with the tracking row, exactly once) and
  ignores an event older than the one recorded (by the registry's notification id).
- ``ReferenceData``: the projection the service reads: per kind a dict key -> record,
  SEEDED from the configuration files (``config/deputies.yaml``, ``units.yaml``,
  ``stations.yaml``, ``categories.yaml`` (key ``code``), ``holidays.yaml`` (key the year);
  ``terms.yaml`` if there is one: the system before any registry event)
  and overlaid by the replicated records of the service's log. The dicts are updated in
  place, so an application keeps ``self.deputies = reference.table("deputy")`` and always
  reads the latest. It reads only its own events' topic from the log (not the whole log),
  so it is cheap to bring up to date: at start, after the registry consumer commits, and
  every few seconds (``consume_registry``) for replicas of the service that did not consume.

A closed record (``active`` false: a deputy not re-elected) stays in its table, since cases
and ledgers refer to it; ``active(kind, key)`` says whether something new may be addressed to
it, and the record carries ``active: false``.

The calendars keep their history too (``calendar_records(as_of=...)``: per year the record in
force at a moment, by the time this service recorded the change, on its own clock), so a
deadline derived again from an earlier assignment keeps the calendar it was computed with
(shared/calendar.py ``ReplicaCalendar``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from shared.consumer import InvalidEvent
from shared.contracts.registry import RecordChangedV1, RecordChangedV2
from shared.heap import collector_paused
from shared.projection import LogProjection
from shared.settings import ServiceSettings, load_config

log = logging.getLogger(__name__)

NAMESPACE = uuid5(NAMESPACE_URL, "duty:reference-record")
KINDS = ("deputy", "unit", "station", "term", "category", "calendar")
# kind -> its configuration file (config/<name>.yaml), the seed of an empty system
CONFIG_FILES = {"deputy": "deputies", "unit": "units", "station": "stations", "term": "terms",
                "category": "categories", "calendar": "holidays"}
KIND_ZH = {"deputy": "代表", "unit": "承办单位", "station": "联络站", "term": "届次",
           "category": "类别", "calendar": "工作日历"}
# the field that holds a record's key (``id`` unless named here)
KEY_FIELD = {"category": "code", "calendar": "year"}


def key_of(kind: str, record: dict[str, Any]) -> str:
    return str(record[KEY_FIELD.get(kind, "id")])


def config_rows(settings: ServiceSettings, kind: str) -> list[dict[str, Any]]:
    """The records of ``kind`` in its configuration file (none when there is no file)."""
    if kind == "calendar":  # a mapping year -> schedule
        from shared.calendar import config_calendar_records
        return config_calendar_records(settings.config_dir)
    try:
        rows = load_config(settings, CONFIG_FILES[kind])
    except FileNotFoundError:
        return []
    return [dict(r) for r in rows or []]


class ReferenceRecord(Aggregate):
    """The latest record of one ``(kind, key)`` this service has replicated."""

    @staticmethod
    def create_id(kind: str, key: str) -> UUID:
        return uuid5(NAMESPACE, f"{kind}:{key}")

    @event("Created")
    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        self.record: dict[str, Any] = {}
        self.active = True
        self.source_event_id: str | None = None
        self.source_position = 0  # the registry's notification id of the last change

    @event("Replicated")
    def replicate(self, kind: str, key: str, record: dict[str, Any], active: bool,
                  source_event_id: str, source_position: int,
                  changed_at: datetime | None = None) -> None:
        # changed_at: when this service recorded the change, by its clock (events replicated
        # before it was kept have none)
        self.record = dict(record)
        self.active = active
        self.source_event_id = source_event_id
        self.source_position = source_position


REPLICATED_TOPIC = get_topic(ReferenceRecord.Replicated)  # type: ignore[attr-defined]


def _now(app: Any, event: RecordChangedV1) -> datetime:
    """When this service learns of the change, by its own clock: the deadlines it computed
    before used the calendar it had then (the registry's ``occurred_at`` is the time the
    event was stored, on the wall clock, and another process's)."""
    clock = getattr(app, "clock", None)
    return clock.now() if clock is not None else event.occurred_at


def on_record_changed(app: Any, event: RecordChangedV1 | RecordChangedV2,
                      ) -> list[ReferenceRecord]:
    """The registry consumer's handler (v1 and v2 alike): the replica of ``(kind, key)`` after
    ``event``, or nothing when the replica already holds this change or a later one."""
    record = dict(event.record)
    field = KEY_FIELD.get(event.kind, "id")
    if str(record.get(field, event.key)) != event.key:
        raise InvalidEvent(f"record {field} {record.get(field)!r} is not the key {event.key!r}")
    record["id"] = event.key
    record_id = ReferenceRecord.create_id(event.kind, event.key)
    try:
        replica: ReferenceRecord = app.repository.get(record_id)
    except AggregateNotFoundError:
        replica = ReferenceRecord(kind=event.kind, key=event.key)
    if replica.source_position >= event.source_notification_id:
        return []  # an older change (or this one again) than the one recorded: ignored
    replica.replicate(kind=event.kind, key=event.key, record=record, active=event.active,
                      source_event_id=event.event_id,
                      source_position=event.source_notification_id,
                      changed_at=_now(app, event))
    return [replica]


class ReferenceData(LogProjection):
    """Per kind, key -> record: the configuration's seed overlaid by this service's
    replicated records. Tables are updated in place (hand them out once)."""

    name = "reference_data"

    def __init__(self, app: Any, settings: ServiceSettings | None = None,
                 kinds: Iterable[str] = KINDS, seed: dict[str, list[dict[str, Any]]] | None = None,
                 ) -> None:
        super().__init__(app)
        self.kinds = tuple(kinds)
        self.seed: dict[str, dict[str, dict[str, Any]]] = {}
        for kind in self.kinds:
            if seed is not None and kind in seed:
                rows = seed[kind]
            elif settings is not None:
                rows = config_rows(settings, kind)
            else:
                rows = []
            self.seed[kind] = {key_of(kind, r): r for r in rows}
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            kind: dict(self.seed[kind]) for kind in self.kinds}
        self.inactive: dict[str, set[str]] = {kind: set() for kind in self.kinds}
        # year -> [(when this service recorded it (None: the seed), record or None if closed)]
        self.calendar_history: dict[str, list[tuple[datetime | None, dict[str, Any] | None]]] = {}
        self.calendar_version = 0  # moves on every change of a calendar
        self._calendar_lock = threading.Lock()
        self._seed_calendars()
        self._listeners: list[Callable[[], None]] = []
        self._changed = False

    # --- reading --------------------------------------------------------------------------

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        """The live dict key -> record of ``kind`` (the same object for the process's life)."""
        return self.tables[kind]

    def active(self, kind: str, key: str) -> bool:
        """Known and not closed: something new may be addressed to it."""
        return key in self.tables[kind] and key not in self.inactive[kind]

    def calendar_records(self, as_of: datetime | None = None) -> list[dict[str, Any]]:
        """The calendar record of each year (closed ones left out), as now or as in force at
        ``as_of``: per year the latest version recorded by then, or the latest if that one was
        provisional or the year was not known yet."""
        with self._calendar_lock:
            out = []
            for year, versions in sorted(self.calendar_history.items()):
                chosen = versions[-1][1]
                if as_of is not None:
                    then = [r for at, r in versions if at is None or at <= as_of]
                    if then and then[-1] is not None and not then[-1].get("provisional"):
                        chosen = then[-1]
                    elif then and then[-1] is None:
                        chosen = None
                if chosen is not None:
                    out.append(chosen)
            return out

    def _seed_calendars(self) -> None:
        with self._calendar_lock:
            self.calendar_history.clear()
            for key, record in self.seed.get("calendar", {}).items():
                self.calendar_history[key] = [(None, record)]
            self.calendar_version += 1

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after a catch-up that changed a record (a service's derived
        lookups, such as a deputy's stations, are recomputed there) and once now."""
        self._listeners.append(listener)
        listener()

    # --- projection -----------------------------------------------------------------------

    def clear(self) -> None:
        for kind in self.kinds:
            table = self.tables[kind]
            table.clear()
            table.update(self.seed[kind])
            self.inactive[kind].clear()
        if "calendar" in self.tables:
            self._seed_calendars()
        self._changed = True

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, ReferenceRecord.Replicated):  # type: ignore[attr-defined]
            return
        kind, key = domain_event.kind, domain_event.key
        if kind not in self.tables:
            return
        self.tables[kind][key] = {**domain_event.record, "active": domain_event.active}
        if kind == "calendar":
            at = getattr(domain_event, "changed_at", None)
            with self._calendar_lock:
                self.calendar_history.setdefault(key, []).append(
                    (at, dict(domain_event.record) if domain_event.active else None))
                self.calendar_version += 1
        if domain_event.active:
            self.inactive[kind].discard(key)
        else:
            self.inactive[kind].add(key)
        self._changed = True

    def flush(self) -> None:
        if not self._changed:
            return
        self._changed = False
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # a derived lookup must not stop the log being followed
                log.exception("reference data listener failed")

    def catch_up(self, max_pages: int | None = None) -> int:
        """Apply the replicated records recorded since the last call, reading only their
        topic from the log; the position moves to the log's head as it was read first."""
        applied = 0
        with self._lock, collector_paused():
            head = self.app.recorder.max_notification_id() or 0
            while self.position < head:
                notifications = self.app.recorder.select_notifications(
                    start=self.position + 1, limit=self.batch_size, stop=head,
                    topics=[REPLICATED_TOPIC])
                with self.page():
                    for notification in notifications:
                        self.apply(self.app.mapper.to_domain_event(notification),
                                   notification.id)
                        self.position = notification.id
                        applied += 1
                if len(notifications) < self.batch_size:
                    self.position = head
            if self._changed:  # reset() with nothing to apply since
                self.flush()
        return applied


def consume_registry(runtime: Any, app: Any, reference: ReferenceData,
                     poll_seconds: float = 2.0) -> None:
    """Register the registry consumer (its records replicated into ``app``'s log) and keep
    ``reference`` up to date (``follow_replica``)."""
    runtime.consume("registry", {RecordChangedV1: lambda e: on_record_changed(app, e),
                                 RecordChangedV2: lambda e: on_record_changed(app, e)})
    follow_replica(runtime, "registry", reference, poll_seconds)


def follow_replica(runtime: Any, producer: str, replica: ReferenceData,
                   poll_seconds: float = 2.0) -> None:
    """Keep ``replica`` (replicated from ``producer``'s events by its registered consumer)
    up to date: right after the consumer commits, and every ``poll_seconds`` (a replica of
    the service that did not consume the event reads it from the shared log)."""
    consumer = runtime.consumers[producer]
    after = consumer.after_commit

    def follow_now() -> None:
        try:
            replica.catch_up()
        except Exception:  # the store closing under a late catch-up; the next one reads it
            log.warning("%s: %s replica catch-up failed", runtime.service, producer,
                        exc_info=True)

    def after_commit() -> None:
        if after is not None:
            after()
        try:
            asyncio.get_running_loop().run_in_executor(None, follow_now)
        except RuntimeError:  # no loop (a test calling the consumer's code directly)
            threading.Thread(target=follow_now, daemon=True).start()

    consumer.after_commit = after_commit

    @runtime.every(poll_seconds, f"{producer} replica")
    def follow() -> None:
        replica.catch_up()

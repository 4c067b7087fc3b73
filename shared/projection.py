"""Read models: projections of a service's own notification log.

A projection is derived state, never the record: it starts empty, follows the log from the
first notification and can be dropped and rebuilt at any time with the same result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from typing import Any
from uuid import UUID

from shared.eventstore import ServiceApplication
from shared.heap import collector_paused


@lru_cache(maxsize=64)
def key_of(originator_id: UUID) -> str:
    """A read model's key for an aggregate: its id as text. Remembered for the last few ids,
    so the several read models that apply the same event convert it once."""
    return str(originator_id)


class LogProjection:
    def __init__(self, app: ServiceApplication, batch_size: int = 1000) -> None:
        self.app = app
        self.batch_size = batch_size
        self.position = 0
        self._lock = threading.Lock()

    def apply(self, domain_event: Any, notification_id: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything; the next catch_up rebuilds from the first event."""
        with self._lock:
            self.position = 0
            self.clear()

    def clear(self) -> None:  # pragma: no cover
        raise NotImplementedError

    # A read model that is not ready (a persisted one whose first build runs in the
    # background) is left out of ordinary catch-ups; its builder brings it up to date.
    ready = True

    @contextmanager
    def page(self) -> Iterator[None]:
        """Around each page of notifications this projection applies: a persisted read model
        opens its transaction here and records its position with the page (TableProjection);
        ``flush`` runs at the end of a page that was applied."""
        yield
        self.flush()

    def flush(self) -> None:
        """Called after each page of notifications this projection applied, before the
        catch-up returns: a projection that defers work to do it in batches (intake's
        similarity index shingles a page of texts in one call) finishes it here."""

    def catch_up(self, max_pages: int | None = None) -> int:
        """Apply every notification recorded since the last call (at most ``max_pages``
        pages of them); returns how many."""
        applied = 0
        pages = 0
        with self._lock, collector_paused():
            while self.ready:
                notifications = self.app.recorder.select_notifications(
                    start=self.position + 1, limit=self.batch_size
                )
                if not notifications:
                    return applied
                try:
                    with self.page():
                        for notification in notifications:
                            self.apply(self.app.mapper.to_domain_event(notification),
                                       notification.id)
                            self.position = notification.id
                            applied += 1
                except PositionMoved:
                    continue  # another process applied these: go on from where it got
                pages += 1
                if len(notifications) < self.batch_size:  # a short page: the log's end
                    return applied
                if max_pages is not None and pages >= max_pages:
                    return applied
            return applied

    def catch_up_some(self) -> int:
        """A few pages (a builder reports its progress between them)."""
        return self.catch_up(max_pages=5)


class PositionMoved(Exception):
    """A persisted read model's stored position is not where this process left it (another
    replica applied events to the shared tables, or a failed page was rolled back): the page
    is abandoned and the catch-up goes on from the stored position."""


def catch_up_all(projections: list[LogProjection], covering: int | None = None) -> int:
    """Bring several projections of one log up to date reading and decoding each new
    notification once (not once per projection); returns how many notifications were read.

    ``covering``: nothing to do when every projection has already applied this notification
    id (a command's last event, applied by a catch-up that another command's thread ran since
    it was recorded; with group commit several commands' events arrive at once), so the
    store is not asked."""
    projections = [p for p in projections if p.ready]
    if not projections:
        return 0
    if covering is not None and all(p.position >= covering for p in projections):
        return 0
    if len(projections) == 1:
        return projections[0].catch_up()
    app = projections[0].app
    batch_size = max(p.batch_size for p in projections)
    locks = [p._lock for p in projections]
    for lock in locks:  # always in the same order: no two callers wait on each other
        lock.acquire()
    try:
        with collector_paused():
            start = min(p.position for p in projections) + 1
            read = 0
            while True:
                notifications = app.recorder.select_notifications(start=start, limit=batch_size)
                if not notifications:
                    return read
                last = notifications[-1].id
                try:
                    with ExitStack() as pages:
                        for projection in projections:
                            if projection.position < last:  # applies some of this page
                                pages.enter_context(projection.page())
                        furthest = max(p.position for p in projections)
                        for notification in notifications:
                            if notification.id > furthest:  # past every position: all apply it
                                behind = projections
                            else:
                                behind = [p for p in projections if p.position < notification.id]
                            if behind:
                                event = app.mapper.to_domain_event(notification)
                                for projection in behind:
                                    projection.apply(event, notification.id)
                                    projection.position = notification.id
                            read += 1
                except PositionMoved:  # another process applied some: go on from their positions
                    start = min(p.position for p in projections) + 1
                    continue
                if len(notifications) < batch_size:  # a short page: the log's end, no more to ask
                    return read
                start = last + 1
    finally:
        for lock in reversed(locks):
            lock.release()

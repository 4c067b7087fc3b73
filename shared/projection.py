"""Read models: projections of a service's own notification log.

A projection is derived state, never the record: it starts empty, follows the log from the
first notification and can be dropped and rebuilt at any time with the same result.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.eventstore import ServiceApplication


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

    def flush(self) -> None:
        """Called after each page of notifications this projection applied, before the
        catch-up returns: a projection that defers work to do it in batches (intake's
        similarity index shingles a page of texts in one call) finishes it here."""

    def catch_up(self) -> int:
        """Apply every notification recorded since the last call; returns how many."""
        applied = 0
        with self._lock:
            while True:
                notifications = self.app.recorder.select_notifications(
                    start=self.position + 1, limit=self.batch_size
                )
                if not notifications:
                    return applied
                for notification in notifications:
                    self.apply(self.app.mapper.to_domain_event(notification), notification.id)
                    self.position = notification.id
                    applied += 1
                self.flush()


def catch_up_all(projections: list[LogProjection]) -> int:
    """Bring several projections of one log up to date reading and decoding each new
    notification once (not once per projection); returns how many notifications were read."""
    if not projections:
        return 0
    if len(projections) == 1:
        return projections[0].catch_up()
    app = projections[0].app
    batch_size = max(p.batch_size for p in projections)
    locks = [p._lock for p in projections]
    for lock in locks:  # always in the same order: no two callers wait on each other
        lock.acquire()
    try:
        start = min(p.position for p in projections) + 1
        read = 0
        while True:
            notifications = app.recorder.select_notifications(start=start, limit=batch_size)
            if not notifications:
                return read
            applied: dict[int, LogProjection] = {}
            for notification in notifications:
                behind = [p for p in projections if p.position < notification.id]
                if behind:
                    event = app.mapper.to_domain_event(notification)
                    for projection in behind:
                        projection.apply(event, notification.id)
                        projection.position = notification.id
                        applied[id(projection)] = projection
                read += 1
            for projection in applied.values():
                projection.flush()
            start = notifications[-1].id + 1
    finally:
        for lock in reversed(locks):
            lock.release()

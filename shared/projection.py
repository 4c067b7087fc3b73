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

"""Time comes from a clock object so tests (and replays) can move it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class FileClock:
    """The time written in a file (ISO 8601 with offset), re-read when the file changes.

    For staging and fault tests that move time in several processes at once
    (``CLOCK_FILE``); never set in production.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._now = datetime.now(timezone.utc)

    def now(self) -> datetime:
        with self._lock:
            try:
                stat = self.path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                if stamp != self._stamp:
                    self._now = datetime.fromisoformat(self.path.read_text().strip())
                    self._stamp = stamp
            except (OSError, ValueError):
                pass  # keep the last good time
            return self._now


def clock_from_settings(settings: Any) -> Clock:
    """The system clock, or a FileClock when ``CLOCK_FILE`` is set."""
    path = getattr(settings, "clock_file", None)
    return FileClock(path) if path else SystemClock()

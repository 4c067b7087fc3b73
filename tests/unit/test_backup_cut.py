"""A backup's stores form one consistent cut (ops/backup.py): a consumer whose store has
processed an upstream event beyond its producer's saved log is refused, because restored, the
producer would record other events under those notification ids and the consumer skip them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ops import backup as ops_backup
from shared.settings import ServiceSettings


def _store(path: Path, events: int, tracked: dict[str, int]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE stored_events (originator_id, state)")
        conn.execute("CREATE TABLE tracking (application_name TEXT, notification_id INTEGER)")
        conn.executemany("INSERT INTO stored_events VALUES (?, ?)",
                         [("a", b"x")] * events)
        for upstream, position in tracked.items():
            conn.execute("INSERT INTO tracking VALUES (?, ?)", (upstream, position))


def _system(var: Path, supervision_tracks_intake: int) -> ServiceSettings:
    var.mkdir()
    _store(var / "intake.sqlite", 5, {"supervision": 2})
    _store(var / "assignment.sqlite", 3, {"intake": 5, "supervision": 2})
    _store(var / "supervision.sqlite", 2, {"intake": supervision_tracks_intake, "assignment": 3})
    _store(var / "points.sqlite", 1, {"intake": 4})
    return ServiceSettings(service_name="ops", var_dir=var)


def test_a_consistent_cut_is_copied_with_its_positions(tmp_path):
    settings = _system(tmp_path / "var", supervision_tracks_intake=5)
    services = ops_backup._sqlite_stores(settings, tmp_path / "out")
    assert services["supervision"]["tracked"] == {"assignment": 3, "intake": 5, "registry": 0}
    assert services["intake"]["last_notification_id"] == 5
    assert "notifications" not in services  # optional, absent here
    for service in ("intake", "assignment", "supervision", "points"):
        assert (tmp_path / "out" / f"{service}.sqlite").exists()


def test_a_consumer_ahead_of_its_producer_is_not_a_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(ops_backup, "CUT_ATTEMPTS", 2)
    settings = _system(tmp_path / "var", supervision_tracks_intake=7)
    with pytest.raises(ops_backup.BackupError,
                       match=r"supervision has processed intake #7, beyond intake's saved #5"):
        ops_backup._sqlite_stores(settings, tmp_path / "out")

"""Snapshots are taken from the aggregate just saved, never read back from the store
(``ServiceApplication._take_snapshots``), on SQLite and PostgreSQL: whenever a save takes an
aggregate past a multiple of its interval, at the version it saved. A fresh application
loads the same state from the snapshot, and older versions are still read correctly."""

from __future__ import annotations


import pytest
from eventsourcing.domain import Aggregate, event

from shared.eventstore import ServiceApplication
from tests.harness import scratch_settings


class Counter(Aggregate):
    @event("Started")
    def __init__(self, name: str) -> None:
        self.name = name
        self.marks: list[int] = []

    @event("Marked")
    def mark(self, n: int) -> None:
        self.marks.append(n)


class CounterApplication(ServiceApplication):
    name = "counters"
    snapshotting_intervals = {Counter: 3}


@pytest.fixture
def settings(store):
    return scratch_settings(store, "counters")


@pytest.fixture
def app(settings):
    application = CounterApplication(settings)
    yield application
    application.close()


def snapshot_versions(app, counter_id) -> list[int]:
    return [s.originator_version for s in app.snapshots.get(counter_id)]


def test_a_snapshot_is_taken_from_the_saved_aggregate(app, settings, monkeypatch):
    counter = Counter("a")
    app.save(counter)
    reads = []
    real_get = app.repository.get
    monkeypatch.setattr(app.repository, "get",
                        lambda *a, **k: reads.append(k.get("version")) or real_get(*a, **k))
    for n in range(5):  # versions 2..6: snapshots at 3 and 6
        counter.mark(n)
        app.save(counter)
    assert snapshot_versions(app, counter.id) == [3, 6]
    assert reads == []  # nothing read back from the store to take them

    fresh = CounterApplication(settings)
    try:
        loaded = fresh.repository.get(counter.id)
        assert loaded.marks == [0, 1, 2, 3, 4] and loaded.version == 6
    finally:
        fresh.close()


def test_a_save_past_an_interval_with_several_events_snapshots_what_it_saved(app, settings,
                                                                           monkeypatch):
    counter = Counter("b")
    counter.mark(0)
    counter.mark(1)
    counter.mark(2)  # versions 1..4 in one save: past the interval (3)
    reads = []
    real_get = app.repository.get
    monkeypatch.setattr(app.repository, "get",
                        lambda *a, **k: reads.append(k.get("version")) or real_get(*a, **k))
    app.save(counter)
    assert reads == []  # version 3 was not read back from the store
    snapshot, = app.snapshots.get(counter.id)
    assert snapshot.originator_version == 4 and snapshot.state["marks"] == [0, 1, 2]
    counter.mark(3)  # version 5: no interval passed, no snapshot
    app.save(counter)
    assert snapshot_versions(app, counter.id) == [4]

    fresh = CounterApplication(settings)
    try:
        loaded = fresh.repository.get(counter.id)
        assert loaded.marks == [0, 1, 2, 3] and loaded.version == 5
        assert fresh.repository.get(counter.id, version=2).marks == [0]
    finally:
        fresh.close()

"""The store side of recording several upstream messages in one transaction, on SQLite and
PostgreSQL: all tracking rows with all events or none of them, and a unit of work in which
the repository answers with the aggregates changed earlier in it."""

from __future__ import annotations


import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking

from shared.eventstore import ServiceApplication, Trackings, unit_of_work
from tests.harness import scratch_settings


class Counter(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Counted")
    def count_one(self) -> None:
        self.count += 1


class CounterApplication(ServiceApplication):
    name = "counters"


@pytest.fixture
def app(store):
    application = CounterApplication(scratch_settings(store, "counters"))
    yield application
    application.close()


def test_several_tracking_rows_are_recorded_with_the_events(app):
    counter = Counter("a")
    counter.count_one()
    processing = ProcessingEvent()
    processing.collect_events(counter)
    processing.tracking = Trackings([Tracking("upstream", 3), Tracking("upstream", 7)])
    app.record_processing(processing)
    assert app.tracked_among("upstream", [1, 3, 5, 7]) == {3, 7}
    assert app.is_tracked("upstream", 7) and not app.is_tracked("other", 7)
    assert app.repository.get(counter.id).count == 1


def test_a_batch_that_conflicts_records_neither_its_events_nor_its_tracking(app):
    counter = Counter("a")
    app.save(counter)
    stale = app.repository.get(counter.id)
    fresh = app.repository.get(counter.id)
    fresh.count_one()
    app.save(fresh)
    stale.count_one()  # version 2 again: the store refuses it
    other = Counter("b")
    processing = ProcessingEvent()
    processing.collect_events(other, stale)
    processing.tracking = Trackings([Tracking("upstream", 1), Tracking("upstream", 2)])
    with pytest.raises(IntegrityError):
        app.record_processing(processing)
    assert app.tracked_among("upstream", [1, 2]) == set()
    assert app.repository.get(counter.id).count == 1
    assert other.id not in app.repository


def test_a_tracking_row_already_recorded_fails_the_whole_batch(app):
    first = ProcessingEvent(tracking=Tracking("upstream", 2))
    app.record_processing(first)
    counter = Counter("a")
    processing = ProcessingEvent()
    processing.collect_events(counter)
    processing.tracking = Trackings([Tracking("upstream", 1), Tracking("upstream", 2)])
    with pytest.raises(IntegrityError):
        app.record_processing(processing)
    assert app.tracked_among("upstream", [1, 2]) == {2}
    assert counter.id not in app.repository


def test_inside_a_unit_of_work_the_repository_returns_the_changed_aggregate(app):
    counter = Counter("a")
    app.save(counter)
    with unit_of_work() as changed:
        mine = app.repository.get(counter.id)
        mine.count_one()
        changed[mine.id] = mine
        assert app.repository.get(counter.id) is mine
        assert app.repository.get(counter.id, version=1).count == 0  # a past version: the store
    assert app.repository.get(counter.id) is not mine  # outside the unit: the store again
    assert app.repository.get(counter.id).count == 0

"""Aggregates an application keeps in memory between commands (``kept_aggregates``), on
SQLite and PostgreSQL: every read answers with the stored state, including what another
process (a replica) recorded since, and nothing a caller does to its copy, stored or not,
changes what the next caller reads."""

from __future__ import annotations


import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from shared.eventstore import ServiceApplication
from tests.harness import scratch_settings


class Tally(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.marks: list[str] = []

    @event("Marked")
    def mark(self, by: str) -> None:
        self.marks.append(by)


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class TallyApplication(ServiceApplication):
    name = "tallies"
    kept_aggregates = (Tally,)
    kept_aggregates_size = 2


@pytest.fixture
def settings(store):
    return scratch_settings(store, "tallies")


@pytest.fixture
def replicas(settings):
    """Two application instances on one store, as two replicas of a service are."""
    first, second = TallyApplication(settings), TallyApplication(settings)
    yield first, second
    first.close()
    second.close()


def test_a_kept_aggregate_follows_what_another_replica_recorded(replicas):
    first, second = replicas
    tally = Tally("a")
    first.save(tally)
    assert first.repository.get(tally.id).marks == []  # now kept by the first

    on_second = second.repository.get(tally.id)
    on_second.mark("second")
    second.save(on_second)

    assert first.repository.get(tally.id).marks == ["second"]
    assert first.repository.get(tally.id).version == 2

    # and the first can build on it: its copy is at the stored version, so no conflict
    again = first.repository.get(tally.id)
    again.mark("first")
    first.save(again)
    assert second.repository.get(tally.id).marks == ["second", "first"]


def test_what_a_caller_does_to_its_copy_does_not_reach_the_next_caller(replicas):
    app, _ = replicas
    tally = Tally("a")
    app.save(tally)
    app.repository.get(tally.id)

    abandoned = app.repository.get(tally.id)
    abandoned.mark("never stored")  # a command that failed after changing the aggregate
    abandoned.marks.append("changed in place")

    fresh = app.repository.get(tally.id)
    assert fresh.marks == [] and fresh.version == 1
    assert fresh is not abandoned and not fresh.pending_events


def test_a_stale_copy_still_conflicts_and_the_kept_one_stays_right(replicas):
    first, second = replicas
    tally = Tally("a")
    first.save(tally)
    stale = first.repository.get(tally.id)
    winner = second.repository.get(tally.id)
    winner.mark("winner")
    second.save(winner)

    stale.mark("loser")
    with pytest.raises(IntegrityError):
        first.save(stale)
    assert first.repository.get(tally.id).marks == ["winner"]


def test_only_the_kept_classes_are_kept_and_at_most_so_many(replicas):
    app, _ = replicas
    tallies = [Tally(str(i)) for i in range(3)]
    note = Note("hello")
    app.save(*tallies, note)
    for aggregate in (*tallies, note):
        assert app.repository.get(aggregate.id).version == 1
    kept = app.repository.kept
    assert note.id not in kept.cache  # not a kept class
    assert len(kept.cache) == 2  # the least recently read tally made room
    assert tallies[0].id not in kept.cache
    # an aggregate that is no longer kept is read from the store as before
    assert app.repository.get(tallies[0].id).name == "0"


def test_an_older_version_is_read_from_the_store(replicas):
    app, _ = replicas
    tally = Tally("a")
    tally.mark("x")
    app.save(tally)
    app.repository.get(tally.id)
    assert app.repository.get(tally.id, version=1).marks == []

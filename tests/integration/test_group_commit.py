"""Group commit (shared/group_commit.py) on SQLite and PostgreSQL: commands saved at the same
moment share transactions, and each still gets exactly its own outcome: its events stored
with their own notification ids, in the log once, with its own metadata and hash chain, or
its own conflict while the others of its group are stored."""

from __future__ import annotations

import threading
import time

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from shared.audit import verify_chain
from shared.eventstore import Actor, ServiceApplication, event_metadata, recording_as
from shared.group_commit import GroupCommit
from tests.harness import scratch_settings


class Ticket(Aggregate):
    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title

    @event("Noted")
    def note(self, text: str) -> None:
        self.title += text


class TicketApplication(ServiceApplication):
    name = "tickets"


@pytest.fixture
def app(store):
    application = TicketApplication(scratch_settings(store, "tickets"))
    yield application
    application.close()


def slow_writes(app: ServiceApplication, seconds: float) -> None:
    """Make each transaction take a while, so that callers arrive while one is written."""
    insert = app.group_commit._insert_events

    def slow(events):
        time.sleep(seconds)
        return insert(events)

    app.group_commit._insert_events = slow


def in_threads(n: int, work) -> list:
    results: list = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_commands_share_transactions_and_each_gets_its_own_events(app):
    slow_writes(app, 0.02)

    def command(i: int):
        with recording_as(Actor(username=f"deputy-{i}", role="deputy")):
            ticket = Ticket(f"t{i}")
            ticket.note("!")
            recordings = app.save(ticket)
        return ticket.id, [r.notification.id for r in recordings]

    results = in_threads(16, command)
    assert app.group_commit.groups < 16  # some commands shared a transaction
    ids = [n for _, ns in results for n in ns]
    assert len(ids) == 32 and len(set(ids)) == 32  # two events each, none twice
    for ticket_id, (first, second) in results:
        assert second == first + 1  # a command's events stay together, in order
    log = app.recorder.select_notifications(start=1, limit=100)
    assert [n.id for n in log] == sorted(ids)
    for i, (ticket_id, notification_ids) in enumerate(results):
        stored = [n for n in log if n.id in notification_ids]
        assert {n.originator_id for n in stored} == {ticket_id}
        events = [app.mapper.to_domain_event(n) for n in stored]
        assert {event_metadata(e)["actor"]["username"] for e in events} == {f"deputy-{i}"}
        assert app.repository.get(ticket_id).title == f"t{i}!"
        assert verify_chain(app.stored_records(ticket_id))["ok"]


def test_a_conflict_fails_only_its_own_command(app):
    shared = Ticket("shared")
    app.save(shared)
    slow_writes(app, 0.05)
    copies = [app.repository.get(shared.id) for _ in range(2)]

    def command(i: int):
        if i < 2:  # two commands change the same version of one aggregate
            copies[i].note(f"-{i}")
            return app.save(copies[i])
        return app.save(Ticket(f"t{i}"))

    results = in_threads(8, command)
    conflicts = [r for r in results if isinstance(r, IntegrityError)]
    assert len(conflicts) == 1
    assert all(isinstance(r, list) and r for r in results if r not in conflicts)
    assert app.repository.get(shared.id).version == 2
    assert len(app.recorder.select_notifications(start=1, limit=100)) == 1 + 1 + 6


def test_a_command_alone_is_written_at_once():
    written: list[int] = []
    commit = GroupCommit(lambda events: written.append(len(events)) or list(range(len(events))))
    assert commit.insert(["a", "b"]) == [0, 1]
    assert written == [2] and commit.groups == 1


def test_groups_are_bounded_by_max_events():
    sizes: list[int] = []

    def insert(events):
        time.sleep(0.05)  # long enough for the other callers to queue behind this write
        sizes.append(len(events))
        return list(range(len(events)))

    commit = GroupCommit(insert, max_events=4)
    results = in_threads(9, lambda i: commit.insert([i]))
    # every caller got its one id; the queue was written in groups, none over the bound
    assert all(len(r) == 1 for r in results)
    assert max(sizes) <= 4 and sum(sizes) == 9
    assert len(sizes) < 9


def test_without_group_commit_each_command_is_its_own_transaction(store):
    application = TicketApplication(scratch_settings(store, "tickets", group_commit=False))
    try:
        assert application.group_commit is None
        ticket = Ticket("alone")
        assert [r.notification.id for r in application.save(ticket)] == [1]
    finally:
        application.close()

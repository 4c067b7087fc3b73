"""Several read models of one log caught up in one pass: each sees every event once, in
order, whether it starts empty or part-way."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from eventsourcing.domain import Aggregate, event

from shared.eventstore import ServiceApplication
from shared.projection import LogProjection, catch_up_all
from shared.settings import ServiceSettings


class Counter(Aggregate):
    @event("Started")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Counted")
    def count(self, n: int) -> None:
        pass


class Seen(LogProjection):
    def __init__(self, app: Any) -> None:
        super().__init__(app, batch_size=3)
        self.seen: list[int] = []

    def clear(self) -> None:
        self.seen.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        self.seen.append(notification_id)


def test_catch_up_all_reads_once_and_serves_projections_at_different_positions(tmp_path):
    app = ServiceApplication(ServiceSettings(var_dir=tmp_path, service_name="probe"))
    try:
        counter = Counter(name="c")
        for n in range(4):
            counter.count(n)
        app.save(counter)  # notifications 1..5
        ahead, behind = Seen(app), Seen(app)
        assert ahead.catch_up() == 5
        counter.count(9)
        app.save(counter)  # notification 6
        decoded = []
        real = app.mapper.to_domain_event
        app.mapper.to_domain_event = lambda n: decoded.append(n.id) or real(n)  # type: ignore[method-assign]
        assert catch_up_all([ahead, behind]) == 6
        assert ahead.seen == [1, 2, 3, 4, 5, 6] and behind.seen == [1, 2, 3, 4, 5, 6]
        assert decoded == [1, 2, 3, 4, 5, 6]  # each decoded once, though two projections read it
        assert catch_up_all([ahead, behind]) == 0
    finally:
        app.close()


class Probe(Seen):
    """Records whether the garbage collector was running while each event was applied."""

    def __init__(self, app: Any, fail_at: int | None = None) -> None:
        super().__init__(app)
        self.collector_running: list[bool] = []
        self.fail_at = fail_at

    def apply(self, domain_event: Any, notification_id: int) -> None:
        self.collector_running.append(gc.isenabled())
        if notification_id == self.fail_at:
            raise RuntimeError("a read model failed")
        super().apply(domain_event, notification_id)


@pytest.fixture
def counted(tmp_path):
    app = ServiceApplication(ServiceSettings(var_dir=tmp_path, service_name="probe"))
    counter = Counter(name="c")
    for n in range(4):
        counter.count(n)
    app.save(counter)
    assert gc.isenabled()
    yield app
    app.close()
    gc.enable()


def test_the_collector_is_paused_while_catching_up_and_running_again_after(counted):
    one, two = Probe(counted), Probe(counted)
    assert one.catch_up() == 5
    assert catch_up_all([one, two]) == 5  # two starts empty: read in one pass
    assert one.collector_running == [False] * 5 and two.collector_running == [False] * 5
    assert gc.isenabled()


def test_a_failing_read_model_does_not_leave_the_collector_paused(counted):
    with pytest.raises(RuntimeError):
        Probe(counted, fail_at=3).catch_up()
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        catch_up_all([Probe(counted), Probe(counted, fail_at=2)])
    assert gc.isenabled()


def test_the_collector_resumes_only_when_the_last_of_concurrent_catch_ups_ends(counted):
    inside, release = threading.Event(), threading.Event()

    class Slow(Probe):
        def apply(self, domain_event: Any, notification_id: int) -> None:
            super().apply(domain_event, notification_id)
            inside.set()
            release.wait(5)

    slow = threading.Thread(target=Slow(counted).catch_up)
    slow.start()
    try:
        assert inside.wait(5)
        quick = Probe(counted)
        assert quick.catch_up() == 5  # starts and ends while the slow one runs
        assert not gc.isenabled()  # the slow catch-up still runs: still paused
    finally:
        release.set()
        slow.join(5)
    assert gc.isenabled()


def test_a_collector_disabled_by_someone_else_stays_disabled(counted):
    gc.disable()
    Probe(counted).catch_up()
    assert not gc.isenabled()

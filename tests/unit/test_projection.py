"""Several read models of one log caught up in one pass: each sees every event once, in
order, whether it starts empty or part-way."""

from __future__ import annotations

from typing import Any

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

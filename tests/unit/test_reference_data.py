"""A service's replica of the registry's records (shared/reference.py): seeded from the
configuration, overlaid by the records replicated into the service's own log, updated in
place, an older change ignored, rebuilt from the log alone."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.contracts.base import ActorRef
from shared.contracts.registry import RecordChangedV1
from shared.consumer import InvalidEvent
from shared.eventstore import ServiceApplication
from shared.reference import ReferenceData, ReferenceRecord, on_record_changed
from shared.settings import ServiceSettings

CONFIG = Path(__file__).resolve().parents[2] / "config"


def changed(position: int, kind: str, key: str, record: dict, active: bool = True,
            change: str = "changed") -> RecordChangedV1:
    return RecordChangedV1(
        event_id=f"registry:{position}", case_id=f"{kind}:{key}",
        actor=ActorRef(username="office", role="office"),
        occurred_at=datetime(2026, 12, 6, tzinfo=timezone.utc), source_service="registry",
        source_notification_id=position, kind=kind, key=key, change=change,
        record={"id": key, **record}, active=active)


@pytest.fixture
def app(tmp_path):
    app = ServiceApplication(ServiceSettings(var_dir=tmp_path, service_name="probe",
                                             config_dir=CONFIG))
    yield app
    app.close()


def consume(app: ServiceApplication, event: RecordChangedV1) -> int:
    """What the exactly-once consumer does with the handler's aggregates (without a bus)."""
    changed_aggregates = on_record_changed(app, event)
    if changed_aggregates:
        app.save(*changed_aggregates)
    return len(changed_aggregates)


def test_seeded_from_the_configuration_then_overlaid_in_place(app):
    reference = ReferenceData(app, app.settings)
    reference.catch_up()
    deputies = reference.table("deputy")
    assert deputies["deputy-1"]["name"] == "王建国"  # config/deputies.yaml
    assert "deputy-new" not in deputies
    recomputed = []
    reference.on_change(lambda: recomputed.append(len(deputies)))

    consume(app, changed(1, "deputy", "deputy-new", {"name": "新代表", "station": "station-fengjie"},
                         change="created"))
    consume(app, changed(2, "deputy", "deputy-1", {"name": "王建国（改）"}))
    assert "deputy-new" not in deputies  # not yet caught up
    assert reference.catch_up() == 2
    # the same dict object the application was handed, now holding both changes
    assert reference.table("deputy") is deputies
    assert deputies["deputy-new"]["name"] == "新代表"
    assert deputies["deputy-1"]["name"] == "王建国（改）"
    assert reference.active("deputy", "deputy-new")
    assert recomputed[-1] == len(deputies) and len(recomputed) == 2  # once at once, once now


def test_an_older_change_is_ignored_and_a_closed_record_stays_known(app):
    reference = ReferenceData(app, app.settings)
    assert consume(app, changed(5, "deputy", "deputy-2", {"name": "李秀英"}, active=False,
                                change="closed")) == 1
    # the registry's earlier change arrives late (a republish): the later one stands
    assert consume(app, changed(3, "deputy", "deputy-2", {"name": "旧名字"})) == 0
    assert consume(app, changed(5, "deputy", "deputy-2", {"name": "旧名字"})) == 0
    reference.catch_up()
    assert reference.table("deputy")["deputy-2"]["name"] == "李秀英"
    assert "deputy-2" in reference.table("deputy")
    assert not reference.active("deputy", "deputy-2")
    assert reference.table("deputy")["deputy-2"]["active"] is False
    assert not reference.active("deputy", "nobody")

    consume(app, changed(9, "deputy", "deputy-2", {"name": "李秀英"}, change="reopened"))
    reference.catch_up()
    assert reference.active("deputy", "deputy-2")


def test_rebuilt_from_the_services_own_log_alone(app):
    consume(app, changed(1, "station", "station-new",
                         {"name": "新联络站", "grids": ["新-01", "新-02"], "deputies": []}))
    consume(app, changed(2, "term", "term-17", {"name": "第十七届", "number": 17,
                                                "start": "2026-01-01", "end": "2030-12-31"}))
    consume(app, changed(3, "unit", "unit-a", {"name": "区住建委"}, active=False))
    # a new process of the service: a fresh projection of the same log
    again = ReferenceData(app, app.settings)
    assert again.catch_up() == 3
    assert again.table("station")["station-new"]["grids"] == ["新-01", "新-02"]
    assert again.table("term")["term-17"]["start"] == "2026-01-01"
    assert not again.active("unit", "unit-a") and again.active("unit", "unit-b")
    # rebuilt from nothing: the same result
    again.reset()
    assert "station-new" not in again.table("station")  # the seed only, until caught up
    again.catch_up()
    assert again.table("station")["station-new"]["name"] == "新联络站"
    # the aggregate's id is derived from kind and key
    replica = app.repository.get(ReferenceRecord.create_id("unit", "unit-a"))
    assert replica.source_event_id == "registry:3" and replica.active is False


def test_only_replicated_records_are_read_and_other_events_are_skipped(app):
    from eventsourcing.domain import Aggregate, event

    class Other(Aggregate):
        @event("Started")
        def __init__(self) -> None:
            pass

    app.save(Other())
    consume(app, changed(1, "deputy", "deputy-x", {"name": "某某"}))
    app.save(Other())
    reference = ReferenceData(app, app.settings)
    assert reference.catch_up() == 1
    assert reference.position == app.max_notification_id()  # at the head, not the last read
    assert reference.catch_up() == 0


def test_a_record_whose_id_is_not_its_key_is_refused(app):
    bad = changed(1, "deputy", "deputy-x", {"name": "某某"})
    bad = bad.model_copy(update={"record": {"id": "deputy-y", "name": "某某"}})
    with pytest.raises(InvalidEvent):
        on_record_changed(app, bad)


def test_the_event_validator_knows_a_deputy_as_soon_as_the_replica_has_it(app):
    from shared.contracts.reports import ReportHeldV1
    from shared.event_validation import EventValidator

    reference = ReferenceData(app, app.settings)
    validator = EventValidator.from_config(app.settings, reference)
    held = ReportHeldV1(
        event_id="reports:7", case_id="0b7e4c52-3c1e-4a43-9a8e-7b0c1f6f2d11",
        actor=ActorRef(username="office", role="office"),
        occurred_at=datetime(2026, 12, 6, tzinfo=timezone.utc), source_service="reports",
        source_notification_id=7, report_id="0b7e4c52-3c1e-4a43-9a8e-7b0c1f6f2d11",
        deputy_id="deputy-new", held_on="2026-12-05", attendance=30)
    assert validator.problems(held) == ["deputy_id 'deputy-new': unknown deputy"]
    record = changed(1, "deputy", "deputy-new", {"name": "新代表"}, change="created")
    assert validator.problems(record) == []  # its case_id is '<kind>:<key>', not a UUID
    consume(app, record)
    reference.catch_up()
    assert validator.problems(held) == []
    wrong = record.model_copy(update={"case_id": "deputy:someone-else"})
    assert validator.problems(wrong) == ["case_id 'deputy:someone-else' is not '<kind>:<key>'"]

"""One test per override of a library's internals (shared/library.py): each fails when the
pinned library changes what the override relies on, so an upgrade points at the override to
revisit instead of breaking a running service somewhere else."""

from __future__ import annotations

import inspect

import pytest
from eventsourcing.application import Application, ProcessingEvent, Recording, Repository
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper, Notification, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from faststream.nats import NatsBroker

from shared import library
from shared.eventstore import ServiceApplication, UnitOfWorkRepository
from shared.settings import ServiceSettings


def params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


class Counter(Aggregate):
    def __init__(self) -> None:
        self.n = 0

    @event("Counted")
    def count(self) -> None:
        self.n += 1


class Counting(ServiceApplication):
    name = "library_overrides"
    snapshotting_intervals = {Counter: 2}


@pytest.fixture
def app(tmp_path):
    application = Counting(ServiceSettings(service="library_overrides", var_dir=tmp_path))
    yield application
    application.close()


# 1. MultiTrackingRecorder._insert_tracking ------------------------------------------------

def test_the_recorders_insert_one_tracking_row_through_a_private_method():
    assert params(SQLiteProcessRecorder._insert_tracking) == ["self", "c", "tracking"]
    assert params(PostgresProcessRecorder._insert_tracking) == ["self", "curs", "tracking"]
    # the library's insert path calls it with the events' transaction (by keyword or not)
    assert "self._insert_tracking(c, tracking)" in inspect.getsource(
        SQLiteProcessRecorder._insert_events)
    assert "_insert_tracking(" in inspect.getsource(PostgresProcessRecorder._insert_events)


def test_a_batch_of_trackings_is_stored_row_by_row(app):
    with app.recorder.datastore.transaction(commit=True) as c:
        app.recorder._insert_tracking(c, library.Trackings(
            [Tracking("upstream", 3), Tracking("upstream", 5)]))
    assert app.tracked_among("upstream", [3, 4, 5]) == {3, 5}


# 2. retype_repository ----------------------------------------------------------------------

def test_the_repository_keeps_the_state_its_library_init_gave_it(app):
    assert params(Repository.__init__)[:2] == ["self", "event_store"]
    assert params(Repository.get)[:3] == ["self", "aggregate_id", "version"]
    assert type(app.repository) is UnitOfWorkRepository
    for attribute in ("event_store", "snapshot_store", "cache", "fastforward"):
        assert hasattr(app.repository, attribute), attribute
    with pytest.raises(TypeError):
        class WithInit(Repository):
            def __init__(self) -> None:  # state the library would not have set
                pass
        library.retype_repository(app.repository, WithInit)


# 3. ApplicationOverrides._record (and record_grouped, its body with another insert) --------

def test_the_application_records_through_a_private_record(app):
    assert params(Application._record) == ["self", "processing_event"]
    source = inspect.getsource(Application)
    assert "self._record(processing_event)" in source  # save() and process_event() call it
    assert params(ProcessingEvent.__init__)[:2] == ["self", "tracking"]
    for field in ("events", "aggregates", "tracking", "saved_kwargs"):
        assert field in inspect.getsource(ProcessingEvent), field
    assert params(Recording)[:2] == ["domain_event", "notification"]
    assert {"originator_id", "originator_version", "topic", "state", "id"} <= set(
        params(Notification))
    counter = Counter()
    counter.count()
    app.save(counter)  # through recorded(): chained, and the thread's last id noted
    assert app.last_recorded_notification_id() == 2
    assert app.stored_records(counter.id)[1]["state"]["_chain"]["hash"]


# 4. ApplicationOverrides._take_snapshots ---------------------------------------------------

def test_a_snapshot_is_taken_from_the_aggregate_just_saved(app):
    assert params(Application._take_snapshots) == ["self", "processing_event"]
    assert params(Application.take_snapshot)[:4] == ["self", "aggregate_id", "version",
                                                     "projector_func"]
    for attribute in ("snapshotting_intervals", "snapshotting_projectors", "snapshot_class"):
        assert hasattr(Application, attribute), attribute
    counter = Counter()
    for _ in range(4):
        counter.count()
    app.save(counter)  # versions 1..5 in one save: past 2 and 4
    snapshots = list(app.snapshots.get(counter.id))
    assert [s.originator_version for s in snapshots] == [5]  # at the saved version
    assert app.repository.get(counter.id).n == 4


# 5. tracked_notification_ids ----------------------------------------------------------------

def test_the_tracking_table_is_where_the_sql_looks(app):
    recorder = app.recorder
    assert "INSERT INTO tracking VALUES" in recorder.insert_tracking_statement
    assert library.SQLITE_TRACKING_TABLE == "tracking"
    assert "tracking_table_name" in inspect.getsource(PostgresProcessRecorder.__init__) or \
        "tracking_table_name" in inspect.getsource(PostgresProcessRecorder.__mro__[1].__init__)
    assert "commit" in params(type(recorder.datastore).transaction)
    recorder.insert_tracking(Tracking("upstream", 7))
    assert library.tracked_notification_ids(recorder, "upstream", [6, 7]) == {7}
    assert library.tracked_notification_ids(recorder, "other", [7]) == set()


# MetadataMapper.to_stored_event (a public override through mapper_class) ------------------

def test_the_mapper_attributes_the_metadata_mapper_uses():
    assert params(Mapper.to_stored_event) == ["self", "domain_event"]
    assert params(Mapper.__init__) == ["self", "transcoder", "compressor", "cipher"]


# 6. nats_connection / nats_stream -------------------------------------------------------------

def test_the_broker_keeps_its_connection_and_stream_in_its_config():
    broker = NatsBroker()
    state = broker.config.connection_state
    for attribute in ("connection", "stream"):
        assert isinstance(inspect.getattr_static(type(state), attribute), property), attribute
    assert "connection_state" in inspect.getsource(library.nats_connection)



# 7. MultiTrackingPostgresProcessRecorder: a large save inserted in chunks ---------------------

def test_the_postgres_recorder_inserts_then_fetches_through_private_methods():
    source = inspect.getsource(PostgresProcessRecorder.insert_events)
    assert source.index("self._insert_stored_events(") < source.index(
        "self._fetch_ids_after_insert_events(")
    assert params(PostgresProcessRecorder._insert_stored_events) == [
        "self", "curs", "stored_events", "kwargs"]
    assert params(PostgresProcessRecorder._fetch_ids_after_insert_events) == [
        "self", "curs", "stored_events", "_"]


@pytest.fixture
def pg_app():
    import uuid

    import psycopg

    from tests.conftest import POSTGRES_SKIP_REASON

    if POSTGRES_SKIP_REASON:
        pytest.skip(POSTGRES_SKIP_REASON)
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    application = Counting(ServiceSettings(
        service="library_overrides", event_store="postgres", postgres_host="127.0.0.1",
        postgres_port=5432, postgres_dbname="test", postgres_user="postgres",
        postgres_schema_prefix=prefix))
    yield application
    application.close()
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres",
                         autocommit=True) as conn:
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                      (f"{prefix}%",)).fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.postgres  # with the other PostgreSQL tests (tests/conftest.py)
def test_a_large_save_is_whole_in_order_or_nothing_on_postgres(pg_app):
    """12,000 new aggregates in one save (more than one INSERT of the library's pipeline
    would carry without hanging): all stored, notification ids in order; a save whose last
    chunk conflicts stores nothing of its earlier chunks."""
    recorder = pg_app.recorder
    before = recorder.max_notification_id() or 0
    counters = [Counter() for _ in range(12_000)]
    pg_app.save(*counters)
    assert recorder.max_notification_id() == before + 12_000
    first = recorder.select_notifications(before + 1, 3)
    assert [n.originator_id for n in first] == [c.id for c in counters[:3]]

    fresh = [Counter() for _ in range(1_500)]
    stale = pg_app.repository.get(counters[0].id)  # its version 1 exists: a conflict
    stale.count()
    replay = pg_app.repository.get(counters[0].id)
    replay.count()
    pg_app.save(stale)
    with pytest.raises(Exception):
        pg_app.save(*fresh, replay)  # the conflict is in the save's last chunk
    assert recorder.max_notification_id() == before + 12_001
    assert all(recorder.select_events(c.id) == [] for c in (fresh[0], fresh[-1]))

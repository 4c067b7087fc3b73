"""Hash chains over a real event store: a case history verifies, an edited stored event is
found, a history as of an instant leaves later events out; the offline verifier agrees."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from uuid import UUID

from shared.audit import verify_chain
from shared.eventstore import recording_as
from tests.integration.test_supervision_rules import (  # noqa: F401  (fixture)
    DEPUTY,
    case_id,
    open_case,
    reply,
    supervision,
    task_id,
)
from services.supervision.application import RateCase


def tamper(app, originator_id: str, version: int, change) -> None:
    """Edit one stored event in place, as someone with database access might."""
    recorder = app.recorder
    stored = recorder.select_events(UUID(originator_id), gt=version - 1, lte=version)[0]
    state = json.loads(stored.state)
    change(state)
    new = json.dumps(state).encode()
    table = recorder.events_table_name
    if app.settings.event_store == "postgres":
        from psycopg import sql

        with recorder.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("UPDATE {}.{} SET state = %s WHERE originator_id = %s AND "
                                 "originator_version = %s").format(
                sql.Identifier(recorder.datastore.schema), sql.Identifier(table)),
                (new, UUID(originator_id), version))
    else:
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                      (new, UUID(originator_id).hex, version))


def test_case_history_chains_hold_and_an_edited_event_breaks_its_chain(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app, co_signers=["deputy-2"])
    reply(app)
    with recording_as(DEPUTY):  # as the runtime does for each request
        app.rate(RateCase(case_id=case_id(0), rating="unsatisfied", comment="未解决"), DEPUTY)

    history = app.audit(*app.case_scope(case_id(0)))
    assert all(c["ok"] for c in history["chains"]) and len(history["chains"]) == 2
    types = [e["event_type"] for e in history["events"]]
    assert "Replied" in types and "Rated" in types and "RehandlingStarted" in types
    rated = next(e for e in history["events"] if e["event_type"] == "Rated")
    assert rated["actor"]["username"] == "deputy-1" and rated["data"]["rating"] == "unsatisfied"
    assert rated["hash"] and rated["prev_hash"] and rated["chain_ok"]

    # Someone turns the unsatisfied rating into a satisfied one in the database.
    version = rated["version"]
    tamper(app, case_id(0), version, lambda s: s.update(rating="satisfied"))
    history = app.audit(*app.case_scope(case_id(0)))
    broken = [c for c in history["chains"] if not c["ok"]]
    assert len(broken) == 1 and broken[0]["aggregate_id"] == case_id(0)
    assert broken[0]["broken_at"] == version
    assert "content" in broken[0]["reason"]
    rated = next(e for e in history["events"] if e["event_type"] == "Rated")
    assert rated["chain_ok"] is False
    # The task's chain is untouched.
    assert [c["ok"] for c in history["chains"] if c["aggregate_id"] == task_id(0)] == [True]


def test_history_as_of_an_instant_leaves_later_events_out(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app)
    cut = datetime.now(timezone.utc)
    reply(app)
    before = app.audit(*app.case_scope(case_id(0)), as_of=cut)
    now = app.audit(*app.case_scope(case_id(0)))
    assert "Replied" not in [e["event_type"] for e in before["events"]]
    assert "Replied" in [e["event_type"] for e in now["events"]]
    assert before["state"][task_id(0)]["status"] == "open"
    assert now["state"][task_id(0)]["status"] == "replied"


def test_the_offline_verifier_checks_exported_records(supervision):
    runtime, clock = supervision
    app = runtime.app
    open_case(app)
    reply(app)
    records = app.stored_records(UUID(task_id(0)))
    assert verify_chain(records)["ok"]
    records[1]["state"]["note"] = "改过的"
    assert verify_chain(records) == {**verify_chain(records), "ok": False, "broken_at": 2}
    del records[1]
    assert verify_chain(records)["reason"] == "version 2 is missing"

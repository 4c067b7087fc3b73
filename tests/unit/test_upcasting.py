"""Stores written by earlier code are read by today's (the library's ``class_version`` /
``upcast_vN_vN+1`` mechanism): tests/data/stores/v1/ holds assignment and supervision stores
written by main before the event classes got a version (see make_v1_stores.py), including
events recorded before some of their fields existed."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from services.assignment.application import (AssignmentApplication, CaseAssignment, GetTask,
                                             Workload)
from services.assignment.bus import translate as assignment_translate
from services.assignment.domain import Task
from services.assignment.read_models import TaskIndex
from services.supervision.application import SupervisionApplication
from services.supervision.domain import SupervisedTask
from services.supervision.read_models import ListTasks, SupervisionViews
from shared.clock import ManualClock
from shared.eventstore import Actor
from shared.read_store import ReadModels, ViewStore
from shared.settings import ServiceSettings
from tests.data.stores import make_v1_stores as v1

STORES = Path(v1.__file__).resolve().parent / "v1"
OFFICE = Actor("office", "office")
ENVELOPE = {"event_id": "assignment:9", "source_service": "assignment",
            "source_notification_id": 9, "occurred_at": v1.AT,
            "actor": {"username": "office", "role": "office"}}
OLD_TASK_ID = Task.create_id(v1.OLD_CASE, v1.OLD_LEAD_UNIT)


def settings_for(service: str, var_dir: Path) -> ServiceSettings:
    shutil.copy(STORES / f"{service}.sqlite", var_dir / f"{service}.sqlite")
    return ServiceSettings(service_name=service, event_store="sqlite", var_dir=var_dir)


@pytest.fixture
def assignment(tmp_path):
    settings = settings_for("assignment", tmp_path)
    app = AssignmentApplication(settings, clock=ManualClock(v1.AT.replace(day=10)))
    store = ViewStore(settings)
    index = TaskIndex(app, store)
    read_models = ReadModels(app, store, [index])
    read_models.start()
    index.catch_up()
    yield app, index
    store.close()
    app.close()


def test_the_fixture_holds_events_of_the_old_shape():
    import sqlite3

    with sqlite3.connect(STORES / "assignment.sqlite") as db:
        states = [json.loads(s) for (s,) in db.execute(
            "SELECT state FROM stored_events WHERE topic LIKE '%Task.Assigned'")]
    old = [s for s in states if s["case_id"] == v1.OLD_CASE]
    assert old and "case_kind" not in old[0] and "deadline_rule" not in old[0]
    assert old[0]["time_limit_months"] == v1.OLD_TIME_LIMIT_MONTHS
    assert all("class_version" not in s for s in states)


def test_an_old_task_assigned_event_is_upcast_to_the_fields_of_today(assignment):
    app, _ = assignment
    assigned, paused = app.events.get(OLD_TASK_ID)
    assert assigned.case_kind == "suggestion" and assigned.replaces_task_id is None
    assert assigned.deadline_rule == {"kind": "months", "months": v1.OLD_TIME_LIMIT_MONTHS,
                                      "roll_forward": False}
    assert assigned.leadership is None and assigned.generation == 0
    assert paused.reason == "等待代表补充材料"


def test_an_old_task_is_shown_with_its_deadline_and_paused_clock(assignment):
    app, index = assignment
    shown = app.get_task(GetTask(task_id=str(OLD_TASK_ID)), OFFICE)
    assert shown["case_kind"] == "suggestion" and shown["unit_id"] == v1.OLD_LEAD_UNIT
    assert shown["paused_since"] is not None
    assert shown["deadline"] is None or shown["deadline"] >= "2026-05-02"
    load = app.workload(Workload(unit_id=v1.OLD_LEAD_UNIT), OFFICE, index)
    assert str(OLD_TASK_ID) in json.dumps(load, default=str)


def test_an_old_task_is_published_as_today(assignment):
    app, _ = assignment
    assigned, paused = app.events.get(OLD_TASK_ID)
    [v1_event, *_] = assignment_translate(app, assigned, {**ENVELOPE, "case_id": v1.OLD_CASE})
    assert v1_event.case_kind == "suggestion" and v1_event.unit_id == v1.OLD_LEAD_UNIT
    [changed, *_] = assignment_translate(app, paused, {**ENVELOPE, "case_id": v1.OLD_CASE})
    assert changed.paused and changed.reason == "等待代表补充材料"


def test_a_task_of_todays_shape_reads_as_written(assignment):
    app, _ = assignment
    shown = app.case_assignment(CaseAssignment(case_id=v1.NEW_CASE), OFFICE)
    assert shown["status"] == "assigned" and len(shown["tasks"]) == 1


@pytest.fixture
def supervision(tmp_path):
    settings = settings_for("supervision", tmp_path)
    app = SupervisionApplication(settings, clock=ManualClock(v1.AT.replace(day=10)))
    app.read_store = ViewStore(settings)
    views = SupervisionViews(app, app.read_store)
    ReadModels(app, views.store, [views]).start()
    views.catch_up()
    yield app, views
    app.read_store.close()
    app.close()


def test_an_old_supervised_task_is_upcast_and_shown(supervision):
    app, views = supervision
    opened, changed = app.events.get(OLD_TASK_ID)
    assert opened.case_kind == "suggestion" and opened.leadership is None
    task = app.repository.get(OLD_TASK_ID)
    assert task.is_paused and task.leadership is None and task.escalated_to is None
    assert task.deadline == date(2026, 5, 9)
    view = app.task_view(task)
    assert view["paused"] is True and view["escalated_to"] is None
    # the read model applied the old Opened event: its row
    (row,) = views.list_tasks(ListTasks(), None)["items"]
    assert (row["task_id"], row["case_kind"]) == (str(OLD_TASK_ID), "suggestion")


# --- intake ---------------------------------------------------------------------------------

@pytest.fixture
def intake(tmp_path):
    from services.intake.application import IntakeApplication

    settings = settings_for("intake", tmp_path)
    app = IntakeApplication(settings, clock=ManualClock(v1.AT.replace(day=10)))
    ReadModels(app, app.views, [app.suggestions_view, app.messages_view]).start()
    app.suggestions_view.catch_up()
    app.messages_view.catch_up()
    yield app
    app.close()


def intake_ids() -> tuple[str, str]:
    suggestion_id, message_id = (STORES / "intake-ids.txt").read_text().split()
    return suggestion_id, message_id


def test_an_old_suggestion_and_message_are_upcast_and_shown(intake):
    from uuid import UUID

    from services.intake.application import MessageRef, SuggestionRef
    from services.intake.read_models import ListSuggestions

    suggestion_id, message_id = intake_ids()
    (submitted,) = intake.events.get(UUID(suggestion_id))
    assert (submitted.from_message_id, submitted.sealed_body,
            submitted.personal_data_ref) == (None, None, None)
    (received,) = intake.events.get(UUID(message_id))
    assert received.sealed_content is None and received.content == v1.OLD_MESSAGE_CONTENT
    shown = intake.get_suggestion(SuggestionRef(suggestion_id=suggestion_id), OFFICE)
    assert (shown["title"], shown["body"], shown["from_message_id"]) == (
        v1.OLD_SUGGESTION_TITLE, "建议在公交站台加装雨棚", None)
    listed = intake.list_suggestions(ListSuggestions(q="建议在", year=2026, limit=10), OFFICE)
    assert [s["id"] for s in listed["items"]] == [suggestion_id]  # its body is searchable
    message = intake.get_message(MessageRef(message_id=message_id), OFFICE)
    assert message["content"] == v1.OLD_MESSAGE_CONTENT

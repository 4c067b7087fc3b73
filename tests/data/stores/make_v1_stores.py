"""Write the v1 stores kept as fixtures (tests/unit/test_upcasting.py reads them).

Run once, with the code of the commit before the event classes got a ``class_version``
(main at c0e749a), from the repository's root:

    .venv/bin/python -m tests.data.stores.make_v1_stores

It writes ``tests/data/stores/v1/{assignment,supervision}.sqlite`` (main at c0e749a) and
``intake.sqlite`` (main at 8f0d501, before intake's events got a version) through the services'
own applications: cases and tasks as that code recorded them, and, for the events recorded
before some fields existed, the same events stored without those fields (the shape the
code before them wrote: an ``Assigned`` task with only ``time_limit_months``, a supervised
task opened without ``case_kind`` or ``leadership``, a suggestion submitted before it could
come from a citizen message, a citizen message received before contents were sealed). The ids and facts written here are
the ones the test expects (OLD_* / NEW_* below).
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

from services.assignment.application import AssignmentApplication
from services.intake.application import IntakeApplication
from services.intake.domain import CitizenMessage, Suggestion
from services.assignment.domain import Assignment, Task
from services.supervision.application import SupervisionApplication
from services.supervision.domain import SupervisedTask
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.intake import SuggestionRegisteredV1
from shared.eventstore import SYSTEM_ACTOR, Actor, recording_as
from shared.settings import ServiceSettings

HERE = Path(__file__).resolve().parent / "v1"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)
OFFICE = Actor("office", "office")

# today's shape, through the application's reaction
NEW_CASE = "v1-new-case"
# older shape: fields the Assigned / Opened events did not carry yet
OLD_CASE = "v1-old-case"
OLD_LEAD_UNIT = "unit-a"
OLD_TIME_LIMIT_MONTHS = 2
STRIPPED_TASK_FIELDS = ("deadline_rule", "case_kind", "return_window_working_days",
                        "leadership", "replaces_task_id", "generation")
STRIPPED_OPENED_FIELDS = ("case_kind", "leadership")
OLD_SUGGESTION_TITLE = "公交站台加装雨棚"
STRIPPED_SUBMITTED_FIELDS = ("from_message_id", "sealed_body", "personal_data_ref")
OLD_MESSAGE_CONTENT = "小区门口路灯坏了三个月"
STRIPPED_RECEIVED_FIELDS = ("sealed_content",)


def strip(aggregate, fields: tuple[str, ...], **setting) -> None:
    """Remove fields from the aggregate's first pending event (as older code wrote it)."""
    first = aggregate._pending_events[0]
    for name in fields:
        object.__delattr__(first, name)
    for name, value in setting.items():
        object.__setattr__(first, name, value)


def assignment_store(var_dir: Path) -> None:
    settings = ServiceSettings(service_name="assignment", event_store="sqlite", var_dir=var_dir)
    app = AssignmentApplication(settings, clock=ManualClock(AT))
    try:
        registered = SuggestionRegisteredV1(
            event_id="intake:1", case_id=NEW_CASE, source_service="intake",
            source_notification_id=1, occurred_at=AT,
            actor={"username": "office", "role": "office"}, number="2026-0001",
            title="小区加装电梯", category="livelihood", urgency="blue",
            lead_deputy_id="deputy-1")
        with recording_as(SYSTEM_ACTOR, "intake:1"):
            app.save(*app.on_suggestion_registered(registered))
        case = Assignment(case_id=OLD_CASE, number="2025-0042", title="路灯不亮",
                          category="livelihood", urgency="blue", district=None,
                          proposed_lead_unit_id=OLD_LEAD_UNIT, proposed_co_unit_ids=[],
                          routing_rule_id=None)
        (task,) = case.assign(OLD_LEAD_UNIT, [], assigned_at=AT, automatic=False)
        strip(task, STRIPPED_TASK_FIELDS, time_limit_months=OLD_TIME_LIMIT_MONTHS)
        task.pause_clock("等待代表补充材料", AT.replace(day=3))
        with recording_as(OFFICE):
            app.save(case, task)
    finally:
        app.close()


def supervision_store(var_dir: Path) -> None:
    settings = ServiceSettings(service_name="supervision", event_store="sqlite",
                               var_dir=var_dir)
    app = SupervisionApplication(settings, clock=ManualClock(AT))
    try:
        old = SupervisedTask(task_id=str(Task.create_id(OLD_CASE, OLD_LEAD_UNIT)),
                             case_id=OLD_CASE, unit_id=OLD_LEAD_UNIT, role="lead",
                             deadline=date(2026, 5, 2), opened_at=AT, title="路灯不亮",
                             category="livelihood", urgency="blue", number="2025-0042")
        strip(old, STRIPPED_OPENED_FIELDS)
        old.change_deadline(deadline=date(2026, 5, 9), paused=True, reason="等待代表补充材料",
                            at=AT.replace(day=3))
        with recording_as(SYSTEM_ACTOR, "assignment:2"):
            app.save(old)
    finally:
        app.close()


def intake_store(var_dir: Path) -> None:
    settings = ServiceSettings(service_name="intake", event_store="sqlite", var_dir=var_dir)
    app = IntakeApplication(settings, clock=ManualClock(AT))
    try:
        suggestion = Suggestion(title=OLD_SUGGESTION_TITLE, body="建议在公交站台加装雨棚",
                                category="urban_construction", lead_deputy_id="deputy-1",
                                co_signer_ids=["deputy-2"], station_id="station-fengjie",
                                submitted_at=AT)
        strip(suggestion, STRIPPED_SUBMITTED_FIELDS)
        message = CitizenMessage(station_id="station-fengjie", grid=None,
                                 content=OLD_MESSAGE_CONTENT, category="livelihood",
                                 follow_up_token_hash="0" * 64, personal_data_ref=None,
                                 personal_data=None, received_at=AT)
        strip(message, STRIPPED_RECEIVED_FIELDS)
        with recording_as(Actor("deputy-1", "deputy", deputy_id="deputy-1")):
            app.save(suggestion, message)
        (HERE / "intake-ids.txt").write_text(f"{suggestion.id}\n{message.id}\n")
    finally:
        app.close()


def main() -> None:
    import sys

    HERE.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["assignment", "supervision", "intake"]
    for name in which:
        (HERE / f"{name}.sqlite").unlink(missing_ok=True)
        {"assignment": assignment_store, "supervision": supervision_store,
         "intake": intake_store}[name](HERE)
    kept = ("assignment", "supervision", "intake")
    for leftover in HERE.iterdir():  # keep the event stores (and intake's ids) only
        if leftover.name == "intake-ids.txt":
            continue
        if leftover.suffix != ".sqlite" or leftover.stem not in kept:
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
    print("written:", sorted(p.name for p in HERE.iterdir()))


if __name__ == "__main__":
    main()

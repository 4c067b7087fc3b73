"""Assignment's commands and queries over its event store.

Configuration, read once at start:

- ``config/units.yaml`` — the handling units;
- ``config/routing.yaml`` — routing rules (category, district, title keywords → proposed
  lead and co units): only the seed of an empty log; the rules are data of this service
  (the rule book, services/assignment/routing_rules.py and routing_desk.py);
- ``config/assignment.yaml`` — deadline rules, co-unit offset, return window
  (:class:`~services.assignment.domain.AssignmentPolicy`);
- ``config/holidays.yaml`` — the working-day calendar (``shared.calendar.WorkingCalendar``);
- ``config/leaders.yaml`` — leaders and special committees who may lead or supervise a case;
- ``config/categories.yaml`` — category codes (a forwarded message without a known category
  is filed as ``other``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import yaml
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from shared.calendar import CalendarNotConfigured, ReplicaCalendar, WorkingCalendar
from shared.clock import Clock, clock_from_settings
from shared.contracts.intake import (
    MessageForwardedV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
)
from shared.contracts.supervision import (
    CaseClosedV1,
    CoOpinionSubmittedV1,
    RehandlingStartedV1,
    ReplySubmittedV1,
)
from shared.eventstore import Actor, ServiceApplication
from shared.paging import checked_after, encode_cursor, page_of_list
from shared.contracts.requests.assignment import (
    AssignSuggestion,
    CaseAssignment,
    CaseRef,  # noqa: F401  (tests import it here)
    DesignateLeadership,
    GetTask,
    PauseClock,
    ReassignTask,
    RefuseReturn,
    RequestReturn,
    ResumeClock,
    Workload,
)
from shared.rpc import Conflict, Forbidden, Invalid, NotFound, ServiceError
from shared.reference import ReferenceData
from shared.settings import ServiceSettings, load_config

from services.assignment import views
from services.assignment.read_models import TaskIndex
from services.assignment.routing_desk import LiveRoutingRules, RoutingRuleDesk, seed_if_empty
from services.assignment.routing_rules import RoutingRuleBook
from shared.paging import Year, year_filter
from services.assignment.domain import (
    AssignmentPolicy,
    Assignment,
    DeadlineRule,
    Task,
    due_date,
    local_day,
)

MESSAGE_TITLE = "群众意见"  # the content of a citizen message is not on the bus
OTHER_CATEGORY = "other"


class CalendarNotReady(ServiceError):
    """A deadline needs a year that config/holidays.yaml does not have yet."""

    status = 503
    title = "Working calendar not configured"

    @classmethod
    def from_exc(cls, exc: CalendarNotConfigured) -> CalendarNotReady:
        return cls(str(exc), missing_year=exc.year,
                   configured_years=list(exc.configured_years))


# --- commands and queries ----------------------------------------------------------------

# The requests (AssignSuggestion, RequestReturn...) are declared in
# shared/contracts/requests/assignment.py.


class RoutingRules:
    """Category, district and keywords → proposed lead and co units; the first rule in the
    file that matches wins, so specific rules (with keywords or a district) come first.

    A rule matches when each condition it states holds: ``category`` equal, ``district``
    equal, and any of its ``keywords`` in the suggestion's title (the text that travels on
    the bus; the body stays in intake). A rule naming none of them matches everything."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        for rule in rules:
            keywords = rule.get("keywords", [])
            if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip()
                                                         for k in keywords):
                raise ValueError(f"routing rule {rule.get('id')!r}: keywords must be a list "
                                 "of non-empty strings")
        self.rules = rules

    def match(self, category: str, district: str | None, title: str = "") -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.get("category") and rule["category"] != category:
                continue
            if rule.get("district") and rule["district"] != district:
                continue
            keywords = rule.get("keywords")
            if keywords and not any(k in title for k in keywords):
                continue
            return rule
        return None


def load_mapping(settings: ServiceSettings, name: str) -> dict[str, Any]:
    """Read ``config/<name>.yaml`` as a mapping (empty when the file is missing)."""
    path = settings.config_dir / f"{name}.yaml"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as f:
        return dict(yaml.safe_load(f) or {})


class AssignmentApplication(ServiceApplication):
    name = "assignment"
    kept_aggregates = (RoutingRuleBook,)  # read before every routing (routing_desk.py)

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.policy = AssignmentPolicy.from_config(load_mapping(settings, "assignment"))
        self.leaders = {d["id"]: d for d in load_config(settings, "leaders")}
        super().__init__(settings)
        # Units, categories and the working-day calendars: this service's replica of the
        # registry's records (shared/reference.py), seeded from config/ and followed in its own
        # log; updated in place. Leaders stay configuration. A calendar change counts for the
        # deadlines computed after it; a task's deadline is derived with the calendar in force
        # when it was assigned (Task.deadline).
        self.reference = ReferenceData(self, settings)
        self.units = self.reference.table("unit")
        self.categories = self.reference.table("category")
        self.calendar = ReplicaCalendar(self.reference)
        self.reference.catch_up()
        # Routing rules: data of this service, seeded from config/routing.yaml into an empty
        # log and read from the rule book before each routing (routing_desk.py).
        seed_if_empty(self, settings)
        self.routing = LiveRoutingRules(self.routing_rules_book)
        self.routing_rules = RoutingRuleDesk(self)

    def routing_rules_book(self) -> RoutingRuleBook:
        return self.repository.get(RoutingRuleBook.create_id())

    def today(self) -> date:
        return local_day(self.clock.now())

    # --- reactions to upstream events ---------------------------------------------------

    def on_suggestion_registered(self, event: SuggestionRegisteredV1) -> list[Any]:
        """Open the case for assignment with the routing proposal; assign at once if automatic.

        The clock starts now (the service's clock). If the working calendar cannot give the
        deadline, the case is held for the office with the reason instead.
        """
        rule = self.routing.match(event.category, event.district, event.title)
        proposal = {
            "number": event.number,
            "title": event.title,
            "category": event.category,
            "urgency": event.urgency,
            "district": event.district,
            "proposed_lead_unit_id": rule["lead_unit"] if rule else None,
            "proposed_co_unit_ids": list(rule.get("co_units", [])) if rule else [],
            "routing_rule_id": rule["id"] if rule else None,
        }
        try:
            assignment = self.repository.get(Assignment.create_id(event.case_id))
        except AggregateNotFoundError:
            assignment = Assignment(case_id=event.case_id, **proposal)
        else:
            if assignment.status != "reversed":
                return []  # already opened (e.g. an earlier delivery under another event id)
            assignment.reopen(**proposal)  # registered again after a reversal
        if not (rule and rule.get("automatic")):
            return [assignment]
        return self._assign_automatically(assignment, rule["lead_unit"], list(rule.get("co_units", [])))

    def on_suggestion_registration_reversed(self, event: SuggestionRegistrationReversedV1,
                                            ) -> list[Any]:
        """Intake reversed the registration (撤销立案): the case's tasks are withdrawn (each
        published as task_withdrawn, so supervision stops following them) and the case waits
        for a new registration."""
        try:
            assignment = self.repository.get(Assignment.create_id(event.case_id))
        except AggregateNotFoundError:
            return []  # never opened here
        if assignment.status == "reversed":
            return []
        tasks = [self._task(t) for t in assignment.task_ids]
        reason = f"立案已撤销 (registration {event.number} reversed): {event.reason}"
        withdrawn = assignment.reverse_registration(event.number, reason, tasks,
                                                    reversed_at=event.occurred_at)
        # The withdrawals are recorded (and published) before the case's own change.
        return [*withdrawn, assignment]

    def on_message_forwarded(self, event: MessageForwardedV1) -> list[Any]:
        """A citizen message forwarded to a unit (部门限时反馈): one assignment with one lead
        task for that unit, due in working days by the message's urgency."""
        if self._exists(event.case_id):
            return []
        category = event.category if event.category in self.categories else OTHER_CATEGORY
        assignment = Assignment(
            case_id=event.case_id,
            number=None,
            title=MESSAGE_TITLE,
            category=category,
            urgency=self.policy.message_urgency(event.category),
            district=None,
            proposed_lead_unit_id=event.unit_id,
            proposed_co_unit_ids=[],
            routing_rule_id=None,
            case_kind="message",
        )
        if not self.reference.active("unit", event.unit_id):
            assignment.hold(f"unknown or closed unit {event.unit_id!r}: the office assigns "
                            "the message")
            return [assignment]
        return self._assign_automatically(assignment, event.unit_id, [])

    def on_reply_submitted(self, event: ReplySubmittedV1) -> list[Any]:
        """The lead unit replied: its task no longer counts as open work."""
        task = self._maybe_task(event.task_id)
        if task and task.note_handling("replied", event.round, noted_at=event.occurred_at):
            return [task]
        return []

    def on_co_opinion_submitted(self, event: CoOpinionSubmittedV1) -> list[Any]:
        """A co-unit sent its opinion to the lead unit: its task no longer counts as open."""
        task = self._maybe_task(event.task_id)
        if task and task.note_handling("replied", task.round, noted_at=event.occurred_at):
            return [task]
        return []

    def on_rehandling_started(self, event: RehandlingStartedV1) -> list[Any]:
        """The deputy was not satisfied (or a review found the promise not kept): the task is
        open work again, in a new round (supervision keeps the round's deadline)."""
        task = self._maybe_task(event.task_id)
        if task and task.note_handling("open", event.round, noted_at=event.occurred_at):
            return [task]
        return []

    def on_case_closed(self, event: CaseClosedV1) -> list[Any]:
        """The case was closed out (销号): none of its tasks is open work any more."""
        try:
            assignment = self.repository.get(Assignment.create_id(event.case_id))
        except AggregateNotFoundError:
            return []
        changed = []
        for task_id in assignment.task_ids:
            task = self._maybe_task(task_id)
            if task and task.note_handling("closed", task.round, noted_at=event.occurred_at):
                changed.append(task)
        return changed

    def _maybe_task(self, task_id: str) -> Task | None:
        try:
            return self._task(task_id)
        except NotFound:
            return None

    def _assign_automatically(self, assignment: Assignment, lead: str, co: list[str]) -> list[Any]:
        now = self.clock.now()
        closed = [u for u in [lead, *co] if not self.reference.active("unit", u)]
        if closed:  # a routing rule (configuration) names a unit the registry closed
            assignment.hold(f"automatic assignment held: unit(s) {closed} closed or unknown; "
                            "the office assigns the case")
            return [assignment]
        lead_rule = self.policy.lead_rule(assignment.case_kind, assignment.urgency)
        try:
            self._check_calendar(now, lead_rule, with_co=bool(co))
        except CalendarNotReady as exc:
            assignment.hold(f"automatic assignment held: {exc.detail}")
            return [assignment]
        tasks = assignment.assign(lead, co, assigned_at=now, automatic=True, policy=self.policy)
        return [assignment, *tasks]

    def _check_calendar(self, assigned_at: datetime, lead_rule: DeadlineRule, with_co: bool) -> None:
        """Make sure every date a new task needs can be computed, before recording it."""
        try:
            due_date(lead_rule, assigned_at, self.calendar)
            if with_co:
                due_date(self.policy.co_rule(lead_rule, assigned_at), assigned_at, self.calendar)
            self.calendar.add_working_days(local_day(assigned_at),
                                           self.policy.return_window_working_days)
        except CalendarNotConfigured as exc:
            raise CalendarNotReady.from_exc(exc) from None

    # --- commands -----------------------------------------------------------------------

    def assign_suggestion(self, cmd: AssignSuggestion, actor: Actor) -> dict[str, Any]:
        """The office assigns (交办) a case: one lead unit, any co-units, optionally an earlier
        deadline. Two concurrent assignments: one wins, the other gets 409 with the state."""
        assignment = self._assignment(cmd.suggestion_id)
        if assignment.status == "assigned":
            raise Conflict("the suggestion is already assigned", current=assignment.view())
        lead = cmd.lead_unit_id or assignment.proposed_lead_unit_id
        co = cmd.co_unit_ids if cmd.lead_unit_id else (cmd.co_unit_ids or assignment.proposed_co_unit_ids)
        if not lead:
            raise Invalid.field(["body", "lead_unit_id"], "no routing rule proposes a unit; name the lead unit")
        errors = []
        if lead not in self.units:
            errors.append({"loc": ["body", "lead_unit_id"], "msg": f"unknown unit {lead!r}"})
        elif not self.reference.active("unit", lead):
            errors.append({"loc": ["body", "lead_unit_id"], "msg": f"unit {lead!r} is closed"})
        for i, unit in enumerate(co):
            if unit not in self.units:
                errors.append({"loc": ["body", "co_unit_ids", i], "msg": f"unknown unit {unit!r}"})
            elif not self.reference.active("unit", unit):
                errors.append({"loc": ["body", "co_unit_ids", i], "msg": f"unit {unit!r} is closed"})
            elif unit == lead:
                errors.append({"loc": ["body", "co_unit_ids", i], "msg": "a co-unit cannot be the lead unit"})
        if len(set(co)) != len(co):
            errors.append({"loc": ["body", "co_unit_ids"], "msg": "duplicate co-units"})
        if errors:
            raise Invalid("the assignment has invalid fields", errors)
        now = self.clock.now()
        lead_rule = self.policy.lead_rule(assignment.case_kind, assignment.urgency)
        self._check_calendar(now, lead_rule, with_co=bool(co))
        if cmd.deadline is not None:
            lead_rule = self._office_deadline(cmd.deadline, now, lead_rule)
        tasks = assignment.assign(lead, co, assigned_at=now, automatic=False,
                                  policy=self.policy, lead_rule=lead_rule)
        try:
            self.save(assignment, *tasks)
        except IntegrityError:
            current = self._assignment(cmd.suggestion_id)
            raise Conflict("the suggestion was assigned meanwhile", current=current.view()) from None
        return {"task_ids": [str(t.id) for t in tasks], **assignment.view(),
                "tasks": [self.task_view(t) for t in tasks]}

    def _office_deadline(self, deadline: date, now: datetime, lead_rule: DeadlineRule) -> DeadlineRule:
        """An office-set deadline: a working day after today, not later than the rule allows."""
        limit = due_date(lead_rule, now, self.calendar)
        try:
            working = self.calendar.is_working_day(deadline)
        except CalendarNotConfigured as exc:
            raise Invalid.field(["body", "deadline"], str(exc)) from None
        if deadline <= local_day(now):
            raise Invalid.field(["body", "deadline"], "the deadline must be after the day of assignment")
        if deadline > limit:
            raise Invalid.field(["body", "deadline"],
                                f"the deadline cannot be later than {limit.isoformat()} (the time limit)")
        if not working:
            raise Invalid.field(["body", "deadline"], f"{deadline.isoformat()} is not a working day")
        return {"kind": "fixed", "date": deadline.isoformat()}

    def request_return(self, cmd: RequestReturn, actor: Actor) -> dict[str, Any]:
        """A unit asks to return (申请退回) its own task within the return window."""
        if actor.role != "unit":
            raise Forbidden("only the unit holding the task can ask to return it")
        task = self._task(cmd.task_id, actor)
        try:
            task.request_return(cmd.reason, requested_at=self.clock.now(), calendar=self.calendar)
        except CalendarNotConfigured as exc:
            raise CalendarNotReady.from_exc(exc) from None
        self._save(task)
        return self.task_view(task)

    def pause_clock(self, cmd: PauseClock, actor: Actor) -> dict[str, Any]:
        """The office pauses a task's clock (暂停计时), with a reason."""
        self._require_office(actor)
        task = self._task(cmd.task_id)
        task.pause_clock(cmd.reason, at=self.clock.now())
        self._save(task)
        return self.task_view(task)

    def resume_clock(self, ref: ResumeClock, actor: Actor) -> dict[str, Any]:
        """The office resumes a paused clock: the deadline moves on by the paused working days."""
        self._require_office(actor)
        task = self._task(ref.task_id)
        task.resume_clock(at=self.clock.now())
        try:
            task.deadline(self.calendar)
        except CalendarNotConfigured as exc:
            raise CalendarNotReady.from_exc(exc) from None
        self._save(task)
        return self.task_view(task)

    def refuse_return(self, cmd: RefuseReturn, actor: Actor) -> dict[str, Any]:
        """The office refuses a unit's return request: the task stays with the unit."""
        self._require_office(actor)
        task = self._task(cmd.task_id)
        task.refuse_return(cmd.reason, refused_at=self.clock.now())
        self._save(task)
        return self.task_view(task)

    def reassign_task(self, cmd: ReassignTask, actor: Actor) -> dict[str, Any]:
        """The office reassigns (改办) a task to another unit: the old task is withdrawn, a new
        task for the new unit starts a new clock. Usually this accepts the unit's return
        request; the office may also reassign without one."""
        self._require_office(actor)
        if cmd.unit_id not in self.units:
            raise Invalid.field(["body", "unit_id"], f"unknown unit {cmd.unit_id!r}")
        if not self.reference.active("unit", cmd.unit_id):
            raise Invalid.field(["body", "unit_id"], f"unit {cmd.unit_id!r} is closed")
        task = self._task(cmd.task_id)
        if task.status == "withdrawn":
            raise Conflict("the task was already withdrawn", task=self.task_view(task))
        assignment = self._assignment(task.case_id)
        lead_task = None
        now = self.clock.now()
        if task.role == "co":
            current = [self._task(t) for t in assignment.task_ids]
            lead_task = next(t for t in current if t.role == "lead")
            rule = self.policy.co_rule(lead_task.deadline_rule, lead_task.assigned_at)
        else:
            rule = self.policy.lead_rule(assignment.case_kind, assignment.urgency)
        try:
            due_date(rule, now, self.calendar)
            self.calendar.add_working_days(local_day(now), self.policy.return_window_working_days)
        except CalendarNotConfigured as exc:
            raise CalendarNotReady.from_exc(exc) from None
        pending = task.pending_return_request
        reason = cmd.reason or (f"退回改办: {pending['reason']}" if pending else "改办 by the office")
        new_task = assignment.reassign(task, cmd.unit_id, reason=reason, reassigned_at=now,
                                       policy=self.policy, lead_task=lead_task)
        # The old task's withdrawal is recorded (and published) before the new task.
        self._save(task, new_task, assignment)
        return {"withdrawn": self.task_view(task), "task": self.task_view(new_task),
                "assignment": assignment.view()}

    def designate_leadership(self, cmd: DesignateLeadership, actor: Actor) -> dict[str, Any]:
        """The office designates a leader or special committee to lead (领办) or supervise
        (重点督办) a case; tasks assigned afterwards carry the designation."""
        self._require_office(actor)
        designee = self.leaders.get(cmd.designee_id)
        if designee is None:
            raise Invalid.field(["body", "designee_id"], f"unknown leader or committee {cmd.designee_id!r}")
        if designee["kind"] != cmd.designee_kind:
            raise Invalid.field(["body", "designee_kind"],
                                f"{cmd.designee_id} is a {designee['kind']}, not a {cmd.designee_kind}")
        assignment = self._assignment(cmd.case_id)
        assignment.designate_leadership(cmd.designee_id, designee["name_zh"], cmd.designee_kind,
                                        cmd.mode, designated_at=self.clock.now())
        tasks = [self._task(t) for t in assignment.task_ids]
        for task in tasks:  # current tasks carry it in their later events (task_*.v2)
            task.note_leadership(assignment.leadership)
        self._save(assignment, *tasks)
        return self.case_assignment(CaseAssignment(case_id=cmd.case_id), actor)

    # --- queries ------------------------------------------------------------------------

    def task_view(self, task: Task) -> dict[str, Any]:
        """A task as shown: with its case's current leadership designation (a task assigned
        before the designation is flagged too)."""
        view = task.view(self.calendar)
        try:
            view["leadership"] = self._assignment(task.case_id).leadership
        except NotFound:
            pass
        return view

    def case_assignment(self, ref: CaseAssignment, actor: Actor) -> dict[str, Any]:
        assignment = self._assignment(ref.case_id)
        view = assignment.view()
        tasks = [self._task(t) for t in [*assignment.task_ids, *assignment.withdrawn_task_ids]]
        if actor.role == "unit" and not any(t.unit_id == actor.unit_id for t in tasks):
            raise NotFound(f"no case {ref.case_id}")
        view["tasks"] = sorted((self.task_view(t) for t in tasks), key=lambda t: t["assigned_at"])
        return view

    def get_task(self, ref: GetTask, actor: Actor) -> dict[str, Any]:
        return self.task_view(self._task(ref.task_id, actor))

    def workload(self, q: Workload, actor: Actor, index: TaskIndex) -> dict[str, Any]:
        """Open tasks per unit and the nearest deadlines (a unit sees only its own): a page
        of units, or one unit with a page of its open tasks."""
        if actor.role == "unit":
            if q.unit_id and q.unit_id != actor.unit_id:
                raise Forbidden("a unit sees only its own workload")
            q = q.model_copy(update={"unit_id": actor.unit_id})
        elif actor.role not in ("office", "leader"):
            raise Forbidden("the workload is for the office, leaders and the units themselves")
        if q.unit_id is not None and q.unit_id not in self.units:
            raise NotFound(f"no unit {q.unit_id}")
        return views.workload(self, q, index)

    def leaders_list(self, _: Any, __: Actor) -> list[dict[str, Any]]:
        return list(self.leaders.values())

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _require_office(actor: Actor) -> None:
        if actor.role != "office":
            raise Forbidden("this needs the role office")

    def _save(self, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict("the task or case changed meanwhile; reload it and try again") from None

    def _exists(self, case_id: str) -> bool:
        try:
            self.repository.get(Assignment.create_id(case_id))
            return True
        except AggregateNotFoundError:
            return False

    def _assignment(self, case_id: str) -> Assignment:
        try:
            return self.repository.get(Assignment.create_id(case_id))
        except AggregateNotFoundError:
            raise NotFound(f"case {case_id} is not registered for assignment (yet)") from None

    def _task(self, task_id: str, actor: Actor | None = None) -> Task:
        try:
            task = self.repository.get(UUID(task_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no task {task_id}") from None
        if not isinstance(task, Task):
            raise NotFound(f"no task {task_id}")
        if actor is not None and actor.role == "unit" and actor.unit_id != task.unit_id:
            raise NotFound(f"no task {task_id}")
        return task

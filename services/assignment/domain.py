"""Assignment's aggregates: the assignment (交办) of a case, and each handling unit's task.

Deadlines (办理时限) are never stored as dates. Each task's ``Assigned`` event records *when*
it was assigned and *which rule* gives its deadline (a :data:`DeadlineRule`); the deadline is
derived from those, with the working-day calendar (``shared.calendar.WorkingCalendar``), by
:func:`due_date`. Rules:

- ``{"kind": "months", "months": 3, "roll_forward": true}`` — a deputy suggestion: three
  calendar months from the day of assignment (by law), moved forward to the next working day
  when that day is a weekend or holiday;
- ``{"kind": "working_days", "working_days": 15, "urgency": "blue"}`` — a citizen message
  forwarded to a unit for time-limited feedback (部门限时反馈): a number of working days by
  urgency (red 3, yellow 7, blue 15 by default);
- ``{"kind": "fixed", "date": "2026-05-06"}`` — a date the office set when assigning;
- ``{"kind": "before_lead", "offset_working_days": 5, "lead": <rule>, "lead_assigned_at": iso}``
  — a co-handling unit (协办单位): the lead unit's deadline minus some working days, so the
  co-unit's opinion reaches the lead unit before the lead's reply is due.

A unit may ask to return (申请退回) its task within a window of working days from assignment;
the office then reassigns (改办: the task is withdrawn, a new task starts a new clock for the
new unit) or refuses (the task stays). A new lead task gets the case's standard rule from the
time of reassignment (an office-set date is not carried over); a new co-unit task is due the
offset before the *current* lead task's deadline. Existing co-unit tasks keep their deadlines
when the lead is reassigned (they stay earlier than the new lead's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from dateutil.relativedelta import relativedelta
from eventsourcing.domain import Aggregate, event

from services.assignment.errors import (AlreadyDone, NotAllowedInState, RegistrationReversed,
                                        ReturnWindowClosed)
from shared.calendar import WorkingCalendar
from shared.clock import CHINA_TZ

DeadlineRule = dict[str, Any]

_ONE_DAY = timedelta(days=1)

# By law a deputy suggestion is answered within three months of assignment.
SUGGESTION_TIME_LIMIT_MONTHS = 3


# --- deadline rules ----------------------------------------------------------------------

def local_day(moment: datetime) -> date:
    """The calendar day in China of an instant."""
    return moment.astimezone(CHINA_TZ).date()


def deadline_after(assigned_at: datetime, months: int) -> date:
    """Plain calendar months after the day of assignment (no working-day adjustment)."""
    return local_day(assigned_at) + relativedelta(months=months)


def next_working_day_from(day: date, calendar: WorkingCalendar) -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while not calendar.is_working_day(day):
        day += _ONE_DAY
    return day


def subtract_working_days(day: date, n: int, calendar: WorkingCalendar) -> date:
    """The ``n``-th working day before ``day`` (``day`` itself is not counted)."""
    while n > 0:
        day -= _ONE_DAY
        if calendar.is_working_day(day):
            n -= 1
    return day


def due_date(rule: DeadlineRule, assigned_at: datetime, calendar: WorkingCalendar) -> date:
    """The deadline a rule gives a task assigned at ``assigned_at``.

    Raises ``shared.calendar.CalendarNotConfigured`` when a year it needs has no holiday
    schedule, and ``ValueError`` for an unknown rule.
    """
    kind = rule.get("kind")
    start = local_day(assigned_at)
    if kind == "months":
        day = start + relativedelta(months=int(rule["months"]))
        return next_working_day_from(day, calendar) if rule.get("roll_forward") else day
    if kind == "working_days":
        return calendar.add_working_days(start, int(rule["working_days"]))
    if kind == "fixed":
        return date.fromisoformat(rule["date"])
    if kind == "before_lead":
        lead_assigned_at = datetime.fromisoformat(rule["lead_assigned_at"])
        lead_deadline = due_date(rule["lead"], lead_assigned_at, calendar)
        day = subtract_working_days(lead_deadline, int(rule["offset_working_days"]), calendar)
        # Never before the co-unit's first working day after its own assignment, never
        # after the lead's deadline.
        earliest = calendar.add_working_days(start, 1)
        return min(lead_deadline, max(day, earliest))
    raise ValueError(f"unknown deadline rule {rule!r}")


def with_pauses(base: date, pauses: list[dict[str, Any]], calendar: WorkingCalendar) -> date:
    """A deadline moved on by the working days of every finished pause of the clock
    (暂停计时): the days from the pause to the resumption do not count."""
    extra = sum(calendar.working_days_between(local_day(p["from"]), local_day(p["to"]))
                for p in pauses if p.get("to") is not None)
    return calendar.add_working_days(base, extra) if extra else base


def describe_rule(rule: DeadlineRule) -> str:
    """A short label of a rule, for staff."""
    kind = rule.get("kind")
    if kind == "months":
        roll = ", next working day if it falls on a day off" if rule.get("roll_forward") else ""
        return f"{rule['months']} months after assignment{roll}"
    if kind == "working_days":
        return f"{rule['working_days']} working days after assignment ({rule.get('urgency')})"
    if kind == "fixed":
        return f"set by the office: {rule['date']}"
    if kind == "before_lead":
        return f"{rule['offset_working_days']} working days before the lead unit's deadline"
    return str(kind)


@dataclass(frozen=True)
class AssignmentPolicy:
    """The configurable rules of assignment (``config/assignment.yaml``)."""

    suggestion_months: int = SUGGESTION_TIME_LIMIT_MONTHS
    suggestion_roll_forward: bool = True
    message_working_days: dict[str, int] = field(
        default_factory=lambda: {"red": 3, "yellow": 7, "blue": 15})
    message_default_urgency: str = "blue"
    message_urgency_by_category: dict[str, str] = field(default_factory=dict)
    co_unit_offset_working_days: int = 5
    return_window_working_days: int = 5

    @classmethod
    def from_config(cls, data: dict[str, Any] | None) -> AssignmentPolicy:
        """Build from the YAML mapping; missing keys keep their defaults; bad values raise."""
        data = data or {}
        suggestion = data.get("suggestion") or {}
        message = data.get("message") or {}
        default = cls()
        working_days = {**default.message_working_days,
                        **{str(k): int(v) for k, v in (message.get("time_limit_working_days") or {}).items()}}
        policy = cls(
            suggestion_months=int(suggestion.get("time_limit_months", default.suggestion_months)),
            suggestion_roll_forward=bool(suggestion.get("roll_forward_to_working_day",
                                                        default.suggestion_roll_forward)),
            message_working_days=working_days,
            message_default_urgency=str(message.get("default_urgency", default.message_default_urgency)),
            message_urgency_by_category={str(k): str(v) for k, v in
                                         (message.get("urgency_by_category") or {}).items()},
            co_unit_offset_working_days=int(data.get("co_unit_offset_working_days",
                                                     default.co_unit_offset_working_days)),
            return_window_working_days=int(data.get("return_window_working_days",
                                                    default.return_window_working_days)),
        )
        for urgency in ("red", "yellow", "blue"):
            if working_days.get(urgency, 0) < 1:
                raise ValueError(f"assignment config: message time limit for {urgency} must be >= 1")
        for urgency in (policy.message_default_urgency, *policy.message_urgency_by_category.values()):
            if urgency not in ("red", "yellow", "blue"):
                raise ValueError(f"assignment config: unknown urgency {urgency!r}")
        if policy.suggestion_months < 1 or policy.co_unit_offset_working_days < 0 \
                or policy.return_window_working_days < 0:
            raise ValueError("assignment config: time limits must be positive")
        return policy

    def message_urgency(self, category: str | None) -> str:
        """A message carries no urgency: its category's default, else the configured default."""
        return self.message_urgency_by_category.get(category or "", self.message_default_urgency)

    def lead_rule(self, case_kind: str, urgency: str) -> DeadlineRule:
        """The rule of a lead unit's task (the clock starts at the task's assignment)."""
        if case_kind == "message":
            return {"kind": "working_days", "working_days": self.message_working_days[urgency],
                    "urgency": urgency}
        return {"kind": "months", "months": self.suggestion_months,
                "roll_forward": self.suggestion_roll_forward}

    def co_rule(self, lead_rule: DeadlineRule, lead_assigned_at: datetime) -> DeadlineRule:
        """The rule of a co-unit's task: the lead's deadline minus the configured offset."""
        return {"kind": "before_lead", "offset_working_days": self.co_unit_offset_working_days,
                "lead": lead_rule, "lead_assigned_at": lead_assigned_at.isoformat()}


DEFAULT_POLICY = AssignmentPolicy()


# --- aggregates --------------------------------------------------------------------------

def leadership_designation(designee_id: str, designee_name: str, designee_kind: str,
                           mode: str, designated_at: datetime) -> dict[str, Any]:
    """A leadership designation (领导领办 / 重点督办) as the case and its tasks keep it."""
    return {"designee_id": designee_id, "designee_name": designee_name,
            "designee_kind": designee_kind, "mode": mode,
            "designated_at": designated_at.isoformat()}


def carries_its_facts(domain_event: Any) -> bool:
    """Whether a published event carries what its contract needs. Events recorded before
    they did (class version 1, upcast with ``case_id`` None: the upcast cannot invent the
    facts) are the only ones whose relay still reads the aggregate (see
    ``services.assignment.bus.facts_of``)."""
    return domain_event.case_id is not None


class Assignment(Aggregate):
    """One per case (a registered suggestion, or a citizen message forwarded to a unit): the
    routing proposal, then the units that handle it, reassignments and leadership."""

    @staticmethod
    def create_id(case_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:assignment:{case_id}")

    @event("Opened")
    def __init__(
        self,
        case_id: str,
        number: str | None,
        title: str,
        category: str,
        urgency: str,
        district: str | None,
        proposed_lead_unit_id: str | None,
        proposed_co_unit_ids: list[str],
        routing_rule_id: str | None,
        case_kind: str = "suggestion",
    ) -> None:
        self.case_id = case_id
        self.case_kind = case_kind
        self._set_proposal(number, title, category, urgency, district, proposed_lead_unit_id,
                           proposed_co_unit_ids, routing_rule_id)
        self.status = "proposed"
        self.lead_unit_id: str | None = None
        self.co_unit_ids: list[str] = []
        self.task_ids: list[str] = []
        self.withdrawn_task_ids: list[str] = []
        self.assigned_at: datetime | None = None
        self.automatic = False
        self.held_reason: str | None = None
        self.leadership: dict[str, Any] | None = None
        self.leadership_history: list[dict[str, Any]] = []
        self.reassignments: list[dict[str, Any]] = []
        # Registrations reversed (撤销立案): each later registration of the case opens a new
        # generation (see ``generation``), whose tasks get ids of their own.
        self.reversals: list[dict[str, Any]] = []

    def _set_proposal(self, number: str | None, title: str, category: str, urgency: str,
                      district: str | None, proposed_lead_unit_id: str | None,
                      proposed_co_unit_ids: list[str], routing_rule_id: str | None) -> None:
        self.number = number
        self.title = title
        self.category = category
        self.urgency = urgency
        self.district = district
        self.proposed_lead_unit_id = proposed_lead_unit_id
        self.proposed_co_unit_ids = list(proposed_co_unit_ids)
        self.routing_rule_id = routing_rule_id

    @property
    def generation(self) -> int:
        """How many times the case was registered again after a reversal (tasks are only
        created while the case is not reversed, so this is the number of reversals)."""
        return len(self.reversals)

    # --- assignment ------------------------------------------------------------------

    def assign(
        self,
        lead_unit_id: str,
        co_unit_ids: list[str],
        assigned_at: datetime,
        automatic: bool,
        policy: AssignmentPolicy = DEFAULT_POLICY,
        lead_rule: DeadlineRule | None = None,
    ) -> list[Task]:
        """Assign the case once: a lead task and one task per co-unit. ``lead_rule``
        overrides the policy's rule for the lead (an office-set deadline)."""
        if self.status == "assigned":
            raise AlreadyDone("the suggestion is already assigned", current=self.view())
        self.ensure_not_reversed()
        lead_rule = lead_rule or policy.lead_rule(self.case_kind, self.urgency)
        lead = Task.for_unit(self, lead_unit_id, "lead", assigned_at, lead_rule,
                             policy.return_window_working_days)
        tasks = [lead]
        tasks += [
            Task.for_unit(self, unit, "co", assigned_at, policy.co_rule(lead_rule, assigned_at),
                          policy.return_window_working_days)
            for unit in co_unit_ids
        ]
        self._assigned(
            lead_unit_id=lead_unit_id,
            co_unit_ids=list(co_unit_ids),
            task_ids=[str(t.id) for t in tasks],
            assigned_at=assigned_at,
            automatic=automatic,
            case_id=self.case_id,
            case_kind=self.case_kind,
            routing_rule_id=self.routing_rule_id,
            leadership=self.leadership,
        )
        return tasks

    class Assigned(Aggregate.Event):
        """The case was given to its units. Version 2 also carries what the published
        contract needs (the case, its kind, its routing rule, the leadership designation in
        force), so the relay translates it without reading the store. Version 1 events were
        recorded without them: upcast with ``case_id`` None (see :func:`carries_its_facts`)."""

        class_version = 2

        lead_unit_id: str
        co_unit_ids: list[str]
        task_ids: list[str]
        assigned_at: datetime
        automatic: bool
        case_id: str | None
        case_kind: str | None
        routing_rule_id: str | None
        leadership: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(case_id=None, case_kind=None, routing_rule_id=None, leadership=None)

    @event(Assigned)
    def _assigned(
        self,
        lead_unit_id: str,
        co_unit_ids: list[str],
        task_ids: list[str],
        assigned_at: datetime,
        automatic: bool,
        case_id: str | None,
        case_kind: str | None,
        routing_rule_id: str | None,
        leadership: dict[str, Any] | None,
    ) -> None:
        self.status = "assigned"
        self.lead_unit_id = lead_unit_id
        self.co_unit_ids = co_unit_ids
        self.task_ids = task_ids
        self.assigned_at = assigned_at
        self.automatic = automatic
        self.held_reason = None

    def hold(self, reason: str) -> None:
        """Automatic assignment could not happen (e.g. the working calendar lacks a year):
        the case waits for the office, with the reason shown."""
        if self.status == "assigned":
            raise AlreadyDone("the case is already assigned", current=self.view())
        self._held(reason=reason)

    @event("Held")
    def _held(self, reason: str) -> None:
        self.held_reason = reason

    # --- registration reversed (撤销立案) and registered again ---------------------------

    def ensure_not_reversed(self) -> None:
        if self.status == "reversed":
            raise RegistrationReversed("the registration of this suggestion was reversed: it is assigned "
                                       "again only after a new registration", current=self.view())

    def reverse_registration(self, number: str, reason: str, tasks: list[Task],
                             reversed_at: datetime) -> list[Task]:
        """Intake reversed the registration: every current task is withdrawn (its clock
        stops, the history keeps it) and the case waits for a new registration. Returns the
        tasks withdrawn now."""
        if self.status == "reversed":
            return []
        withdrawn = []
        for task in tasks:
            if task.status != "withdrawn":
                task.withdraw(reason=reason, replaced_by_task_id=None, withdrawn_at=reversed_at)
                withdrawn.append(task)
        self._registration_reversed(number=number, reason=reason, reversed_at=reversed_at,
                                    status_before=self.status)
        return withdrawn

    @event("RegistrationReversed")
    def _registration_reversed(self, number: str, reason: str, reversed_at: datetime,
                               status_before: str) -> None:
        self.withdrawn_task_ids = [*self.withdrawn_task_ids,
                                   *(t for t in self.task_ids if t not in self.withdrawn_task_ids)]
        self.task_ids = []
        self.lead_unit_id = None
        self.co_unit_ids = []
        self.assigned_at = None
        self.automatic = False
        self.held_reason = None
        self.status = "reversed"
        self.reversals = [*self.reversals,
                          {"number": number, "reason": reason, "status_before": status_before,
                           "reversed_at": reversed_at.isoformat()}]

    def reopen(self, number: str | None, title: str, category: str, urgency: str,
               district: str | None, proposed_lead_unit_id: str | None,
               proposed_co_unit_ids: list[str], routing_rule_id: str | None) -> None:
        """A reversed case was registered again: a new proposal, and new tasks to come."""
        if self.status != "reversed":
            raise NotAllowedInState("only a case whose registration was reversed is opened again",
                                    current=self.view())
        self._reopened(number=number, title=title, category=category, urgency=urgency,
                       district=district, proposed_lead_unit_id=proposed_lead_unit_id,
                       proposed_co_unit_ids=list(proposed_co_unit_ids),
                       routing_rule_id=routing_rule_id)

    @event("Reopened")
    def _reopened(self, number: str | None, title: str, category: str, urgency: str,
                  district: str | None, proposed_lead_unit_id: str | None,
                  proposed_co_unit_ids: list[str], routing_rule_id: str | None) -> None:
        self._set_proposal(number, title, category, urgency, district, proposed_lead_unit_id,
                           proposed_co_unit_ids, routing_rule_id)
        self.status = "proposed"

    # --- reassignment (改办) -----------------------------------------------------------

    def reassign(
        self,
        task: Task,
        new_unit_id: str,
        reason: str,
        reassigned_at: datetime,
        policy: AssignmentPolicy = DEFAULT_POLICY,
        lead_task: Task | None = None,
    ) -> Task:
        """Withdraw ``task`` and give its role to ``new_unit_id`` with a new clock.

        A lead task restarts the lead rule of the case from ``reassigned_at``; a co task gets
        the co-unit rule against the current lead task (``lead_task``). The withdrawn task
        stays in the history.
        """
        if self.status != "assigned":
            raise NotAllowedInState("the case is not assigned yet", current=self.view())
        if str(task.id) not in self.task_ids:
            raise NotAllowedInState("the task is no longer current for this case", current=self.view())
        if task.handling != "open":
            raise AlreadyDone(f"the task is already {task.handling}; it cannot be reassigned",
                              current=self.view())
        if new_unit_id == task.unit_id:
            raise AlreadyDone(f"the task is already with {new_unit_id}", current=self.view())
        if new_unit_id == self.lead_unit_id or new_unit_id in self.co_unit_ids:
            raise AlreadyDone(f"{new_unit_id} already handles this case", current=self.view())
        if task.role == "lead":
            rule = policy.lead_rule(self.case_kind, self.urgency)
        else:
            assert lead_task is not None, "a co task is reassigned against the lead task"
            rule = policy.co_rule(lead_task.deadline_rule, lead_task.assigned_at)
        new_task = Task.for_unit(self, new_unit_id, task.role, reassigned_at, rule,
                                 policy.return_window_working_days, replaces=task)
        task.withdraw(reason=reason, replaced_by_task_id=str(new_task.id), withdrawn_at=reassigned_at)
        self._reassigned(
            old_task_id=str(task.id), new_task_id=str(new_task.id), old_unit_id=task.unit_id,
            new_unit_id=new_unit_id, role=task.role, reason=reason, reassigned_at=reassigned_at,
        )
        return new_task

    @event("Reassigned")
    def _reassigned(self, old_task_id: str, new_task_id: str, old_unit_id: str,
                    new_unit_id: str, role: str, reason: str, reassigned_at: datetime) -> None:
        self.task_ids = [new_task_id if t == old_task_id else t for t in self.task_ids]
        self.withdrawn_task_ids.append(old_task_id)
        if role == "lead":
            self.lead_unit_id = new_unit_id
        else:
            self.co_unit_ids = [new_unit_id if u == old_unit_id else u for u in self.co_unit_ids]
        self.reassignments.append({
            "old_task_id": old_task_id, "new_task_id": new_task_id, "old_unit_id": old_unit_id,
            "new_unit_id": new_unit_id, "role": role, "reason": reason,
            "reassigned_at": reassigned_at.isoformat(),
        })

    # --- leadership (领导领办 / 重点督办) -------------------------------------------------

    def designate_leadership(self, designee_id: str, designee_name: str, designee_kind: str,
                             mode: str, designated_at: datetime) -> None:
        """A leader or a special committee leads or supervises the case; a new designation
        replaces the current one (the history keeps both)."""
        current = self.leadership
        if current and (current["designee_id"], current["mode"]) == (designee_id, mode):
            raise AlreadyDone(f"{designee_name} already {'leads' if mode == 'lead' else 'supervises'} "
                              f"this case", current=self.view())
        self._leadership_designated(designee_id=designee_id, designee_name=designee_name,
                                    designee_kind=designee_kind, mode=mode,
                                    designated_at=designated_at, case_id=self.case_id)

    class LeadershipDesignated(Aggregate.Event):
        """A leader or committee leads or supervises the case. Version 2 also carries the
        case id (for the published contract); version 1 events lack it (upcast to None)."""

        class_version = 2

        designee_id: str
        designee_name: str
        designee_kind: str
        mode: str
        designated_at: datetime
        case_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["case_id"] = None

        @property
        def designation(self) -> dict[str, Any]:
            """The case's leadership designation from this event on."""
            return leadership_designation(self.designee_id, self.designee_name,
                                          self.designee_kind, self.mode, self.designated_at)

    @event(LeadershipDesignated)
    def _leadership_designated(self, designee_id: str, designee_name: str, designee_kind: str,
                               mode: str, designated_at: datetime, case_id: str | None) -> None:
        self.leadership = leadership_designation(designee_id, designee_name, designee_kind,
                                                 mode, designated_at)
        self.leadership_history.append(self.leadership)

    def view(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "case_kind": self.case_kind,
            "status": self.status,
            "number": self.number,
            "category": self.category,
            "urgency": self.urgency,
            "proposed_lead_unit_id": self.proposed_lead_unit_id,
            "proposed_co_unit_ids": self.proposed_co_unit_ids,
            "routing_rule_id": self.routing_rule_id,
            "lead_unit_id": self.lead_unit_id,
            "co_unit_ids": self.co_unit_ids,
            "task_ids": self.task_ids,
            "withdrawn_task_ids": self.withdrawn_task_ids,
            "assigned_at": self.assigned_at.isoformat() if self.assigned_at else None,
            "automatic": self.automatic,
            "held_reason": self.held_reason,
            "leadership": self.leadership,
            "leadership_history": self.leadership_history,
            "reassignments": self.reassignments,
            "reversals": self.reversals,
        }


class Task(Aggregate):
    """One handling unit's task for a case. Its deadline is derived from its events: the
    time of assignment and the deadline rule recorded with it (see :func:`due_date`)."""

    @staticmethod
    def create_id(case_id: str, unit_id: str, replaces_task_id: str | None = None,
                  generation: int = 0) -> UUID:
        if replaces_task_id:
            return uuid5(NAMESPACE_URL, f"duty:task:{case_id}:{unit_id}:replaces:{replaces_task_id}")
        if generation:  # a task after the case's registration was reversed and made again
            return uuid5(NAMESPACE_URL, f"duty:task:{case_id}:{unit_id}:generation:{generation}")
        return uuid5(NAMESPACE_URL, f"duty:task:{case_id}:{unit_id}")

    @classmethod
    def for_unit(
        cls,
        assignment: Assignment,
        unit_id: str,
        role: str,
        assigned_at: datetime,
        deadline_rule: DeadlineRule | None = None,
        return_window_working_days: int = DEFAULT_POLICY.return_window_working_days,
        replaces: Task | None = None,
    ) -> Task:
        if deadline_rule is None:
            deadline_rule = DEFAULT_POLICY.lead_rule(assignment.case_kind, assignment.urgency)
        return cls(
            case_id=assignment.case_id,
            unit_id=unit_id,
            role=role,
            assigned_at=assigned_at,
            title=assignment.title,
            category=assignment.category,
            urgency=assignment.urgency,
            number=assignment.number,
            deadline_rule=deadline_rule,
            case_kind=assignment.case_kind,
            return_window_working_days=return_window_working_days,
            leadership=assignment.leadership,
            replaces_task_id=str(replaces.id) if replaces else None,
            generation=assignment.generation,
        )

    class Assigned(Aggregate.Created):
        """A unit was given the task. Version 2: every field below is present; version 1
        events were recorded before some existed (deadline rules: only
        ``time_limit_months``; case kinds, return windows, leadership, replacements,
        generations) and are upcast with the values they then had."""

        class_version = 2

        case_id: str
        unit_id: str
        role: str
        assigned_at: datetime
        title: str
        category: str
        urgency: str
        number: str | None
        time_limit_months: int | None
        deadline_rule: DeadlineRule | None
        case_kind: str
        return_window_working_days: int
        leadership: dict[str, Any] | None
        replaces_task_id: str | None
        generation: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("time_limit_months", None)
            state["deadline_rule"] = Task.rule_of(state.get("deadline_rule"),
                                                  state["time_limit_months"])
            state.setdefault("case_kind", "suggestion")
            state.setdefault("return_window_working_days",
                             DEFAULT_POLICY.return_window_working_days)
            state.setdefault("leadership", None)
            state.setdefault("replaces_task_id", None)
            state.setdefault("generation", 0)

    @event(Assigned)
    def __init__(
        self,
        case_id: str,
        unit_id: str,
        role: str,
        assigned_at: datetime,
        title: str,
        category: str,
        urgency: str,
        number: str | None,
        time_limit_months: int | None = None,
        deadline_rule: DeadlineRule | None = None,
        case_kind: str = "suggestion",
        return_window_working_days: int = DEFAULT_POLICY.return_window_working_days,
        leadership: dict[str, Any] | None = None,
        replaces_task_id: str | None = None,
        generation: int = 0,
    ) -> None:
        self.case_id = case_id
        self.unit_id = unit_id
        self.role = role
        self.assigned_at = assigned_at
        self.title = title
        self.category = category
        self.urgency = urgency
        self.number = number
        # Tasks recorded before deadline rules existed carry only ``time_limit_months``.
        self.deadline_rule: DeadlineRule = self.rule_of(deadline_rule, time_limit_months)
        self.case_kind = case_kind
        self.return_window_working_days = return_window_working_days
        self.leadership = leadership
        self.replaces_task_id = replaces_task_id
        self.status = "assigned"
        self.return_requests: list[dict[str, Any]] = []
        self.withdrawn_at: datetime | None = None
        self.withdrawn_reason: str | None = None
        self.replaced_by_task_id: str | None = None
        self.handling = "open"  # as supervision reports it: open, replied, closed
        self.round = 1
        self.pauses: list[dict[str, Any]] = []  # {"from", "to", "reason"}: the clock stood still

    @staticmethod
    def rule_of(deadline_rule: DeadlineRule | None, time_limit_months: int | None) -> DeadlineRule:
        """The deadline rule of an ``Assigned`` event. Tasks recorded before deadline rules
        existed carry only ``time_limit_months``: plain calendar months, as then computed."""
        return deadline_rule or {"kind": "months",
                                 "months": time_limit_months or SUGGESTION_TIME_LIMIT_MONTHS,
                                 "roll_forward": False}

    # --- derived values ----------------------------------------------------------------

    def deadline(self, calendar: WorkingCalendar) -> date:
        """The task's deadline, derived from its assignment time, rule and finished pauses,
        with the calendar in force when it was assigned (a calendar the registry changed
        since counts for deadlines computed after the change, shared/calendar.py)."""
        as_of = getattr(calendar, "as_of", None)
        if as_of is not None:
            calendar = as_of(self.assigned_at)
        return with_pauses(due_date(self.deadline_rule, self.assigned_at, calendar),
                           self.pauses, calendar)

    @property
    def paused_since(self) -> datetime | None:
        return self.pauses[-1]["from"] if self.pauses and self.pauses[-1]["to"] is None else None

    # --- pausing the clock (暂停计时), by the office ---------------------------------------

    def pause_clock(self, reason: str, at: datetime) -> None:
        """The office stops the task's clock (e.g. waiting for the deputy's material)."""
        if self.status == "withdrawn":
            raise NotAllowedInState("the task was withdrawn; its clock no longer runs")
        if self.handling != "open":
            raise AlreadyDone(f"the task is already {self.handling}; its clock no longer runs")
        if self.paused_since is not None:
            raise AlreadyDone(f"the clock is already paused since {self.paused_since.isoformat()}")
        self._clock_paused(reason=reason, at=at, **self._facts(),
                           deadline_rule=self.deadline_rule, assigned_at=self.assigned_at,
                           finished_pauses=self._finished_pauses())

    def _facts(self) -> dict[str, Any]:
        """What every published event of the task carries for its contract."""
        return {"case_id": self.case_id, "unit_id": self.unit_id, "leadership": self.leadership}

    def _finished_pauses(self, resumed_at: datetime | None = None) -> list[dict[str, str]]:
        """The finished pauses of the clock (with the current one when it resumes at
        ``resumed_at``), as ISO instants."""
        pauses = [p if p["to"] is not None or resumed_at is None else {**p, "to": resumed_at}
                  for p in self.pauses]
        return [{"from": p["from"].isoformat(), "to": p["to"].isoformat()}
                for p in pauses if p["to"] is not None]

    class _ClockChanged(Aggregate.Event):
        """Version 2 of a clock's pause or resumption also carries what the published
        deadline needs (the rule, the assignment time and the finished pauses, from which
        it is derived: deadlines are never stored) and the task's case, unit and
        leadership; version 1 events lack them (upcast to None)."""

        class_version = 2

        case_id: str | None
        unit_id: str | None
        leadership: dict[str, Any] | None
        deadline_rule: DeadlineRule | None
        assigned_at: datetime | None
        finished_pauses: list[dict[str, str]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(case_id=None, unit_id=None, leadership=None, deadline_rule=None,
                         assigned_at=None, finished_pauses=None)

    class ClockPaused(_ClockChanged):
        reason: str
        at: datetime

    @event(ClockPaused)
    def _clock_paused(self, reason: str, at: datetime, case_id: str | None,
                      unit_id: str | None, leadership: dict[str, Any] | None,
                      deadline_rule: DeadlineRule | None, assigned_at: datetime | None,
                      finished_pauses: list[dict[str, str]] | None) -> None:
        self.pauses.append({"from": at, "to": None, "reason": reason})

    def resume_clock(self, at: datetime) -> None:
        if self.paused_since is None:
            raise NotAllowedInState("the clock is not paused")
        self._clock_resumed(at=at, **self._facts(), deadline_rule=self.deadline_rule,
                            assigned_at=self.assigned_at,
                            finished_pauses=self._finished_pauses(resumed_at=at))

    class ClockResumed(_ClockChanged):
        at: datetime

    @event(ClockResumed)
    def _clock_resumed(self, at: datetime, case_id: str | None, unit_id: str | None,
                       leadership: dict[str, Any] | None, deadline_rule: DeadlineRule | None,
                       assigned_at: datetime | None,
                       finished_pauses: list[dict[str, str]] | None) -> None:
        self.pauses[-1] = {**self.pauses[-1], "to": at}

    def return_window_end(self, calendar: WorkingCalendar) -> date:
        """The last day on which the unit may ask to return the task."""
        return calendar.add_working_days(local_day(self.assigned_at), self.return_window_working_days)

    @property
    def is_active(self) -> bool:
        return self.status != "withdrawn"

    @property
    def pending_return_request(self) -> dict[str, Any] | None:
        return self.return_requests[-1] if self.status == "return_requested" else None

    # --- return requests (申请退回) ------------------------------------------------------

    def request_return(self, reason: str, requested_at: datetime, calendar: WorkingCalendar) -> None:
        """The unit asks the office to take the task back, within the return window."""
        if self.status == "withdrawn":
            raise NotAllowedInState("the task was withdrawn; there is nothing to return")
        if self.handling != "open":
            raise AlreadyDone(f"the task is already {self.handling}; it can no longer be returned")
        if self.status == "return_requested":
            raise AlreadyDone("a return request for this task is already waiting for the office",
                              return_request=self.pending_return_request)
        window_end = self.return_window_end(calendar)
        if local_day(requested_at) > window_end:
            raise ReturnWindowClosed(
                f"the return window has closed: a task may be returned within "
                f"{self.return_window_working_days} working days of assignment "
                f"({local_day(self.assigned_at).isoformat()}), that is until "
                f"{window_end.isoformat()} (申请退回期限已过)",
                window_working_days=self.return_window_working_days,
                window_end=window_end.isoformat(),
            )
        self._return_requested(reason=reason, requested_at=requested_at, **self._facts(),
                               assigned_at=self.assigned_at,
                               return_window_working_days=self.return_window_working_days)

    class ReturnRequested(Aggregate.Event):
        """The unit asked to return the task. Version 2 also carries the task's case, unit
        and leadership and what the return window's end is derived from; version 1 events
        lack them (upcast to None)."""

        class_version = 2

        reason: str
        requested_at: datetime
        case_id: str | None
        unit_id: str | None
        leadership: dict[str, Any] | None
        assigned_at: datetime | None
        return_window_working_days: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(case_id=None, unit_id=None, leadership=None, assigned_at=None,
                         return_window_working_days=None)

    @event(ReturnRequested)
    def _return_requested(self, reason: str, requested_at: datetime, case_id: str | None,
                          unit_id: str | None, leadership: dict[str, Any] | None,
                          assigned_at: datetime | None,
                          return_window_working_days: int | None) -> None:
        self.status = "return_requested"
        self.return_requests.append({"reason": reason, "requested_at": requested_at.isoformat(),
                                     "outcome": None})

    def refuse_return(self, reason: str, refused_at: datetime) -> None:
        """The office refuses the unit's return request: the task stays with the unit."""
        if self.status != "return_requested":
            raise NotAllowedInState("no return request of this task is waiting for a decision")
        self._return_refused(reason=reason, refused_at=refused_at, **self._facts())

    class ReturnRefused(Aggregate.Event):
        """The office refused the return. Version 2 also carries the task's case, unit and
        leadership; version 1 events lack them (upcast to None)."""

        class_version = 2

        reason: str
        refused_at: datetime
        case_id: str | None
        unit_id: str | None
        leadership: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(case_id=None, unit_id=None, leadership=None)

    @event(ReturnRefused)
    def _return_refused(self, reason: str, refused_at: datetime, case_id: str | None,
                        unit_id: str | None, leadership: dict[str, Any] | None) -> None:
        self.status = "assigned"
        self.return_requests[-1] = {**self.return_requests[-1], "outcome": "refused",
                                    "decision_reason": reason, "decided_at": refused_at.isoformat()}

    def withdraw(self, reason: str, replaced_by_task_id: str | None, withdrawn_at: datetime) -> None:
        """The task stops (its clock too); reassignment gives the work to another unit."""
        if self.status == "withdrawn":
            raise AlreadyDone("the task was already withdrawn")
        self._withdrawn(reason=reason, replaced_by_task_id=replaced_by_task_id,
                        withdrawn_at=withdrawn_at, **self._facts())

    class Withdrawn(Aggregate.Event):
        """The task stopped. Version 2 also carries the task's case, unit and leadership;
        version 1 events lack them (upcast to None)."""

        class_version = 2

        reason: str
        replaced_by_task_id: str | None
        withdrawn_at: datetime
        case_id: str | None
        unit_id: str | None
        leadership: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(case_id=None, unit_id=None, leadership=None)

    @event(Withdrawn)
    def _withdrawn(self, reason: str, replaced_by_task_id: str | None, withdrawn_at: datetime,
                   case_id: str | None, unit_id: str | None,
                   leadership: dict[str, Any] | None) -> None:
        if self.status == "return_requested":
            self.return_requests[-1] = {**self.return_requests[-1], "outcome": "accepted",
                                        "decided_at": withdrawn_at.isoformat()}
        self.status = "withdrawn"
        self.withdrawn_at = withdrawn_at
        self.withdrawn_reason = reason
        self.replaced_by_task_id = replaced_by_task_id

    def note_leadership(self, leadership: dict[str, Any]) -> None:
        """The case got a (new) leadership designation: the task carries it from now on,
        so every later event of the task is flagged with it."""
        if self.leadership != leadership:
            self._leadership_noted(leadership=leadership)

    @event("LeadershipNoted")
    def _leadership_noted(self, leadership: dict[str, Any]) -> None:
        self.leadership = leadership

    # --- what supervision reports ----------------------------------------------------

    def note_handling(self, handling: str, round: int, noted_at: datetime) -> bool:
        """Supervision reported a reply, a new handling round or the case's close-out; the
        task counts as open work only while ``handling`` is ``open``. False if nothing changed."""
        if (handling, round) == (self.handling, self.round) or self.status == "withdrawn":
            return False
        if self.handling == "closed" and handling != "open":
            return False
        self._handling_noted(handling=handling, round=round, noted_at=noted_at)
        return True

    @event("HandlingNoted")
    def _handling_noted(self, handling: str, round: int, noted_at: datetime) -> None:
        self.handling = handling
        self.round = round

    def view(self, calendar: WorkingCalendar) -> dict[str, Any]:
        return {
            "task_id": str(self.id),
            "case_id": self.case_id,
            "case_kind": self.case_kind,
            "unit_id": self.unit_id,
            "role": self.role,
            "status": self.status,
            "handling": self.handling,
            "round": self.round,
            "assigned_at": self.assigned_at.isoformat(),
            **safe_dates(self, calendar),
            "deadline_rule": self.deadline_rule,
            "deadline_rule_text": describe_rule(self.deadline_rule),
            "title": self.title,
            "category": self.category,
            "urgency": self.urgency,
            "number": self.number,
            "leadership": self.leadership,
            "return_requests": self.return_requests,
            "replaces_task_id": self.replaces_task_id,
            "replaced_by_task_id": self.replaced_by_task_id,
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
            "withdrawn_reason": self.withdrawn_reason,
            "paused_since": self.paused_since.isoformat() if self.paused_since else None,
            "pauses": [{**p, "from": p["from"].isoformat(),
                        "to": p["to"].isoformat() if p["to"] else None} for p in self.pauses],
        }


def safe_dates(task: Task, calendar: WorkingCalendar) -> dict[str, Any]:
    """Deadline and return-window end for a view; ``None`` with the reason when the working
    calendar cannot give them (a year missing from config/holidays.yaml)."""
    out: dict[str, Any] = {}
    for key, compute in (("deadline", task.deadline), ("return_window_end", task.return_window_end)):
        try:
            out[key] = compute(calendar).isoformat()
        except ValueError as exc:  # CalendarNotConfigured is a ValueError
            out[key] = None
            out.setdefault("calendar_error", str(exc))
    return out

"""The assignment service's requests: assigning a case, return requests and reassignment
(申请退回 / 改办), the task clock (暂停计时), leadership (领导领办 / 重点督办), tasks, workload,
and the routing rules (交办规则) as data."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from shared.contracts.requests import (
    ADMIN, LEADER, OFFICE, SIGNED_IN, STAFF, UNIT, Command, Query,
)
from shared.contracts.requests.limits import SEARCH_MAX, Reason
from shared.paging import PageQuery, Year

LEADER_OR_OFFICE_OR_UNIT = frozenset({"office", "leader", "unit"})


class AssignmentCommand(Command):
    service: ClassVar[str] = "assignment"


class AssignmentQuery(Query):
    service: ClassVar[str] = "assignment"


class CaseRef(AssignmentQuery):
    """A request naming a case (abstract: the declared ones below)."""

    case_id: str


class TaskRef(AssignmentQuery):
    """A request naming a task (abstract: the declared ones below)."""

    task_id: str


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


# --- commands ---------------------------------------------------------------------------------

class AssignSuggestion(AssignmentCommand):
    """The office assigns (交办) a suggestion; without units the routing rule's proposal."""

    name: ClassVar[str] = "assign_suggestion"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"suggestion_id": "S-1", "lead_unit_id": "unit-a",
                             "co_unit_ids": ["unit-b"], "deadline": "2026-06-30"})

    suggestion_id: str
    lead_unit_id: str | None = None
    co_unit_ids: list[str] = Field(default_factory=list)
    deadline: date | None = Field(
        None, description="an earlier deadline for the lead unit than the rule gives (a working day)")


class RequestReturn(AssignmentCommand):
    """A unit asks to return (申请退回) its own task, within the return window."""

    name: ClassVar[str] = "request_return"
    roles: ClassVar[frozenset[str]] = UNIT
    model_config = _example({"task_id": "T-1", "reason": "该事项属于区交通运输局职责"})

    task_id: str
    reason: Reason = Field(examples=["该事项属于区交通运输局职责"])


class RefuseReturn(AssignmentCommand):
    """The office refuses a unit's return request; the task stays with the unit."""

    name: ClassVar[str] = "refuse_return"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"task_id": "T-1", "reason": "该事项由贵单位牵头办理"})

    task_id: str
    reason: Reason = Field(examples=["该事项由贵单位牵头办理"])


class ReassignTask(AssignmentCommand):
    """The office reassigns (改办) a task to another unit."""

    name: ClassVar[str] = "reassign_task"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"task_id": "T-1", "unit_id": "unit-c",
                             "reason": "该事项属于生态环境领域"})

    task_id: str
    unit_id: str = Field(min_length=1, examples=["unit-c"])
    reason: Reason | None = Field(None, description="defaults to the unit's return request reason")


class PauseClock(AssignmentCommand):
    """The office pauses a task's clock (暂停计时), with a reason."""

    name: ClassVar[str] = "pause_clock"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"task_id": "T-1", "reason": "等待代表补充材料"})

    task_id: str
    reason: Reason = Field(examples=["等待代表补充材料"])


class ResumeClock(AssignmentCommand):
    """The office resumes a paused clock: the deadline moves on by the paused working days."""

    name: ClassVar[str] = "resume_clock"
    roles: ClassVar[frozenset[str]] = OFFICE

    task_id: str


class DesignateLeadership(AssignmentCommand):
    """The office designates a leader or committee to lead (领办) or supervise (重点督办) a case."""

    name: ClassVar[str] = "designate_leadership"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"case_id": "S-1", "designee_id": "leader-1",
                             "designee_kind": "leader", "mode": "lead"})

    case_id: str
    designee_id: str = Field(min_length=1, examples=["leader-1"],
                             description="a leader or committee of GET /api/v1/leaders")
    designee_kind: Literal["leader", "committee"]
    mode: Literal["lead", "supervise"] = Field(
        description="lead: the designee leads the handling (领办); supervise: key supervision (重点督办)")


# --- queries ----------------------------------------------------------------------------------

class CaseAssignment(CaseRef):
    """A case's assignment: units, every task (withdrawn ones too), leadership. A unit: only a
    case it has a task in (else 404). Deputies read it for their suggestion's summary."""

    name: ClassVar[str] = "case_assignment"
    roles: ClassVar[frozenset[str]] = STAFF

    case_id: str


class GetTask(TaskRef):
    """One task (a unit: only its own, else 404)."""

    name: ClassVar[str] = "get_task"
    roles: ClassVar[frozenset[str]] = STAFF

    task_id: str


class Leaders(AssignmentQuery):
    """Leaders and special committees who may lead or supervise a case (the administrator too:
    a leader's account is linked to one of them)."""

    name: ClassVar[str] = "leaders"
    roles: ClassVar[frozenset[str]] = SIGNED_IN | ADMIN
    reply: ClassVar[Any] = list[dict[str, Any]]


class Units(AssignmentQuery):
    """The handling units."""

    name: ClassVar[str] = "units"
    roles: ClassVar[frozenset[str]] = SIGNED_IN
    reply: ClassVar[Any] = list[dict[str, Any]]


class ListTasks(AssignmentQuery, PageQuery):
    """Tasks, by deadline then task id (a unit: its own). ``year``: the year the task was
    assigned (absent: the current year; ``all``: every year; with ``case_id`` and no year,
    every year of the case)."""

    name: ClassVar[str] = "list_tasks"
    roles: ClassVar[frozenset[str]] = STAFF

    unit_id: str | None = None
    case_id: str | None = None
    status: str | None = None
    q: str | None = Field(None, max_length=200, description="a number or words of the title")
    year: Year = Field(None, description="year of assignment, or 'all' (default: this year)")


class Workload(AssignmentQuery, PageQuery):
    """The units' workload. Without ``unit_id``: a page of units (by unit id), each with its
    counts and its ``nearest`` earliest deadlines (at most 100 a unit). With ``unit_id``: that
    unit's counts and nearest deadlines, and a page of its open tasks (by deadline, then task
    id; ``q``: found by number or words of the title). ``year``: the year a task was assigned
    (absent: this year; ``all``: every year). A unit sees only its own."""

    name: ClassVar[str] = "workload"
    roles: ClassVar[frozenset[str]] = LEADER_OR_OFFICE_OR_UNIT

    unit_id: str | None = None
    nearest: int = Field(5, ge=0, le=100)
    q: str | None = Field(None, max_length=200,
                          description="the unit's open tasks: a number or words of the title")
    year: Year = Field(None, description="year of assignment, or 'all' (default: this year)")


# --- routing rules (交办规则, services/assignment/routing_rules.py) ---------------------------------
#
# Data of the assignment service: the office changes them (each change an event of the rule
# book: who, when, before and after), the office and leaders read them. The FIRST rule that
# matches a registered suggestion proposes its units, so the order is part of the data.

RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
RULE_READERS = OFFICE | LEADER


class ListRoutingRules(AssignmentQuery, PageQuery):
    """The routing rules in the order they are tried (``position`` from 1), paged; ``q``
    finds by id or keyword, ``category`` keeps one category's rules."""

    name: ClassVar[str] = "list_routing_rules"
    roles: ClassVar[frozenset[str]] = RULE_READERS

    q: str | None = Field(None, max_length=SEARCH_MAX)
    category: str | None = Field(None, max_length=64)


class GetRoutingRule(AssignmentQuery):
    """One rule (with its ``position``) and its history, oldest first: each event that made,
    changed, moved or removed it, who, when, the fields before and after."""

    name: ClassVar[str] = "get_routing_rule"
    roles: ClassVar[frozenset[str]] = RULE_READERS

    rule_id: str = Field(pattern=RULE_ID_PATTERN)


class PutRoutingRule(AssignmentCommand):
    """Create the rule of this id (last, or ahead of rule ``before``), or change it to this
    one (only the fields that differ are recorded; nothing differs: no change; ``before`` is
    ignored: move a rule with ReorderRoutingRules). 422 with each wrong field's message: an
    unknown category, an unknown or closed unit, the lead unit among the co-units, an empty
    keyword."""

    name: ClassVar[str] = "put_routing_rule"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"rule_id": "rule-heating", "category": "livelihood",
                             "keywords": ["供暖", "暖气"], "lead_unit": "unit-a",
                             "co_units": ["unit-b"], "automatic": True,
                             "before": "rule-livelihood"})

    rule_id: str = Field(pattern=RULE_ID_PATTERN)
    category: str = Field(max_length=64, description="a category code (GET /api/v1/categories)")
    district: str | None = Field(None, max_length=100,
                                 description="only suggestions of this district (区县)")
    keywords: list[str] = Field(default_factory=list, max_length=50,
                                description="any of them in the title (none: every title)")
    lead_unit: str = Field(max_length=64, description="the proposed lead unit (主办单位)")
    co_units: list[str] = Field(default_factory=list, max_length=50,
                                description="the proposed co-units (协办单位)")
    automatic: bool = Field(False, description="assigned at registration without the office")
    before: str | None = Field(None, max_length=64,
                               description="a new rule is put ahead of this rule (absent: last)")


class DeleteRoutingRule(AssignmentCommand):
    """Remove a rule (its history stays in the rule book's log)."""

    name: ClassVar[str] = "delete_routing_rule"
    roles: ClassVar[frozenset[str]] = OFFICE

    rule_id: str = Field(pattern=RULE_ID_PATTERN)


class ReorderRoutingRules(AssignmentCommand):
    """Put the rules in this order: every rule's id exactly once (422 naming the missing,
    unknown or repeated ids). The same order again changes nothing."""

    name: ClassVar[str] = "reorder_routing_rules"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"ids": ["rule-safety", "rule-heating", "rule-livelihood"]})

    ids: list[str] = Field(max_length=10000)


class MoveRoutingRule(AssignmentCommand):
    """Move one rule up or down by one place (the page's 上移 / 下移); at either end nothing."""

    name: ClassVar[str] = "move_routing_rule"
    roles: ClassVar[frozenset[str]] = OFFICE

    rule_id: str = Field(pattern=RULE_ID_PATTERN)
    direction: Literal["up", "down"]

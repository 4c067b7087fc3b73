"""Gateway routes owned by the assignment service (see ../shared/API.md).

The assignment itself (``POST /api/v1/suggestions/{id}/assignment``) is in app.py; these are
the routes around it: return requests and reassignment (申请退回 / 改办), leadership
designation (领导领办 / 重点督办), the assignment view of a case, the units' workload, and
the routing rules (交办规则, ``/api/v1/admin/routing-rules``: data of the assignment service,
each change an event of its rule book: who, when, before and after).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request, Response

from shared.contracts.requests.assignment import (
    RULE_ID_PATTERN,
    CaseAssignment,
    DeleteRoutingRule,
    DesignateLeadership,
    GetRoutingRule,
    Leaders,
    ListRoutingRules,
    PauseClock,
    PutRoutingRule,
    ReassignTask,
    RefuseReturn,
    ReorderRoutingRules,
    RequestReturn,
    ResumeClock,
    Workload,
)
from shared.contracts.requests.limits import SEARCH_MAX
from services.gateway.auth import Principal
from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, YearParam, paged

API = "/api/v1"

NOT_ALLOWED = {403: {"description": "not this role"}, 404: {"description": "no such task or case"}}

# Bodies: the requests' fields but the path's (shared/contracts/requests/assignment.py).
ReturnRequestBody = body_of(RequestReturn, "task_id")
RefuseReturnBody = body_of(RefuseReturn, "task_id")
PauseBody = body_of(PauseClock, "task_id")
ReassignBody = body_of(ReassignTask, "task_id")
LeadershipBody = body_of(DesignateLeadership, "case_id")

# The principals: the roles each request admits (a route may narrow them).
Unit = admitted(RequestReturn)
OfficeRefusing = admitted(RefuseReturn)
OfficePausing = admitted(PauseClock)
OfficeResuming = admitted(ResumeClock)
OfficeReassigning = admitted(ReassignTask)
OfficeDesignating = admitted(DesignateLeadership)
OfficeLeaderOrUnit = admitted(CaseAssignment, "office", "leader", "unit")
Anyone = admitted(Leaders)
OfficeOrLeader = admitted(Workload, "office", "leader")
OfficeLeaderOrUnitWorkload = admitted(Workload)
RuleReaders = admitted(ListRoutingRules)
RuleEditors = admitted(PutRoutingRule)

RULES = f"{API}/admin/routing-rules"
RULE_TAGS = ["routing rules"]
RuleId = Annotated[str, Path(pattern=RULE_ID_PATTERN, description="the rule's id")]
RuleBody = body_of(PutRoutingRule, "rule_id")
OrderBody = body_of(ReorderRoutingRules)


def register_assignment_routes(app: FastAPI) -> None:
    """Add the assignment routes to the gateway app."""
    tags = ["assignment"]

    @app.post(f"{API}/tasks/{{task_id}}/return-request", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "the return window has closed (the body names it "
                                            "and its end date), or a request is already waiting"}},
              summary="A unit asks to return (申请退回) its own task, within the return window",
              openapi_extra=sends(RequestReturn))
    async def request_return(task_id: str, body: ReturnRequestBody, services: ServicesDep,
                             principal: Unit) -> dict[str, Any]:
        """Allowed within the configured window (default 5 working days after the day of
        assignment). The task shows ``status: return_requested`` until the office reassigns
        it or refuses the request."""
        return await services.send(request_of(RequestReturn, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/return-request/refuse", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "no return request is waiting"}},
              summary="The office refuses a unit's return request; the task stays with the unit",
              openapi_extra=sends(RefuseReturn))
    async def refuse_return(task_id: str, body: RefuseReturnBody, services: ServicesDep,
                            principal: OfficeRefusing) -> dict[str, Any]:
        return await services.send(request_of(RefuseReturn, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/clock/pause", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "already paused, withdrawn or replied"}},
              summary="The office pauses a task's clock (暂停计时), with a reason",
              openapi_extra=sends(PauseClock))
    async def pause_clock(task_id: str, body: PauseBody, services: ServicesDep,
                          principal: OfficePausing) -> dict[str, Any]:
        return await services.send(request_of(PauseClock, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/clock/resume", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "the clock is not paused"}},
              summary="The office resumes the clock; the deadline moves on by the paused working days",
              openapi_extra=sends(ResumeClock))
    async def resume_clock(task_id: str, services: ServicesDep,
                           principal: OfficeResuming) -> dict[str, Any]:
        return await services.send(request_of(ResumeClock, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/reassign", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "the task was withdrawn already, or the unit "
                                            "already handles the case"}},
              summary="The office reassigns (改办) a task to another unit",
              openapi_extra=sends(ReassignTask))
    async def reassign(task_id: str, body: ReassignBody, services: ServicesDep,
                       principal: OfficeReassigning) -> dict[str, Any]:
        """Withdraws the task (``task_withdrawn``) and gives its role to ``unit_id`` in a new
        task with a new clock (``task_assigned``); both stay in the case's history.

        This is how the office accepts a unit's return request, but it does not need one: the
        office may reassign any current task of a case it assigned (e.g. a misassignment it
        noticed itself). A new lead task starts the case's time limit again; a new co-unit
        task is due the configured working days before the current lead's deadline."""
        return await services.send(request_of(ReassignTask, body, task_id=task_id), principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/leadership", tags=tags, responses=NOT_ALLOWED,
              summary="The office designates a leader or committee to lead or supervise a case",
              openapi_extra=sends(DesignateLeadership))
    async def designate_leadership(suggestion_id: str, body: LeadershipBody,
                                   services: ServicesDep,
                                   principal: OfficeDesignating) -> dict[str, Any]:
        """Publishes ``leadership_designated``. The designation shows on the assignment view
        (``GET .../assignment``) and on every task assigned afterwards; a new designation
        replaces the current one. Returns the assignment view."""
        return await services.send(request_of(DesignateLeadership, body, case_id=suggestion_id),
                                   principal)

    async def case_assignment(case_id: str, services: Any, principal: Principal) -> dict[str, Any]:
        return await services.send(request_of(CaseAssignment, case_id=case_id), principal)

    @app.get(f"{API}/suggestions/{{suggestion_id}}/assignment", tags=tags, responses=NOT_ALLOWED,
             summary="The assignment of a suggestion: units, tasks with deadlines, "
                     "reassignments and leadership", openapi_extra=sends(CaseAssignment))
    async def get_suggestion_assignment(suggestion_id: str, services: ServicesDep,
                                        principal: OfficeLeaderOrUnit) -> dict[str, Any]:
        """Every task of the case, current and withdrawn, with its deadline, the rule that
        gives it, its return requests and (when designated before it was assigned) the
        leadership. A unit sees only cases it has a task in."""
        return await case_assignment(suggestion_id, services, principal)

    @app.get(f"{API}/cases/{{case_id}}/assignment", tags=tags, responses=NOT_ALLOWED,
             summary="The assignment of a case (a suggestion or a forwarded citizen message)",
             openapi_extra=sends(CaseAssignment))
    async def get_case_assignment(case_id: str, services: ServicesDep,
                                  principal: OfficeLeaderOrUnit) -> dict[str, Any]:
        return await case_assignment(case_id, services, principal)

    @app.get(f"{API}/leaders", tags=["reference"],
             summary="Leaders and special committees who may lead or supervise a case",
             openapi_extra=sends(Leaders))
    async def leaders(services: ServicesDep, principal: Anyone) -> list[dict[str, Any]]:
        return await services.send(Leaders(), principal)

    @app.get(f"{API}/units/workload", tags=tags, responses={**NOT_ALLOWED, **PAGED},
             summary="Open tasks per unit and their nearest deadlines (office, leaders); "
                     "paged over units; year = the year a task was assigned",
             openapi_extra=sends(Workload))
    async def workload(request: Request, response: Response, services: ServicesDep,
                       principal: OfficeOrLeader, paging: Paging,
                       nearest: Annotated[int, Query(ge=0, le=100)] = 5,
                       year: YearParam = None) -> dict[str, Any]:
        """A page of units (by unit id; ``limit``/``cursor``, the next page in ``Link``,
        the number of units in ``X-Total-Count``). Per unit: ``open_tasks`` (assigned, not
        withdrawn, not yet replied or closed), ``lead_tasks``, ``co_tasks``,
        ``return_requests_pending``, ``overdue``, and the ``nearest`` (at most 100) earliest
        deadlines with the working days left (negative: overdue). Only tasks assigned in
        ``year`` count (default: the current year; ``all``: every year)."""
        result = await services.send(request_of(Workload, query={
            "nearest": nearest, "year": year, **paging.payload()}), principal)
        units = paged(request, response, result["units"])
        return {"as_of": result["as_of"], "year": result["year"], "units": units}

    @app.get(f"{API}/units/{{unit_id}}/workload", tags=tags,
             responses={**NOT_ALLOWED, **PAGED},
             summary="One unit's open tasks and nearest deadlines (a unit sees only its "
                     "own); its open tasks paged; year = the year a task was assigned",
             openapi_extra=sends(Workload))
    async def unit_workload(unit_id: str, request: Request, response: Response,
                            services: ServicesDep, principal: OfficeLeaderOrUnitWorkload,
                            paging: Paging,
                            nearest: Annotated[int, Query(ge=0, le=100)] = 5,
                            year: YearParam = None,
                            q: Annotated[str | None, Query(
                                max_length=200, description="the open tasks by number or "
                                "words of the title")] = None) -> dict[str, Any]:
        """The unit's counts and its ``nearest`` (at most 100) earliest deadlines, and
        ``tasks``: a page of its open tasks by deadline (none last), then task id
        (``limit``/``cursor``, the next page in ``Link``, their number in
        ``X-Total-Count``; ``q`` finds them by number or words of the title). Only tasks
        assigned in ``year`` (default: the current year; ``all``: every year)."""
        result = await services.send(request_of(Workload, unit_id=unit_id, query={
            "nearest": nearest, "year": year, "q": q, **paging.payload()}), principal)
        tasks = paged(request, response, result["tasks"])
        return {"as_of": result["as_of"], "year": result["year"], **result["units"][0],
                "tasks": tasks}

    register_routing_rule_routes(app)


def register_routing_rule_routes(app: FastAPI) -> None:
    """交办规则: the office changes them, the office and leaders read them."""

    @app.get(RULES, tags=RULE_TAGS, responses=PAGED, openapi_extra=sends(ListRoutingRules),
             summary="The routing rules in the order they are tried (the first that matches "
                     "a registered suggestion proposes its units), paged; `q` finds by id or "
                     "keyword, `category` keeps one category's rules")
    async def list_routing_rules(request: Request, response: Response, services: ServicesDep,
                                 principal: RuleReaders, paging: Paging,
                                 q: Annotated[str | None, Query(max_length=SEARCH_MAX)] = None,
                                 category: Annotated[str | None, Query(max_length=64)] = None,
                                 ) -> list[dict[str, Any]]:
        query = {"q": q, "category": category, **paging.payload()}
        page = await services.send(request_of(ListRoutingRules, query={
            k: v for k, v in query.items() if v is not None}), principal)
        return paged(request, response, page)

    @app.post(f"{RULES}/order", tags=RULE_TAGS, openapi_extra=sends(ReorderRoutingRules),
              responses={422: {"description": "not every rule's id exactly once"}},
              summary="Put the routing rules in this order: every rule's id exactly once")
    async def reorder_routing_rules(body: OrderBody, services: ServicesDep,
                                    principal: RuleEditors) -> dict[str, Any]:
        return await services.send(request_of(ReorderRoutingRules, body), principal)

    @app.get(f"{RULES}/{{rule_id}}", tags=RULE_TAGS, openapi_extra=sends(GetRoutingRule),
             responses={404: {"description": "no such rule"}},
             summary="One routing rule (with its position) and its history: each event that "
                     "made, changed or moved it, who, when, the fields before and after")
    async def get_routing_rule(rule_id: RuleId, services: ServicesDep,
                               principal: RuleReaders) -> dict[str, Any]:
        return await services.send(request_of(GetRoutingRule, rule_id=rule_id), principal)

    @app.put(f"{RULES}/{{rule_id}}", tags=RULE_TAGS, openapi_extra=sends(PutRoutingRule),
             responses={422: {"description": "each wrong field with its message"}},
             summary="Create the routing rule of this id (last, or ahead of rule `before`) or "
                     "change it to the one given (only the fields that differ are recorded)")
    async def put_routing_rule(rule_id: RuleId, body: RuleBody, services: ServicesDep,
                               principal: RuleEditors) -> dict[str, Any]:
        """422 names each wrong field: an unknown category, an unknown or closed unit, the
        lead unit among the co-units, an empty keyword. The next suggestion registered is
        routed by the rules as changed."""
        return await services.send(request_of(PutRoutingRule, body, rule_id=rule_id),
                                   principal)

    @app.delete(f"{RULES}/{{rule_id}}", tags=RULE_TAGS, openapi_extra=sends(DeleteRoutingRule),
                responses={404: {"description": "no such rule"}},
                summary="Remove a routing rule (its history stays in the log)")
    async def delete_routing_rule(rule_id: RuleId, services: ServicesDep,
                                  principal: RuleEditors) -> dict[str, Any]:
        return await services.send(request_of(DeleteRoutingRule, rule_id=rule_id), principal)

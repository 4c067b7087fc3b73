"""Gateway routes owned by the assignment service (see ../shared/API.md).

The assignment itself (``POST /api/v1/suggestions/{id}/assignment``) is in app.py; these are
the routes around it: return requests and reassignment (申请退回 / 改办), leadership
designation (领导领办 / 重点督办), the assignment view of a case, and the units' workload.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Response
from pydantic import Field

from services.gateway.auth import Principal, require
from services.gateway.deps import Any_, Office, ServicesDep, StrictBody, body_example
from services.gateway.paging import PAGED, Paging, YearParam, paged

API = "/api/v1"

Unit = Annotated[Principal, Depends(require("unit"))]
OfficeLeaderOrUnit = Annotated[Principal, Depends(require("office", "leader", "unit"))]
OfficeOrLeader = Annotated[Principal, Depends(require("office", "leader"))]

NOT_ALLOWED = {403: {"description": "not this role"}, 404: {"description": "no such task or case"}}


class ReturnRequestBody(StrictBody):
    model_config = body_example({"reason": "该事项属于区交通运输局职责"})

    reason: str = Field(min_length=1, max_length=2000, examples=["该事项属于区交通运输局职责"])


class RefuseReturnBody(StrictBody):
    model_config = body_example({"reason": "该事项由贵单位牵头办理"})

    reason: str = Field(min_length=1, max_length=2000, examples=["该事项由贵单位牵头办理"])


class PauseBody(StrictBody):
    model_config = body_example({"reason": "等待代表补充材料"})

    reason: str = Field(min_length=1, max_length=2000, examples=["等待代表补充材料"])


class ReassignBody(StrictBody):
    model_config = body_example({"unit_id": "unit-c", "reason": "该事项属于生态环境领域"})

    unit_id: str = Field(min_length=1, examples=["unit-c"])
    reason: str | None = Field(None, min_length=1, max_length=2000,
                               description="defaults to the unit's return request reason")


class LeadershipBody(StrictBody):
    model_config = body_example({"designee_id": "leader-1", "designee_kind": "leader", "mode": "lead"})

    designee_id: str = Field(min_length=1, examples=["leader-1"],
                             description="a leader or committee of GET /api/v1/leaders")
    designee_kind: Literal["leader", "committee"]
    mode: Literal["lead", "supervise"] = Field(
        description="lead: the designee leads the handling (领办); supervise: key supervision (重点督办)")


def register_assignment_routes(app: FastAPI) -> None:
    """Add the assignment routes to the gateway app."""
    tags = ["assignment"]

    @app.post(f"{API}/tasks/{{task_id}}/return-request", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "the return window has closed (the body names it "
                                            "and its end date), or a request is already waiting"}},
              summary="A unit asks to return (申请退回) its own task, within the return window")
    async def request_return(task_id: str, body: ReturnRequestBody, services: ServicesDep,
                             principal: Unit) -> dict[str, Any]:
        """Allowed within the configured window (default 5 working days after the day of
        assignment). The task shows ``status: return_requested`` until the office reassigns
        it or refuses the request."""
        return await services.call("assignment", "request_return",
                                   {"task_id": task_id, **body.model_dump()}, principal)

    @app.post(f"{API}/tasks/{{task_id}}/return-request/refuse", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "no return request is waiting"}},
              summary="The office refuses a unit's return request; the task stays with the unit")
    async def refuse_return(task_id: str, body: RefuseReturnBody, services: ServicesDep,
                            principal: Office) -> dict[str, Any]:
        return await services.call("assignment", "refuse_return",
                                   {"task_id": task_id, **body.model_dump()}, principal)

    @app.post(f"{API}/tasks/{{task_id}}/clock/pause", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "already paused, withdrawn or replied"}},
              summary="The office pauses a task's clock (暂停计时), with a reason")
    async def pause_clock(task_id: str, body: PauseBody, services: ServicesDep,
                          principal: Office) -> dict[str, Any]:
        return await services.call("assignment", "pause_clock",
                                   {"task_id": task_id, **body.model_dump()}, principal)

    @app.post(f"{API}/tasks/{{task_id}}/clock/resume", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "the clock is not paused"}},
              summary="The office resumes the clock; the deadline moves on by the paused working days")
    async def resume_clock(task_id: str, services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.call("assignment", "resume_clock", {"task_id": task_id}, principal)

    @app.post(f"{API}/tasks/{{task_id}}/reassign", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "the task was withdrawn already, or the unit "
                                            "already handles the case"}},
              summary="The office reassigns (改办) a task to another unit")
    async def reassign(task_id: str, body: ReassignBody, services: ServicesDep,
                       principal: Office) -> dict[str, Any]:
        """Withdraws the task (``task_withdrawn``) and gives its role to ``unit_id`` in a new
        task with a new clock (``task_assigned``); both stay in the case's history.

        This is how the office accepts a unit's return request, but it does not need one: the
        office may reassign any current task of a case it assigned (e.g. a misassignment it
        noticed itself). A new lead task starts the case's time limit again; a new co-unit
        task is due the configured working days before the current lead's deadline."""
        return await services.call("assignment", "reassign_task",
                                   {"task_id": task_id, **body.model_dump()}, principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/leadership", tags=tags, responses=NOT_ALLOWED,
              summary="The office designates a leader or committee to lead or supervise a case")
    async def designate_leadership(suggestion_id: str, body: LeadershipBody,
                                   services: ServicesDep, principal: Office) -> dict[str, Any]:
        """Publishes ``leadership_designated``. The designation shows on the assignment view
        (``GET .../assignment``) and on every task assigned afterwards; a new designation
        replaces the current one. Returns the assignment view."""
        return await services.call("assignment", "designate_leadership",
                                   {"case_id": suggestion_id, **body.model_dump()}, principal)

    async def case_assignment(case_id: str, services: Any, principal: Principal) -> dict[str, Any]:
        return await services.call("assignment", "case_assignment", {"case_id": case_id}, principal)

    @app.get(f"{API}/suggestions/{{suggestion_id}}/assignment", tags=tags, responses=NOT_ALLOWED,
             summary="The assignment of a suggestion: units, tasks with deadlines, "
                     "reassignments and leadership")
    async def get_suggestion_assignment(suggestion_id: str, services: ServicesDep,
                                        principal: OfficeLeaderOrUnit) -> dict[str, Any]:
        """Every task of the case, current and withdrawn, with its deadline, the rule that
        gives it, its return requests and (when designated before it was assigned) the
        leadership. A unit sees only cases it has a task in."""
        return await case_assignment(suggestion_id, services, principal)

    @app.get(f"{API}/cases/{{case_id}}/assignment", tags=tags, responses=NOT_ALLOWED,
             summary="The assignment of a case (a suggestion or a forwarded citizen message)")
    async def get_case_assignment(case_id: str, services: ServicesDep,
                                  principal: OfficeLeaderOrUnit) -> dict[str, Any]:
        return await case_assignment(case_id, services, principal)

    @app.get(f"{API}/leaders", tags=["reference"],
             summary="Leaders and special committees who may lead or supervise a case")
    async def leaders(services: ServicesDep, principal: Any_) -> list[dict[str, Any]]:
        return await services.call("assignment", "leaders", principal=principal)

    @app.get(f"{API}/units/workload", tags=tags, responses={**NOT_ALLOWED, **PAGED},
             summary="Open tasks per unit and their nearest deadlines (office, leaders); "
                     "paged over units; year = the year a task was assigned")
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
        result = await services.call("assignment", "workload",
                                     {"nearest": nearest, "year": year, **paging.payload()},
                                     principal)
        units = paged(request, response, result["units"])
        return {"as_of": result["as_of"], "year": result["year"], "units": units}

    @app.get(f"{API}/units/{{unit_id}}/workload", tags=tags,
             responses={**NOT_ALLOWED, **PAGED},
             summary="One unit's open tasks and nearest deadlines (a unit sees only its "
                     "own); its open tasks paged; year = the year a task was assigned")
    async def unit_workload(unit_id: str, request: Request, response: Response,
                            services: ServicesDep, principal: OfficeLeaderOrUnit,
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
        result = await services.call("assignment", "workload",
                                     {"unit_id": unit_id, "nearest": nearest, "year": year,
                                      "q": q, **paging.payload()}, principal)
        tasks = paged(request, response, result["tasks"])
        return {"as_of": result["as_of"], "year": result["year"], **result["units"][0],
                "tasks": tasks}

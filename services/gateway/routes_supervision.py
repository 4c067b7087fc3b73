"""Gateway routes owned by the supervision service (see ../shared/API.md, Supervision)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import Field

from services.gateway.auth import Principal, require
from services.gateway.deps import Deputy, Office, ServicesDep, Staff, StrictBody, body_example
from services.gateway.paging import PAGED, Paging, YearParam, paged

API = "/api/v1"
Unit = Annotated[Principal, Depends(require("unit", "office"))]
OfficeOrLeader = Annotated[Principal, Depends(require("office", "leader"))]

NESTED_LIMIT = 50  # cases per board cell and in the overdue list, by default

NOT_ALLOWED = {403: {"description": "the role may not do this"},
               404: {"description": "no such task or case (or not yours)"},
               409: {"description": "the task or case is not in a state that allows it; "
                                    "`detail` says why"}}


class NoteBody(StrictBody):
    model_config = body_example({"note": "已电话联系王代表，约定现场查看时间"})

    note: str = Field(min_length=1, max_length=5000, examples=["已电话联系王代表，约定现场查看时间"])


class WaiverBody(StrictBody):
    model_config = body_example({"reason": "代表书面表示无需办前联系"})

    reason: str = Field(min_length=1, max_length=2000, examples=["代表书面表示无需办前联系"])


class OpinionBody(StrictBody):
    model_config = body_example({"text": "同意主办单位的办理方案，我局负责配合做好供电保障。"})

    text: str = Field(min_length=1, max_length=20000)


class ReplyBody(StrictBody):
    model_config = body_example({"result_class": "B", "text": "已列入 2026 年老旧小区改造计划，年内完成加装。", "commitment_date": "2026-12-31"})

    result_class: Literal["A", "B", "C"] = Field(
        description="A solved or adopted; B being solved or planned (needs commitment_date); "
                    "C explained, kept for reference")
    text: str = Field(min_length=1, max_length=20000)
    commitment_date: date | None = Field(None, description="required for class B")


class CaseRatingBody(StrictBody):
    model_config = body_example({"rating": "basically_satisfied", "comment": "答复及时，希望按期完成"})

    rating: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    comment: str | None = Field(None, max_length=2000)


class ReviewBody(StrictBody):
    model_config = body_example({"outcome": "partly_kept", "note": "电梯已开工，尚未完工", "reopen": False})

    outcome: Literal["kept", "partly_kept", "not_kept"]
    note: str = Field(min_length=1, max_length=5000)
    reopen: bool | None = Field(None, description="for partly kept: reopen for re-handling")


class BulletinBody(StrictBody):
    model_config = body_example({"period": "2026-Q1"})

    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$", examples=["2026-03", "2026-Q1"])


def register_supervision_routes(app: FastAPI) -> None:
    """Task handling, rating, follow-up reviews, close-out, board, statistics, bulletins."""
    tags = ["supervision"]

    async def task_command(services: ServicesDep, principal: Principal, command: str,
                           task_id: str, **fields: Any) -> dict[str, Any]:
        return await services.call("supervision", command, {"task_id": task_id, **fields}, principal)

    @app.post(f"{API}/tasks/{{task_id}}/acknowledge", tags=tags, responses=NOT_ALLOWED,
              summary="The unit signs for (签收) its task")
    async def acknowledge(task_id: str, services: ServicesDep, principal: Unit) -> dict[str, Any]:
        return await task_command(services, principal, "acknowledge_task", task_id)

    @app.post(f"{API}/tasks/{{task_id}}/contact", tags=tags, responses=NOT_ALLOWED,
              summary="Record the contact with the deputy before handling (办前联系)")
    async def contact(task_id: str, body: NoteBody, services: ServicesDep,
                      principal: Unit) -> dict[str, Any]:
        return await task_command(services, principal, "record_contact", task_id, note=body.note)

    @app.post(f"{API}/tasks/{{task_id}}/contact/waiver", tags=tags, responses=NOT_ALLOWED,
              summary="Waive the contact before the reply, with a reason")
    async def waive(task_id: str, body: WaiverBody, services: ServicesDep,
                    principal: Unit) -> dict[str, Any]:
        return await task_command(services, principal, "waive_contact", task_id, reason=body.reason)

    @app.post(f"{API}/tasks/{{task_id}}/progress", tags=tags, responses=NOT_ALLOWED,
              summary="A progress note")
    async def progress(task_id: str, body: NoteBody, services: ServicesDep,
                       principal: Unit) -> dict[str, Any]:
        return await task_command(services, principal, "note_progress", task_id, note=body.note)

    @app.post(f"{API}/tasks/{{task_id}}/opinion", tags=tags, responses=NOT_ALLOWED,
              summary="A co-handling unit sends its opinion to the lead unit")
    async def opinion(task_id: str, body: OpinionBody, services: ServicesDep,
                      principal: Unit) -> dict[str, Any]:
        return await task_command(services, principal, "submit_opinion", task_id, text=body.text)

    @app.post(f"{API}/tasks/{{task_id}}/reply", tags=tags, responses=NOT_ALLOWED,
              summary="The lead unit's reply (答复) with result class A / B / C")
    async def reply(task_id: str, body: ReplyBody, services: ServicesDep,
                    principal: Unit) -> dict[str, Any]:
        return await task_command(services, principal, "reply", task_id,
                                  **body.model_dump(mode="json"))

    @app.get(f"{API}/reply-templates", tags=tags,
             summary="The reply template for a category and result class")
    async def reply_template(services: ServicesDep, principal: Staff,
                             result_class: Literal["A", "B", "C"],
                             category: str | None = None) -> dict[str, Any]:
        return await services.call("supervision", "reply_template",
                                   {"category": category, "result_class": result_class}, principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/rating", tags=tags, responses=NOT_ALLOWED,
              summary="A deputy of the suggestion rates the reply; unsatisfied reopens it")
    async def rate(suggestion_id: str, body: CaseRatingBody, services: ServicesDep,
                   principal: Deputy) -> dict[str, Any]:
        return await services.call("supervision", "rate_case",
                                   {"case_id": suggestion_id, **body.model_dump()}, principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/reviews/{{review_id}}", tags=tags,
              responses=NOT_ALLOWED, summary="Record a follow-up review's (回头看) outcome")
    async def review(suggestion_id: str, review_id: str, body: ReviewBody,
                     services: ServicesDep, principal: OfficeOrLeader) -> dict[str, Any]:
        return await services.call("supervision", "record_review",
                                   {"case_id": suggestion_id, "review_id": review_id,
                                    **body.model_dump()}, principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/close", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "something is missing; `missing` lists each item"}},
        summary="Close out (销号): refused while a reply, rating or due review is missing")
    async def close(suggestion_id: str, services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.call("supervision", "close_case", {"case_id": suggestion_id}, principal)

    @app.get(f"{API}/cases/{{case_id}}/supervision", tags=tags, responses=NOT_ALLOWED,
             summary="Where a case stands: round, replies, ratings, reviews, what close-out lacks")
    async def case(case_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.call("supervision", "get_case", {"case_id": case_id}, principal)

    @app.get(f"{API}/tasks", tags=["tasks"], responses=PAGED,
             summary="Supervised tasks (a unit sees only its own), paged, by deadline; "
                     "year = the year the task was opened")
    async def list_tasks(request: Request, response: Response, services: ServicesDep,
                         principal: Staff, paging: Paging,
                         unit_id: str | None = None,
                         status_: Annotated[Literal["open", "signed_for", "replied",
                                                    "withdrawn", "closed"] | None,
                                            Query(alias="status")] = None,
                         case_id: str | None = None,
                         q: Annotated[str | None, Query(max_length=200,
                                                        description="by number or by words "
                                                                    "of the title")] = None,
                         year: YearParam = None,
                         order: Literal["deadline", "task_id"] = "deadline",
                         ) -> list[dict[str, Any]]:
        """Tasks by their current deadline (moved by a paused clock, a new deadline or a
        re-handling round), then task id; ``order=task_id``: by task id. ``year``: the year
        the task was opened (default: the current year; ``all``: every year; with
        ``case_id`` and no year: every year of the case). ``q``: a number or words of the
        title (Chinese). Each row: the task's state, its deadline, working days left and
        colour today; ``GET /tasks/{task_id}`` has its contacts, progress and replies.
        ``limit``/``cursor``; the next page in ``Link``, the number in ``X-Total-Count``."""
        if principal.role == "unit":
            if unit_id and unit_id != principal.unit_id:
                raise HTTPException(403, "a unit sees only its own tasks")
            unit_id = principal.unit_id
        found = await services.call("supervision", "list_tasks",
                                    {"unit_id": unit_id, "status": status_, "case_id": case_id,
                                     "q": q or None, "year": year, "order": order,
                                     **paging.payload()}, principal)
        return paged(request, response, found)

    @app.get(f"{API}/tasks/{{task_id}}", tags=["tasks"], responses=NOT_ALLOWED,
             summary="One task with its contacts, progress, opinion, replies and warnings")
    async def get_task(task_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.call("supervision", "get_task", {"task_id": task_id}, principal)

    @app.get(f"{API}/board", tags=tags,
             summary=f"The progress board: counts by unit, category and colour (all counted), "
                     f"with the first `limit` (default {NESTED_LIMIT}, at most 500) cases of "
                     f"each cell and of the overdue list; year = the year a task was opened")
    async def board(services: ServicesDep, principal: Staff, unit_id: str | None = None,
                    category: str | None = None,
                    colour: Literal["green", "yellow", "red", "closed"] | None = None,
                    as_of: date | None = None, year: YearParam = None,
                    limit: Annotated[int, Query(ge=1, le=500, description=(
                        "cases listed per cell and in the overdue list"))] = NESTED_LIMIT,
                    ) -> dict[str, Any]:
        """The board as on ``as_of`` (default today) of the tasks opened in ``year`` (default:
        the year of ``as_of``; ``all``: every year). ``totals``, ``by_unit``,
        ``by_category``, each cell's ``count`` and ``overdue_count`` count every task; each
        cell's ``cases`` and ``overdue`` list the first ``limit`` by deadline
        (``cases_limit``)."""
        return await services.call("supervision", "board",
                                   {"unit_id": unit_id, "category": category, "colour": colour,
                                    "as_of": as_of.isoformat() if as_of else None,
                                    "year": year, "limit": limit}, principal)

    @app.get(f"{API}/stats", tags=tags,
             summary="On-time reply, resolution, satisfaction and re-handling rates for a period "
                     "(from and to) or a year (default: the current year)")
    async def stats(services: ServicesDep, principal: Staff,
                    from_: Annotated[date | None, Query(alias="from")] = None,
                    to: date | None = None, year: YearParam = None) -> dict[str, Any]:
        """The cases of a period are those whose first reply falls in it: ``from`` and ``to``
        (days, inclusive), or ``year`` (``all``: every year), by default the current year."""
        payload: dict[str, Any] = {"year": year}
        if from_ is not None or to is not None:
            payload = {"from": from_.isoformat() if from_ else None,
                       "to": to.isoformat() if to else None, **({"year": year} if year else {})}
        return await services.call("supervision", "stats", payload, principal)

    @app.post(f"{API}/bulletins", tags=tags, status_code=201, responses=NOT_ALLOWED,
              summary="Publish the monthly dispatch or quarterly bulletin of an ended period")
    async def publish(body: BulletinBody, services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.call("supervision", "publish_bulletin", body.model_dump(), principal)

    @app.get(f"{API}/bulletins/{{period}}", tags=tags, summary="A published bulletin's figures")
    async def bulletin(period: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.call("supervision", "get_bulletin", {"period": period}, principal)

    @app.get(f"{API}/bulletins/{{period}}/page", tags=tags, response_class=HTMLResponse,
             summary="A published bulletin as a printable page (Chinese, with a chart)")
    async def bulletin_page(period: str, services: ServicesDep, principal: Staff) -> HTMLResponse:
        result = await services.call("supervision", "bulletin_html", {"period": period}, principal)
        return HTMLResponse(result["html"])

    @app.post(f"{API}/supervision/deadline-clock", tags=["ops"],
              summary="Run the deadline clock now (it also runs periodically)")
    async def deadline_clock(services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.call("supervision", "sweep_now", {}, principal)

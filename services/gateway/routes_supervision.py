"""Gateway routes owned by the supervision service (see ../shared/API.md, Supervision)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from shared.contracts.requests.supervision import (
    AcknowledgeTask,
    Board,
    BulletinHtml,
    CloseCase,
    GetBulletin,
    GetCase,
    GetReplyTemplate,
    GetTask,
    LeaderCases,
    ListReplyTemplates,
    ListReviews,
    ListTasks,
    NoteProgress,
    PublishBulletin,
    RateCase,
    RecordContact,
    RecordReview,
    RemoveReplyTemplate,
    ReplyTemplate,
    ReplyToTask,
    SetReplyTemplate,
    Stats,
    SubmitOpinion,
    SweepNow,
    WaiveContact,
)
from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, YearParam, paged

API = "/api/v1"
NESTED_LIMIT = 50  # cases per board cell and in the overdue list, by default

NOT_ALLOWED = {403: {"description": "the role may not do this"},
               404: {"description": "no such task or case (or not yours)"},
               409: {"description": "the task or case is not in a state that allows it; "
                                    "`detail` says why"}}

# Bodies: the requests' fields but the path's (shared/contracts/requests/supervision.py).
NoteBody = body_of(RecordContact, "task_id")
ProgressBody = body_of(NoteProgress, "task_id")
WaiverBody = body_of(WaiveContact, "task_id")
OpinionBody = body_of(SubmitOpinion, "task_id")
ReplyBody = body_of(ReplyToTask, "task_id")
CaseRatingBody = body_of(RateCase, "case_id")
ReviewBody = body_of(RecordReview, "case_id", "review_id")
BulletinBody = body_of(PublishBulletin)
TemplateBody = body_of(SetReplyTemplate, "category", "result_class")

# The principals: the roles each request admits (a route may narrow them).
Unit = admitted(AcknowledgeTask)
Deputy = admitted(RateCase)
OfficeOrLeader = admitted(RecordReview)
Office = admitted(CloseCase)
Staff = admitted(GetCase, "office", "leader", "unit", "deputy")
LeaderOrOffice = admitted(LeaderCases)
Publisher = admitted(PublishBulletin)
ClockRunner = admitted(SweepNow, "office")
TemplateEditor = admitted(SetReplyTemplate)
ResultClass = Literal["A", "B", "C"]


def register_supervision_routes(app: FastAPI) -> None:
    """Task handling, rating, follow-up reviews, close-out, board, statistics, bulletins."""
    tags = ["supervision"]

    @app.post(f"{API}/tasks/{{task_id}}/acknowledge", tags=tags, responses=NOT_ALLOWED,
              summary="The unit signs for (签收) its task", openapi_extra=sends(AcknowledgeTask))
    async def acknowledge(task_id: str, services: ServicesDep, principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(AcknowledgeTask, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/contact", tags=tags, responses=NOT_ALLOWED,
              summary="Record the contact with the deputy before handling (办前联系)",
              openapi_extra=sends(RecordContact))
    async def contact(task_id: str, body: NoteBody, services: ServicesDep,
                      principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(RecordContact, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/contact/waiver", tags=tags, responses=NOT_ALLOWED,
              summary="Waive the contact before the reply, with a reason",
              openapi_extra=sends(WaiveContact))
    async def waive(task_id: str, body: WaiverBody, services: ServicesDep,
                    principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(WaiveContact, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/progress", tags=tags, responses=NOT_ALLOWED,
              summary="A progress note", openapi_extra=sends(NoteProgress))
    async def progress(task_id: str, body: ProgressBody, services: ServicesDep,
                       principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(NoteProgress, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/opinion", tags=tags, responses=NOT_ALLOWED,
              summary="A co-handling unit sends its opinion to the lead unit",
              openapi_extra=sends(SubmitOpinion))
    async def opinion(task_id: str, body: OpinionBody, services: ServicesDep,
                      principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(SubmitOpinion, body, task_id=task_id), principal)

    @app.post(f"{API}/tasks/{{task_id}}/reply", tags=tags, responses=NOT_ALLOWED,
              summary="The lead unit's reply (答复) with result class A / B / C",
              openapi_extra=sends(ReplyToTask))
    async def reply(task_id: str, body: ReplyBody, services: ServicesDep,
                    principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(ReplyToTask, body, task_id=task_id), principal)

    @app.get(f"{API}/reply-templates", tags=tags,
             summary="The reply template for a category and result class",
             openapi_extra=sends(ReplyTemplate))
    async def reply_template(services: ServicesDep, principal: Staff,
                             result_class: Literal["A", "B", "C"],
                             category: str | None = None, task_id: str | None = None,
                             commitment_date: date | None = None) -> dict[str, Any]:
        """The category's template, else the default (``source``); with ``task_id`` (and
        ``commitment_date``), ``filled``: the variables known filled, ``blanks`` the rest."""
        return await services.send(request_of(ReplyTemplate, query={
            "category": category, "result_class": result_class, "task_id": task_id,
            "commitment_date": commitment_date}), principal)

    @app.get(f"{API}/admin/reply-templates", tags=tags, responses=PAGED,
             summary="The reply templates (答复模板), paged, by category (default first) "
                     "and class", openapi_extra=sends(ListReplyTemplates))
    async def reply_templates(request: Request, response: Response, services: ServicesDep,
                              principal: Staff, paging: Paging,
                              category: Annotated[str | None, Query(max_length=64)] = None,
                              result_class: ResultClass | None = None,
                              ) -> list[dict[str, Any]]:
        """Each current template: category (``default``: every category without its own),
        class, text, its variables, who changed it last and when."""
        found = await services.send(request_of(ListReplyTemplates, query={
            "category": category, "result_class": result_class, **paging.payload()}),
            principal)
        return paged(request, response, found)

    @app.get(f"{API}/admin/reply-templates/{{category}}/{{result_class}}", tags=tags,
             responses=NOT_ALLOWED, summary="One reply template with its history (who, when, "
             "before and after)", openapi_extra=sends(GetReplyTemplate))
    async def get_reply_template(category: str, result_class: str, services: ServicesDep,
                                 principal: Staff) -> dict[str, Any]:
        return await services.send(request_of(GetReplyTemplate, category=category,
                                              result_class=result_class), principal)

    @app.put(f"{API}/admin/reply-templates/{{category}}/{{result_class}}", tags=tags,
             responses={**NOT_ALLOWED, 422: {"description": "each wrong field's message"}},
             summary="Create or change a reply template (the office); each change an event",
             openapi_extra=sends(SetReplyTemplate))
    async def put_reply_template(category: str, result_class: str, body: TemplateBody,
                                 services: ServicesDep,
                                 principal: TemplateEditor) -> dict[str, Any]:
        return await services.send(request_of(SetReplyTemplate, body, category=category,
                                              result_class=result_class), principal)

    @app.delete(f"{API}/admin/reply-templates/{{category}}/{{result_class}}", tags=tags,
                responses=NOT_ALLOWED, summary="Remove a category's reply template (the "
                "default then applies); a default template is never removed (409)",
                openapi_extra=sends(RemoveReplyTemplate))
    async def delete_reply_template(category: str, result_class: str, services: ServicesDep,
                                    principal: TemplateEditor) -> dict[str, Any]:
        return await services.send(request_of(RemoveReplyTemplate, category=category,
                                              result_class=result_class), principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/rating", tags=tags, responses=NOT_ALLOWED,
              summary="A deputy of the suggestion rates the reply; unsatisfied reopens it",
              openapi_extra=sends(RateCase))
    async def rate(suggestion_id: str, body: CaseRatingBody, services: ServicesDep,
                   principal: Deputy) -> dict[str, Any]:
        return await services.send(request_of(RateCase, body, case_id=suggestion_id), principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/reviews/{{review_id}}", tags=tags,
              responses=NOT_ALLOWED, summary="Record a follow-up review's (回头看) outcome",
              openapi_extra=sends(RecordReview))
    async def review(suggestion_id: str, review_id: str, body: ReviewBody,
                     services: ServicesDep, principal: OfficeOrLeader) -> dict[str, Any]:
        return await services.send(request_of(RecordReview, body, case_id=suggestion_id,
                                              review_id=review_id), principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/close", tags=tags, responses={
        **NOT_ALLOWED, 409: {"description": "something is missing; `missing` lists each item"}},
        summary="Close out (销号): refused while a reply, rating or due review is missing",
        openapi_extra=sends(CloseCase))
    async def close(suggestion_id: str, services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.send(request_of(CloseCase, case_id=suggestion_id), principal)

    @app.get(f"{API}/cases/{{case_id}}/supervision", tags=tags, responses=NOT_ALLOWED,
             summary="Where a case stands: round, replies, ratings, reviews, what close-out lacks",
             openapi_extra=sends(GetCase))
    async def case(case_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.send(request_of(GetCase, case_id=case_id), principal)

    @app.get(f"{API}/tasks", tags=["tasks"], responses=PAGED,
             summary="Supervised tasks (a unit sees only its own), paged, by deadline; "
                     "year = the year the task was opened", openapi_extra=sends(ListTasks))
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
        found = await services.send(request_of(ListTasks, query={
            "unit_id": unit_id, "status": status_, "case_id": case_id, "q": q or None,
            "year": year, "order": order, **paging.payload()}), principal)
        return paged(request, response, found)

    @app.get(f"{API}/leader/cases", tags=["supervision"], responses=PAGED,
             summary="A leader's cases: led, supervised or escalated to them (我的督办件), "
                     "paged, most recent first", openapi_extra=sends(LeaderCases))
    async def leader_cases(request: Request, response: Response, services: ServicesDep,
                           principal: LeaderOrOffice, paging: Paging,
                           leader_id: Annotated[str | None, Query(max_length=64)] = None,
                           relation: Literal["led", "supervised", "escalated"] | None = None,
                           open_only: bool = False) -> list[dict[str, Any]]:
        """The cases a leader leads (领办) or supervises (重点督办) by designation and those
        escalated to them (升级督办), most recently designated or escalated first; each with
        its relations, number, title, colour today (the worst of its tasks) and tasks. A
        leader sees their own; the office names ``leader_id`` (a leader or committee)."""
        found = await services.send(request_of(LeaderCases, query={
            "leader_id": leader_id, "relation": relation, "open_only": open_only,
            **paging.payload()}), principal)
        return paged(request, response, found)

    @app.get(f"{API}/tasks/{{task_id}}", tags=["tasks"], responses=NOT_ALLOWED,
             summary="One task with its contacts, progress, opinion, replies and warnings",
             openapi_extra=sends(GetTask))
    async def get_task(task_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.send(request_of(GetTask, task_id=task_id), principal)

    @app.get(f"{API}/board", tags=tags,
             summary=f"The progress board: counts by unit, category and colour (all counted), "
                     f"with the first `limit` (default {NESTED_LIMIT}, at most 500) cases of "
                     f"each cell and of the overdue list; year = the year a task was opened",
             openapi_extra=sends(Board))
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
        return await services.send(request_of(Board, query={
            "unit_id": unit_id, "category": category, "colour": colour, "as_of": as_of,
            "year": year, "limit": limit}), principal)

    @app.get(f"{API}/stats", tags=tags,
             summary="On-time reply, resolution, satisfaction and re-handling rates for a period "
                     "(from and to) or a year (default: the current year)",
             openapi_extra=sends(Stats))
    async def stats(services: ServicesDep, principal: Staff,
                    from_: Annotated[date | None, Query(alias="from")] = None,
                    to: date | None = None, year: YearParam = None,
                    term: Annotated[str | None, Query(max_length=64, description=(
                        "a term's id (届): its start to its end, an open term to today"))] = None,
                    ) -> dict[str, Any]:
        """The cases of a period are those whose first reply falls in it: ``from`` and ``to``
        (days, inclusive), ``year`` (``all``: every year), by default the current year, or
        ``term`` (届: the term's dates; the answer names the term)."""
        payload: dict[str, Any] = {"year": year}
        if from_ is not None or to is not None:
            payload = {"from": from_, "to": to, **({"year": year} if year else {})}
        if term is not None:
            payload = {**{k: v for k, v in payload.items() if v is not None}, "term": term}
        return await services.send(request_of(Stats, query=payload), principal)

    @app.get(f"{API}/reviews", tags=tags, responses=PAGED,
             summary="Follow-up reviews (回头看) recorded in a term (本届以来; default: the "
                     "current term) or a year, paged, the most recent first",
             openapi_extra=sends(ListReviews))
    async def reviews(request: Request, response: Response, services: ServicesDep,
                      principal: Staff, paging: Paging,
                      term: Annotated[str | None, Query(max_length=64)] = None,
                      year: YearParam = None,
                      outcome: Literal["kept", "partly_kept", "not_kept"] | None = None,
                      ) -> list[dict[str, Any]]:
        """Each review: the case (number, title, category, lead unit), why it was scheduled,
        when it was due, its outcome, note, whether it reopened the case, the day recorded.
        A unit sees its cases' reviews, a deputy their suggestions'."""
        found = await services.send(request_of(ListReviews, query={
            "term": term, "year": year, "outcome": outcome, **paging.payload()}), principal)
        return paged(request, response, found)

    @app.post(f"{API}/bulletins", tags=tags, status_code=201, responses=NOT_ALLOWED,
              summary="Publish the monthly dispatch or quarterly bulletin of an ended period",
              openapi_extra=sends(PublishBulletin))
    async def publish(body: BulletinBody, services: ServicesDep,
                      principal: Publisher) -> dict[str, Any]:
        return await services.send(request_of(PublishBulletin, body), principal)

    @app.get(f"{API}/bulletins/{{period}}", tags=tags, summary="A published bulletin's figures",
             openapi_extra=sends(GetBulletin))
    async def bulletin(period: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.send(request_of(GetBulletin, period=period), principal)

    @app.get(f"{API}/bulletins/{{period}}/page", tags=tags, response_class=HTMLResponse,
             summary="A published bulletin as a printable page (Chinese, with a chart)",
             openapi_extra=sends(BulletinHtml))
    async def bulletin_page(period: str, services: ServicesDep, principal: Staff) -> HTMLResponse:
        result = await services.send(request_of(BulletinHtml, period=period), principal)
        return HTMLResponse(result["html"])

    @app.post(f"{API}/supervision/deadline-clock", tags=["ops"],
              summary="Run the deadline clock now (it also runs periodically)",
              openapi_extra=sends(SweepNow))
    async def deadline_clock(services: ServicesDep, principal: ClockRunner) -> dict[str, Any]:
        return await services.send(SweepNow(), principal)

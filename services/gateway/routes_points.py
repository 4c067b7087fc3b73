"""Gateway routes owned by the points service (see ../shared/API.md, "Duty points").

Who sees what: a deputy only their own points, record, report and activities (rankings are
shown to every deputy: 晾晒比拼); units nothing here; the office and leaders everything. Only
the office reviews activities, revokes points and recalculates; a deputy never reviews their
own activity (refused by the points service whatever the role).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from services.gateway.auth import Principal
from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, PAGED_HEADERS, Paging, next_link, paged
from shared.contracts.requests.points import (
    ApproveActivity,
    DeputyPoints,
    DeputyRecord,
    DeputyRecordMessages,
    DeputyRecordSuggestions,
    DeputyReport,
    GetActivity,
    ListActivities,
    ListRecalculations,
    PointsRules,
    Ranking,
    Recalculate,
    RejectActivity,
    RevokePoints,
    SubmitActivity,
)

API = "/api/v1"
TAGS = ["points"]

# The principals: the roles each request admits (a route may narrow them); units see no
# duty points.
Readers = admitted(DeputyPoints, "office", "leader", "deputy")
Deputy = admitted(SubmitActivity)
Office = admitted(ApproveActivity)
OfficeOrLeader = admitted(ListRecalculations, "office", "leader")
Staff = admitted(PointsRules, "office", "leader", "unit", "deputy")
Year = Annotated[int | None, Query(ge=2000, le=2100, description="calendar year; default this year")]
YearOrAll = Annotated[str | None, Query(pattern=r"^(\d{4}|all)$",
                                        description="a year (4 digits) or `all`; default this year")]
Search = Annotated[str | None, Query(max_length=200, description="words of the description "
                                     "(Chinese; each word must occur)")]
PAGED_OBJECT = {200: {"description": "the object with one page of its list",
                      "headers": PAGED_HEADERS}}


def year_param(year: str | None) -> int | str | None:
    return int(year) if year and year != "all" else year


def _page_headers(request: Request, response: Response, cursor: str | None,
                  total: int | None) -> None:
    """Link rel="next" and X-Total-Count for the list inside an object answer."""
    if cursor:
        response.headers["Link"] = next_link(request, cursor)
    if total is not None:
        response.headers["X-Total-Count"] = str(total)


# Bodies: the requests' fields but the path's (shared/contracts/requests/points.py).
ActivityBody = body_of(SubmitActivity, "deputy_id")
ReasonBody = body_of(RejectActivity, "activity_id")
RecalculationBody = body_of(Recalculate)
RevocationBody = body_of(RevokePoints, "deputy_id")


def _own_or_all(principal: Principal, deputy_id: str) -> None:
    if principal.role == "unit":
        raise HTTPException(403, "units do not see duty points")
    if principal.role == "deputy" and principal.deputy_id != deputy_id:
        raise HTTPException(403, "a deputy sees only their own duty record")


def register_points_routes(app: FastAPI) -> None:
    """Add the points routes to the gateway app."""

    @app.get(f"{API}/deputies/{{deputy_id}}/points", tags=TAGS, responses=PAGED_OBJECT,
             summary="A deputy's duty points of a year (the ledger's year): total, totals per "
                     "cause and approved activities of the whole ledger, and its ledger lines "
                     "with their cause a page at a time (limit, cursor; by line number): "
                     "`lines` is one page, `lines_total` counts them all, `lines_next_cursor` "
                     "(also the Link rel=\"next\" header) gives the next page, X-Total-Count "
                     "the number of lines", openapi_extra=sends(DeputyPoints))
    async def deputy_points(request: Request, response: Response, deputy_id: str,
                            services: ServicesDep, principal: Readers, paging: Paging,
                            year: Year = None) -> dict[str, Any]:
        _own_or_all(principal, deputy_id)
        result = await services.send(request_of(DeputyPoints, deputy_id=deputy_id, query={
            "year": year, **paging.payload()}), principal)
        _page_headers(request, response, result.get("lines_next_cursor"),
                      result.get("lines_total"))
        return result

    @app.post(f"{API}/deputies/{{deputy_id}}/activities", status_code=201, tags=TAGS,
              summary="A deputy reports one of their own duty activities (pending review)",
              openapi_extra=sends(SubmitActivity))
    async def submit_activity(deputy_id: str, body: ActivityBody, services: ServicesDep,
                              principal: Deputy) -> dict[str, Any]:
        if principal.deputy_id != deputy_id:
            raise HTTPException(403, "a deputy reports only their own activities")
        return await services.send(request_of(SubmitActivity, body, deputy_id=deputy_id),
                                   principal)

    @app.get(f"{API}/activities", tags=TAGS, responses=PAGED,
             summary="Self-reported activities (the office's review queue with status=pending); "
                     "a deputy sees only their own. Paged (limit, cursor) by activity date, "
                     "then submission time; `year` is the activity date's (default this year, "
                     "`all`); `q` finds words of the description",
             openapi_extra=sends(ListActivities))
    async def list_activities(request: Request, response: Response, services: ServicesDep,
                              principal: Readers, paging: Paging,
                              status_: Annotated[str | None, Query(
                                  alias="status", pattern="^(pending|approved|rejected)$")] = None,
                              deputy_id: str | None = None,
                              year: YearOrAll = None, q: Search = None) -> list[dict[str, Any]]:
        if principal.role == "unit":
            raise HTTPException(403, "units do not see duty activities")
        if principal.role == "deputy":
            if deputy_id and deputy_id != principal.deputy_id:
                raise HTTPException(403, "a deputy sees only their own activities")
            deputy_id = principal.deputy_id
        page = await services.send(request_of(ListActivities, query={
            "status": status_, "deputy_id": deputy_id, "year": year_param(year),
            "q": q or None, **paging.payload()}), principal)
        return paged(request, response, page)

    @app.get(f"{API}/activities/{{activity_id}}", tags=TAGS, summary="One self-reported activity",
             openapi_extra=sends(GetActivity))
    async def get_activity(activity_id: str, services: ServicesDep,
                           principal: Readers) -> dict[str, Any]:
        if principal.role == "unit":
            raise HTTPException(403, "units do not see duty activities")
        return await services.send(request_of(GetActivity, activity_id=activity_id), principal)

    @app.post(f"{API}/activities/{{activity_id}}/approve", tags=TAGS,
              summary="The office approves an activity: it scores under the rule in force on its "
                      "date, subject to caps (a capped activity scores 0 and names the cap)",
              openapi_extra=sends(ApproveActivity))
    async def approve_activity(activity_id: str, services: ServicesDep,
                               principal: Office) -> dict[str, Any]:
        return await services.send(request_of(ApproveActivity, activity_id=activity_id),
                                   principal)

    @app.post(f"{API}/activities/{{activity_id}}/reject", tags=TAGS,
              summary="The office rejects an activity with a reason",
              openapi_extra=sends(RejectActivity))
    async def reject_activity(activity_id: str, body: ReasonBody, services: ServicesDep,
                              principal: Office) -> dict[str, Any]:
        return await services.send(request_of(RejectActivity, body, activity_id=activity_id),
                                   principal)

    @app.post(f"{API}/deputies/{{deputy_id}}/points/revocations", status_code=201, tags=TAGS,
              summary="The office revokes one award line of a deputy's ledger, with a reason",
              openapi_extra=sends(RevokePoints))
    async def revoke_points(deputy_id: str, body: RevocationBody, services: ServicesDep,
                            principal: Office) -> dict[str, Any]:
        return await services.send(request_of(RevokePoints, body, deputy_id=deputy_id),
                                   principal)

    @app.get(f"{API}/rankings", tags=TAGS, responses=PAGED_OBJECT,
             summary="Duty-point rankings per year, or per term (届: `term=<id>`, the points "
                     "earned between its start and end), and deputy group. Order: total points desc, "
                     "then approved activities desc, then deputy id asc; deputies with the "
                     "same total share a rank (并列: 1, 2, 2, 4), tied_on_points marks them. `rows` is one page "
                     "(limit, cursor): `total` counts the deputies ranked, `next_cursor` (also "
                     "the Link rel=\"next\" header) gives the next page, X-Total-Count the total",
             openapi_extra=sends(Ranking))
    async def rankings(request: Request, response: Response, services: ServicesDep,
                       principal: Readers, paging: Paging, year: Year = None,
                       group: str | None = None, level: str | None = None,
                       term: str | None = None) -> dict[str, Any]:
        if principal.role == "unit":
            raise HTTPException(403, "units do not see duty points")
        result = await services.send(request_of(Ranking, query={
            "year": year, "term": term, "group": group, "level": level,
            **paging.payload()}), principal)
        _page_headers(request, response, result.get("next_cursor"), result.get("total"))
        return result

    @app.get(f"{API}/deputies/{{deputy_id}}/record", tags=TAGS,
             summary="A deputy's duty record (履职档案) for a year: the total, totals per cause, "
                     "counts, the eight indicators and the rank over the whole year, and the "
                     "most recent 50 activities, suggestions, citizen messages and ledger lines "
                     "with dates; `lists` gives for each list how many it shows of how many "
                     "and the path of the paged whole list; with `term=<id>` (届) instead: "
                     "the points earned in the term, its ranking, and each year it spans",
             openapi_extra=sends(DeputyRecord))
    async def deputy_record(deputy_id: str, services: ServicesDep, principal: Readers,
                            year: Year = None, term: str | None = None) -> dict[str, Any]:
        _own_or_all(principal, deputy_id)
        return await services.send(request_of(DeputyRecord, deputy_id=deputy_id,
                                              query={"year": year, "term": term}), principal)

    @app.get(f"{API}/deputies/{{deputy_id}}/record/suggestions", tags=TAGS, responses=PAGED,
             summary="The suggestions of a deputy's duty record for a year (registration, "
                     "reversal, merge, closing, points), paged (limit, cursor) by registration "
                     "(else closing) date, then case id",
             openapi_extra=sends(DeputyRecordSuggestions))
    async def deputy_record_suggestions(request: Request, response: Response, deputy_id: str,
                                        services: ServicesDep, principal: Readers,
                                        paging: Paging, year: Year = None) -> list[dict[str, Any]]:
        _own_or_all(principal, deputy_id)
        page = await services.send(request_of(DeputyRecordSuggestions, deputy_id=deputy_id,
                                              query={"year": year, **paging.payload()}),
                                   principal)
        return paged(request, response, page)

    @app.get(f"{API}/deputies/{{deputy_id}}/record/messages", tags=TAGS, responses=PAGED,
             summary="The citizen messages a deputy answered or had rated in a year (their "
                     "duty record's), with points, paged (limit, cursor) by answer date, then "
                     "message id", openapi_extra=sends(DeputyRecordMessages))
    async def deputy_record_messages(request: Request, response: Response, deputy_id: str,
                                     services: ServicesDep, principal: Readers,
                                     paging: Paging, year: Year = None) -> list[dict[str, Any]]:
        _own_or_all(principal, deputy_id)
        page = await services.send(request_of(DeputyRecordMessages, deputy_id=deputy_id,
                                              query={"year": year, **paging.payload()}),
                                   principal)
        return paged(request, response, page)

    @app.get(f"{API}/deputies/{{deputy_id}}/report", tags=TAGS, response_class=HTMLResponse,
             summary="The annual duty report (年度履职报告): a printable, self-contained HTML "
                     "page; totals and indicators of the whole year, each list its most recent "
                     "50 items (\"showing N of M\" and the path of the whole list where capped)",
             openapi_extra=sends(DeputyReport))
    async def deputy_report(deputy_id: str, services: ServicesDep, principal: Readers,
                            year: Year = None) -> HTMLResponse:
        _own_or_all(principal, deputy_id)
        result = await services.send(request_of(DeputyReport, deputy_id=deputy_id,
                                                query={"year": year}), principal)
        return HTMLResponse(result["html"])

    @app.get(f"{API}/points/rules", tags=TAGS,
             summary="The scoring rule versions: activity kinds, points, caps, indicators",
             openapi_extra=sends(PointsRules))
    async def scoring_rules(services: ServicesDep, principal: Staff) -> list[dict[str, Any]]:
        return await services.send(PointsRules(), principal)

    @app.post(f"{API}/points/recalculations", status_code=201, tags=TAGS,
              summary="The office recalculates a year's points under a rule version; each "
                      "changed line gets an adjustment line (recorded, repeatable)",
              openapi_extra=sends(Recalculate))
    async def recalculate(body: RecalculationBody, services: ServicesDep,
                          principal: Office) -> dict[str, Any]:
        return await services.send(request_of(Recalculate, body), principal)

    @app.get(f"{API}/points/recalculations", tags=TAGS, responses=PAGED,
             summary="Recorded recalculations of a year (the recalculated year; default this "
                     "year, `all`), paged (limit, cursor) in the order recorded; each names at "
                     "most 20 of the ledgers it changed (`ledgers_total` counts them)",
             openapi_extra=sends(ListRecalculations))
    async def recalculations(request: Request, response: Response, services: ServicesDep,
                             principal: OfficeOrLeader, paging: Paging,
                             year: YearOrAll = None) -> list[dict[str, Any]]:
        page = await services.send(request_of(ListRecalculations, query={
            "year": year_param(year), **paging.payload()}), principal)
        return paged(request, response, page)

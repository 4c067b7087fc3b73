"""Gateway routes owned by the projects service: livelihood-project voting (民生实事项目票决),
from proposal to the deputies' final evaluation. Who may do what is decided by the service
(shared/contracts/requests/projects.py); the published results are public."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, paged
from shared.contracts.requests.projects import (
    AssignProjectUnit,
    CastVote,
    CloseBallot,
    CloseEvaluation,
    CompleteProject,
    CreateBallot,
    EvaluateProject,
    GetBallot,
    GetProject,
    ListBallots,
    ListProjects,
    ListProposals,
    OpenBallot,
    PlanMilestone,
    ProposeProject,
    PublicVoteResults,
    ReportMilestone,
)

API = "/api/v1/projects"
TAGS = ["livelihood projects"]

Proposing = admitted(ProposeProject)
Office = admitted(CreateBallot)
Deputy = admitted(CastVote)
Unit = admitted(ReportMilestone)
Readers = admitted(ListBallots)
Staff = admitted(ListProjects)
Year = Annotated[int | None, Query(ge=2000, le=2100, description="calendar year; default this year")]
Id = Annotated[str, Path(min_length=1, max_length=100)]

ProposalBody = body_of(ProposeProject)
BallotBody = body_of(CreateBallot)
VoteBody = body_of(CastVote, "ballot_id")
UnitBody = body_of(AssignProjectUnit, "project_id")
MilestoneBody = body_of(PlanMilestone, "project_id")
ReportBody = body_of(ReportMilestone, "project_id", "milestone_id")
EvaluationBody = body_of(EvaluateProject, "project_id")


def register_projects_routes(app: FastAPI) -> None:
    # --- proposals -------------------------------------------------------------------------
    @app.post(f"{API}/proposals", status_code=201, tags=TAGS,
              summary="Propose a livelihood project (office or deputy; from a citizen message "
                      "or a suggestion with its id)", openapi_extra=sends(ProposeProject))
    async def propose(body: ProposalBody, services: ServicesDep,
                      principal: Proposing) -> dict[str, Any]:
        return await services.send(request_of(ProposeProject, body), principal)

    @app.get(f"{API}/proposals", tags=TAGS, responses=PAGED,
             summary="Proposals of a year, newest first (status filter). Paged",
             openapi_extra=sends(ListProposals))
    async def list_proposals(request: Request, response: Response, services: ServicesDep,
                             principal: Readers, paging: Paging, year: Year = None,
                             status: Annotated[str | None, Query(max_length=20)] = None,
                             ) -> list[dict[str, Any]]:
        page = await services.send(request_of(ListProposals, query={
            "year": year, "status": status, **paging.payload()}), principal)
        return paged(request, response, page)

    # --- ballots ---------------------------------------------------------------------------
    @app.post(f"{API}/ballots", status_code=201, tags=TAGS,
              summary="Put candidates on a ballot for a session (office)",
              openapi_extra=sends(CreateBallot))
    async def create_ballot(body: BallotBody, services: ServicesDep,
                            principal: Office) -> dict[str, Any]:
        return await services.send(request_of(CreateBallot, body), principal)

    @app.get(f"{API}/ballots", tags=TAGS, responses=PAGED,
             summary="Ballots of a year, newest first. Paged", openapi_extra=sends(ListBallots))
    async def list_ballots(request: Request, response: Response, services: ServicesDep,
                           principal: Readers, paging: Paging, year: Year = None
                           ) -> list[dict[str, Any]]:
        page = await services.send(request_of(ListBallots, query={
            "year": year, **paging.payload()}), principal)
        return paged(request, response, page)

    @app.get(f"{API}/results", tags=TAGS, responses=PAGED,
             summary="Published results of closed votes, without login (no personal data). "
                     "Paged", openapi_extra=sends(PublicVoteResults))
    async def public_results(request: Request, response: Response, services: ServicesDep,
                             paging: Paging, year: Year = None) -> list[dict[str, Any]]:
        page = await services.send(request_of(PublicVoteResults, query={
            "year": year, **paging.payload()}))
        return paged(request, response, page)

    @app.get(f"{API}/ballots/{{ballot_id}}", tags=TAGS,
             summary="A ballot: candidates, status, results once closed; a deputy sees whether "
                     "they voted, the office who voted (never what anyone chose)",
             openapi_extra=sends(GetBallot))
    async def get_ballot(ballot_id: Id, services: ServicesDep,
                         principal: Readers) -> dict[str, Any]:
        return await services.send(request_of(GetBallot, ballot_id=ballot_id), principal)

    @app.post(f"{API}/ballots/{{ballot_id}}/open", tags=TAGS, summary="Open the vote (office)",
              openapi_extra=sends(OpenBallot))
    async def open_ballot(ballot_id: Id, services: ServicesDep,
                          principal: Office) -> dict[str, Any]:
        return await services.send(request_of(OpenBallot, ballot_id=ballot_id), principal)

    @app.post(f"{API}/ballots/{{ballot_id}}/close", tags=TAGS,
              summary="Close the vote: results frozen and published, chosen projects followed "
                      "(office)", openapi_extra=sends(CloseBallot))
    async def close_ballot(ballot_id: Id, services: ServicesDep,
                           principal: Office) -> dict[str, Any]:
        return await services.send(request_of(CloseBallot, ballot_id=ballot_id), principal)

    @app.post(f"{API}/ballots/{{ballot_id}}/votes", status_code=201, tags=TAGS,
              summary="A deputy's secret ballot (one per deputy; 409 a second time or after "
                      "the close); the answer does not repeat the choices",
              openapi_extra=sends(CastVote))
    async def cast_vote(ballot_id: Id, body: VoteBody, services: ServicesDep,
                        principal: Deputy) -> dict[str, Any]:
        return await services.send(request_of(CastVote, body, ballot_id=ballot_id), principal)

    # --- followed projects -----------------------------------------------------------------
    @app.get(API, tags=TAGS, responses=PAGED,
             summary="Followed (chosen) projects of a year; a unit sees its own. Paged",
             openapi_extra=sends(ListProjects))
    async def list_projects(request: Request, response: Response, services: ServicesDep,
                            principal: Staff, paging: Paging, year: Year = None,
                            status: Annotated[str | None, Query(max_length=20)] = None,
                            ) -> list[dict[str, Any]]:
        page = await services.send(request_of(ListProjects, query={
            "year": year, "status": status, **paging.payload()}), principal)
        return paged(request, response, page)

    @app.get(f"{API}/{{project_id}}", tags=TAGS,
             summary="A followed project: unit, milestones with deadlines and reports, "
                     "evaluation", openapi_extra=sends(GetProject))
    async def get_project(project_id: Id, services: ServicesDep,
                          principal: Staff) -> dict[str, Any]:
        return await services.send(request_of(GetProject, project_id=project_id), principal)

    @app.put(f"{API}/{{project_id}}/unit", tags=TAGS,
             summary="Set the responsible unit (office)", openapi_extra=sends(AssignProjectUnit))
    async def assign_unit(project_id: Id, body: UnitBody, services: ServicesDep,
                          principal: Office) -> dict[str, Any]:
        return await services.send(request_of(AssignProjectUnit, body, project_id=project_id),
                                   principal)

    @app.post(f"{API}/{{project_id}}/milestones", status_code=201, tags=TAGS,
              summary="Plan a milestone with its deadline (office)",
              openapi_extra=sends(PlanMilestone))
    async def plan_milestone(project_id: Id, body: MilestoneBody, services: ServicesDep,
                             principal: Office) -> dict[str, Any]:
        return await services.send(request_of(PlanMilestone, body, project_id=project_id),
                                   principal)

    @app.post(f"{API}/{{project_id}}/milestones/{{milestone_id}}/reports", status_code=201,
              tags=TAGS, summary="The responsible unit reports progress on a milestone "
                                 "(another unit: 403)", openapi_extra=sends(ReportMilestone))
    async def report_milestone(project_id: Id, milestone_id: Id, body: ReportBody,
                               services: ServicesDep, principal: Unit) -> dict[str, Any]:
        return await services.send(request_of(ReportMilestone, body, project_id=project_id,
                                              milestone_id=milestone_id), principal)

    @app.post(f"{API}/{{project_id}}/complete", tags=TAGS,
              summary="Mark the project completed; the deputies' evaluation opens (office)",
              openapi_extra=sends(CompleteProject))
    async def complete(project_id: Id, services: ServicesDep,
                       principal: Office) -> dict[str, Any]:
        return await services.send(request_of(CompleteProject, project_id=project_id),
                                   principal)

    @app.post(f"{API}/{{project_id}}/evaluations", status_code=201, tags=TAGS,
              summary="A deputy's evaluation of a completed project (one per deputy: 409)",
              openapi_extra=sends(EvaluateProject))
    async def evaluate(project_id: Id, body: EvaluationBody, services: ServicesDep,
                       principal: Deputy) -> dict[str, Any]:
        return await services.send(request_of(EvaluateProject, body, project_id=project_id),
                                   principal)

    @app.post(f"{API}/{{project_id}}/evaluation/close", tags=TAGS,
              summary="Close the deputies' evaluation with its summary (office)",
              openapi_extra=sends(CloseEvaluation))
    async def close_evaluation(project_id: Id, services: ServicesDep,
                               principal: Office) -> dict[str, Any]:
        return await services.send(request_of(CloseEvaluation, project_id=project_id),
                                   principal)

    @app.get("/public/projects", response_class=HTMLResponse, tags=TAGS,
             summary="The public page of livelihood-project vote results (Chinese, no login)")
    async def public_page(services: ServicesDep, paging: Paging,
                          year: Year = None) -> HTMLResponse:
        page = await services.send(request_of(PublicVoteResults, query={
            "year": year, **paging.payload()}))
        esc = html.escape
        sections = []
        for b in page["items"]:
            results = b.get("results") or {}
            rows = "".join(
                f"<tr><td>{r['rank']}</td><td>{esc(r['title'])}</td><td>{r['votes']}</td>"
                f"<td>{'当选' if r['chosen'] else ('票数相同，待定' if r['tied'] else '未当选')}"
                "</td></tr>" for r in results.get("rows", []))
            sections.append(
                f"<section><h2>{esc(b['title'])}</h2><p>{esc(b['session'])} · {b['year']} 年 · "
                f"有效票 {b['ballots_cast']} 张 · 应选 {b['seats']} 项</p>"
                f"<table><caption>{esc(b['title'])}表决结果</caption><thead><tr><th scope=col>"
                "名次</th><th scope=col>项目</th><th scope=col>得票</th><th scope=col>结果</th>"
                f"</tr></thead><tbody>{rows}</tbody></table></section>")
        body = "".join(sections) or "<p>暂无已公布的票决结果。</p>"
        return HTMLResponse(
            "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><meta name=viewport "
            "content='width=device-width,initial-scale=1'><title>民生实事项目票决结果公开"
            "</title></head><body><main><h1>民生实事项目票决结果公开</h1>"
            f"{body}</main></body></html>")

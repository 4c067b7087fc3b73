"""Livelihood-project voting in the web application (民生实事项目票决), in Chinese.

- the office (/app/office/projects): proposals (propose one), ballots (put candidates on a
  ballot, open and close it, the frozen results), followed projects;
- a deputy (/app/deputy/projects, phone first): the open votes and their ballot page (choose
  up to the ballot's number and vote once), the projects waiting for their evaluation;
- a unit (/app/unit/projects): its projects, each milestone with its deadline and the report
  form;
- everyone signed in: a project's page (/app/projects/{id}) showing what the role may do.

Every rule stays in the projects service; a refusal is said in Chinese.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (
    BASE, WebRoute, _people, check_csrf, failure_text, need, redirect, render, send_form, today,
)
from shared.contracts.requests import Request as Contract
from shared.contracts.requests import projects as pj

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]
Deputy = Annotated[Principal, Depends(need("deputy"))]
Unit = Annotated[Principal, Depends(need("unit"))]
Staff = Annotated[Principal, Depends(need("office", "leader", "unit", "deputy"))]
Csrf = [Depends(check_csrf)]
Id = Annotated[str, Path(min_length=1, max_length=100)]

BALLOT_STATUS_ZH = {"draft": "未开始", "open": "投票中", "closed": "已结束"}
PROPOSAL_STATUS_ZH = {"proposed": "待列入票决", "listed": "已列入票决", "chosen": "已票决通过",
                      "not_chosen": "未通过"}
SOURCE_ZH = {"office": "代表工委征集", "deputy": "代表提出", "message": "来自群众留言",
             "suggestion": "来自代表建议"}
PROJECT_STATUS_ZH = {"in_progress": "实施中", "evaluating": "待代表测评", "evaluated": "已测评"}
MILESTONE_STATUS_ZH = {"open": "进行中", "done": "已完成", "overdue": "已超期"}
RATING_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}

# the projects service's refusals, in Chinese (web/errors_zh.py says the rest by status)
REFUSALS_ZH = [
    ("already voted", "您已经投过票，每位代表只能投一次"),
    ("voting is closed", "投票已经结束，不能再投票"),
    ("voting is not open", "投票尚未开始"),
    ("at most", "选择的项目超过了本次票决允许的数量"),
    ("at least one", "请至少选择一个项目"),
    ("already evaluated", "您已经测评过这个项目"),
    ("responsible unit", "只有项目的责任单位才能报告进展"),
    ("every milestone", "所有节点完成后才能标为完成"),
    ("already done", "这个节点已经完成"),
    ("only an open ballot", "只有投票中的票决才能结束"),
    ("only a draft", "票决已经开始或结束"),
    ("not yet on a ballot", "所选项目已列入其他票决"),
    ("completed project", "项目完成后代表才能测评"),
]


def refusal(exc: ServiceFailure) -> str:
    detail = str(exc.reply.get("detail") or "")
    for pattern, chinese in REFUSALS_ZH:
        if pattern in detail:
            return chinese
    text, items = failure_text(exc)
    return "；".join([text, *items])


def labels(request: Request | None = None) -> dict[str, Any]:
    settings = getattr(request.app.state, "settings", None) if request is not None else None
    people = _people(str(settings.config_dir)) if settings is not None else {
        "units": {}, "deputies": {}}
    return {"UNIT_NAMES": people["units"], "DEPUTY_NAMES": people["deputies"], "BALLOT_STATUS_ZH": BALLOT_STATUS_ZH, "PROPOSAL_STATUS_ZH": PROPOSAL_STATUS_ZH,
            "SOURCE_ZH": SOURCE_ZH, "PROJECT_STATUS_ZH": PROJECT_STATUS_ZH,
            "MILESTONE_STATUS_ZH": MILESTONE_STATUS_ZH, "PROJECT_RATING_ZH": RATING_ZH}


async def _call(request: Request, contract: type[Contract], payload: dict[str, Any],
                user: Principal) -> Any:
    """Send ``contract`` with the page's values (a refused value: the service's 422)."""
    return await send_form(request, contract, user, **payload)


async def _do(request: Request, contract: type[Contract], payload: dict[str, Any],
              user: Principal, back: str, done: str) -> Response:
    try:
        await _call(request, contract, payload, user)
    except ServiceFailure as exc:
        return redirect(back, "未完成：" + refusal(exc), "error")
    return redirect(back, done)


# --- the office -------------------------------------------------------------------------------

async def _office_context(request: Request, user: Principal, year: int) -> dict[str, Any]:
    proposals, ballots, projects = await asyncio.gather(
        _call(request, pj.ListProposals, {"year": year, "limit": 200}, user),
        _call(request, pj.ListBallots, {"year": year, "limit": 50}, user),
        _call(request, pj.ListProjects, {"year": year, "limit": 200}, user))
    return {"year": year, "proposals": proposals["items"], "ballots": ballots["items"],
            "projects": projects["items"], "errors": {}, "form": {}, "ballot_form": {},
            **labels(request)}


@router.get(f"{BASE}/office/projects")
async def office_projects(request: Request, user: Office) -> HTMLResponse:
    return render(request, "projects_office.html",
                  await _office_context(request, user, today().year))


@router.post(f"{BASE}/office/projects/proposals", dependencies=Csrf)
async def office_propose(request: Request, user: Office,
                         title: Annotated[str, Form(max_length=200)] = "",
                         description: Annotated[str, Form(max_length=5000)] = "",
                         source_kind: Annotated[str, Form(max_length=20)] = "office",
                         source_id: Annotated[str, Form(max_length=100)] = "",
                         unit_id: Annotated[str, Form(max_length=100)] = "") -> Response:
    form = {"title": title.strip(), "description": description.strip(),
            "source_kind": source_kind, "source_id": source_id.strip(), "unit_id": unit_id}
    errors: dict[str, str] = {}
    if not form["title"]:
        errors["title"] = "请填写项目名称"
    if not form["description"]:
        errors["description"] = "请填写项目内容"
    if source_kind not in ("office", "message", "suggestion"):
        errors["source_kind"] = "请选择项目来源"
    elif source_kind != "office" and not form["source_id"]:
        errors["source_id"] = "来自群众留言或代表建议的项目，请填写其编号"
    if not errors:
        payload = {k: v for k, v in form.items() if v}
        try:
            await _call(request, pj.ProposeProject, payload, user)
        except ServiceFailure as exc:
            errors["form"] = refusal(exc)
        else:
            return redirect(f"{BASE}/office/projects", "项目已征集")
    context = await _office_context(request, user, today().year)
    return render(request, "projects_office.html", {**context, "errors": errors, "form": form},
                  status_code=422)


@router.post(f"{BASE}/office/projects/ballots", dependencies=Csrf)
async def office_create_ballot(request: Request, user: Office,
                               session: Annotated[str, Form(max_length=200)] = "",
                               title: Annotated[str, Form(max_length=200)] = "",
                               max_choices: Annotated[str, Form(max_length=3)] = "",
                               seats: Annotated[str, Form(max_length=3)] = "") -> Response:
    chosen = [str(v) for v in (await request.form()).getlist("proposal_ids")]
    form = {"session": session.strip(), "title": title.strip(), "max_choices": max_choices,
            "seats": seats, "proposal_ids": chosen}
    errors: dict[str, str] = {}
    if not form["session"]:
        errors["session"] = "请填写会议名称（届次）"
    if not form["title"]:
        errors["ballot_title"] = "请填写票决名称"
    if len(chosen) < 1:
        errors["proposal_ids"] = "请至少选择一个候选项目"
    numbers = {}
    for field, value in (("max_choices", max_choices), ("seats", seats)):
        if not value.isdigit() or not 1 <= int(value) <= 50:
            errors[field] = "请填写 1 到 50 之间的整数"
        elif int(value) > max(len(chosen), 1):
            errors[field] = "不能多于候选项目数"
        else:
            numbers[field] = int(value)
    if not errors:
        try:
            ballot = await _call(request, pj.CreateBallot, {
                "session": form["session"], "year": today().year, "title": form["title"],
                "proposal_ids": chosen, **numbers}, user)
        except ServiceFailure as exc:
            errors["ballot_form"] = refusal(exc)
        else:
            return redirect(f"{BASE}/office/projects/ballots/{ballot['ballot_id']}",
                            "票决已建立，请核对候选项目后开始投票")
    context = await _office_context(request, user, today().year)
    return render(request, "projects_office.html",
                  {**context, "errors": errors, "ballot_form": form}, status_code=422)


@router.get(f"{BASE}/office/projects/ballots/{{ballot_id}}")
async def office_ballot(request: Request, ballot_id: Id, user: Office) -> HTMLResponse:
    ballot = await _call(request, pj.GetBallot, {"ballot_id": ballot_id}, user)
    return render(request, "projects_ballot.html", {"ballot": ballot, **labels(request)})


@router.post(f"{BASE}/office/projects/ballots/{{ballot_id}}/open", dependencies=Csrf)
async def office_open(request: Request, ballot_id: Id, user: Office) -> Response:
    return await _do(request, pj.OpenBallot, {"ballot_id": ballot_id}, user,
                     f"{BASE}/office/projects/ballots/{ballot_id}", "投票已开始")


@router.post(f"{BASE}/office/projects/ballots/{{ballot_id}}/close", dependencies=Csrf)
async def office_close(request: Request, ballot_id: Id, user: Office) -> Response:
    return await _do(request, pj.CloseBallot, {"ballot_id": ballot_id}, user,
                     f"{BASE}/office/projects/ballots/{ballot_id}", "投票已结束，结果已公布")


# --- a project's page (every role) -------------------------------------------------------------

@router.get(f"{BASE}/projects/{{project_id}}")
async def project_page(request: Request, project_id: Id, user: Staff) -> HTMLResponse:
    project = await _call(request, pj.GetProject, {"project_id": project_id}, user)
    return render(request, "projects_project.html", {
        "project": project, "today": today().isoformat(), **labels(request)})


def _back(project_id: str) -> str:
    return f"{BASE}/projects/{project_id}"


@router.post(f"{BASE}/projects/{{project_id}}/milestones", dependencies=Csrf)
async def plan_milestone(request: Request, project_id: Id, user: Office,
                         title: Annotated[str, Form(max_length=200)] = "",
                         due: Annotated[str, Form(max_length=10)] = "") -> Response:
    try:
        due_on = date.fromisoformat(due)
    except ValueError:
        return redirect(_back(project_id), "未完成：请填写节点的完成期限", "error")
    if not title.strip():
        return redirect(_back(project_id), "未完成：请填写节点名称", "error")
    return await _do(request, pj.PlanMilestone, {"project_id": project_id, "title": title,
                                                 "due": due_on.isoformat()}, user,
                     _back(project_id), "节点已添加")


@router.post(f"{BASE}/projects/{{project_id}}/unit", dependencies=Csrf)
async def assign_unit(request: Request, project_id: Id, user: Office,
                      unit_id: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not unit_id:
        return redirect(_back(project_id), "未完成：请选择责任单位", "error")
    return await _do(request, pj.AssignProjectUnit, {"project_id": project_id,
                                                      "unit_id": unit_id}, user,
                     _back(project_id), "责任单位已设定")


@router.post(f"{BASE}/projects/{{project_id}}/complete", dependencies=Csrf)
async def complete(request: Request, project_id: Id, user: Office) -> Response:
    return await _do(request, pj.CompleteProject, {"project_id": project_id}, user,
                     _back(project_id), "项目已完成，代表可以测评")


@router.post(f"{BASE}/projects/{{project_id}}/evaluation/close", dependencies=Csrf)
async def close_evaluation(request: Request, project_id: Id, user: Office) -> Response:
    return await _do(request, pj.CloseEvaluation, {"project_id": project_id}, user,
                     _back(project_id), "测评已结束")


@router.post(f"{BASE}/projects/{{project_id}}/milestones/{{milestone_id}}/report",
             dependencies=Csrf)
async def report_milestone(request: Request, project_id: Id, milestone_id: Id, user: Unit,
                           note: Annotated[str, Form(max_length=5000)] = "",
                           done: Annotated[str, Form(max_length=5)] = "") -> Response:
    if not note.strip():
        return redirect(_back(project_id), "未完成：请填写进展情况", "error")
    return await _do(request, pj.ReportMilestone, {
        "project_id": project_id, "milestone_id": milestone_id, "note": note,
        "done": done == "on"}, user, _back(project_id), "进展已报告")


@router.post(f"{BASE}/projects/{{project_id}}/evaluate", dependencies=Csrf)
async def evaluate(request: Request, project_id: Id, user: Deputy,
                   rating: Annotated[str, Form(max_length=30)] = "",
                   comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    if rating not in RATING_ZH:
        return redirect(_back(project_id), "未完成：请选择满意、基本满意或不满意", "error")
    return await _do(request, pj.EvaluateProject, {"project_id": project_id, "rating": rating,
                                                   "comment": comment}, user,
                     _back(project_id), "测评已提交")


# --- a deputy ---------------------------------------------------------------------------------

@router.get(f"{BASE}/deputy/projects")
async def deputy_projects(request: Request, user: Deputy) -> HTMLResponse:
    year = today().year
    ballots, evaluating = await asyncio.gather(
        _call(request, pj.ListBallots, {"year": year, "limit": 50}, user),
        _call(request, pj.ListProjects, {"year": year, "status": "evaluating", "limit": 100},
              user))
    return render(request, "projects_deputy.html", {
        "ballots": [b for b in ballots["items"] if b["status"] != "draft"],
        "evaluating": evaluating["items"], **labels(request)})


async def _vote_page(request: Request, user: Principal, ballot_id: str,
                     error: str | None = None, picked: list[str] | None = None,
                     status_code: int = 200) -> HTMLResponse:
    ballot = await _call(request, pj.GetBallot, {"ballot_id": ballot_id}, user)
    return render(request, "projects_vote.html", {
        "ballot": ballot, "error": error, "picked": picked or [], **labels(request)},
        status_code=status_code)


@router.get(f"{BASE}/deputy/ballots/{{ballot_id}}")
async def vote_page(request: Request, ballot_id: Id, user: Deputy) -> HTMLResponse:
    return await _vote_page(request, user, ballot_id)


@router.post(f"{BASE}/deputy/ballots/{{ballot_id}}", dependencies=Csrf)
async def vote(request: Request, ballot_id: Id, user: Deputy) -> Response:
    picked = [str(v) for v in (await request.form()).getlist("choices")]
    ballot = await _call(request, pj.GetBallot, {"ballot_id": ballot_id}, user)
    if not picked:
        return await _vote_page(request, user, ballot_id, "请至少选择一个项目", picked, 422)
    if len(picked) > ballot["max_choices"]:
        return await _vote_page(request, user, ballot_id,
                                f"最多可以选择 {ballot['max_choices']} 个项目，您选择了 "
                                f"{len(picked)} 个", picked, 422)
    try:
        await _call(request, pj.CastVote, {"ballot_id": ballot_id, "choices": picked}, user)
    except ServiceFailure as exc:
        return await _vote_page(request, user, ballot_id, refusal(exc), picked,
                                int(exc.reply.get("status") or 409))
    return redirect(f"{BASE}/deputy/ballots/{ballot_id}", "投票成功，感谢您的参与")


# --- a unit -----------------------------------------------------------------------------------

@router.get(f"{BASE}/unit/projects")
async def unit_projects(request: Request, user: Unit) -> HTMLResponse:
    projects = await _call(request, pj.ListProjects, {"year": today().year, "limit": 200},
                           user)
    return render(request, "projects_unit.html", {"projects": projects["items"], **labels(request)})

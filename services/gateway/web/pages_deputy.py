"""A deputy's pages, phone first: home with what needs them now (replies to rate, with the
reply in full; messages in their stations' pool to claim; claimed messages to answer or
forward), their suggestions page by page, a suggestion's page with every reply in full and
the rating form (only while a rating is possible: not during re-handling), submitting a
suggestion with co-signers, and their points and ranking."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from shared import blobs

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, request_of
from shared.contracts.requests import points as pts
from shared.contracts.requests import supervision as sv
from shared.contracts.requests.intake import (
    AnswerMessage, ClaimMessage, ConvertMessage, ForwardMessage, GetSuggestion, ListMessages,
    ListSuggestions, SubmitSuggestion,
)
from services.gateway.web.pages_attachments import ACCEPT, form_file
from services.gateway.web.common import (
    BASE, WebRoute, act, check_csrf, failure_text, names, need, optional, redirect, reference,
    render, send_form, services, today,
)

router = APIRouter(route_class=WebRoute)
Deputy = Annotated[Principal, Depends(need("deputy"))]
Csrf = [Depends(check_csrf)]
PAGE_SIZE = 10
DUE_SCAN = 100  # registered suggestions looked at for ratings due


def can_rate(case: dict[str, Any] | None, deputy_id: str | None) -> bool:
    """A rating is possible while the current round has a reply (status 'replied'), the
    case is open and this deputy has not rated the round: never during re-handling."""
    if not case or case.get("status") != "replied" or deputy_id not in case.get("raters", []):
        return False
    return not any(r["deputy_id"] == deputy_id and r["round"] == case.get("round")
                   for r in case.get("ratings", []))


def my_rating(case: dict[str, Any] | None, deputy_id: str | None) -> dict[str, Any] | None:
    mine = [r for r in (case or {}).get("ratings", []) if r["deputy_id"] == deputy_id]
    return mine[-1] if mine else None


async def _replies(request: Request, user: Principal, case: dict[str, Any]) -> list[dict[str, Any]]:
    """Every reply of the case in full (the lead tasks' replies, oldest first)."""
    svc = services(request)
    leads = [tid for tid, link in (case.get("tasks") or {}).items() if link.get("role") == "lead"]
    tasks = await asyncio.gather(*(optional(svc.send(sv.GetTask(task_id=tid), user))
                                   for tid in leads))
    replies = [{**r, "unit_id": t["unit_id"]} for t in tasks if t for r in t.get("replies") or []]
    return sorted(replies, key=lambda r: (r.get("round", 0), r.get("at") or ""))


async def _home(request: Request, user: Principal, q: str | None, cursor: str | None,
                start: int, year: int | None = None) -> dict[str, Any]:
    svc = services(request)
    q = (q or "").strip() or None
    page, registered, pool, claimed, points, rankings, ref = await asyncio.gather(
        svc.send(request_of(ListSuggestions, query={"limit": PAGE_SIZE, "cursor": cursor,
                                                    "q": q, "year": "all"}), user),
        svc.send(ListSuggestions(status="registered", limit=DUE_SCAN, year="all"), user),
        svc.send(ListMessages(status="received", year="all", limit=5), user),
        svc.send(ListMessages(status="claimed", claimed_by=user.deputy_id, year="all",
                              limit=20), user),
        svc.send(request_of(pts.DeputyPoints, query={"deputy_id": user.deputy_id,
                                                     "year": year}), user),
        svc.send(request_of(pts.RankingPosition, query={"deputy_id": user.deputy_id,
                                                        "year": year}), user),
        reference(request, user))
    wanted = {s["id"]: s for s in [*registered["items"], *page["items"]]
              if s["status"] == "registered"}
    found = await asyncio.gather(*(optional(svc.send(sv.GetCase(case_id=sid), user))
                                   for sid in wanted))
    cases = dict(zip(wanted, found))
    due = [{**s, "case": cases.get(s["id"])} for s in registered["items"]
           if can_rate(cases.get(s["id"]), user.deputy_id)]
    texts = await asyncio.gather(*(_replies(request, user, s["case"]) for s in due))
    for s, replies in zip(due, texts):
        s["replies"] = replies
    rows = [{**s, "case": cases.get(s["id"]), "my_rating": my_rating(cases.get(s["id"]), user.deputy_id),
             "can_rate": can_rate(cases.get(s["id"]), user.deputy_id)} for s in page["items"]]
    deputy = ref["deputies"].get(user.deputy_id, {})
    return {
        "due": due, "suggestions": rows, "next_cursor": page.get("next_cursor"),
        "total": page.get("total"), "start": start, "q": q or "",
        "pool": pool["items"], "pool_total": pool.get("total") or len(pool["items"]),
        "claimed": [m for m in claimed["items"] if m.get("claimed_by") == user.deputy_id],
        "points": points, "me": rankings["row"], "ranked": rankings["ranked"], "deputy": deputy,
        "group_rank": rankings["group_rank"], "group_size": rankings["group_size"] or 0,
        "year": rankings["year"], "years": list(range(today().year, today().year - 4, -1)),
        **names(ref),
    }


@router.get(f"{BASE}/deputy")
async def deputy_home(request: Request, user: Deputy,
                      q: Annotated[str | None, Query(max_length=200)] = None,
                      cursor: Annotated[str | None, Query(max_length=1000)] = None,
                      start: Annotated[int, Query(ge=0)] = 0,
                      year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> HTMLResponse:
    return render(request, "deputy_home.html", await _home(request, user, q, cursor, start, year))


@router.get(f"{BASE}/deputy/suggestions/new")
async def new_suggestion(request: Request, user: Deputy) -> HTMLResponse:
    ref = await reference(request, user)
    return render(request, "deputy_new.html", {"form": {}, "error": None, "items": [],
                                               **names(ref)})


@router.post(f"{BASE}/deputy/suggestions", dependencies=Csrf)
async def submit_suggestion(request: Request, user: Deputy,
                            title: Annotated[str, Form(max_length=200)] = "",
                            body: Annotated[str, Form(max_length=20000)] = "",
                            category: Annotated[str, Form(max_length=100)] = "",
                            co_signers: Annotated[list[str] | None, Form()] = None) -> Response:
    """Submitted: to the suggestion's page. Refused: the form again, with what was typed."""
    form = {"title": title, "body": body, "category": category, "co_signers": co_signers or []}
    problems = [m for m, bad in (("请填写标题", not title.strip()), ("请填写建议内容", not body.strip()),
                                 ("请选择类别", not category)) if bad]
    if not problems:
        try:
            made = await send_form(
                request, SubmitSuggestion, user, title=title, body=body, category=category,
                co_signers=[d for d in form["co_signers"] if d != user.deputy_id])
            return redirect(f"{BASE}/deputy/suggestions/{made['id']}", "已提交建议")
        except ServiceFailure as exc:
            detail, items = failure_text(exc)
            problems = [detail, *items]
    ref = await reference(request, user)
    return render(request, "deputy_new.html", {
        "form": form, "error": "未提交：" + problems[0], "items": problems[1:], **names(ref)},
        status_code=422)


@router.get(f"{BASE}/deputy/suggestions/{{suggestion_id}}")
async def suggestion_page(request: Request, suggestion_id: str, user: Deputy) -> HTMLResponse:
    svc = services(request)
    suggestion, case, ref = await asyncio.gather(
        svc.send(GetSuggestion(suggestion_id=suggestion_id), user),
        optional(svc.send(sv.GetCase(case_id=suggestion_id), user)),
        reference(request, user))
    replies = await _replies(request, user, case) if case else []
    return render(request, "deputy_suggestion.html", {
        "s": suggestion, "case": case, "replies": replies,
        "can_rate": can_rate(case, user.deputy_id), "my_rating": my_rating(case, user.deputy_id),
        **names(ref)})


def _back_to(back: str | None, default: str) -> str:
    return back if back and back.startswith(f"{BASE}/deputy") and "//" not in back else default


@router.post(f"{BASE}/deputy/suggestions/{{suggestion_id}}/rating", dependencies=Csrf)
async def rate(request: Request, suggestion_id: str, user: Deputy,
               rating: Annotated[Literal["satisfied", "basically_satisfied", "unsatisfied"], Form()],
               attitude: Annotated[Literal["satisfied", "basically_satisfied", "unsatisfied"], Form()],
               comment: Annotated[str | None, Form(max_length=2000)] = None,
               back: Annotated[str | None, Form(max_length=300)] = None) -> Response:
    call = send_form(request, sv.RateCase, user, case_id=suggestion_id, rating=rating,
                     attitude=attitude, comment=comment or None)
    return await act(request, call, _back_to(back, f"{BASE}/deputy"), "已提交评价")


@router.post(f"{BASE}/deputy/messages/{{message_id}}/claim", dependencies=Csrf)
async def claim(request: Request, message_id: str, user: Deputy) -> Response:
    call = send_form(request, ClaimMessage, user, message_id=message_id)
    return await act(request, call, f"{BASE}/deputy#claimed-h", "已认领留言")


@router.post(f"{BASE}/deputy/messages/{{message_id}}/answer", dependencies=Csrf)
async def answer(request: Request, message_id: str, user: Deputy,
                 text: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    call = send_form(request, AnswerMessage, user, message_id=message_id, text=text)
    return await act(request, call, f"{BASE}/deputy", "已答复群众留言")


@router.post(f"{BASE}/deputy/messages/{{message_id}}/forward", dependencies=Csrf)
async def forward(request: Request, message_id: str, user: Deputy,
                  unit_id: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    call = send_form(request, ForwardMessage, user, message_id=message_id, unit_id=unit_id)
    return await act(request, call, f"{BASE}/deputy", "已转交部门办理")


@router.post(f"{BASE}/deputy/messages/{{message_id}}/convert", dependencies=Csrf)
async def convert(request: Request, message_id: str, user: Deputy) -> Response:
    call = send_form(request, ConvertMessage, user, message_id=message_id)
    return await act(request, call, f"{BASE}/deputy", "已转为建议")


# --- duty activities (履职活动) ---------------------------------------------------------------


async def _activity_context(request: Request, user: Principal) -> dict[str, Any]:
    svc = services(request)
    mine, rules, ref = await asyncio.gather(
        svc.send(pts.ListActivities(year="all", limit=20), user),
        svc.send(pts.PointsRules(), user), reference(request, user))
    kinds: dict[str, str] = {}
    for rule in rules:
        for code, kind in rule.get("activities", {}).items():
            kinds.setdefault(code, kind.get("name_zh", code))
    # each listed activity's evidence files (证明材料), from the activity itself
    details = await asyncio.gather(*(optional(svc.send(
        pts.GetActivity(activity_id=a.get("activity_id") or a.get("id")), user))
        for a in mine["items"]))
    files = {(d or {}).get("id"): (d or {}).get("attachments") or [] for d in details}
    return {"activities": mine["items"], "activities_total": mine.get("total"), "kinds": kinds,
            "files": files, "accept": ACCEPT,
            "form": {}, "error": None, "today": today().isoformat(), **names(ref)}


@router.get(f"{BASE}/deputy/activities")
async def activities_page(request: Request, user: Deputy) -> HTMLResponse:
    return render(request, "deputy_activities.html", await _activity_context(request, user))


@router.post(f"{BASE}/deputy/activities", dependencies=Csrf)
async def report_activity(request: Request, user: Deputy,
                          kind: Annotated[str, Form(max_length=100)] = "",
                          day: Annotated[str, Form(alias="date", max_length=10)] = "",
                          description: Annotated[str, Form(max_length=5000)] = "",
                          evidence: Annotated[str, Form(max_length=2000)] = "",
                          evidence_file: Annotated[UploadFile | str | None, File()] = None
                          ) -> Response:
    """Reported: back to the list with a message. Refused: the form again as it was filled
    (the file must be chosen again: a browser never refills a file field)."""
    problems = [m for m, bad in (("请选择活动类型", not kind), ("请填写活动日期", not day),
                                 ("请填写活动情况", not description.strip())) if bad]
    if not problems:
        try:
            stored = await form_file(request, evidence_file)
            await send_form(request, pts.SubmitActivity, user,
                            deputy_id=user.deputy_id, kind=kind, date=day,
                            description=description, evidence=evidence or None,
                            evidence_files=[stored] if stored else [])
            return redirect(f"{BASE}/deputy/activities", "已报告履职活动，等待审核")
        except blobs.RefusedFile as exc:
            problems = ["证明材料未上传：" + exc.message_zh + "请重新选择文件"]
        except ServiceFailure as exc:
            detail, items = failure_text(exc)
            problems = [detail, *items]
    context = await _activity_context(request, user)
    context.update(form={"kind": kind, "date": day, "description": description,
                         "evidence": evidence}, error="未提交：" + "；".join(problems))
    return render(request, "deputy_activities.html", context, status_code=422)

"""A handling unit's pages: the task inbox (tabs by state, most urgent first, search and
paging), and the task page with everything needed to act — the suggestion's text or the
citizen's message, the deputies and how to reach them, the co-units' opinions, previous
rounds with the deputies' ratings and comments — and the actions (sign for, contact,
progress, reply with a template that fills its variables, request a return)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from shared import blobs

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, request_of
from shared.contracts.requests import Request as Contract
from shared.contracts.requests import assignment as asg
from shared.contracts.requests import supervision as sv
from shared.contracts.requests.intake import GetMessage, GetSuggestion
from services.gateway.web.pages_attachments import ACCEPT, form_file
from services.gateway.web.common import (
    BASE, WebRoute, act, check_csrf, failure_text, names, need, optional, redirect, reference,
    render, send_form, services, today,
)

router = APIRouter(route_class=WebRoute)
Unit = Annotated[Principal, Depends(need("unit"))]
Csrf = [Depends(check_csrf)]

PAGE_SIZE = 20
# The inbox's tabs: a task's state; each tab lists by deadline (the most urgent first).
TABS = (("open", "待签收"), ("signed_for", "办理中"), ("replied", "已答复"), ("closed", "今年已办结"))
TAB_IDS = tuple(t for t, _ in TABS)


async def _inbox_context(request: Request, user: Principal, status: str | None, q: str | None,
                         cursor: str | None, start: int) -> dict[str, Any]:
    """Counts of every tab, and one page of the chosen one (by deadline, searched by number
    or words of the title). Without a chosen tab: 待签收 when there is any, else 办理中."""
    svc = services(request)
    q = (q or "").strip() or None

    def of(state: str, limit: int, after: str | None = None) -> Any:
        return svc.send(request_of(sv.ListTasks, query={
            "unit_id": user.unit_id, "status": state, "q": q,
            "year": None if state == "closed" else "all", "limit": limit, "cursor": after}), user)

    *firsts, ref = await asyncio.gather(*(of(s, PAGE_SIZE) for s in TAB_IDS),
                                        reference(request, user))
    counts = {s: page["total"] or 0 for s, page in zip(TAB_IDS, firsts)}
    chosen = status if status in TAB_IDS else (
        "open" if counts["open"] or not counts["signed_for"] else "signed_for")
    page = firsts[TAB_IDS.index(chosen)]
    if cursor:
        page = await of(chosen, PAGE_SIZE, cursor)
    return {"tasks": page["items"], "next_cursor": page.get("next_cursor"), "counts": counts,
            "tab": chosen, "tabs": TABS, "q": q or "", "start": start,
            "explicit_tab": status in TAB_IDS, "cursor": cursor or "", **names(ref)}


SearchText = Annotated[str | None, Query(max_length=200)]


@router.get(f"{BASE}/unit")
async def unit_inbox(request: Request, user: Unit, status: str | None = None,
                     q: SearchText = None, cursor: Annotated[str | None, Query(max_length=1000)] = None,
                     start: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    return render(request, "unit_inbox.html",
                  await _inbox_context(request, user, status, q, cursor, start))


@router.get(f"{BASE}/unit/fragment")
async def unit_inbox_fragment(request: Request, user: Unit, status: str | None = None,
                              q: SearchText = None,
                              cursor: Annotated[str | None, Query(max_length=1000)] = None,
                              start: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    return render(request, "_unit_tasks.html",
                  await _inbox_context(request, user, status, q, cursor, start), fragment=True)


async def _task_context(request: Request, user: Principal, task_id: str) -> dict[str, Any]:
    svc = services(request)
    task, ref = await asyncio.gather(
        svc.send(sv.GetTask(task_id=task_id), user), reference(request, user))
    subject = (svc.send(GetSuggestion(suggestion_id=task["case_id"]), user)
               if task["case_kind"] == "suggestion"
               else svc.send(GetMessage(message_id=task["case_id"]), user))
    assignment_task, case, source = await asyncio.gather(
        optional(svc.send(asg.GetTask(task_id=task_id), user)),
        optional(svc.send(sv.GetCase(case_id=task["case_id"]), user)),
        optional(subject))
    suggestion = source if task["case_kind"] == "suggestion" else None
    message = source if task["case_kind"] != "suggestion" else None
    deputies = []
    if suggestion:
        ids = [suggestion.get("lead_deputy_id"), *suggestion.get("co_signers", [])]
        for deputy_id in dict.fromkeys(i for i in ids if i):
            info = ref["deputies"].get(deputy_id, {})
            station = ref["stations"].get(info.get("station"), {})
            deputies.append({"id": deputy_id, "name": info.get("name", deputy_id),
                             "lead": deputy_id == suggestion.get("lead_deputy_id"),
                             "level_zh": info.get("level_zh"), "group": info.get("group"),
                             "phone": info.get("phone"), "station": station.get("name")})
    rounds = _rounds(task, case)
    return {"task": task, "assignment_task": assignment_task, "case": case, "accept": ACCEPT,
            "letters": [a for a in (case or {}).get("attachments") or []
                        if a.get("task_id") == task_id],
            "suggestion": suggestion, "message": message, "deputies": deputies,
            "rounds": rounds, "today": today().isoformat(), "form": {}, "error": None,
            **names(ref)}


def _rounds(task: dict[str, Any], case: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every round of the case, oldest first: this unit's reply, the deputies' ratings and
    comments, and why a new round started."""
    by_round: dict[int, dict[str, Any]] = {}
    for number in range(1, int(task.get("round") or 1) + 1):
        by_round[number] = {"round": number, "replies": [], "ratings": [], "rehandling": None}
    for r in task.get("replies") or []:
        by_round.setdefault(r["round"], {"round": r["round"], "replies": [], "ratings": [],
                                         "rehandling": None})["replies"].append(r)
    for r in (case or {}).get("ratings") or []:
        if r.get("round") in by_round:
            by_round[r["round"]]["ratings"].append(r)
    for r in (case or {}).get("rehandling_rounds") or []:
        if r.get("round") in by_round:
            by_round[r["round"]]["rehandling"] = r
    return [by_round[k] for k in sorted(by_round)]


@router.get(f"{BASE}/unit/tasks/{{task_id}}")
async def task_page(request: Request, task_id: str, user: Unit) -> HTMLResponse:
    return render(request, "unit_task.html", await _task_context(request, user, task_id))


def _chinese_date(value: str | None) -> str | None:
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return None
    return f"{day.year}年{day.month}月{day.day}日"


@router.get(f"{BASE}/unit/tasks/{{task_id}}/template")
async def reply_template(request: Request, task_id: str, user: Unit,
                         result_class: Literal["A", "B", "C"] = "A",
                         commitment_date: str | None = None) -> HTMLResponse:
    """The reply template for the task's category and the chosen class, as the textarea,
    with its variables filled: the title, the commitment date (class B) as chosen, blanks
    to write in for what only the clerk knows."""
    svc = services(request)
    task = await svc.send(sv.GetTask(task_id=task_id), user)
    template = await svc.send(sv.ReplyTemplate(category=task["category"],
                                               result_class=result_class), user)
    values = {"title": task.get("title") or "", "details": "",
              "commitment_date": _chinese_date(commitment_date) or "____年__月__日",
              "reason": "______"}
    text = template["text"]
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return render(request, "_reply_text.html", {"text": text}, fragment=True)


def _back(task_id: str) -> str:
    return f"{BASE}/unit/tasks/{task_id}"


async def _task_command(request: Request, user: Principal, task_id: str,
                        command: type[Contract], done: str, **fields: Any) -> Response:
    call = send_form(request, command, user, task_id=task_id, **fields)
    return await act(request, call, _back(task_id), done)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/acknowledge", dependencies=Csrf)
async def acknowledge(request: Request, task_id: str, user: Unit) -> Response:
    return await _task_command(request, user, task_id, sv.AcknowledgeTask, "已签收")


@router.post(f"{BASE}/unit/tasks/{{task_id}}/contact", dependencies=Csrf)
async def contact(request: Request, task_id: str, user: Unit,
                  note: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    return await _task_command(request, user, task_id, sv.RecordContact, "已记录办前沟通",
                               note=note)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/progress", dependencies=Csrf)
async def progress(request: Request, task_id: str, user: Unit,
                   note: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    return await _task_command(request, user, task_id, sv.NoteProgress, "已记录办理进展",
                               note=note)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/opinion", dependencies=Csrf)
async def opinion(request: Request, task_id: str, user: Unit,
                  text: Annotated[str, Form(min_length=1, max_length=20000)]) -> Response:
    return await _task_command(request, user, task_id, sv.SubmitOpinion, "已提交协办意见",
                               text=text)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/reply", dependencies=Csrf)
async def reply(request: Request, task_id: str, user: Unit,
                result_class: Annotated[Literal["A", "B", "C"], Form()],
                text: Annotated[str, Form(min_length=1, max_length=20000)],
                commitment_date: Annotated[str | None, Form()] = None,
                reply_letter: Annotated[UploadFile | str | None, File()] = None) -> Response:
    """A refused reply comes back on the task page with what was typed, not a blank form.
    The signed reply letter (答复函), if chosen, is uploaded and recorded with the reply."""
    form = {"result_class": result_class, "text": text, "commitment_date": commitment_date or ""}
    try:
        letter = await form_file(request, reply_letter)
        await send_form(request, sv.ReplyToTask, user, task_id=task_id,
                        result_class=result_class, text=text,
                        commitment_date=commitment_date or None,
                        **({"reply_letter": letter} if letter else {}))
    except blobs.RefusedFile as exc:
        return await _refused(request, user, task_id, form,
                              "答复函未上传：" + exc.message_zh + "请重新选择文件。", exc.status)
    except ServiceFailure as exc:
        detail, items = failure_text(exc)
        return await _refused(request, user, task_id, form,
                              "未完成：" + "；".join([detail, *items]),
                              int(exc.reply.get("status") or 422))
    return redirect(_back(task_id), "已答复")


async def _refused(request: Request, user: Principal, task_id: str, form: dict[str, Any],
                   error: str, status: int) -> Response:
    context = await _task_context(request, user, task_id)
    context["form"] = form
    context["error"] = error
    return render(request, "unit_task.html", context, status_code=status)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/reply-letter", dependencies=Csrf)
async def reply_letter(request: Request, task_id: str, user: Unit,
                       letter: Annotated[UploadFile | str | None, File()] = None) -> Response:
    """The signed reply letter (答复函) uploaded after the reply (or a co-unit's letter)."""
    try:
        attachment = await form_file(request, letter)
    except blobs.RefusedFile as exc:
        return await _refused(request, user, task_id, {}, "答复函未上传：" + exc.message_zh,
                              exc.status)
    if attachment is None:
        return await _refused(request, user, task_id, {}, "请选择要上传的答复函文件。", 422)
    call = send_form(request, sv.AttachReplyLetter, user, task_id=task_id,
                     attachment=attachment)
    return await act(request, call, _back(task_id), "已上传答复函")


@router.post(f"{BASE}/unit/tasks/{{task_id}}/return-request", dependencies=Csrf)
async def return_request(request: Request, task_id: str, user: Unit,
                         reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = send_form(request, asg.RequestReturn, user, task_id=task_id, reason=reason)
    return await act(request, call, _back(task_id), "已提交退回申请")

"""A handling unit's pages: the task inbox by deadline, and the task page (sign for, contact,
progress, reply with a template, request a return)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.web.common import (
    BASE, WebRoute, act, check_csrf, names, need, optional, reference, render, services, today,
)

router = APIRouter(route_class=WebRoute)
Unit = Annotated[Principal, Depends(need("unit"))]
Csrf = [Depends(check_csrf)]
COLOUR_ORDER = {"red": 0, "yellow": 1, "green": 2, "closed": 3, "withdrawn": 4}


INBOX_LIMIT = 500  # tasks of each state shown (the first by deadline)


async def _inbox_context(request: Request, user: Principal) -> dict[str, Any]:
    """The unit's tasks in handling (open, signed for, replied: every year) and those closed
    this year, at most ``INBOX_LIMIT`` of each state."""
    svc = services(request)

    def of(status: str, year: str | None) -> Any:
        return svc.call("supervision", "list_tasks", {
            "unit_id": user.unit_id, "status": status, "year": year,
            "limit": INBOX_LIMIT}, user)

    *pages, ref = await asyncio.gather(
        of("open", "all"), of("signed_for", "all"), of("replied", "all"), of("closed", None),
        reference(request, user))
    active = [t for p in pages[:3] for t in p["items"]]
    done = pages[3]["items"]
    active.sort(key=lambda t: (t["status"] == "replied", t["deadline"] or "9999",
                               COLOUR_ORDER.get(t["colour"], 9)))
    return {"tasks": active, "done": done, **names(ref)}


@router.get(f"{BASE}/unit")
async def unit_inbox(request: Request, user: Unit) -> HTMLResponse:
    return render(request, "unit_inbox.html", await _inbox_context(request, user))


@router.get(f"{BASE}/unit/fragment")
async def unit_inbox_fragment(request: Request, user: Unit) -> HTMLResponse:
    return render(request, "_unit_tasks.html", await _inbox_context(request, user), fragment=True)


@router.get(f"{BASE}/unit/tasks/{{task_id}}")
async def task_page(request: Request, task_id: str, user: Unit) -> HTMLResponse:
    svc = services(request)
    task, ref = await asyncio.gather(
        svc.call("supervision", "get_task", {"task_id": task_id}, user), reference(request, user))
    assignment_task, case = await asyncio.gather(
        optional(svc.call("assignment", "get_task", {"task_id": task_id}, user)),
        optional(svc.call("supervision", "get_case", {"case_id": task["case_id"]}, user)))
    return render(request, "unit_task.html", {
        "task": task, "assignment_task": assignment_task, "case": case,
        "today": today().isoformat(), **names(ref)})


@router.get(f"{BASE}/unit/tasks/{{task_id}}/template")
async def reply_template(request: Request, task_id: str, user: Unit,
                         result_class: Literal["A", "B", "C"] = "A") -> HTMLResponse:
    """The reply template for the task's category and the chosen class, as the textarea."""
    svc = services(request)
    task = await svc.call("supervision", "get_task", {"task_id": task_id}, user)
    template = await svc.call("supervision", "reply_template",
                              {"category": task["category"], "result_class": result_class}, user)
    text = (template["text"].replace("{title}", task.get("title") or "")
            .replace("{details}", ""))
    return render(request, "_reply_text.html", {"text": text}, fragment=True)


def _back(task_id: str) -> str:
    return f"{BASE}/unit/tasks/{task_id}"


async def _task_command(request: Request, user: Principal, task_id: str, command: str,
                        done: str, **fields: Any) -> Response:
    call = services(request).call("supervision", command, {"task_id": task_id, **fields}, user)
    return await act(request, call, _back(task_id), done)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/acknowledge", dependencies=Csrf)
async def acknowledge(request: Request, task_id: str, user: Unit) -> Response:
    return await _task_command(request, user, task_id, "acknowledge_task", "已签收")


@router.post(f"{BASE}/unit/tasks/{{task_id}}/contact", dependencies=Csrf)
async def contact(request: Request, task_id: str, user: Unit,
                  note: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    return await _task_command(request, user, task_id, "record_contact", "已记录办前沟通",
                               note=note)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/progress", dependencies=Csrf)
async def progress(request: Request, task_id: str, user: Unit,
                   note: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    return await _task_command(request, user, task_id, "note_progress", "已记录办理进展",
                               note=note)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/opinion", dependencies=Csrf)
async def opinion(request: Request, task_id: str, user: Unit,
                  text: Annotated[str, Form(min_length=1, max_length=20000)]) -> Response:
    return await _task_command(request, user, task_id, "submit_opinion", "已提交协办意见",
                               text=text)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/reply", dependencies=Csrf)
async def reply(request: Request, task_id: str, user: Unit,
                result_class: Annotated[Literal["A", "B", "C"], Form()],
                text: Annotated[str, Form(min_length=1, max_length=20000)],
                commitment_date: Annotated[str | None, Form()] = None) -> Response:
    return await _task_command(request, user, task_id, "reply", "已答复",
                               result_class=result_class, text=text,
                               commitment_date=commitment_date or None)


@router.post(f"{BASE}/unit/tasks/{{task_id}}/return-request", dependencies=Csrf)
async def return_request(request: Request, task_id: str, user: Unit,
                         reason: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
    call = services(request).call("assignment", "request_return",
                                  {"task_id": task_id, "reason": reason}, user)
    return await act(request, call, _back(task_id), "已提交退回申请")

"""Reporting to voters in the web application (述职评议), in Chinese.

- the office (/app/office/reports): the reports of the year, scheduling one (the page that
  answers shows the participants' QR codes once, to print), the deputies due a report in the
  term, and a report's page (record it held, close the evaluation, the summary);
- a deputy (/app/deputy/reports): their reports, each with its basis (their duty record of
  the year) and, once closed, the voters' evaluation.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure
from services.gateway.web.common import (
    BASE, WebRoute, _people, check_csrf, failure_text, need, redirect, render, send_form,
    services, today,
)
from shared.contracts.requests import Request as Contract
from shared.contracts.requests import reports as rp
from shared.contracts.requests.points import DeputyRecord

router = APIRouter(route_class=WebRoute)
Office = Annotated[Principal, Depends(need("office"))]
Readers = Annotated[Principal, Depends(need("office", "leader", "deputy"))]
Deputy = Annotated[Principal, Depends(need("deputy"))]
Csrf = [Depends(check_csrf)]
Id = Annotated[str, Path(min_length=1, max_length=100)]

STATUS_ZH = {"scheduled": "待述职", "held": "评议中", "evaluated": "评议已结束"}
QUESTIONS_ZH = {"overall": "总体评价", "duty": "履职尽责", "contact": "联系群众"}
TERM_YEARS = 5  # a term of a district people's congress


def _names(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    people = _people(str(settings.config_dir))
    return {"DEPUTY_NAMES": people["deputies"], "REPORT_STATUS_ZH": STATUS_ZH,
            "QUESTIONS_ZH": QUESTIONS_ZH}


def refusal(exc: ServiceFailure) -> str:
    detail = str(exc.reply.get("detail") or "")
    for pattern, chinese in (("only a scheduled one", "这场述职已经记录为已举行"),
                             ("only a held report", "只有已举行的述职才能结束评议"),
                             ("no deputy", "没有这位代表")):
        if pattern in detail:
            return chinese
    text, items = failure_text(exc)
    return "；".join([text, *items])


async def _call(request: Request, contract: type[Contract], payload: dict[str, Any],
                user: Principal) -> Any:
    """Send ``contract`` with the page's values (a refused value: the service's 422)."""
    return await send_form(request, contract, user, **payload)


async def _office(request: Request, user: Principal, **extra: Any) -> dict[str, Any]:
    year = today().year
    reports = await _call(request, rp.ListReports, {"year": year, "limit": 200}, user)
    due = await _call(request, rp.ReportsDue, {"since": year - TERM_YEARS + 1}, user)
    return {"reports": reports["items"], "due": due["due"], "since": due["since"],
            "year": year, "errors": {}, "form": {}, **_names(request), **extra}


@router.get(f"{BASE}/office/reports")
async def office_reports(request: Request, user: Office) -> HTMLResponse:
    return render(request, "reports_office.html", await _office(request, user))


@router.post(f"{BASE}/office/reports", dependencies=Csrf)
async def schedule(request: Request, user: Office,
                   deputy_id: Annotated[str, Form(max_length=100)] = "",
                   title: Annotated[str, Form(max_length=200)] = "",
                   scheduled_on: Annotated[str, Form(max_length=10)] = "",
                   place: Annotated[str, Form(max_length=200)] = "",
                   participants: Annotated[str, Form(max_length=4)] = "") -> Response:
    form = {"deputy_id": deputy_id, "title": title.strip(), "scheduled_on": scheduled_on,
            "place": place.strip(), "participants": participants}
    errors: dict[str, str] = {}
    if deputy_id not in _names(request)["DEPUTY_NAMES"]:
        errors["deputy_id"] = "请选择述职的代表"
    if not form["title"]:
        errors["title"] = "请填写述职名称"
    try:
        date.fromisoformat(scheduled_on)
    except ValueError:
        errors["scheduled_on"] = "请填写述职日期"
    if not form["place"]:
        errors["place"] = "请填写述职地点"
    if not participants.isdigit() or not 1 <= int(participants) <= 500:
        errors["participants"] = "请填写 1 到 500 之间的参会人数"
    if not errors:
        try:
            report = await _call(request, rp.ScheduleReport, {
                **form, "participants": int(participants)}, user)
        except ServiceFailure as exc:
            errors["form"] = refusal(exc)
        else:
            base = str(request.base_url).rstrip("/")
            cards = []
            for code in report["codes"]:
                link = f"{base}/r/{report['report_id']}?c={code}"
                buffer = io.BytesIO()
                segno.make(link, error="m").save(buffer, kind="svg", scale=3, border=2,
                                                  xmldecl=False, svgns=True)
                cards.append({"code": code, "svg": buffer.getvalue().decode()})
            return render(request, "reports_codes.html", {"report": report, "cards": cards,
                                                          **_names(request)}, status_code=201)
    return render(request, "reports_office.html",
                  await _office(request, user, errors=errors, form=form), status_code=422)


@router.get(f"{BASE}/reports/{{report_id}}")
async def report_page(request: Request, report_id: Id, user: Readers) -> HTMLResponse:
    report = await _call(request, rp.GetReport, {"report_id": report_id}, user)
    record = await services(request).send(DeputyRecord(
        deputy_id=report["deputy_id"], year=report["year"]), user)
    return render(request, "reports_report.html", {"report": report, "record": record,
                                                   **_names(request)})


@router.post(f"{BASE}/reports/{{report_id}}/held", dependencies=Csrf)
async def hold(request: Request, report_id: Id, user: Office,
               held_on: Annotated[str, Form(max_length=10)] = "",
               attendance: Annotated[str, Form(max_length=6)] = "") -> Response:
    back = f"{BASE}/reports/{report_id}"
    try:
        date.fromisoformat(held_on)
    except ValueError:
        return redirect(back, "未完成：请填写述职日期", "error")
    if not attendance.isdigit():
        return redirect(back, "未完成：请填写参会人数", "error")
    try:
        await _call(request, rp.HoldReport, {"report_id": report_id, "held_on": held_on,
                                             "attendance": int(attendance)}, user)
    except ServiceFailure as exc:
        return redirect(back, "未完成：" + refusal(exc), "error")
    return redirect(back, "已记录述职，参会选民可以扫码评议")


@router.post(f"{BASE}/reports/{{report_id}}/close", dependencies=Csrf)
async def close(request: Request, report_id: Id, user: Office) -> Response:
    back = f"{BASE}/reports/{report_id}"
    try:
        await _call(request, rp.CloseReportEvaluation, {"report_id": report_id}, user)
    except ServiceFailure as exc:
        return redirect(back, "未完成：" + refusal(exc), "error")
    return redirect(back, "评议已结束，结果已计入")


@router.get(f"{BASE}/deputy/reports")
async def deputy_reports(request: Request, user: Deputy) -> HTMLResponse:
    reports = await _call(request, rp.ListReports, {"year": today().year, "limit": 50}, user)
    return render(request, "reports_deputy.html", {"reports": reports["items"],
                                                   **_names(request)})

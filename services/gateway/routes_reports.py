"""Gateway routes owned by the reports service: a deputy's report to voters (述职) and the
voters' evaluation (民主评议). The report's basis, the deputy's duty record of the year, is
points' (read here with the caller's identity: points decides who sees it). A participant
evaluates on the page ``/r/{report_id}?c=<code>`` (the QR code handed out at the meeting),
without an account."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import FastAPI, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from services.gateway.deps import (ServiceFailure, ServicesDep, admitted, body_of, request_of,
                                   sends)
from services.gateway.paging import PAGED, Paging, paged
from shared.contracts.requests.points import DeputyRecord
from shared.contracts.requests.reports import (CloseReportEvaluation, EvaluateReport, GetReport,
                                               HoldReport, ListReports, ReportForm,
                                               ReportsDue, ScheduleReport)

API = "/api/v1/reports"
TAGS = ["reports to voters"]

Office = admitted(ScheduleReport)
Readers = admitted(ListReports)
Leaders = admitted(ReportsDue)
Id = Annotated[str, Path(min_length=1, max_length=100)]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="calendar year; default this year")]

ScheduleBody = body_of(ScheduleReport)
HoldBody = body_of(HoldReport, "report_id")
EvaluationBody = body_of(EvaluateReport, "report_id")

ANSWERS_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
QUESTIONS_ZH = {"overall": "总体评价", "duty": "履职尽责", "contact": "联系群众"}


def register_reports_routes(app: FastAPI) -> None:
    @app.post(API, status_code=201, tags=TAGS,
              summary="Schedule a deputy's report to voters; the answer carries the "
                      "participants' codes once (print them as QR codes)",
              openapi_extra=sends(ScheduleReport))
    async def schedule(request: Request, body: ScheduleBody, services: ServicesDep,
                       principal: Office) -> dict[str, Any]:
        report = await services.send(request_of(ScheduleReport, body), principal)
        base = str(request.base_url).rstrip("/")
        report["links"] = [f"{base}/r/{report['report_id']}?c={code}" for code in report["codes"]]
        return report

    @app.get(API, tags=TAGS, responses=PAGED,
             summary="Reports of a year, newest first (a deputy: their own). Paged",
             openapi_extra=sends(ListReports))
    async def list_reports(request: Request, response: Response, services: ServicesDep,
                           principal: Readers, paging: Paging, year: Year = None,
                           deputy_id: Annotated[str | None, Query(max_length=100)] = None,
                           ) -> list[dict[str, Any]]:
        page = await services.send(request_of(ListReports, query={
            "year": year, "deputy_id": deputy_id, **paging.payload()}), principal)
        return paged(request, response, page)

    @app.get(f"{API}/due", tags=TAGS,
             summary="Deputies with no report held since the term's first year (due one)",
             openapi_extra=sends(ReportsDue))
    async def due(services: ServicesDep, principal: Leaders,
                  since: Annotated[int, Query(ge=2000, le=2100)]) -> dict[str, Any]:
        return await services.send(request_of(ReportsDue, query={"since": since}), principal)

    @app.get(f"{API}/{{report_id}}", tags=TAGS,
             summary="A report, with its evaluation's summary once closed",
             openapi_extra=sends(GetReport))
    async def get_report(report_id: Id, services: ServicesDep,
                         principal: Readers) -> dict[str, Any]:
        return await services.send(request_of(GetReport, report_id=report_id), principal)

    @app.get(f"{API}/{{report_id}}/basis", tags=TAGS,
             summary="The report's basis: the deputy's duty record of the report's year "
                     "(履职清单, from points)", openapi_extra=sends(GetReport, DeputyRecord))
    async def basis(report_id: Id, services: ServicesDep,
                    principal: Readers) -> dict[str, Any]:
        report = await services.send(request_of(GetReport, report_id=report_id), principal)
        record = await services.send(request_of(DeputyRecord, deputy_id=report["deputy_id"],
                                                query={"year": report["year"]}), principal)
        return {"report": report, "record": record}

    @app.post(f"{API}/{{report_id}}/held", tags=TAGS,
              summary="Record that the report was held; the evaluation opens (office)",
              openapi_extra=sends(HoldReport))
    async def hold(report_id: Id, body: HoldBody, services: ServicesDep,
                   principal: Office) -> dict[str, Any]:
        return await services.send(request_of(HoldReport, body, report_id=report_id),
                                   principal)

    @app.post(f"{API}/{{report_id}}/evaluations", status_code=201, tags=TAGS,
              summary="A participant's evaluation with their code, without login (one per "
                      "code: 409; a code not given out: 403)",
              openapi_extra=sends(EvaluateReport))
    async def evaluate(report_id: Id, body: EvaluationBody,
                       services: ServicesDep) -> dict[str, Any]:
        return await services.send(request_of(EvaluateReport, body, report_id=report_id))

    @app.post(f"{API}/{{report_id}}/evaluation/close", tags=TAGS,
              summary="Close the evaluation with its summary (office)",
              openapi_extra=sends(CloseReportEvaluation))
    async def close(report_id: Id, services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.send(request_of(CloseReportEvaluation, report_id=report_id),
                                   principal)

    # --- the participant's page (the QR code) -------------------------------------------
    def page(title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width,initial-scale=1'><title>{html.escape(title)}</title>"
            f"</head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
            status_code=status)

    async def form_of(services: Any, report_id: str) -> dict[str, Any] | None:
        try:
            return await services.send(request_of(ReportForm, report_id=report_id))
        except ServiceFailure as exc:
            if exc.reply.get("status") in (404, 422):
                return None
            raise

    def questionnaire(report_id: str, code: str, error: str = "") -> str:
        esc = html.escape
        fields = "".join(
            f"<fieldset><legend>{name}</legend>" + "".join(
                f"<label><input type=radio name={q} value={a} required> {zh}</label> "
                for a, zh in ANSWERS_ZH.items()) + "</fieldset>"
            for q, name in QUESTIONS_ZH.items())
        alert = f"<p role=alert>{esc(error)}</p>" if error else ""
        return (f"{alert}<form method=post action='/r/{esc(report_id)}'>"
                f"<input type=hidden name=code value='{esc(code)}'>{fields}"
                "<label for=comment>意见和建议（可不填）</label>"
                "<textarea id=comment name=comment rows=3 maxlength=2000></textarea>"
                "<p>评议不记录姓名和电话。</p><button type=submit>提交评议</button></form>")

    @app.get("/r/{report_id}", response_class=HTMLResponse, tags=TAGS,
             summary="A participant's evaluation page (Chinese, no login; the QR code's link)",
             openapi_extra=sends(ReportForm))
    async def participant_page(report_id: Id, services: ServicesDep,
                               c: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
        form = await form_of(services, report_id)
        if form is None:
            return page("述职评议", "<p>没有找到这场述职。</p>", 404)
        head = (f"<p>{html.escape(form['deputy_name'])}代表 · {form['scheduled_on']} · "
                f"{html.escape(form['place'])}</p>")
        if not form["open"]:
            return page(form["title"], head + "<p>评议尚未开始或已经结束。</p>")
        return page(form["title"], head + questionnaire(report_id, c))

    @app.post("/r/{report_id}", response_class=HTMLResponse, tags=TAGS,
              summary="Send a participant's evaluation from the page (no login)",
              openapi_extra={**sends(ReportForm, EvaluateReport), "requestBody": {"content": {
                  "application/x-www-form-urlencoded": {"example": {
                      "code": "k3J9xQ2mPa", "overall": "satisfied", "duty": "satisfied",
                      "contact": "basically_satisfied", "comment": "希望多进站接待"}}}}})
    async def participant_send(report_id: Id, services: ServicesDep,
                               code: Annotated[str, Form(max_length=64)] = "",
                               overall: Annotated[str, Form(max_length=30)] = "",
                               duty: Annotated[str, Form(max_length=30)] = "",
                               contact: Annotated[str, Form(max_length=30)] = "",
                               comment: Annotated[str, Form(max_length=2000)] = "",
                               ) -> HTMLResponse:
        form = await form_of(services, report_id)
        if form is None:
            return page("述职评议", "<p>没有找到这场述职。</p>", 404)
        answers = {"overall": overall, "duty": duty, "contact": contact}
        missing = [QUESTIONS_ZH[q] for q, a in answers.items() if a not in ANSWERS_ZH]
        if missing:
            return page(form["title"], questionnaire(
                report_id, code, "请回答：" + "、".join(missing)), 422)
        try:
            await services.send(EvaluateReport(report_id=report_id, code=code,
                                               comment=comment, **answers))
        except ServiceFailure as exc:
            status = int(exc.reply.get("status") or 400)
            text = {409: "这个评议码已经评议过，或评议已经结束。",
                    403: "评议码无效，请扫描会场发放的二维码。"}.get(status, "评议未能提交，请重试。")
            return page(form["title"], f"<p role=alert>{text}</p>", status)
        except ValueError:
            return page(form["title"], "<p role=alert>评议码无效，请扫描会场发放的二维码。</p>",
                        422)
        return page(form["title"], "<p role=status>评议已提交，谢谢您的参与。</p>")

"""Public disclosure (应公开、尽公开): the office publishes a handled suggestion's result;
anyone reads the published results without login (``GET /api/v1/public/results`` and the
page ``/public``). Owned by intake (services/intake/publication.py explains why)."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from shared.contracts.requests.intake import (
    MessagePublicationRef,
    PublicationRef,
    PublicResultsQuery,
    Publish,
    PublishMessage,
)
from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, paged

API = "/api/v1"
TAGS = ["public disclosure"]
RESULT_CLASS = {"A": "A类（已解决或采纳）", "B": "B类（正在解决或列入计划）",
                "C": "C类（留作参考）"}


PublicationBody = body_of(Publish, "suggestion_id")  # shared/contracts/requests/intake.py
Publishing = admitted(Publish)
Withdrawing = admitted(PublicationRef)
MessagePublicationBody = body_of(PublishMessage, "message_id")
PublishingMessage = admitted(PublishMessage)
WithdrawingMessage = admitted(MessagePublicationRef)
# a published citizen message (群众留言): answered by the deputy, or the unit's result class
MESSAGE_ANSWERED = "代表已答复"


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>代表建议和群众留言办理结果公开</title>
<link rel="alternate" type="application/atom+xml" title="代表建议和群众留言办理结果公开" href="/public/feed.atom">
<style>
 body {{ font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 60rem; }}
 table {{ border-collapse: collapse; width: 100%; }}
 th, td {{ border: 1px solid #ccc; padding: .4rem; text-align: left; vertical-align: top; }}
 form {{ margin: .8rem 0; }} .hint {{ color: #555; font-size: .9rem; }}
</style></head>
<body><main>
<h1>代表建议和群众留言办理结果公开</h1>
<form method="get" action="/public" role="search"><label for="q">查询</label>
<input id="q" name="q" type="search" value="{q}" maxlength="200" placeholder="标题关键词或编号">
<button type="submit">查询</button></form>
<p class="hint">共 {total} 件 · <a href="/public/feed.atom" id="feed">订阅更新（Atom）</a></p>
<table id="results"><caption>已公开的办理结果</caption><thead><tr><th scope="col">编号</th>
<th scope="col">标题</th><th scope="col">承办单位</th><th scope="col">办理结果</th>
<th scope="col">答复摘要</th><th scope="col">公开日期</th></tr></thead><tbody>{rows}</tbody></table>
{next}
</main></body></html>"""


def register_public_pages(app: FastAPI) -> None:
    @app.post(f"{API}/suggestions/{{suggestion_id}}/publication", tags=TAGS,
              summary="The office publishes a handled suggestion's result (summary, or the "
                      "result class's standard wording); an event in the case's history",
              openapi_extra=sends(Publish))
    async def publish(suggestion_id: str, services: ServicesDep,
                      principal: Publishing,  # type: ignore[valid-type]
                      body: PublicationBody | None = None,  # type: ignore[valid-type]
                      ) -> dict[str, Any]:
        return await services.send(request_of(Publish, body, suggestion_id=suggestion_id),
                                   principal)

    @app.delete(f"{API}/suggestions/{{suggestion_id}}/publication", tags=TAGS,
                summary="The office withdraws a published result",
                openapi_extra=sends(PublicationRef))
    async def withdraw(suggestion_id: str, services: ServicesDep,
                       principal: Withdrawing) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(PublicationRef, suggestion_id=suggestion_id),
                                   principal)

    @app.post(f"{API}/messages/{{message_id}}/publication", tags=TAGS,
              summary="The office marks a handled citizen message public (its answer or the "
                      "unit's feedback; summary, or a standard wording); an event in the "
                      "message's history",
              openapi_extra=sends(PublishMessage))
    async def publish_message(message_id: str, services: ServicesDep,
                              principal: PublishingMessage,  # type: ignore[valid-type]
                              body: MessagePublicationBody | None = None,  # type: ignore[valid-type]
                              ) -> dict[str, Any]:
        return await services.send(request_of(PublishMessage, body, message_id=message_id),
                                   principal)

    @app.delete(f"{API}/messages/{{message_id}}/publication", tags=TAGS,
                summary="The office withdraws a published citizen message",
                openapi_extra=sends(MessagePublicationRef))
    async def withdraw_message(message_id: str, services: ServicesDep,
                               principal: WithdrawingMessage  # type: ignore[valid-type]
                               ) -> dict[str, Any]:
        return await services.send(request_of(MessagePublicationRef, message_id=message_id),
                                   principal)

    @app.get(f"{API}/public/results", tags=TAGS, responses=PAGED,
             summary="Published results, newest first, without login: number, title, "
                     "handling unit, result class, summary, publication time. Paged "
                     "(limit, cursor, Link); q: words of the title or a number",
             openapi_extra=sends(PublicResultsQuery))
    async def public_results(request: Request, response: Response, services: ServicesDep,
                             paging: Paging,
                             q: Annotated[str | None, Query(max_length=200)] = None
                             ) -> list[dict[str, Any]]:
        page = await services.send(request_of(PublicResultsQuery,
                                              query={"q": q or None, **paging.payload()}))
        return paged(request, response, page)

    @app.get("/public", response_class=HTMLResponse, tags=TAGS,
             summary="The public page of published results (Chinese, no login)")
    async def public_page(request: Request, services: ServicesDep, paging: Paging,
                          q: Annotated[str | None, Query(max_length=200)] = None
                          ) -> HTMLResponse:
        page = await services.send(request_of(PublicResultsQuery,
                                              query={"q": q or None, **paging.payload()}))
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(r['number'])}</td><td>{esc(title_text(r))}</td>"
            f"<td>{esc(r['unit'] or '')}</td>"
            f"<td>{esc(result_text(r))}</td>"
            f"<td>{esc(r['summary'])}</td><td>{esc(r['published_at'][:10])}</td></tr>"
            for r in page["items"]) or '<tr><td colspan="6">暂无公开的办理结果</td></tr>'
        more = ""
        if page.get("next_cursor"):
            url = request.url.include_query_params(cursor=page["next_cursor"])
            more = f'<p><a rel="next" href="{esc(str(url))}">下一页</a></p>'
        return HTMLResponse(PAGE.format(q=esc(q or ""), total=page.get("total") or 0,
                                        rows=rows, next=more))

    @app.get("/public/feed.atom", tags=TAGS, response_class=Response,
             summary="An Atom feed of the newest published results (no login), for feed "
                     "readers and portals; q: only those matching (words or a number)")
    async def public_feed(request: Request, services: ServicesDep,
                          q: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        page = await services.send(PublicResultsQuery(q=q or None, limit=50))
        base = (request.app.state.settings.public_base_url
                or str(request.base_url)).rstrip("/")
        return Response(atom_feed(page["items"], base),
                        media_type="application/atom+xml; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})


def result_text(r: dict[str, Any]) -> str:
    """The result column: a suggestion's result class; a message's answer or unit class."""
    if r.get("kind") == "message" and not r.get("result_class"):
        return MESSAGE_ANSWERED
    return RESULT_CLASS.get(r["result_class"], r["result_class"] or "")


def title_text(r: dict[str, Any]) -> str:
    """A message's title: its station, with the dates it was left and answered."""
    if r.get("kind") != "message":
        return r["title"]
    handled = f"，{r['handled_at'][:10]} 答复" if r.get("handled_at") else ""
    return f"{r['station']}（{r['received_at'][:10]} 留言{handled}）"


def atom_feed(items: list[dict[str, Any]], base: str) -> bytes:
    """RFC 4287: the feed and each entry with id, title, updated; the entry's content is the
    handling unit, the result class and the published summary (never personal data)."""
    from xml.etree import ElementTree as ET

    ns = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", ns)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ns}}}feed", {"xml:lang": "zh-CN"})
    sub(feed, "id", f"{base}/public")
    sub(feed, "title", "代表建议和群众留言办理结果公开")
    sub(feed, "updated", max((r["published_at"] for r in items),
                             default="2026-01-01T00:00:00+08:00"))
    sub(feed, "link", rel="self", href=f"{base}/public/feed.atom")
    sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/public")
    author = sub(feed, "author")
    sub(author, "name", "人大常委会代表工作委员会")
    for r in items:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{base}/public#message-{r['ref']}" if r.get("kind") == "message"
            else f"{base}/public#{r['number']}")
        sub(entry, "title", f"{r['number']} {r['title']}")
        sub(entry, "updated", r["published_at"])
        sub(entry, "published", r["published_at"])
        sub(entry, "link", rel="alternate", type="text/html",
            href=f"{base}/public?q={r['number']}")
        result = result_text(r)
        sub(entry, "summary", r["summary"])
        dates = (f"\n联络站：{r['station']}\n留言日期：{r['received_at'][:10]}\n"
                 f"答复日期：{(r.get('handled_at') or '—')[:10]}"
                 if r.get("kind") == "message" else "")
        sub(entry, "content", f"承办单位：{r['unit'] or '—'}\n办理结果：{result}\n"
            f"答复摘要：{r['summary']}{dates}", type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)

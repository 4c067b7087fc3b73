"""A deputy's duty record and annual report stay bounded at city scale (issue 23: no answer is
unbounded), on the real system: a deputy with about 3,000 ledger lines of one year (messages
answered and rated, suggestions registered, reversed and closed, approved activities) gets a
record and a report under the bus's 1 MB payload whose total, totals per cause, counts and
indicators are those of the whole ledger, whose lists hold the most recent 50 and say so
("showing 50 of M"), and whose links page the whole lists: every suggestion and message as
the ledger's own facts define it, every line once.

The ledger is made through points' own application (its aggregate and commands), as the
service makes it."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from services.points import rules as R
from services.points.application import ActivityRef, PointsApplication, SubmitActivity
from services.points.record import _messages, _suggestions
from shared.clock import CHINA_TZ
from shared.eventstore import Actor
from tests.integration.test_points_lists import follow

OFFICE = Actor("office", "office")


def split(href: str) -> tuple[str, dict[str, str]]:
    """A path with its query (as the record gives it) as a path and parameters."""
    parts = urlsplit(href)
    return parts.path, dict(parse_qsl(parts.query))


async def follow_href(api, user: str, href: str, **extra: object):
    path, params = split(href)
    return await follow(api, user, path, **params, **extra)
DEPUTY = "deputy-2"
MB = 1024 * 1024


def busy_year(app: PointsApplication, deputy: str = DEPUTY, year: int = 2026) -> None:
    """1,800 messages answered (300 of them rated satisfied), 600 suggestions registered (20
    reversed, 180 closed class A, 80 of those with all satisfied), 60 approved activities."""
    actor = Actor(deputy, "deputy", deputy_id=deputy)
    for i in range(60):
        activity = app.submit_activity(SubmitActivity(
            deputy_id=deputy, kind="reception_day" if i % 2 else "inspection_research",
            date=date(year, 1, 1) + timedelta(days=i % 59), description=f"接待群众第{i}次"),
            actor)
        app.approve_activity(ActivityRef(activity_id=activity["id"]), OFFICE)
    ledger = app.ledger(deputy, year)
    at = datetime(year, 2, 1, 9, tzinfo=CHINA_TZ)
    for i in range(1800):
        ref = f"{deputy}-m-{i:04d}"
        on = date(year, 1, 1) + timedelta(days=i % 59)
        ledger.record_fact("message_answered", ref, on, {"station_id": "station-fengjie"})
        ledger.award(points=0.5, cause_kind="message_answered", cause_ref=ref, case_id=ref,
                     rule_version="2026.1", awarded_at=at, earned_on=on,
                     details={"station_id": "station-fengjie"})
        if i % 6 == 0:
            ledger.record_fact("message_rated", ref, on, {"rating": "satisfied"})
            ledger.award(points=1.0, cause_kind="message_rated_satisfied", cause_ref=ref,
                         case_id=ref, rule_version="2026.1", awarded_at=at, earned_on=on)
    for i in range(600):
        case = f"case-{i:04d}"
        on = date(year, 1, 1) + timedelta(days=i % 59)
        details = {"role": "lead" if i % 3 else "co_signer", "number": f"{year}-{i + 1:04d}",
                   "title": f"关于第{i}条道路整治的建议", "category": "urban"}
        ledger.record_fact("suggestion_registered", case, on, details)
        ledger.award(points=3.0 if i % 3 else 1.0, cause_kind="suggestion_registered",
                     cause_ref=case, case_id=case, rule_version="2026.1", awarded_at=at,
                     earned_on=on, details=details)
        if i % 30 == 7:  # 20 reversed
            line = ledger.live_award("suggestion_registered", case)
            ledger.revoke_line(line["line_no"], "误将诉讼事项立案", at)
            ledger.record_fact("suggestion_registration_reversed", case, on,
                               {"reason": "误将诉讼事项立案"})
        elif i % 3 == 1:  # 180 closed class A
            closed = {"role": details["role"], "result_class": "A",
                      "all_satisfied": i % 2 == 1, "rating": "satisfied"}
            ledger.record_fact("case_closed", case, on + timedelta(days=1), closed)
            ledger.award(points=2.0, cause_kind="suggestion_resolved", cause_ref=case,
                         case_id=case, rule_version="2026.1", awarded_at=at,
                         earned_on=on + timedelta(days=1), details=closed)
    app.save(ledger)


async def test_a_busy_deputys_record_and_report_are_bounded_and_complete(api, system):
    app = system.app("points")
    busy_year(app)
    await asyncio.to_thread(system.runtimes["points"].catch_up)  # not within a request's 3 s
    ledger = app.ledger(DEPUTY, 2026)
    assert 2900 <= len(ledger.lines) <= 3100

    r = await api.get("office", f"/api/v1/deputies/{DEPUTY}/record", year=2026)
    assert r.status_code == 200, r.text[:500]
    assert len(r.content) < MB
    record = r.json()
    # the whole year's figures
    assert record["total"] == round(sum(l["points"] for l in ledger.lines), 2)
    by_cause: dict[str, float] = {}
    for line in ledger.lines:
        by_cause[line["cause_kind"]] = round(by_cause.get(line["cause_kind"], 0) + line["points"], 2)
    assert record["by_cause"] == by_cause
    assert record["approved_activities"] == ledger.approved_activities() == 60
    rule = app.rules.in_force(app.today())
    assert record["indicators"] == R.compute_indicators(rule, ledger.lines, ledger.facts)
    indicators = {i["code"]: i["value"] for i in record["indicators"]}
    assert indicators["citizen_messages"] == 1800 and indicators["suggestions"] == 580
    assert indicators["participation_frequency"] == 60
    assert indicators["problem_solving_rate"] == 1.0 and indicators["suggestion_quality"] == round(80 / 180, 4)
    # the lists: the most recent 50 each, how many of how many, where the rest page
    lists = record["lists"]
    assert {k: (v["shown"], v["total"]) for k, v in lists.items()} == {
        "activities": (50, 60), "suggestions": (50, 600), "messages": (50, 1800),
        "lines": (50, len(ledger.lines))}
    assert [l["line_no"] for l in record["lines"]] == list(
        range(len(ledger.lines) - 49, len(ledger.lines) + 1))
    assert [l["points"] for l in record["lines"]] == [l["points"] for l in ledger.lines[-50:]]
    suggestions = _suggestions(ledger.facts, ledger.lines)
    messages = _messages(ledger.facts, ledger.lines)
    assert record["suggestions"] == suggestions[-50:]
    assert record["messages"] == messages[-50:]
    assert [a["date"] for a in record["activities"]] == sorted(a["date"] for a in record["activities"])

    # the whole lists, from the record's links
    for name, expected in (("suggestions", suggestions), ("messages", messages)):
        rows, totals = await follow_href(api, "office", lists[name]["href"], limit=500)
        assert rows == expected and set(totals) == {len(expected)}
    rows, totals = await follow_href(api, "office", lists["lines"]["href"], limit=500)
    assert [l["line_no"] for l in rows] == list(range(1, len(ledger.lines) + 1))
    rows, totals = await follow_href(api, "office", lists["activities"]["href"], limit=500)
    assert len(rows) == 60 == totals[0]
    # the deputy sees their own record's lists; another deputy does not
    rows, _ = await follow_href(api, DEPUTY, lists["messages"]["href"], limit=500)
    assert len(rows) == 1800
    assert (await api.get("deputy-1", split(lists["messages"]["href"])[0],
                           **split(lists["messages"]["href"])[1])).status_code == 403

    r = await api.get(DEPUTY, f"/api/v1/deputies/{DEPUTY}/report", year=2026)
    assert r.status_code == 200 and len(r.content) < MB
    html = r.text
    for shown, total in ((50, 600), (50, 1800), (50, len(ledger.lines)), (50, 60)):
        assert f"显示最近 {shown} 条，共 {total} 条（showing {shown} of {total}）" in html
    assert f"{record['total']:g}" in html and "http" not in html
    assert len(json.dumps(record, ensure_ascii=False).encode()) < MB / 4


async def test_a_short_record_lists_everything_and_says_nothing_of_paging(api, system):
    app = system.app("points")
    actor = Actor("deputy-1", "deputy", deputy_id="deputy-1")
    activity = app.submit_activity(SubmitActivity(
        deputy_id="deputy-1", kind="training", date=date(2026, 1, 20), description="培训"), actor)
    app.approve_activity(ActivityRef(activity_id=activity["id"]), OFFICE)
    record = (await api.get("deputy-1", "/api/v1/deputies/deputy-1/record", year=2026)).json()
    assert record["lists"]["activities"] == {
        "shown": 1, "total": 1, "complete": True,
        "href": "/api/v1/activities?deputy_id=deputy-1&year=2026",
        "order": "the most recent, oldest of them first"}
    assert record["lists"]["lines"]["complete"] and record["lists"]["messages"]["total"] == 0
    html = (await api.get("deputy-1", "/api/v1/deputies/deputy-1/report", year=2026)).text
    assert "显示最近" not in html and "培训" in html

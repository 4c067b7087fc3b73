"""Supervision selects a term (届, issue 29 point 4) from its replica of the registry's terms,
through the gateway on a real nats-server and real stores (SQLite and PostgreSQL): the
statistics of a term are those of its dates, and the follow-up reviews (回头看) recorded since
the current term began (本届以来回头看) are listed, one recorded in the term before is not."""

from __future__ import annotations

from datetime import date, timedelta

from tests.harness import eventually
from tests.integration.test_supervision import assigned_case, reply

SYSTEM_SERVICES = ("intake", "assignment", "supervision", "registry", "accounts")
TERM_17_START = "2021-10-01"  # config/terms.yaml


def counts(stats: dict) -> tuple:
    return (stats["cases"], {u: v["cases"] for u, v in stats["per_unit"].items()})


async def test_statistics_and_reviews_by_term(api, system):
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已电话联系"})
    assert r.status_code == 200
    today = system.clock.now().date()
    commitment = today + timedelta(days=120)
    r = await reply(api, task_id, "B", commitment_date=commitment.isoformat())
    assert r.status_code == 200, r.text

    # the term's statistics are those of its dates (an open term: to today)
    r = await api.get("office", "/api/v1/stats", term="term-17")
    assert r.status_code == 200, r.text
    by_term = r.json()
    assert by_term["term"]["id"] == "term-17" and by_term["from"] == TERM_17_START
    assert by_term["to"] == today.isoformat()
    r = await api.get("office", "/api/v1/stats", **{"from": TERM_17_START,
                                                    "to": today.isoformat()})
    assert counts(r.json()) == counts(by_term) and by_term["cases"] >= 1
    year = (await api.get("office", "/api/v1/stats", year=today.year)).json()  # still works
    before = (await api.get("office", "/api/v1/stats", **{
        "from": TERM_17_START, "to": date(today.year - 1, 12, 31).isoformat()})).json()
    assert by_term["cases"] == year["cases"] + before["cases"]
    r = await api.get("unit-b", "/api/v1/stats", term="term-17")
    assert r.json()["cases"] >= 1 and set(r.json()["per_unit"]) == {"unit-b"}
    r = await api.get("office", "/api/v1/stats", term="term-99")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "term"
    r = await api.get("office", "/api/v1/stats", term="term-17", year=today.year)
    assert r.status_code == 422

    # a follow-up review recorded in term 17 (the class-B reply's, r1)
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/r1",
                       {"outcome": "kept", "note": "已按承诺推进", "reopen": False})
    assert r.status_code == 200, r.text
    r = await api.get("office", "/api/v1/reviews")
    assert r.status_code == 200, r.text
    assert [(x["case_id"], x["review_id"], x["outcome"]) for x in r.json()] == [
        (case_id, "r1", "kept")]
    assert r.json()[0]["title"] == task["title"] and r.json()[0]["recorded_on"] == \
        today.isoformat()
    # a deputy's basically-satisfied rating schedules the next review (r2)
    r = await api.post("deputy-1", f"/api/v1/suggestions/{case_id}/rating",
                       {"rating": "basically_satisfied"})
    assert r.status_code == 200, r.text

    # 换届: term 18 begins tomorrow; term 17 ends today
    system.clock.advance(timedelta(days=1))
    start = (today + timedelta(days=1)).isoformat()
    r = await api.post("office", "/api/v1/admin/terms",
                       {"id": "term-18", "name": "第十八届", "number": 18, "start": start,
                        "continuing": ["deputy-1", "deputy-2"]})
    assert r.status_code == 201, r.text

    async def term_18_known():
        r = await api.get("office", "/api/v1/stats", term="term-18")
        return r.json() if r.status_code == 200 else None

    term_18 = await eventually(term_18_known, timeout=30, interval=0.2)
    assert term_18["from"] == start and term_18["cases"] == 0  # replied in term 17
    r = await api.get("office", "/api/v1/stats", term="term-17")
    assert r.json()["to"] == today.isoformat() and counts(r.json()) == counts(by_term)

    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/r2",
                       {"outcome": "partly_kept", "note": "主体完工，绿化未完成"})
    assert r.status_code == 200, r.text
    r = await api.get("office", "/api/v1/reviews")  # the current term: since its start
    assert [(x["review_id"], x["outcome"], x["recorded_on"]) for x in r.json()] == [
        ("r2", "partly_kept", start)]
    r = await api.get("leader", "/api/v1/reviews", term="term-17")
    assert [x["review_id"] for x in r.json()] == ["r1"]
    r = await api.get("office", "/api/v1/reviews", term="term-17", limit=1)
    assert r.headers["X-Total-Count"] == "1"
    r = await api.get("office", "/api/v1/reviews", year=today.year, limit=1)
    assert len(r.json()) == 1 and r.headers["X-Total-Count"] == "2" and "Link" in r.headers
    r = await api.client.get(r.headers["Link"].split(";")[0].strip("<>").replace(
        "http://test", ""), headers=await api.login("office"))
    assert [x["review_id"] for x in r.json()] == ["r1"]  # the next page: the older one
    r = await api.get("unit-a", "/api/v1/reviews", term="term-17")
    assert r.json() == []  # another unit's case
    r = await api.get("unit-b", "/api/v1/reviews", term="term-17")
    assert [x["review_id"] for x in r.json()] == ["r1"]
    r = await api.get("office", "/api/v1/reviews", term="term-99")
    assert r.status_code == 422

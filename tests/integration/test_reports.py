"""Reporting to voters and their evaluation (述职评议, issue 30 point 2) through the gateway,
with a real nats-server: the office schedules a deputy's report (the participants' codes come
back once, as QR links), its basis is the deputy's duty record, participants evaluate on the
QR page without an account (one evaluation per code, even sent twice at once; a code not
given out refused), the close summarises, deputies without a report show as due, and the
report joins the deputy's duty record in points."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from services.gateway.app import GatewaySettings, create_app
from tests.harness import InProcessSystem, eventually, rpc
from tests.integration.conftest import Api

REPORTS = "/api/v1/reports"


@pytest.fixture
async def system(fresh_nats, store) -> AsyncIterator[InProcessSystem]:
    system = InProcessSystem(fresh_nats.url, store)
    await system.start("reports", "points")  # the basis is points' duty record
    yield system
    await system.stop()


@pytest.fixture
async def api(system) -> AsyncIterator[Api]:
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=10.0,
                               citizen_rate_limit="off", accounts_source="file")
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Api(client)


ANSWERS = {"overall": "satisfied", "duty": "basically_satisfied", "contact": "unsatisfied"}


async def test_a_report_is_evaluated_once_per_participant_code(api, system):
    r = await api.post("office", REPORTS, {"deputy_id": "deputy-1", "title": "王建国代表向选民述职",
                                           "scheduled_on": "2026-05-16", "place": "丰街代表联络站",
                                           "participants": 5})
    assert r.status_code == 201, r.text
    report = r.json()
    report_id, codes = report["report_id"], report["codes"]
    assert len(set(codes)) == 5 and len(report["links"]) == 5
    assert report["links"][0].endswith(f"/r/{report_id}?c={codes[0]}")
    r = await api.post("deputy-1", REPORTS, {"deputy_id": "deputy-1", "title": "自己安排述职",
                                             "scheduled_on": "2026-05-16", "place": "家中",
                                             "participants": 1})
    assert r.status_code == 403  # only the office schedules

    # what the codes are is not kept: no answer shows them again
    again = await api.get("office", f"{REPORTS}/{report_id}")
    assert again.status_code == 200 and not any(c in again.text for c in codes)

    # the basis: the deputy's duty record of the report's year (points')
    r = await api.get("deputy-1", f"{REPORTS}/{report_id}/basis")
    assert r.status_code == 200, r.text
    assert r.json()["record"]["deputy"]["id"] == "deputy-1" and r.json()["record"]["year"] == 2026
    assert "indicators" in r.json()["record"] and r.json()["report"]["year"] == 2026
    assert (await api.get("deputy-2", f"{REPORTS}/{report_id}")).status_code == 404  # not theirs

    # before the meeting is held, the QR page says so and an evaluation is refused
    page = await api.client.get(f"/r/{report_id}", params={"c": codes[0]})
    assert page.status_code == 200 and "评议尚未开始" in page.text
    r = await api.client.post(f"{REPORTS}/{report_id}/evaluations", json={"code": codes[0], **ANSWERS})
    assert r.status_code == 409, r.text
    r = await api.post("office", f"{REPORTS}/{report_id}/held",
                       {"held_on": "2026-05-16", "attendance": 38})
    assert r.status_code == 200, r.text

    # on the QR page, without an account
    page = await api.client.get(f"/r/{report_id}", params={"c": codes[0]})
    assert page.status_code == 200 and "总体评价" in page.text and codes[0] in page.text
    sent = await api.client.post(f"/r/{report_id}", data={"code": codes[0], **ANSWERS,
                                                          "comment": "希望多进站接待"})
    assert sent.status_code == 200 and "评议已提交" in sent.text
    again = await api.client.post(f"/r/{report_id}", data={"code": codes[0], **ANSWERS})
    assert again.status_code == 409 and "已经评议过" in again.text
    missing = await api.client.post(f"/r/{report_id}", data={"code": codes[1], "overall": "satisfied"})
    assert missing.status_code == 422 and "履职尽责" in missing.text
    r = await api.client.post(f"{REPORTS}/{report_id}/evaluations",
                              json={"code": "not-a-code-given-out", **ANSWERS})
    assert r.status_code == 403, r.text

    # the same code twice at once: one counts
    twice = await asyncio.gather(*(api.client.post(f"{REPORTS}/{report_id}/evaluations",
                                                   json={"code": codes[1], **ANSWERS})
                                   for _ in range(2)))
    assert sorted(r.status_code for r in twice) == [201, 409]
    # the other codes at once, each once
    rest = await asyncio.gather(*(api.client.post(f"{REPORTS}/{report_id}/evaluations", json={
        "code": code, "overall": "satisfied", "duty": "satisfied", "contact": "satisfied"})
        for code in codes[2:]))
    assert [r.status_code for r in rest] == [201, 201, 201]

    r = await api.post("office", f"{REPORTS}/{report_id}/evaluation/close")
    assert r.status_code == 200, r.text
    summary = r.json()["summary"]
    assert summary["evaluations"] == 5
    assert summary["overall"] == {"satisfied": 5, "basically_satisfied": 0, "unsatisfied": 0,
                                  "satisfaction_rate": 1.0}
    assert summary["contact"]["unsatisfied"] == 2 and summary["contact"]["satisfaction_rate"] == 0.6
    r = await api.client.post(f"{REPORTS}/{report_id}/evaluations", json={"code": codes[4], **ANSWERS})
    assert r.status_code == 409  # closed

    # the stored evaluations carry no request's actor or trace
    app = system.app("reports")
    evaluated = [n for n in app.recorder.select_notifications(start=1, limit=100)
                 if n.topic.endswith("VoterReport.Evaluated")]
    assert len(evaluated) == 5
    assert {app.mapper.raw_state(n)["_meta"]["actor"]["username"] for n in evaluated} == {"participant"}

    # deputies without a report held in the term are due one
    r = await api.get("leader", f"{REPORTS}/due", since=2026)
    assert r.status_code == 200, r.text
    due = {d["deputy_id"] for d in r.json()["due"]}
    assert "deputy-1" not in due and {"deputy-2", "deputy-3"} <= due
    assert (await api.get("deputy-1", f"{REPORTS}/due", since=2026)).status_code == 403

    # published for the record and the annual report
    async def evaluated_event():
        import json

        import nats

        nc = await nats.connect(system.nats_url)
        try:
            sub = await nc.jetstream().subscribe("duty.reports.report_evaluated.v1",
                                                 ordered_consumer=True)
            msg = await sub.next_msg(timeout=1)
            return json.loads(msg.data)
        except Exception:
            return None
        finally:
            await nc.close()
    event = await eventually(evaluated_event)
    assert event["deputy_id"] == "deputy-1" and event["evaluations"] == 5
    assert not re.search("|".join(codes), str(event))
    # the report joins the deputy's duty record: the reporting-to-voters line (once) and
    # the voters' evaluation as a fact of the ledger
    async def scored():
        r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/points", year=2026)
        lines = [line for line in r.json()["lines"] if line["cause_kind"] == "report_to_voters"]
        ledger = system.app("points").ledger("deputy-1", 2026)
        return lines if ledger.has_fact("report_evaluated", report_id) else None
    lines = await eventually(scored)
    assert [(line["cause_ref"], line["points"]) for line in lines] == [(report_id, 5.0)]
    record = (await api.get("deputy-1", "/api/v1/deputies/deputy-1/record", year=2026)).json()
    [evaluation] = record["voter_evaluations"]
    assert evaluation.pop("on")  # the day the evaluation closed
    assert evaluation == {"report_id": report_id, "evaluations": 5, "overall": 1.0,
                          "duty": 1.0, "contact": 0.6}
    annual = await api.get("deputy-1", "/api/v1/deputies/deputy-1/report", year=2026)
    assert "七、向选民述职与民主评议" in annual.text and "100.0%" in annual.text
    assert "report_to_voters" not in annual.text and "向选民述职" in annual.text
    verified = await rpc(system.nats_url, "reports", "verify_store", {})
    assert verified["result"]["ok"], verified

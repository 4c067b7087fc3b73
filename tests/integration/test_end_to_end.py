"""One case through the gateway and all four services, over a real nats-server and real stores."""

from __future__ import annotations

import nats

from tests.harness import eventually, rpc

SUGGESTION = {
    "title": "建议加装老旧小区电梯",
    "body": "鱼复街道多个老旧小区无电梯，老人上下楼困难，建议纳入加装计划。",
    "category": "livelihood",
    "co_signers": ["deputy-2"],
}

# The spans a register request leads to, in every service it reaches.
REGISTER_FLOW_SPANS = {
    "intake.register_suggestion",
    "intake outbox publish",
    "assignment handle suggestion_registered",
    "points handle suggestion_registered",
    "assignment outbox publish",
    "supervision handle task_assigned",
}


async def lead_deputy_awarded(api) -> None:
    """Wait until deputy-1, who submitted the case, has points: the last effect of the flow."""
    async def points_awarded():
        r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/points")
        return r.json()["total"] > 0

    await eventually(points_awarded)


def register_trace(span_exporter) -> list:
    """The finished spans in the trace of the gateway's (first) register request."""
    spans = span_exporter.get_finished_spans()
    roots = [s for s in spans
             if s.name.startswith("POST /api/v1/suggestions/{suggestion_id}/register")
             and s.resource.attributes["service.name"] == "gateway"]
    if not roots:
        return []
    return [s for s in spans if s.context.trace_id == roots[0].context.trace_id]


async def submit_and_register(api) -> tuple[str, str]:
    r = await api.post("deputy-1", "/api/v1/suggestions", SUGGESTION)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    suggestion_id = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{suggestion_id}/register",
                       {"urgency": "yellow"})
    assert r.status_code == 200, r.text
    return suggestion_id, r.json()["number"]


async def test_a_case_travels_through_every_service(api, system):
    suggestion_id, number = await submit_and_register(api)
    assert number.endswith("-0001")

    async def unit_sees_task():
        r = await api.get("unit-b", "/api/v1/tasks")
        return r.status_code == 200 and [t for t in r.json() if t["case_id"] == suggestion_id]

    tasks = await eventually(unit_sees_task)
    assert tasks[0]["role"] == "lead" and tasks[0]["status"] == "open"
    assert tasks[0]["colour"] == "green"

    async def lead_has_points():
        r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/points")
        return r.json()["total"] > 0 and r.json()

    points = await eventually(lead_has_points)
    assert points["total"] == 3.0
    assert points["lines"][0]["cause_kind"] == "suggestion_registered"
    assert points["lines"][0]["cause_ref"] == suggestion_id

    async def co_signer_points():
        r = await api.get("deputy-2", "/api/v1/deputies/deputy-2/points")
        return r.json()["total"] == 1.0

    await eventually(co_signer_points)

    r = await api.get("office", f"/api/v1/suggestions/{suggestion_id}")
    view = r.json()
    assert view["status"] == "registered" and view["number"] == number
    assert view["urgency"] == "yellow" and view["category"] == "livelihood"
    assert view["units"] == {"lead": "unit-b", "co": []}
    assert view["deadlines"]["unit-b"] == tasks[0]["deadline"]
    assert sorted(p["points"] for p in view["points_awarded"]) == [1.0, 3.0]

    # Each service's own state, asked directly.
    intake = system.app("intake")
    assert intake.repository.get(__import__("uuid").UUID(suggestion_id)).status == "registered"
    assignment = await rpc(system.nats_url, "assignment", "case_assignment", {"case_id": suggestion_id})
    assert assignment["result"]["status"] == "assigned"
    assert assignment["result"]["routing_rule_id"] == "rule-livelihood"
    supervision = await rpc(system.nats_url, "supervision", "list_tasks", {"case_id": suggestion_id})
    assert [t["unit_id"] for t in supervision["result"]] == ["unit-b"]

    # The other unit does not see it.
    r = await api.get("unit-a", "/api/v1/tasks")
    assert all(t["case_id"] != suggestion_id for t in r.json())
    r = await api.get("unit-a", "/api/v1/tasks", unit_id="unit-b")
    assert r.status_code == 403


async def test_one_trace_spans_the_gateway_and_all_four_services(api, system, span_exporter):
    suggestion_id, _ = await submit_and_register(api)
    await lead_deputy_awarded(api)

    def register_trace_services():
        in_trace = register_trace(span_exporter)
        return {s.resource.attributes["service.name"] for s in in_trace}, in_trace

    async def whole_flow_in_one_trace():
        services, spans = register_trace_services()
        return (services >= {"gateway", "intake", "assignment", "supervision", "points"}
                and REGISTER_FLOW_SPANS <= {s.name for s in spans})

    await eventually(whole_flow_in_one_trace)
    _, spans = register_trace_services()
    assert len({s.context.trace_id for s in spans}) == 1
    handles = [s for s in spans if s.name.endswith("handle task_assigned")]
    # supervision handles it (notifications, reading it too, may or may not have yet)
    assert "supervision" in {s.resource.attributes["service.name"] for s in handles}


async def test_bad_input_gets_field_level_errors(api, system):
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {**SUGGESTION, "category": "nonsense", "co_signers": ["deputy-1", "deputy-9"]})
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert ("body", "category") in locs
    assert ("body", "co_signers", 0) in locs and ("body", "co_signers", 1) in locs

    r = await api.post("deputy-1", "/api/v1/suggestions", {**SUGGESTION, "title": "", "extra": 1})
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert ("body", "title") in locs and ("body", "extra") in locs

    r = await api.post("office", "/api/v1/suggestions", SUGGESTION)
    assert r.status_code == 403
    r = await api.post("office", "/api/v1/suggestions/not-a-suggestion/register", {"urgency": "red"})
    assert r.status_code == 404
    r = await api.client.get("/api/v1/me")
    assert r.status_code == 401

    r = await api.post("deputy-1", "/api/v1/suggestions", SUGGESTION)
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "purple"})
    assert r.status_code == 422
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "red"})
    assert r.status_code == 200
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "red"})
    assert r.status_code == 409


async def test_a_service_that_does_not_answer_in_time_gives_504(api, system):
    await system.stop("points")
    r = await api.get("office", "/api/v1/deputies/deputy-1/points")
    assert r.status_code == 503  # nobody listens: NATS says so at once
    assert r.json()["detail"] == "the points service is not running"

    # A points service that takes the request but never answers.
    async def swallow(_msg):
        pass

    nc = await nats.connect(system.nats_url)
    await nc.subscribe("duty.rpc.points.deputy_points", cb=swallow)
    await nc.flush()

    async def swallowed() -> bool:
        # The server routes the route's requests to the swallower (times out), no longer
        # answering "no responders" (seen in CI right after the points service stopped).
        try:
            await nc.request("duty.rpc.points.deputy_points", b"{}", timeout=0.2)
        except nats.errors.NoRespondersError:
            return False
        except nats.errors.TimeoutError:
            return True
        return False

    await eventually(swallowed)
    try:
        r = await api.get("office", "/api/v1/deputies/deputy-1/points")
    finally:
        await nc.close()
    assert r.status_code == 504, r.json()
    assert r.json()["title"] == "Gateway timeout"
    assert r.json()["detail"] == "the points service did not answer within 5s"
    health = await api.client.get("/health")
    assert health.status_code == 503
    assert health.json()["services"]["points"]["ready"] is False

    async def intake_still_ready() -> bool:  # (one health probe may time out on a busy machine)
        services = (await api.client.get("/health")).json()["services"]
        return services["intake"]["ready"] is True and services["points"]["ready"] is False

    await eventually(intake_still_ready, timeout=15)


async def test_health_counts_the_commands_recorded_and_their_transactions(api, system):
    before = (await api.client.get("/health")).json()["services"]["intake"]["group_commit"]
    await submit_and_register(api)  # two commands, each recording its events
    after = (await api.client.get("/health")).json()["services"]["intake"]["group_commit"]
    assert after["commands"] - before["commands"] == 2
    assert 1 <= after["transactions"] - before["transactions"] <= 2


async def test_each_service_exposes_prometheus_metrics_that_move_with_the_flow(api, system):
    suggestion_id, _ = await submit_and_register(api)

    async def assigned_and_awarded():
        r = await api.get("deputy-1", "/api/v1/deputies/deputy-1/points")
        t = await api.get("unit-b", "/api/v1/tasks")
        return r.json()["total"] == 3.0 and t.json()

    await eventually(assigned_and_awarded)
    r = await api.client.get("/metrics/assignment")
    assert r.status_code == 200
    text = r.text
    assert 'duty_messages_consumed_total{outcome="processed",upstream="intake"} 1.0' in text
    assert 'duty_handler_seconds_count{upstream="intake"} 1.0' in text
    intake = (await api.client.get("/metrics/intake")).text
    assert "duty_events_published_total 2.0" in intake  # submitted + registered
    assert "duty_outbox_lag 0.0" in intake
    assert (await api.client.get("/metrics/nonsense")).status_code == 404

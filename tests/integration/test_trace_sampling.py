"""Sampled traces stay whole, unsampled requests leave no spans downstream.

Operators sample traces with the OpenTelemetry SDK's own variables (``OTEL_TRACES_SAMPLER``,
``OTEL_TRACES_SAMPLER_ARG``; README, Configuration): the gateway decides per request, and every
service follows the decision of the request that caused its work, carried in the bus headers
and in each stored event's metadata through the outbox. Here the gateway samples only the
register request of a case, and the services would sample any trace they started themselves
(parent-based, always-on root): so a service that lost the request's context would record
spans of the submit request, and one that dropped the decision would cut the register trace.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from shared.settings import ServiceSettings
from shared.telemetry import build_tracer_provider
from tests.harness import eventually
from tests.integration.test_end_to_end import (
    REGISTER_FLOW_SPANS,
    lead_deputy_awarded,
    register_trace,
    submit_and_register,
)


class RegisterRequestsOnly(Sampler):
    """The gateway's root decision: sample a request only when it registers a suggestion."""

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state=None) -> SamplingResult:
        chosen = ALWAYS_ON if name.endswith("/register") else ALWAYS_OFF
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                    trace_state)

    def get_description(self) -> str:
        return "RegisterRequestsOnly"


@pytest.fixture
def samplers() -> dict[str, Sampler]:
    return {"gateway": ParentBased(root=RegisterRequestsOnly())}


async def test_only_the_sampled_request_is_traced_and_its_trace_is_whole(
        api, system, span_exporter):
    suggestion_id, _ = await submit_and_register(api)
    await lead_deputy_awarded(api)

    async def register_trace_whole():
        return REGISTER_FLOW_SPANS <= {s.name for s in register_trace(span_exporter)}

    await eventually(register_trace_whole)
    in_trace = register_trace(span_exporter)
    # the notifications service's handling may still be under way: it joins the same trace
    assert {s.resource.attributes["service.name"] for s in in_trace} - {"notifications"} == {
        "gateway", "intake", "assignment", "supervision", "points"}

    # Nothing of the unsampled submit request was recorded anywhere: not its gateway span,
    # not intake's command span, not the relay's publish of its event, not a consumer's
    # handling of that event. Every span of the case is in the register trace.
    spans = span_exporter.get_finished_spans()
    assert not [s.name for s in spans if "submit" in s.name]
    of_the_case = [s for s in spans
                   if s.attributes.get("duty.case_id") == suggestion_id
                   or s.name.startswith(("intake.", "intake outbox"))]
    assert of_the_case
    assert {s.context.trace_id for s in of_the_case} == {in_trace[0].context.trace_id}
    assert all(s.context.trace_flags.sampled for s in in_trace)


def test_the_sdk_sampler_variables_configure_every_process(monkeypatch):
    """Services and the gateway build their tracer providers with ``build_tracer_provider``,
    which leaves the sampler to the SDK's variables (the README's Configuration)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    provider = build_tracer_provider("intake", ServiceSettings(service_name="intake"))
    assert isinstance(provider, TracerProvider)
    description = provider.sampler.get_description()
    assert description.startswith("ParentBased") and "0.25" in description

    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG")
    default = build_tracer_provider("intake", ServiceSettings(service_name="intake"))
    assert default.sampler.get_description() == ParentBased(ALWAYS_ON).get_description()

"""OpenAPI fuzzing of the gateway with schemathesis: every operation of the generated OpenAPI
document, valid and invalid inputs, signed in as the office, against the real services. No
answer may be a 5xx.

Schemathesis generates the cases (a few per operation and mode, derandomised so a run is
repeatable); they are sent in-process (ASGI) from the test's own event loop, the loop the
in-process services run on, so a request that needs a service gets a real answer. A failure
lists each 5xx with the operation, the request as a curl command, the answer and the
traceback (the gateway's, or the service's from its log).

FUZZ_USER (default office) signs in as another development user; FUZZ_EXAMPLES (default 8) sets the examples per operation and mode (invalid inputs only
for operations with a query or a body).
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from typing import Any

import httpx
import pytest
import schemathesis
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from services.gateway.app import GatewaySettings, create_app
from tests.harness import ALL_SERVICES

SYSTEM_SERVICES = ALL_SERVICES  # every route reaches a running service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
USER = os.environ.get("FUZZ_USER", "office")
BASE_URL = "http://gateway"


def generate_cases(openapi: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(openapi)
    cases: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if len(operation.body) or len(operation.query):
            # Invalid inputs where there is something to get wrong (a path's string
            # parameters cannot be made invalid: hypothesis would only search in vain).
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode)

            @given(strategy)
            @settings(max_examples=EXAMPLES, database=None, derandomize=True, deadline=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            def collect(case: Any) -> None:
                cases.append(case)

            try:
                collect()
            except Unsatisfiable:
                if mode is GenerationMode.NEGATIVE:
                    continue  # nothing in this operation can be made invalid
                raise
            except Exception as exc:  # pragma: no cover - a schema schemathesis cannot use
                pytest.fail(f"{operation.method.upper()} {operation.path}: cannot generate "
                            f"{mode.value} cases: {exc!r}")
    return cases


def _form_value(value: Any) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return value
    return json.dumps(value)


def to_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The requests-style kwargs schemathesis serialises a case to, for httpx."""
    out = {"method": kwargs["method"], "url": kwargs["url"], "headers": kwargs.get("headers"),
           "params": kwargs.get("params") or None}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    if isinstance(kwargs.get("data"), dict):
        out["data"] = {str(k): _form_value(v) for k, v in kwargs["data"].items()}
    elif kwargs.get("data") is not None:
        out["content"] = kwargs["data"]
    if kwargs.get("files"):
        out["files"] = kwargs["files"]
    return out


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_no_operation_answers_with_a_server_error(system, caplog):
    settings_ = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=5.0,
                                citizen_rate_limit="off")
    app = create_app(settings_)
    cases = generate_cases(app.openapi())
    operations = {(c.operation.method, c.operation.path) for c in cases}
    assert len(operations) >= 60, "the OpenAPI document lost its operations?"

    failures: list[str] = []
    caplog.set_level(logging.ERROR)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL,
                                     timeout=30) as client:
            r = await client.post("/api/v1/auth/token",
                                  data={"username": USER, "password": USER})
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            for case in cases:
                where = f"{case.operation.method.upper()} {case.operation.path}"
                kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth)
                curl = case.as_curl_command(headers=auth)
                logged = len(caplog.records)
                try:
                    request = to_httpx(kwargs)
                except Exception:  # pragma: no cover - a case httpx cannot send
                    continue
                try:
                    response = await client.request(**request)
                except Exception:
                    failures.append(f"{where}\n  {curl}\n  raised in the gateway:\n"
                                    f"{traceback.format_exc()}")
                    continue
                if response.status_code >= 500:
                    logs = "\n".join(
                        f"  log {rec.name}: {rec.getMessage()}\n{rec.exc_text or ''}"
                        for rec in caplog.records[logged:])
                    failures.append(f"{where}\n  {curl}\n  -> {response.status_code} "
                                    f"{response.text[:500]}\n{logs}")
    assert not failures, (f"{len(failures)} of {len(cases)} requests answered 5xx:\n\n"
                          + "\n\n".join(failures[:30]))


def test_every_operation_declares_errors_and_every_body_an_example():
    """Each operation names at least one 4xx answer (signed-in ones a 401), and each request
    body (the OAuth2 token form aside) carries an example that its own model accepts."""
    from fastapi.routing import APIRoute
    from pydantic import TypeAdapter

    app = create_app(GatewaySettings(citizen_rate_limit="off"))
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    assert "Problem" in schemas
    bodies = {(m, r.path): r.body_field for r in app.routes if isinstance(r, APIRoute)
              for m in r.methods if r.body_field is not None}
    no_input = {("get", "/health"), ("get", "/asyncapi.json")}  # nothing to get wrong
    problems = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            codes = [c for c in op.get("responses", {}) if c.startswith("4")]
            if not codes and (method, path) not in no_input:
                problems.append(f"{method.upper()} {path}: no 4xx response")
            if op.get("security") and "401" not in codes:
                problems.append(f"{method.upper()} {path}: signed in but no 401")
            for media, content in (op.get("requestBody") or {}).get("content", {}).items():
                if path == "/api/v1/auth/token":
                    continue
                schema = content.get("schema", {})
                ref = schema.get("$ref") or next(
                    (s["$ref"] for s in schema.get("anyOf", []) if "$ref" in s), None)
                model = schemas[ref.rsplit("/", 1)[1]] if ref else schema
                example = content.get("example") or (model.get("examples") or [None])[0]
                if example is None:
                    problems.append(f"{method.upper()} {path}: no example for {media}")
                elif "json" in media:
                    field = bodies[(method.upper(), path)]
                    TypeAdapter(field.field_info.annotation).validate_python(example)
    assert not problems, "\n".join(problems)

"""Request contracts (shared/contracts/requests/): every gateway route of a converted service
sends declared requests; every declared request has a handler in its service's runtime, and
no route of a converted service is registered by name only; the roles a route admits and the
roles its service admits come from the declarations and match the authorization matrix; the
service refuses a role its contract does not admit; a request no contract declares cannot be
sent."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.routing import APIRoute

from services.gateway.app import create_app
from services.gateway.deps import Services
from shared.contracts.requests import (ANY_SERVICE, DECLARED_SERVICES, EVERYONE, SIGNED_IN,
                                       STAFF, UndeclaredRequest, contract_for, declared)
from shared.runtime import ServiceRuntime
from tests.harness import ALL_SERVICES, rpc
from tests.integration.test_authorization_matrix import IDS, MATRIX

SYSTEM_SERVICES = ALL_SERVICES  # every declared service answers



def _api_routes() -> list[APIRoute]:
    return [r for r in create_app().routes
            if isinstance(r, APIRoute) and r.path.startswith("/api/v1/")]


def _sent(route: APIRoute) -> list[str]:
    return (route.openapi_extra or {}).get("x-requests", [])


def _route_roles(route: APIRoute) -> set[str] | None:
    """The roles the route's principal dependency admits (None: any signed-in user; no
    dependency: anonymous callers too)."""
    def walk(dependant):
        for d in dependant.dependencies:
            if hasattr(d.call, "roles"):
                return set(d.call.roles) or None
            found = walk(d)
            if found != "none":
                return found
        return "none"

    found = walk(route.dependant)
    return {"anonymous"} | SIGNED_IN if found == "none" else found


def _by_subject() -> dict[str, type]:
    return {c.subject(): c for c in declared().values() if c.service != ANY_SERVICE}


def test_every_route_sending_a_request_names_a_declared_one():
    subjects = _by_subject()
    routes = [r for r in _api_routes() if _sent(r)]
    assert routes, "no route declares the requests it sends"
    for route in routes:
        for subject in _sent(route):
            assert subject in subjects, f"{route.path} sends {subject}, which is not declared"


def test_every_route_of_a_converted_service_sends_declared_requests():
    """Every route of routes_<service>.py, for a service whose requests are declared, says
    which requests it sends (and the assignment route in app.py)."""
    for route in _api_routes():
        module = route.endpoint.__module__.rsplit(".", 1)[-1]
        service = module.removeprefix("routes_")
        if module.startswith("routes_") and service in DECLARED_SERVICES:
            assert _sent(route), f"{route.path} ({module}) sends no declared request"
    assign = next(r for r in _api_routes()
                  if r.path == "/api/v1/suggestions/{suggestion_id}/assignment"
                  and "POST" in r.methods)
    assert _sent(assign) == ["duty.rpc.assignment.assign_suggestion"]


def test_route_roles_come_from_the_declarations_and_match_the_matrix():
    """A route admits the roles its request declares, or fewer (never more); and those are
    the roles of the authorization matrix (tests/integration/test_authorization_matrix.py)."""
    checked = 0
    for route in _api_routes():
        contracts = [_by_subject()[s] for s in _sent(route)]
        if not contracts:
            continue
        roles = _route_roles(route)
        admitted = set(SIGNED_IN if roles is None else roles)
        main = contracts[0]
        assert admitted <= main.roles | ({"anonymous"} if "anonymous" in admitted else set()), \
            f"{route.path} admits {admitted - main.roles} that {main.__name__} does not"
        for method in route.methods - {"HEAD"}:
            expected = set(MATRIX[f"{method} {route.path}"].replace("anon", "anonymous").split())
            assert admitted & (STAFF | {"anonymous"}) == expected, f"{method} {route.path}"
            checked += 1
    assert checked >= len([r for r in _api_routes() if _sent(r)])


def test_every_declared_request_is_registered_by_type(system):
    """Each converted service's runtime serves exactly its declared requests (and the ones
    every service answers), each registered from its contract; none by name only."""
    for service in DECLARED_SERVICES:
        runtime: ServiceRuntime = system.runtimes[service]
        mine = {name: c for (s, name), c in declared().items() if s == service}
        for name, contract in mine.items():
            route = runtime.routes.get(name)
            assert route is not None, f"{service}: no handler for {contract.__name__}"
            assert route.contract is contract and route.model is contract
            assert route.mutates is contract.mutates
        for name, route in runtime.routes.items():
            assert route.contract is not None, f"{service}.{name} is registered by name only"
            assert route.contract.service in (service, ANY_SERVICE)
    for runtime in system.runtimes.values():  # every service: health, metrics, read models
        for name in ("health", "metrics", "read_models", "rebuild_read_models",
                     "verify_store", "republish"):
            assert runtime.routes[name].contract is contract_for(runtime.service, name)


async def test_the_service_admits_only_the_roles_its_contracts_declare(system):
    """Straight on the bus: a role a contract does not admit is refused (403) by the service,
    before the payload is even read; an admitted role is not refused for its role."""
    actors = {"office": {"username": "office", "role": "office"},
              "leader": {"username": "leader", "role": "leader"},
              "unit": {"username": "unit-a", "role": "unit", "unit_id": "unit-a"},
              "deputy": {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"},
              "citizen": {"username": "c", "role": "citizen"},
              "anonymous": {"username": "anonymous", "role": "anonymous"}}
    for service in sorted(DECLARED_SERVICES):
        for (s, name), contract in sorted(declared().items()):
            if s != service:
                continue
            payload = {f: IDS.get(f, "x") for f, field in contract.model_fields.items()
                       if field.is_required()}
            for role, actor in actors.items():
                answer = await rpc(system.nats_url, service, name, payload, actor)
                refused = not answer["ok"] and answer["status"] == 403 \
                    and "needs the role" in answer["detail"]
                assert refused is (role not in contract.roles), (service, name, role, answer)


async def test_a_request_nobody_declared_cannot_be_sent():
    class Connection:
        requests: list = []

        async def request(self, subject, data, timeout, headers):  # pragma: no cover
            self.requests.append(subject)
            raise AssertionError("sent")

    connection = Connection()
    services = Services(SimpleNamespace(config=SimpleNamespace(
        connection_state=SimpleNamespace(connection=connection))), timeout=1.0)
    with pytest.raises(UndeclaredRequest):
        await services.call("assignment", "asign_suggestion", {"suggestion_id": "S-1"})
    with pytest.raises(UndeclaredRequest):
        await services.call("assignmnet", "assign_suggestion", {"suggestion_id": "S-1"})
    assert connection.requests == []


def test_a_service_cannot_register_another_services_request():
    from shared.contracts.requests.assignment import AssignSuggestion

    runtime = SimpleNamespace(service="points", routes={})
    with pytest.raises(ValueError):
        ServiceRuntime.handle(runtime, AssignSuggestion)  # type: ignore[arg-type]


def test_each_request_is_declared_once_with_roles_and_a_subject():
    table = declared()
    assert len({c.subject() for c in table.values()}) == len(table)
    for (service, name), contract in table.items():
        assert contract.roles and contract.roles <= EVERYONE, contract
        assert contract.subject("x" if service == ANY_SERVICE else None).endswith(f".{name}")


def test_the_openapi_bodies_are_the_declared_requests_without_their_path_fields():
    """Each body a converted route takes is its request's fields but those of the path, with
    the request's limits (shared/contracts/requests/limits.py) and examples."""
    from shared.contracts.requests.limits import REASON_MAX

    document = create_app().openapi()
    schemas = document["components"]["schemas"]
    checked = 0
    for route in _api_routes():
        body = route.body_field
        if not _sent(route) or body is None:
            continue
        contract = _by_subject()[_sent(route)[0]]
        method = next(iter(route.methods)).lower()
        content = document["paths"][route.path][method]["requestBody"]["content"]
        ref = json.dumps(content["application/json"]["schema"])
        schema = schemas[ref.split("#/components/schemas/")[1].split('"')[0]]
        path_fields = {p.name for p in route.dependant.path_params}
        fields = {f.alias or n for n, f in contract.model_fields.items()  # wire names
                  } - {"quiet_hours_off"}  # said by a null
        assert set(schema["properties"]) <= fields, route.path
        # the fields left out are the path's (named as the route names them)
        assert len(fields - set(schema["properties"])) == len(path_fields), route.path
        checked += 1
    assert checked >= 15
    reason = schemas["RequestReturnBody"]["properties"]["reason"]
    assert reason["maxLength"] == REASON_MAX and reason["minLength"] == 1
    assert schemas["RequestReturnBody"]["examples"] == [{"reason": "该事项属于区交通运输局职责"}]

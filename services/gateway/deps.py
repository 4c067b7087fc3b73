"""What every gateway route module shares: the service client, auth dependencies and
problem responses. Route modules import from here, never from app.py."""

from __future__ import annotations

import asyncio
import json
from functools import cache
from typing import Annotated, Any, TypeVar

import nats.errors
from opentelemetry import propagate, trace
from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from pydantic import BaseModel, ConfigDict

from shared.contracts.requests import ANY_SERVICE, DECLARED_SERVICES, contract_for
from shared.contracts.requests import Request as Contract
from shared.contracts.requests import SIGNED_IN as ANY_USER
from shared.identity import Signer
from shared.rpc import rpc_subject
from services.gateway.auth import Authenticator, Principal, get_authenticator, require


R = TypeVar("R", bound=Contract)
SERVICE_NAMES = frozenset({"intake", "assignment", "supervision", "points", "notifications",
                           "accounts", "projects", "reports", "liaison",
                           "registry"})


class ServiceUnavailable(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        self.status_code = status_code
        self.detail = detail


class ServiceFailure(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply


class Services:
    """Request/reply client for the services behind the gateway, on the NATS connection of
    the gateway's FastStream broker (nats-py's ``request``: one shared reply inbox).

    Each call is a CLIENT span (``<subject> request``) whose W3C trace context goes in the
    request's headers, where the service's route span continues it. nats-py directly rather
    than ``broker.request``: FastStream's request made a publish span, a consume span for the
    reply and its context scopes, a quarter of the gateway's CPU per command in the profile of
    2026-11-24 (docs/benchmarks.md).

    "No responders" right after a service (re)subscribed can be a moment early (nats-server
    2.15 answered it to 1 in 30 first requests after a flushed subscription; see
    ``no_responders_retry_seconds``): such a request is sent once more after that pause
    before the caller gets 503.
    """

    def __init__(self, broker: NatsBroker, timeout: float, tracer: trace.Tracer | None = None,
                 no_responders_retry_seconds: float = 0.05, signer: Signer | None = None) -> None:
        self.broker = broker
        # The actor of every request is asserted and signed by the gateway (shared/identity.py)
        self._signer = signer
        self.timeout = timeout
        self.tracer = tracer or trace.get_tracer(__name__)
        self.no_responders_retry_seconds = no_responders_retry_seconds

    async def send(self, request: R, principal: Principal | None = None, *,
                   service: str | None = None, timeout: float | None = None) -> Any:
        """Send a declared request (shared/contracts/requests/) and return its reply, checked
        against the contract's reply type. ``service``: the service to ask, for a request
        every service answers (health, case_history...)."""
        contract = type(request)
        to = service or contract.service
        if to == ANY_SERVICE:
            raise ValueError(f"{contract.__name__} is answered by every service: name one")
        result = await self._request(to, contract.name, request.payload(), principal, timeout)
        return contract.validate_reply(result)

    async def call(self, service: str, command: str, payload: dict[str, Any] | None = None,
                   principal: Principal | None = None, timeout: float | None = None) -> Any:
        """A request by name, for call sites not converted to ``send`` yet. A name no contract
        declares is refused (UndeclaredRequest) for a service whose requests are declared."""
        if service in DECLARED_SERVICES or service not in SERVICE_NAMES:
            contract_for(service, command)  # raises UndeclaredRequest
        return await self._request(service, command, payload, principal, timeout)

    async def _request(self, service: str, command: str, payload: dict[str, Any] | None,
                       principal: Principal | None, timeout: float | None) -> Any:
        actor = principal.actor() if principal else {"username": "anonymous",
                                                     "role": "anonymous"}
        body = self.signer.request(service, actor, payload or {})
        subject = rpc_subject(service, command)
        timeout = timeout or self.timeout
        connection = self.broker.config.connection_state.connection
        with self.tracer.start_as_current_span(
            f"{subject} request", kind=trace.SpanKind.CLIENT,
            attributes={"messaging.system": "nats", "messaging.destination.name": subject,
                        "messaging.operation.type": "send"},
        ) as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)
            data = json.dumps(body).encode()
            try:
                try:
                    response = await connection.request(subject, data, timeout=timeout,
                                                        headers=headers)
                except nats.errors.NoRespondersError:
                    await asyncio.sleep(self.no_responders_retry_seconds)
                    response = await connection.request(subject, data, timeout=timeout,
                                                        headers=headers)
            except nats.errors.NoRespondersError:
                span.set_status(trace.StatusCode.ERROR, "no responders")
                raise ServiceUnavailable(503, f"the {service} service is not running") from None
            except (nats.errors.TimeoutError, asyncio.TimeoutError, TimeoutError):
                span.set_status(trace.StatusCode.ERROR, "timeout")
                raise ServiceUnavailable(
                    504, f"the {service} service did not answer within {timeout:g}s"
                ) from None
        reply = json.loads(response.data)
        if not reply.get("ok"):
            raise ServiceFailure(reply)
        return reply["result"]


    @property
    def signer(self) -> Signer:
        if self._signer is None:
            from shared.settings import ServiceSettings

            self._signer = Signer.load(ServiceSettings(), "gateway")
        return self._signer


def problem(status_code: int, title: str, detail: str, errors: list | None = None,
            **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status_code, "detail": detail,
         "errors": errors or [], **extra},
        status_code=status_code,
        media_type="application/problem+json",
    )


async def get_services(request: Request) -> Services:  # async: see gateway/auth.py
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
Any_ = Annotated[Principal, Depends(require())]
Office = Annotated[Principal, Depends(require("office"))]
Deputy = Annotated[Principal, Depends(require("deputy"))]
Staff = Annotated[Principal, Depends(require("office", "leader", "unit", "deputy"))]


# --- routes built from request contracts ------------------------------------------------------

ROLE_ORDER = ("office", "leader", "unit", "deputy", "station", "citizen", "anonymous", "admin")


def admitted(contract: type[Contract], *roles: str) -> Any:
    """The principal of a route sending ``contract``: the roles the contract admits, or the
    fewer ``roles`` given (a route may show less than the service allows, never more)."""
    wanted = set(roles or contract.roles)
    if not wanted <= contract.roles:
        raise ValueError(f"{contract.__name__} does not admit {sorted(wanted - contract.roles)}")
    if wanted >= ANY_USER:  # any signed-in user
        return Annotated[Principal, Depends(require())]
    ordered = [r for r in ROLE_ORDER if r in wanted]
    return Annotated[Principal, Depends(require(*ordered))]


def sends(*contracts: type[Contract]) -> dict[str, Any]:
    """``openapi_extra`` of a route: the requests it sends (``x-requests``, subjects), read by
    the test that every route maps to a declared request."""
    return {"x-requests": [c.subject() for c in contracts]}


@cache
def body_of(contract: type[Contract], *path: str) -> type[BaseModel]:
    """A route's body: the contract's fields but those the path gives (``path``), with the
    contract's limits, descriptions and examples. Build the request with :func:`request_of`."""
    from pydantic import create_model

    fields = {name: (field.annotation, field) for name, field in contract.model_fields.items()
              if name not in path}
    extra = contract.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    if examples:
        config["json_schema_extra"] = {"examples": [
            {k: v for k, v in e.items() if k not in path} for e in examples]}
    return create_model(f"{contract.__name__}Body", __config__=config,
                        __doc__=contract.__doc__, **fields)  # type: ignore[call-overload]


def request_of(contract: type[R], body: BaseModel | None = None, *,
               query: dict[str, Any] | None = None, **path: Any) -> R:
    """The request a route sends: its body's fields, its query parameters and its path
    parameters. A value the contract refuses is a 422 at the gateway, located in the body,
    the query or the path as it came."""
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    fields = body.model_dump(exclude_unset=True) if body is not None else {}
    query = query or {}

    def where(loc: tuple[Any, ...]) -> str:
        first = loc[0] if loc else None
        return "path" if first in path else "query" if first in query else "body"

    try:
        return contract.model_validate({**fields, **query, **path})
    except ValidationError as exc:
        raise RequestValidationError([{"loc": (where(e["loc"]), *e["loc"]), "msg": e["msg"],
                                       "type": e["type"]} for e in exc.errors()]) from None


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def body_example(example: dict[str, Any]) -> ConfigDict:
    """A body model's whole-request example for the OpenAPI document:
    ``model_config = body_example({...})`` (merged with StrictBody's own settings)."""
    return ConfigDict(json_schema_extra={"examples": [example]})


async def optional_principal(
    request: Request,
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> Principal | None:
    """The signed-in user when a bearer token is sent (it must be valid), else None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid authorization header",
                            headers={"WWW-Authenticate": "Bearer"})
    return authenticator.decode(token)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
FollowUpToken = Annotated[str | None, Header(alias="X-Follow-Up-Token", max_length=200)]
DeputyOrOffice = Annotated[Principal, Depends(require("deputy", "office"))]


# --- error responses in the OpenAPI document ------------------------------------------------

class Problem(BaseModel):
    """An error answer (RFC 9457 problem details, ``application/problem+json``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Error", "status": 404,
        "detail": "no suggestion S-2026-0001", "errors": []}]})

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[Any] = []


PROBLEM_DESCRIPTIONS = {
    400: "bad request",
    401: "not signed in, or the bearer token is invalid, expired or for another audience",
    403: "the role (or the follow-up token) may not do this",
    404: "no such object (or not visible to you)",
    409: "the object is not in a state that allows this; `detail` says why",
    422: "invalid input: unknown or malformed fields (`errors` lists them)",
    429: "too many requests from this address; see `Retry-After`",
    503: "a service behind the gateway is not running",
    504: "a service behind the gateway did not answer in time",
}
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def problem_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """Standard ``responses=`` entries: each code answered with problem details; a description
    can be given as ``_404="…"``."""
    return {code: {"description": descriptions.get(f"_{code}", PROBLEM_DESCRIPTIONS[code]),
                   "content": PROBLEM_CONTENT}
            for code in codes}


# Presets: any signed-in user; one of some roles; and the bus behind every API route.
SIGNED_IN = problem_responses(401, 503, 504)
SOME_ROLES = problem_responses(401, 403, 503, 504)
ON_OBJECT = problem_responses(401, 403, 404, 409, 503, 504)


def declare_problem_responses(app: Any) -> None:
    """Complete every ``/api/v1`` operation's error responses, as problem details: 401 where a
    bearer token is needed, 403 where only some roles may call it, 404 where the path names an
    object (and 409 for a command on it), 422 where there is input, 503 and 504 (a service is
    down or slow). What a route declares itself is kept (a bare description gets the problem
    content). Also serves the ``Problem`` schema with the document. Run after the routes are
    added."""
    from fastapi.dependencies.utils import get_flat_params
    from fastapi.routing import APIRoute
    from fastapi.security.base import SecurityBase

    def secured(dependant: Any) -> bool:
        return any(isinstance(d.call, SecurityBase) or secured(d) for d in dependant.dependencies)

    def role_bound(dependant: Any) -> bool:
        return any(getattr(d.call, "roles", None) or role_bound(d)
                   for d in dependant.dependencies)

    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1/"):
            continue
        responses = dict(route.responses or {})
        wanted = [503, 504]
        if secured(route.dependant):
            wanted.append(401)
        if role_bound(route.dependant):
            wanted.append(403)
        if "{" in route.path:  # an object named in the path: it may not exist
            wanted.append(404)
            if "POST" in route.methods:  # a command on it: its state may not allow it
                wanted.append(409)
        if route.body_field is not None or get_flat_params(route.dependant):
            wanted.append(422)
        for code in wanted:
            responses.setdefault(code, problem_responses(code)[code])
        for code, entry in list(responses.items()):
            if str(code).isdigit() and int(code) >= 400 and "content" not in entry and "model" not in entry:
                responses[code] = {**entry, "content": PROBLEM_CONTENT}
        route.responses = responses

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = \
                Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        return app.openapi_schema

    app.openapi = openapi

"""What every gateway route module shares: the service client, auth dependencies and
problem responses. Route modules import from here, never from app.py."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import nats.errors
from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from pydantic import BaseModel, ConfigDict

from shared.rpc import rpc_subject
from services.gateway.auth import Authenticator, Principal, get_authenticator, require


class ServiceUnavailable(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        self.status_code = status_code
        self.detail = detail


class ServiceFailure(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply


class Services:
    """Request/reply client for the services behind the gateway."""

    def __init__(self, broker: NatsBroker, timeout: float) -> None:
        self.broker = broker
        self.timeout = timeout

    async def call(self, service: str, command: str, payload: dict[str, Any] | None = None,
                   principal: Principal | None = None, timeout: float | None = None) -> Any:
        body = {"actor": principal.actor() if principal else {"username": "anonymous",
                                                              "role": "anonymous"},
                "payload": payload or {}}
        try:
            response = await self.broker.request(
                json.dumps(body).encode(), rpc_subject(service, command),
                timeout=timeout or self.timeout,
            )
        except nats.errors.NoRespondersError:
            raise ServiceUnavailable(503, f"the {service} service is not running") from None
        except (nats.errors.TimeoutError, asyncio.TimeoutError, TimeoutError):
            raise ServiceUnavailable(
                504, f"the {service} service did not answer within {timeout or self.timeout:g}s"
            ) from None
        reply = json.loads(response.body)
        if not reply.get("ok"):
            raise ServiceFailure(reply)
        return reply["result"]


def problem(status_code: int, title: str, detail: str, errors: list | None = None,
            **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status_code, "detail": detail,
         "errors": errors or [], **extra},
        status_code=status_code,
        media_type="application/problem+json",
    )


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
Any_ = Annotated[Principal, Depends(require())]
Office = Annotated[Principal, Depends(require("office"))]
Deputy = Annotated[Principal, Depends(require("deputy"))]
Staff = Annotated[Principal, Depends(require("office", "leader", "unit", "deputy"))]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def optional_principal(
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

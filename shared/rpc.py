"""Request/reply between the gateway and the services (core NATS, queue groups).

A request is ``{"actor": {...}, "payload": {...}}``; a reply is ``{"ok": true, "result": ...}``
or ``{"ok": false, "status", "title", "detail", "errors": [{"loc", "msg"}]}``, which the gateway
turns into problem details.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


def rpc_subject(service: str, command: str) -> str:
    return f"duty.rpc.{service}.{command}"


class Command(BaseModel):
    """Base of every RPC payload model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def to_reply(self) -> dict[str, Any]:
        return {
            "ok": False,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "errors": self.errors,
            **self.extra,
        }


class Invalid(ServiceError):
    status = 422
    title = "Invalid input"

    @classmethod
    def field(cls, loc: list[str | int], msg: str) -> Invalid:
        return cls(msg, errors=[{"loc": loc, "msg": msg}])


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class Unauthenticated(ServiceError):
    """A request whose actor is not proven (no valid signed assertion)."""

    status = 401
    title = "Unauthenticated"


class Unavailable(ServiceError):
    """The service cannot answer this now (a read model still being built); try later."""

    status = 503
    title = "Service unavailable"


class TooLarge(ServiceError):
    """An answer larger than the bus carries: a list that should have been paged."""

    status = 500
    title = "Answer too large"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


def validation_errors(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"]} for e in exc.errors()]


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}

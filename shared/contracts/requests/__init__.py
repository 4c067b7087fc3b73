"""Request contracts: every command and query a service answers, declared once.

A request is a pydantic model (unknown fields refused) with, as class variables:

- ``service``: the service that answers it, and ``name``: its name there; together they give
  its NATS subject (``subject()``, ``duty.rpc.<service>.<name>``);
- ``mutates``: a command (changes state: the relay is woken after it) or a query (reads:
  read models catch up first) — given by the base, :class:`Command` or :class:`Query`;
- ``reply``: the type of its answer (the gateway's ``services.send`` validates it);
- ``roles``: the actor roles the service admits (the role matrix). Object-level checks
  (a unit sees only its own tasks...) stay in the service's application.

The gateway sends instances (``await services.send(RequestReturn(task_id=..., reason=...),
principal)``) and builds its routes' bodies from the same models; a service registers its
handlers by contract type (``runtime.handle(RequestReturn)(app.request_return)``). A request
not declared here cannot be sent (``services.call`` refuses its name) nor served.

One module per service (``requests/assignment.py``...); ``runtime.py`` declares the routes every
service answers (health, read models, audit). See docs/requests.md.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, TypeAdapter

from shared.rpc import rpc_subject

# --- roles ------------------------------------------------------------------------------------

OFFICE = frozenset({"office"})
LEADER = frozenset({"leader"})
UNIT = frozenset({"unit"})
DEPUTY = frozenset({"deputy"})
CITIZEN = frozenset({"citizen"})
# a liaison station's staff (联络站工作人员): their user's unit_id names the station
STATION = frozenset({"station"})
ANONYMOUS = frozenset({"anonymous"})  # the gateway's actor for a request without a user
SYSTEM = frozenset({"system"})  # tools acting for the system (ops)
ADMIN = frozenset({"admin"})  # the office administrator who manages accounts (services/accounts)
STAFF = OFFICE | LEADER | UNIT | DEPUTY
SIGNED_IN = STAFF | CITIZEN  # every role a user signs in with
OPS = OFFICE | SYSTEM  # operating the services (read models, republishing, the clock)
EVERYONE = SIGNED_IN | STATION | ANONYMOUS | SYSTEM | ADMIN

ANY_SERVICE = "*"  # a request every service answers (shared/runtime.py)


class UndeclaredRequest(LookupError):
    """A request name that no contract declares: it cannot be sent or served."""


class Request(BaseModel):
    """Base of every request contract (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service: ClassVar[str]
    name: ClassVar[str]
    mutates: ClassVar[bool]
    reply: ClassVar[Any] = dict[str, Any]
    roles: ClassVar[frozenset[str]]

    @classmethod
    def subject(cls, service: str | None = None) -> str:
        """The NATS subject (``service`` for a request every service answers)."""
        return rpc_subject(service or cls.service, cls.name)

    @classmethod
    def allows(cls, role: str) -> bool:
        return role in cls.roles

    @classmethod
    def validate_reply(cls, result: Any) -> Any:
        return _adapter(cls.reply).validate_python(result)

    def payload(self) -> dict[str, Any]:
        """The request's body on the bus (JSON types): the fields given (the service applies
        the same defaults; a list's ``limit`` not given means "every row", see supervision's
        list_tasks), by their names on the wire (aliases)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Command(Request):
    """A request that changes state."""

    mutates: ClassVar[bool] = True


class Query(Request):
    """A request that only reads."""

    mutates: ClassVar[bool] = False


@cache
def _adapter(reply: Any) -> TypeAdapter[Any]:
    return TypeAdapter(reply)


def _concrete(cls: type[BaseModel]) -> bool:
    return "name" in vars(cls) and "service" in {k for c in cls.__mro__ for k in vars(c)}


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def declared() -> dict[tuple[str, str], type[Request]]:
    """Every declared request by (service, name), after importing every service's module."""
    from shared.contracts.requests import (  # noqa: F401  (declarations register on import)
        accounts,
        assignment,
        intake,
        liaison,
        notifications,
        points,
        projects,
        registry,
        reports,
        runtime,
        supervision,
    )

    table: dict[tuple[str, str], type[Request]] = {}
    for cls in _subclasses(Request):
        if not _concrete(cls):
            continue
        key = (cls.service, cls.name)
        if key in table and table[key] is not cls:
            raise TypeError(f"{key} declared twice: {table[key].__name__} and {cls.__name__}")
        table[key] = cls
    return table


# Services whose requests are all declared: ``services.call`` refuses any other name for them.
DECLARED_SERVICES = frozenset({"accounts", "assignment", "intake", "liaison", "notifications", "points",
                               "projects", "registry", "reports", "supervision"})


def contract_for(service: str, name: str) -> type[Request]:
    """The contract of a request (one every service answers included); UndeclaredRequest when
    none declares it."""
    table = declared()
    found = table.get((service, name)) or table.get((ANY_SERVICE, name))
    if found is None:
        raise UndeclaredRequest(f"no request {name!r} is declared for the {service} service "
                                "(shared/contracts/requests/)")
    return found


def is_declared(service: str, name: str) -> bool:
    try:
        contract_for(service, name)
        return True
    except UndeclaredRequest:
        return False

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

_REGISTRY: dict[str, type[IntegrationEvent]] = {}


class MalformedEvent(ValueError):
    """A message on the bus that is not a valid instance of its contract."""


class ActorRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    username: str
    role: str
    unit_id: str | None = None
    deputy_id: str | None = None


class IntegrationEvent(BaseModel):
    """Envelope fields common to every integration event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    producer: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int]
    summary: ClassVar[str] = ""
    consumers: ClassVar[tuple[str, ...]] = ()

    event_id: str = Field(description="'<producer>:<notification id>'; also the Nats-Msg-Id "
                                      "of version 1 ('<event_id>.v<N>' for later versions)")
    case_id: str = Field(description="the suggestion (or citizen message) this event is about")
    actor: ActorRef = Field(description="who caused the change")
    occurred_at: datetime = Field(description="when the change was recorded (ISO 8601)")
    source_service: str
    source_notification_id: int = Field(ge=1)
    causation_id: str | None = Field(None, description="event_id of the event that caused it")

    # case_id names a case (a suggestion's or citizen message's UUID). A contract about
    # something else declares the form its case_id takes instead, and derives the value from
    # its own fields in expected_case_id(); the event validator checks it against that.
    case_id_form: ClassVar[str | None] = None

    def expected_case_id(self) -> str | None:
        """The case_id this event must carry when it does not name a case (None: a UUID)."""
        return None

    # Fields that name reference records are checked by consumers against their replica of
    # the registry, by field name (shared/event_validation.py); a contract whose fields of those
    # names are not such references (checked by the service that owns them) says so here.
    references_checked_by_consumers: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            subject = cls.subject()
            if subject in _REGISTRY:
                raise TypeError(f"two contracts claim {subject}")
            _REGISTRY[subject] = cls

    @classmethod
    def subject(cls) -> str:
        return f"duty.{cls.producer}.{cls.name}.v{cls.version}"

    def message_id(self) -> str:
        """The Nats-Msg-Id: one per notification and version, so a v2 published beside a v1
        for the same notification is not dropped by the stream as its duplicate."""
        return self.event_id if self.version == 1 else f"{self.event_id}.v{self.version}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def registered_contracts() -> dict[str, type[IntegrationEvent]]:
    return dict(_REGISTRY)


def contract_for_subject(subject: str) -> type[IntegrationEvent] | None:
    return _REGISTRY.get(subject)


def decode_event(subject: str, body: bytes) -> IntegrationEvent:
    contract = contract_for_subject(subject)
    if contract is None:
        raise MalformedEvent(f"no contract is registered for subject {subject!r}")
    try:
        return contract.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedEvent(f"{subject}: {problems}") from exc

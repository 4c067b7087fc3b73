"""Integration events: the versioned contracts services publish and subscribe to.

Rules (see docs/events.md):
- A contract is a pydantic model with a fixed subject ``duty.<producer>.<name>.v<N>``.
- A published version is never changed in place. A change that a consumer would notice is a
  new class with a new version and subject, published beside the old one for as long as
  anyone subscribes to it.
- Every event names its case, the causing actor, the time, and the producer's notification id
  (``event_id`` = ``<producer>:<notification id>``, also the ``Nats-Msg-Id``).
- Consumers are tolerant readers: fields they do not know are ignored.
"""

from shared.contracts.base import (
    ActorRef,
    IntegrationEvent,
    MalformedEvent,
    contract_for_subject,
    decode_event,
    registered_contracts,
)
from shared.contracts import (  # noqa: F401  (register)
    accounts, assignment, intake, liaison, points, projects, registry, reports, supervision,
)

__all__ = [
    "ActorRef",
    "IntegrationEvent",
    "MalformedEvent",
    "contract_for_subject",
    "decode_event",
    "registered_contracts",
]

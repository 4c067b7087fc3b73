"""Version 2 of the events about a case, flagged with its leadership designation.

The office may designate a leader or a special committee to lead (领导领办) or supervise
(重点督办) a case (``duty.assignment.leadership_designated.v1``). Every event the handling
services (assignment, supervision) publish about a case is also published in a v2 that adds
``leadership``: the designation in force when the event was recorded, or null. The v2 is the
v1 contract plus that field (same subject name, ``.v2``), published beside the v1 for the
same notification under its own message id (``<event_id>.v2``); v1 stays for its subscribers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent

E = TypeVar("E", bound=IntegrationEvent)


class Leadership(BaseModel):
    """The case's leadership designation (领导领办 / 重点督办) when the event was recorded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    designee_id: str
    designee_name: str
    designee_kind: Literal["leader", "committee"]
    mode: Literal["lead", "supervise"] = Field(description="lead (领办) or supervise (重点督办)")
    designated_at: datetime | None = None


FLAGGED_NOTE = (" v2 adds `leadership`: the case's leadership designation (领导领办 / 重点督办) "
                "in force when the event was recorded, or null when none.")

_V2_OF: dict[type[IntegrationEvent], type[IntegrationEvent]] = {}


def flagged_with_leadership(v1: type[E]) -> type[E]:
    """The v2 contract of ``v1``: the same fields plus ``leadership``, registered on
    ``duty.<producer>.<name>.v2``."""
    name = v1.__name__.removesuffix("V1") + "V2"
    namespace = {
        "__module__": v1.__module__,
        "__qualname__": name,
        "__doc__": f"{v1.__name__} flagged with the case's leadership designation.",
        "__annotations__": {"name": ClassVar[str], "version": ClassVar[int],
                            "summary": ClassVar[str], "consumers": ClassVar[tuple[str, ...]],
                            "leadership": Optional[Leadership]},
        "name": v1.name,
        "version": 2,
        "summary": v1.summary + FLAGGED_NOTE,
        "consumers": (),
        "leadership": Field(None, description="the leader or committee leading or supervising "
                                               "the case when this was recorded (null: none)"),
    }
    v2 = type(name, (v1,), namespace)
    _V2_OF[v1] = v2
    return v2


def with_leadership(event: IntegrationEvent,
                    leadership: dict[str, Any] | None) -> list[IntegrationEvent]:
    """The v1 event and, where its contract has one, its v2 flagged with ``leadership``."""
    v2 = _V2_OF.get(type(event))
    if v2 is None:
        return [event]
    return [event, v2(**dict(event), leadership=leadership)]

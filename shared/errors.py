"""Domain errors: what a service's rules refuse, in the domain's words.

A service's ``domain.py`` raises the classes of its own ``errors.py``, each derived from
``DomainError``; the domain knows nothing of requests or HTTP. How a refusal is answered is
decided in ONE place, ``shared.runtime.refusal_reply`` (by the class's ``refusal``):

- ``"conflict"`` (the default): the current state does not allow the change — 409;
- ``"forbidden"``: the rules refuse this actor the change whatever the state — 403.

The extra keyword arguments (``status_now=...``, ``current=...``) go into the reply as they
did when the domain raised the request layer's ``Conflict``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Refusal = Literal["conflict", "forbidden"]


class DomainError(Exception):
    """A change the domain refuses."""

    refusal: ClassVar[Refusal] = "conflict"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


class NotAllowedInState(DomainError):
    """The aggregate's current state does not allow this change."""


class AlreadyDone(NotAllowedInState):
    """The change (or one that excludes it) was already made."""


class RefusedToActor(DomainError):
    """The rules refuse this actor the change, whatever the state."""

    refusal: ClassVar[Refusal] = "forbidden"

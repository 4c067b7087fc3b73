"""What the livelihood-project rules refuse (raised by services/projects/domain.py; answered
as set out in shared/errors.py: 409 for the state, 403 for the actor)."""

from __future__ import annotations

from shared.errors import AlreadyDone, DomainError, NotAllowedInState, RefusedToActor


class WrongState(NotAllowedInState):
    """The proposal's, ballot's or project's state does not allow this (409)."""


class AlreadyVoted(AlreadyDone):
    """A deputy casts one ballot per vote (409)."""


class AlreadyEvaluated(AlreadyDone):
    """A deputy evaluates a project once (409)."""


class InvalidChoice(NotAllowedInState):
    """A ballot that names a project not on it, one twice, or more than the ballot allows."""


class NotTheUnit(RefusedToActor):
    """Only the project's responsible unit reports its milestones (403)."""


__all__ = ["AlreadyEvaluated", "AlreadyVoted", "DomainError", "InvalidChoice", "NotTheUnit",
           "WrongState"]

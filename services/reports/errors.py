"""What the rules of reporting to voters refuse (raised by services/reports/domain.py;
answered as set out in shared/errors.py: 409 for the state, 403 for the actor)."""

from __future__ import annotations

from shared.errors import AlreadyDone, NotAllowedInState, RefusedToActor


class WrongState(NotAllowedInState):
    """The report's state does not allow this (409)."""


class AlreadyEvaluated(AlreadyDone):
    """A participant's code evaluates once (409)."""


class UnknownParticipant(RefusedToActor):
    """A code this report did not give out (403)."""


__all__ = ["AlreadyEvaluated", "UnknownParticipant", "WrongState"]

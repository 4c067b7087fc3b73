"""What intake's rules refuse (raised by services/intake/domain.py; answered as set out in
shared/errors.py)."""

from __future__ import annotations

from shared.errors import AlreadyDone as _AlreadyDone
from shared.errors import DomainError
from shared.errors import NotAllowedInState as _NotAllowedInState


class IntakeRefusal(DomainError):
    """A change to a suggestion or a citizen message that intake's rules refuse."""


class NotAllowedInState(IntakeRefusal, _NotAllowedInState):
    """The suggestion's or message's status does not allow this change."""


class AlreadyDone(IntakeRefusal, _AlreadyDone):
    """Already made: submitted, merged, rated, erased, held by this deputy..."""


class MergesPending(NotAllowedInState):
    """Other suggestions are merged into this one: those merges are undone first."""


class HeldByAnother(NotAllowedInState):
    """The citizen message is held (claimed) by another deputy."""

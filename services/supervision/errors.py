"""What supervision's rules refuse (raised by services/supervision/domain.py; answered as set
out in shared/errors.py)."""

from __future__ import annotations

from shared.errors import AlreadyDone as _AlreadyDone
from shared.errors import NotAllowedInState as _NotAllowedInState


class RuleViolation(_NotAllowedInState):
    """A change that the supervised task's or case's current state does not allow."""


class AlreadyDone(RuleViolation, _AlreadyDone):
    """Already made: signed for, replied to, rated, warned, escalated, recorded, closed."""


class ContactFirst(RuleViolation):
    """A lead unit contacts the deputy before replying (办前联系)."""


class CannotCloseOut(RuleViolation):
    """A case closes out only when nothing it needs is missing."""

"""What the liaison service's rules refuse (raised by services/liaison/domain.py; answered as
set out in shared/errors.py: a conflict is 409, a refusal to the actor 403)."""

from __future__ import annotations

from shared.errors import AlreadyDone as _AlreadyDone
from shared.errors import NotAllowedInState as _NotAllowedInState
from shared.errors import RefusedToActor


class RuleViolation(_NotAllowedInState):
    """A change that the session's or obligation's current state does not allow."""


class AlreadyDone(RuleViolation, _AlreadyDone):
    """Already made: booked with this phone, attendance recorded, message linked."""


class SessionFull(RuleViolation):
    """Every place of the session is booked (its capacity)."""


class BookingClosed(RuleViolation):
    """The session is over (held, or its day has passed): no more bookings."""


class NotYourStation(RefusedToActor):
    """Station staff act for their own station only."""


class NotAParty(RefusedToActor):
    """A contact is recorded (and seen) only by the parties of the obligation, and the office."""


class NotYourGroup(RefusedToActor):
    """A group activity is for the deputies of its group (代表小组) only."""


class SignUpClosed(RuleViolation):
    """The activity took place (or its day has come): no more sign-ups or withdrawals."""


class ActivityFull(RuleViolation):
    """Every place of the activity is taken (its capacity)."""

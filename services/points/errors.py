"""What the points rules refuse (raised by services/points/domain.py; answered as set out in
shared/errors.py)."""

from __future__ import annotations

from shared.errors import AlreadyDone, DomainError, NotAllowedInState, RefusedToActor


class SelfReviewRefused(RefusedToActor):
    """A deputy never reviews their own activity (403)."""


class NotPending(AlreadyDone):
    """The activity was already approved or rejected."""


class LineNotRevocable(NotAllowedInState):
    """Only an award line not yet revoked is revoked, with a reason."""


__all__ = ["DomainError", "LineNotRevocable", "NotPending", "SelfReviewRefused"]

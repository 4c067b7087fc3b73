"""What the account rules refuse (raised by services/accounts/domain.py; answered as set out
in shared/errors.py: 409 for a state that does not allow the change, 403 for an actor the
rules refuse)."""

from __future__ import annotations

from shared.errors import AlreadyDone, DomainError, NotAllowedInState, RefusedToActor


class AccountRefused(NotAllowedInState):
    """The account's state does not allow the change (a unit role without a unit, the last
    role revoked, a disabled account's password changed...)."""


class NothingToChange(AlreadyDone):
    """The change was already made (the roles are held, the account is already disabled)."""


class SelfLockoutRefused(RefusedToActor):
    """An administrator never disables their own account or revokes their own admin role:
    the office would be left without anyone who can manage accounts."""


__all__ = ["AccountRefused", "DomainError", "NothingToChange", "SelfLockoutRefused"]

"""What notifications' rules refuse (raised by services/notifications/domain.py; answered as
set out in shared/errors.py)."""

from __future__ import annotations

from shared.errors import DomainError, RefusedToActor


class NotificationsRefusal(DomainError):
    """A change that notifications' rules refuse."""


class PreferencesRefused(NotificationsRefusal, RefusedToActor):
    """Preferences belong to signed-in staff and deputies (a citizen has none): 403."""


__all__ = ["DomainError", "NotificationsRefusal", "PreferencesRefused"]

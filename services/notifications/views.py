"""What an actor is shown by notifications: their own inbox and their own preferences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.eventstore import Actor

from services.notifications.domain import KINDS

if TYPE_CHECKING:
    from services.notifications.application import NotificationsApplication
    from services.notifications.read_models import NotificationViews


def inbox(views: NotificationViews, q: Any, actor: Actor) -> dict[str, Any]:
    """The signed-in user's inbox, newest first (``q.unread``: unread ones only), with their
    unread count."""
    result = views.inbox.query(actor.username, q.unread, q)
    return {**result, "unread": views.inbox.unread_count(actor.username)}


def preferences_of(app: NotificationsApplication, username: str) -> dict[str, Any]:
    """A user's preferences per kind (their own, else the defaults: in-app and e-mail on),
    e-mail mode, digest time and quiet hours."""
    prefs = app.preferences(username)
    kinds = {}
    for kind, (who, label) in KINDS.items():
        if who == "citizen":
            continue
        chosen = {**prefs.get("*", {}), **prefs.get(kind, {})}
        kinds[kind] = {"label": label, "for": who, "in_app": chosen.get("in_app", True),
                       "email": chosen.get("email", True),
                       "webhook_url": chosen.get("webhook_url")}
    options = app.options(username)
    return {"username": username, "email_address": app.emails.get(username),
            "email_mode": options.get("email_mode", "immediate"),
            "digest_at": options.get("digest_at", "08:00"),
            "quiet_hours": options.get("quiet_hours"), "kinds": kinds}

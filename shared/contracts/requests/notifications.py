"""The notifications service's requests: a signed-in user's inbox and their preferences (per
kind: in-app, e-mail, a unit's webhook; e-mail immediately or as a daily digest; quiet hours).
Every request is about the actor's own notifications."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts.requests import STAFF, Command, Query
from shared.contracts.requests.limits import REASON_MAX
from shared.paging import PageQuery

RECIPIENTS = STAFF  # the users who have an inbox
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class NotificationsCommand(Command):
    service: ClassVar[str] = "notifications"


class NotificationsQuery(Query):
    service: ClassVar[str] = "notifications"


class ListNotifications(NotificationsQuery, PageQuery):
    """The signed-in user's inbox, newest first (``unread``: unread ones only)."""

    name: ClassVar[str] = "list_notifications"
    roles: ClassVar[frozenset[str]] = RECIPIENTS

    unread: bool = False


class MarkRead(NotificationsCommand):
    """Mark one of your notifications read (again: unchanged)."""

    name: ClassVar[str] = "mark_read"
    roles: ClassVar[frozenset[str]] = RECIPIENTS

    notification_id: str


class GetPreferences(NotificationsQuery):
    """Your choices per kind of notification, e-mail mode and quiet hours."""

    name: ClassVar[str] = "get_preferences"
    roles: ClassVar[frozenset[str]] = RECIPIENTS


class KindPreference(BaseModel):
    """The choices for one kind of notification."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    in_app: bool = Field(True, description="show it in the in-app inbox")
    email: bool = Field(True, description="mail it to the user's address (config/notifications.yaml)")
    webhook_url: str | None = Field(None, max_length=REASON_MAX,
                                    description="a unit's group robot (企业微信 / 钉钉 style JSON POST)")

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("a webhook URL starts with http:// or https://")
        return value or None


class QuietHours(BaseModel):
    """Hours in which immediate mail waits (China time)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    start: str = Field(pattern=HHMM, description="HH:MM, China time", examples=["22:00"])
    end: str = Field(pattern=HHMM, description="HH:MM, China time; before start: the next "
                     "morning", examples=["07:30"])

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: str, info: Any) -> str:
        if info.data.get("start") == value:
            raise ValueError("quiet hours end at another time than they start")
        return value


class SetPreferences(NotificationsCommand):
    """Set your choices for the kinds named (others unchanged); a webhook URL only for a unit."""

    name: ClassVar[str] = "set_preferences"
    roles: ClassVar[frozenset[str]] = RECIPIENTS
    model_config = ConfigDict(json_schema_extra={"examples": [{"kinds": {"task_assigned": {
        "in_app": True, "email": True, "webhook_url": "https://robot.example.gov.cn/hook/abc"},
        "deadline_warning": {"in_app": True, "email": False},
        "points_revoked": {"in_app": False, "email": False}},
        "email_mode": "daily_digest", "digest_at": "08:00",
        "quiet_hours": {"start": "22:00", "end": "07:30"}}]})

    kinds: dict[str, KindPreference] = Field(
        default_factory=dict,
        description="per kind of notification (GET shows the kinds; `*`: every kind not "
                    "named); a kind with in_app and email false (and no webhook) is off")
    email_mode: Literal["immediate", "daily_digest"] | None = Field(
        None, description="e-mail each notification at once, or one digest a day")
    digest_at: str | None = Field(None, pattern=HHMM,
                                  description="when the daily digest is sent (HH:MM, China time)")
    quiet_hours: QuietHours | None = Field(
        None, description="immediate mail made in these hours waits for their end; null: none")
    # None: unchanged; the gateway says a null in JSON as quiet_hours_off
    quiet_hours_off: bool = False

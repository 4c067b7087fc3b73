"""Gateway routes owned by the notifications service (see ../shared/API.md, "Notifications").

Every signed-in user has an inbox of their own: nobody reads another's notifications, and a
notification that is not yours is answered 404 like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request, Response
from pydantic import Field, field_validator

from services.gateway.deps import ServicesDep, Staff, StrictBody, body_example
from services.gateway.paging import PAGED, Paging, paged

API = "/api/v1"
TAGS = ["notifications"]


class KindPreferenceBody(StrictBody):
    in_app: bool = Field(True, description="show it in the in-app inbox")
    email: bool = Field(True, description="mail it to the user's address (config/notifications.yaml)")
    webhook_url: str | None = Field(None, max_length=2000,
                                    description="a unit's group robot (企业微信 / 钉钉 style JSON POST)")

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("a webhook URL starts with http:// or https://")
        return value or None


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHoursBody(StrictBody):
    start: str = Field(pattern=HHMM, description="HH:MM, China time", examples=["22:00"])
    end: str = Field(pattern=HHMM, description="HH:MM, China time; before start: the next "
                     "morning", examples=["07:30"])


class PreferencesBody(StrictBody):
    model_config = body_example({"kinds": {"task_assigned": {
        "in_app": True, "email": True, "webhook_url": "https://robot.example.gov.cn/hook/abc"},
        "deadline_warning": {"in_app": True, "email": False},
        "points_revoked": {"in_app": False, "email": False}},
        "email_mode": "daily_digest", "digest_at": "08:00",
        "quiet_hours": {"start": "22:00", "end": "07:30"}})

    kinds: dict[str, KindPreferenceBody] = Field(
        default_factory=dict,
        description="per kind of notification (GET shows the kinds; `*`: every kind not "
                    "named); a kind with in_app and email false (and no webhook) is off")
    email_mode: Literal["immediate", "daily_digest"] | None = Field(
        None, description="e-mail each notification at once, or one digest a day")
    digest_at: str | None = Field(None, pattern=HHMM,
                                  description="when the daily digest is sent (HH:MM, China time)")
    quiet_hours: QuietHoursBody | None = Field(
        None, description="immediate mail made in these hours waits for their end; null: none")


def register_notification_routes(app: FastAPI) -> None:
    @app.get(f"{API}/notifications", tags=TAGS, responses=PAGED,
             summary="The signed-in user's inbox, newest first; `unread=true`: unread only. "
                     "Paged (limit, cursor, Link); X-Total-Count counts the list, "
                     "X-Unread-Count the unread ones")
    async def list_notifications(request: Request, response: Response, services: ServicesDep,
                                 principal: Staff, paging: Paging,
                                 unread: Annotated[bool, Query()] = False) -> list[dict[str, Any]]:
        page = await services.call("notifications", "list_notifications",
                                   {"unread": unread, **paging.payload()}, principal)
        response.headers["X-Unread-Count"] = str(page.get("unread", 0))
        return paged(request, response, page)

    @app.post(f"{API}/notifications/{{notification_id}}/read", tags=TAGS,
              summary="Mark one of your notifications read (again: unchanged)")
    async def mark_read(notification_id: str, services: ServicesDep,
                        principal: Staff) -> dict[str, Any]:
        return await services.call("notifications", "mark_read",
                                   {"notification_id": notification_id}, principal)

    @app.get(f"{API}/notifications/preferences", tags=TAGS,
             summary="Your choices per kind of notification (in-app, e-mail, a unit's webhook), "
                     "e-mail mode (immediate or a daily digest) and quiet hours")
    async def get_preferences(services: ServicesDep, principal: Staff) -> dict[str, Any]:
        return await services.call("notifications", "get_preferences", {}, principal)

    @app.put(f"{API}/notifications/preferences", tags=TAGS,
             summary="Set your choices for the kinds named (others unchanged); a webhook URL "
                     "only for a unit")
    async def set_preferences(body: PreferencesBody, services: ServicesDep,
                              principal: Staff) -> dict[str, Any]:
        payload = body.model_dump(mode="json", exclude={"quiet_hours"})
        if body.quiet_hours is not None:
            payload["quiet_hours"] = body.quiet_hours.model_dump()
        elif "quiet_hours" in body.model_fields_set:  # null: no quiet hours any more
            payload["quiet_hours_off"] = True
        return await services.call("notifications", "set_preferences", payload, principal)

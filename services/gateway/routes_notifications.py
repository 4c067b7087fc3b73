"""Gateway routes owned by the notifications service (see ../shared/API.md, "Notifications").

Every signed-in user has an inbox of their own: nobody reads another's notifications, and a
notification that is not yours is answered 404 like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response

from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, paged
from shared.contracts.requests.notifications import (
    GetPreferences,
    ListNotifications,
    MarkRead,
    SetPreferences,
)

API = "/api/v1"
TAGS = ["notifications"]

Recipient = admitted(ListNotifications)  # the roles that have an inbox
# The body: the request's fields; ``"quiet_hours": null`` says quiet_hours_off.
PreferencesBody = body_of(SetPreferences, "quiet_hours_off")


def register_notification_routes(app: FastAPI) -> None:
    @app.get(f"{API}/notifications", tags=TAGS, responses=PAGED,
             summary="The signed-in user's inbox, newest first; `unread=true`: unread only. "
                     "Paged (limit, cursor, Link); X-Total-Count counts the list, "
                     "X-Unread-Count the unread ones", openapi_extra=sends(ListNotifications))
    async def list_notifications(request: Request, response: Response, services: ServicesDep,
                                 principal: Recipient, paging: Paging,
                                 unread: Annotated[bool, Query()] = False) -> list[dict[str, Any]]:
        page = await services.send(request_of(ListNotifications, query={
            "unread": unread, **paging.payload()}), principal)
        response.headers["X-Unread-Count"] = str(page.get("unread", 0))
        return paged(request, response, page)

    @app.post(f"{API}/notifications/{{notification_id}}/read", tags=TAGS,
              summary="Mark one of your notifications read (again: unchanged)",
              openapi_extra=sends(MarkRead))
    async def mark_read(notification_id: str, services: ServicesDep,
                        principal: Recipient) -> dict[str, Any]:
        return await services.send(request_of(MarkRead, notification_id=notification_id),
                                   principal)

    @app.get(f"{API}/notifications/preferences", tags=TAGS,
             summary="Your choices per kind of notification (in-app, e-mail, a unit's webhook), "
                     "e-mail mode (immediate or a daily digest) and quiet hours",
             openapi_extra=sends(GetPreferences))
    async def get_preferences(services: ServicesDep, principal: Recipient) -> dict[str, Any]:
        return await services.send(GetPreferences(), principal)

    @app.put(f"{API}/notifications/preferences", tags=TAGS,
             summary="Set your choices for the kinds named (others unchanged); a webhook URL "
                     "only for a unit", openapi_extra=sends(SetPreferences))
    async def set_preferences(body: PreferencesBody, services: ServicesDep,
                              principal: Recipient) -> dict[str, Any]:
        off = body.quiet_hours is None and "quiet_hours" in body.model_fields_set
        request = request_of(SetPreferences, body)
        if off:  # null: no quiet hours any more
            request = SetPreferences.model_validate({
                **request.model_dump(exclude_unset=True, exclude={"quiet_hours"}),
                "quiet_hours_off": True})
        return await services.send(request, principal)

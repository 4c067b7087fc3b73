"""The liaison service's bus adapters: domain events → integration events (from the event
alone). Registration of its consumers and request handlers is in bootstrap.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.contracts import IntegrationEvent
from shared.contracts.liaison import (GroupActivityAttendedV1, ObligationBehindV1,
                                     ReceptionAttendedV1, ReceptionAttendedV2)

from services.liaison.domain import GroupActivity, ObligationYear, ReceptionSession

SERVICE = "liaison"


def translate(app: Any, event: Any, envelope: dict[str, Any]) -> list[IntegrationEvent] | None:
    """AttendanceRecorded → one reception_attended v1 per deputy present and one v2 naming
    them all (the v1s share the notification's event id: a consumer keeps only the first, so
    points reads v2); BehindNoticed →
    obligation_behind; a group activity's AttendanceRecorded → one group_activity_attended
    naming every participant present. Nothing else is published."""
    if isinstance(event, GroupActivity.AttendanceRecorded):  # type: ignore[attr-defined]
        return translate_activity(app, event, envelope)
    if isinstance(event, ReceptionSession.AttendanceRecorded):  # type: ignore[attr-defined]
        session: ReceptionSession = app.repository.get(event.originator_id,
                                                       version=event.originator_version)
        v1 = [ReceptionAttendedV1(**{**envelope, "case_id": str(session.id)},
                                  session_id=str(session.id), station_id=session.station_id,
                                  deputy_id=deputy_id, held_on=session.day,
                                  people_received=event.people_received)
              for deputy_id in event.deputies_present]
        return [*v1, ReceptionAttendedV2(**{**envelope, "case_id": str(session.id)},
                                         session_id=str(session.id),
                                         station_id=session.station_id,
                                         deputy_ids=list(event.deputies_present),
                                         held_on=session.day,
                                         people_received=event.people_received)]
    if isinstance(event, ObligationYear.BehindNoticed):  # type: ignore[attr-defined]
        year: ObligationYear = app.repository.get(event.originator_id,
                                                  version=event.originator_version)
        as_of = event.as_of if isinstance(event.as_of, date) else date.fromisoformat(event.as_of)
        return [ObligationBehindV1(**{**envelope, "case_id": str(year.id)},
                                   obligation_id=year.obligation_id, kind=year.kind,
                                   holder_id=year.holder_id, year=year.year, as_of=as_of,
                                   behind=event.behind)]
    return None


def translate_activity(app: Any, event: Any, envelope: dict[str, Any],
                       ) -> list[IntegrationEvent] | None:
    """A group activity's AttendanceRecorded → one group_activity_attended with every
    participant present (one event per notification: consumers track a notification once)."""
    activity: GroupActivity = app.repository.get(event.originator_id,
                                                 version=event.originator_version)
    return [GroupActivityAttendedV1(**{**envelope, "case_id": str(activity.id)},
                                    activity_id=str(activity.id), group=activity.group,
                                    kind=activity.kind, title=activity.title,
                                    deputy_ids=list(event.present), held_on=activity.day)]

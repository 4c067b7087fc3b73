"""What an actor is shown of the liaison service: a session (public, or with its bookings for
its station's staff and the office), an obligation's progress and a group activity."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from services.liaison.domain import (ACTIVITY_KINDS_ZH, GroupActivity, ObligationYear,
                                     ReceptionSession, behind_of, expected_by)

if TYPE_CHECKING:
    from services.liaison.application import LiaisonApplication


def public_view(app: LiaisonApplication, session: ReceptionSession) -> dict[str, Any]:
    """What the public calendar shows: no booking, only the places left."""
    station = app.stations.get(session.station_id, {})
    return {
        "session_id": str(session.id),
        "station_id": session.station_id,
        "station_name": station.get("name", session.station_id),
        "title": session.title,
        "day": session.day.isoformat(),
        "starts": session.starts,
        "ends": session.ends,
        "online": session.online,
        "deputies": [{"deputy_id": d, "name": app.deputy_name(d)} for d in session.deputy_ids],
        "capacity": session.capacity,
        "places_left": session.places_left,
        "held": session.held,
    }


def session_view(app: LiaisonApplication, session: ReceptionSession, actor: Any,
                 ) -> dict[str, Any]:
    """The whole session for its station's staff, the office, leaders and its deputies; the
    bookings show masked names and phones only (nothing more is kept)."""
    attendance = session.attendance
    return {
        **public_view(app, session),
        "bookings": [{k: b[k] for k in ("booking_id", "name_masked", "phone_masked",
                                        "booked_at")} for b in session.bookings],
        "walk_ins": session.walk_ins,
        "walk_in_people": sum(w["people"] for w in session.walk_ins),
        "attendance": None if attendance is None else {
            **attendance,
            "deputies_present": [{"deputy_id": d, "name": app.deputy_name(d)}
                                 for d in attendance["deputies_present"]]},
        "message_ids": list(session.message_ids),
    }


def obligation_view(app: LiaisonApplication, obligation: dict[str, Any],
                    year: ObligationYear | None, year_number: int,
                    today: date | None = None) -> dict[str, Any]:
    today = today or app.today()
    # the pace as of today in the current year; a past year is judged at its end
    month = today.month if year_number == today.year else (12 if year_number < today.year else 0)
    required = obligation["required"]
    behind = behind_of(year, obligation["counterparts"], required, month,
                       app.rules.due_by_month)
    behind_ids = {b["counterpart_id"] for b in behind}
    counterparts = [{"counterpart_id": cid, "name": name,
                     "done": year.done_with(cid) if year else 0, "required": required,
                     "behind": cid in behind_ids}
                    for cid, name in obligation["counterparts"].items()]
    done = sum(min(c["done"], required) for c in counterparts)
    return {
        "obligation_id": obligation["obligation_id"],
        "kind": obligation["kind"],
        "name_zh": obligation["name_zh"],
        "holder_id": obligation["holder_id"],
        "holder_name": app.deputy_name(obligation["holder_id"]),
        "year": year_number,
        "required_per_counterpart": required,
        "expected_now": expected_by(required, month, app.rules.due_by_month) if month else 0,
        "done": done,
        "required": required * len(counterparts),
        "progress": round(done / (required * len(counterparts)), 3) if counterparts else 1.0,
        "counterparts": counterparts,
        "behind": bool(behind),
        "notices": list(year.notices) if year else [],
    }


def activity_view(app: LiaisonApplication, activity: GroupActivity, actor: Any,
                  ) -> dict[str, Any]:
    """A group activity for the office, leaders and its group's deputies (a deputy also sees
    whether they signed up and attended)."""
    def named(ids: list[str]) -> list[dict[str, str]]:
        return [{"deputy_id": d, "name": app.deputy_name(d)} for d in ids]

    present = activity.present
    view = {
        "activity_id": str(activity.id),
        "group": activity.group,
        "title": activity.title,
        "kind": activity.kind,
        "kind_zh": ACTIVITY_KINDS_ZH.get(activity.kind, activity.kind),
        "day": activity.day.isoformat(),
        "place": activity.place,
        "capacity": activity.capacity,
        "call_month": activity.call_month,
        "signed_up": named(activity.signed_up),
        "held": activity.held,
        "sign_up_open": not activity.held and app.today() < activity.day,
        "present": named(present),
        "absent": named([d for d in activity.signed_up if d not in present]),
        "findings": activity.findings,
        "suggestion": activity.suggestion,
        "is_research": activity.is_research,
    }
    if getattr(actor, "role", None) == "deputy":
        view["me"] = {"signed_up": actor.deputy_id in activity.signed_up,
                      "present": actor.deputy_id in present,
                      "can_suggest": (activity.is_research and actor.deputy_id in present
                                      and activity.findings is not None
                                      and not (activity.suggestion or {}).get("suggestion_id"))}
    return view

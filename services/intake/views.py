"""What an actor is shown by intake besides its lists (read_models.py) and a suggestion's or
message's own view (IntakeApplication): the reference data, the holder of a follow-up
token's page, and what a case's history holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from shared.contracts.requests.intake import FollowUpRef, Reference
from shared.eventstore import Actor

from services.intake.domain import PersonalDataAccessLog
from services.intake.follow_up import FollowUpIndex, follow_up

if TYPE_CHECKING:
    from services.intake.application import IntakeApplication


def reference(app: IntakeApplication, _: Reference, __: Actor) -> dict[str, Any]:
    """The categories, deputies and stations (the forms' choices), each with ``active``: false
    once its registry record is closed (it keeps its name on what refers to it; a form offers
    only the active ones, as nothing new may be addressed to a closed one)."""
    def records(kind: str, table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "active": app.reference.active(kind, key)}
                for key, r in list(table.items())]

    return {
        "categories": records("category", app.categories),
        "deputies": records("deputy", app.deputies),
        "stations": records("station", app.stations),
    }


def follow_up_view(app: IntakeApplication, index: FollowUpIndex, ref: FollowUpRef,
                   actor: Actor) -> dict[str, Any]:
    """What the holder of a follow-up token is shown (the citizen's follow-up page)."""
    units = {u: d.get("name", u) for u, d in list(app.units.items())}  # the replica's, live
    return follow_up(app, index, ref.token, units)


def case_audit_scope(case_id: str) -> tuple[list[Any], None]:
    """A case here is the suggestion or message itself, and a message's access log."""
    try:
        case = UUID(case_id)
    except ValueError:
        return [], None
    return [case, PersonalDataAccessLog.create_id(case_id)], None

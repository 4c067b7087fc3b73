"""The liaison service's wiring: application, read models (sessions, group activities),
consumers, request handlers and the periodic obligation check."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts.intake import CitizenMessageReceivedV2
from shared.contracts.requests.liaison import (
    BookSession,
    CheckObligations,
    ClaimActivitySuggestion,
    GetGroupActivity,
    GetSession,
    LinkActivitySuggestion,
    ListContacts,
    ListGroupActivities,
    ListObligations,
    ListSessions,
    PlanGroupActivity,
    RecordActivityAttendance,
    RecordAttendance,
    RecordContact,
    RecordFindings,
    RecordWalkIn,
    ScheduleSession,
    SignUpForActivity,
    StationReport,
    WithdrawFromActivity,
)
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.eventstore import Actor
from shared.read_store import ReadModels, ViewStore
from shared.rpc import Invalid
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.liaison import views
from services.liaison.application import LiaisonApplication
from services.liaison.bus import SERVICE, translate
from services.liaison.read_models import ActivityIndex, SessionIndex


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = LiaisonApplication(settings, clock=clock)
    store = ViewStore(settings)
    index = app.index = SessionIndex(app, store)
    app.activities = ActivityIndex(app, store)
    runtime = ServiceRuntime(settings, app, translate,
                             read_models=ReadModels(app, store, [index, app.activities]),
                             tracer_provider=tracer_provider)
    runtime.consume("intake", {CitizenMessageReceivedV2: app.on_message_received})
    # the registry's stations and deputies, replicated into liaison's log
    consume_registry(runtime, app, app.reference)
    validate_consumers(runtime, settings, app.reference)

    def list_sessions(q: ListSessions, actor: Actor) -> dict[str, Any]:
        """The calendar (public): sessions by day, places left, no booking."""
        if q.station_id is not None and q.station_id not in app.stations:
            raise Invalid.field(["query", "station_id"], f"no station {q.station_id}")
        ids = index.session_ids(q.station_id, q.deputy_id, q.year, q.month,
                                app.today() if q.upcoming else None)
        return {"items": [views.public_view(app, app.session(i)) for i in ids]}

    def station_report(q: StationReport, actor: Actor) -> dict[str, Any]:
        station_id = q.station_id
        if actor.role == "station":
            station_id = actor.unit_id  # their own station's figures
        elif station_id is not None and station_id not in app.stations:
            raise Invalid.field(["query", "station_id"], f"no station {station_id}")
        year = q.year or app.today().year
        months = index.report(station_id, year)
        keys = ("scheduled", "held", "on_duty", "present", "people_received", "bookings",
                "walk_ins", "messages")
        total = {k: sum(m[k] for m in months) for k in keys}
        for row in (*months, total):
            row["presence_rate"] = (round(row["present"] / row["on_duty"], 3)
                                    if row["on_duty"] else None)
        return {"station_id": station_id, "year": year, "months": months, "total": total}

    runtime.handlers({
        ScheduleSession: app.schedule_session,
        ListSessions: list_sessions,
        GetSession: app.get_session,
        BookSession: app.book_session,
        RecordWalkIn: app.record_walk_in,
        RecordAttendance: app.record_attendance,
        StationReport: station_report,
        ListObligations: app.list_obligations,
        RecordContact: app.record_contact,
        ListContacts: app.list_contacts,
        CheckObligations: app.check_obligations,
        PlanGroupActivity: app.plan_group_activity,
        ListGroupActivities: app.list_group_activities,
        GetGroupActivity: app.get_group_activity,
        SignUpForActivity: app.sign_up_for_activity,
        WithdrawFromActivity: app.withdraw_from_activity,
        RecordActivityAttendance: app.record_activity_attendance,
        RecordFindings: app.record_findings,
        ClaimActivitySuggestion: app.claim_activity_suggestion,
        LinkActivitySuggestion: app.link_activity_suggestion,
    })

    @runtime.every(app.rules.check_every_seconds, "obligation check")
    def check_obligations() -> bool:
        return bool(app.check_obligations()["noticed"])

    return runtime

"""Gateway routes owned by the liaison service: reception sessions at stations (the public
calendar and booking, walk-ins, attendance, the messages raised there, the station report)
and contact obligations. The service decides who may act on which station, session and
obligation; a message raised at a session goes to intake (post_message_v2). Deputy groups'
activities: the office plans them and records the attendance, the group's deputies sign up;
a research activity's findings become a joint suggestion in intake, submitted by the lead
deputy (claim in liaison, submit_suggestion in intake as that deputy, link back in liaison)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query

from services.gateway.deps import (MaybePrincipal, ServicesDep, admitted, body_of,
                                   problem_responses, request_of, sends)
from shared.contracts.requests.intake import PostMessageV2, SubmitSuggestion
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

API = "/api/v1"
TAGS = ["reception sessions and contact obligations"]

ScheduleBody = body_of(ScheduleSession, "station_id")
BookingBody = body_of(BookSession, "session_id")
WalkInBody = body_of(RecordWalkIn, "session_id")
AttendanceBody = body_of(RecordAttendance, "session_id")
SessionMessageBody = body_of(PostMessageV2, "station_id", "session_id")
ContactBody = body_of(RecordContact, "obligation_id")
PlanBody = body_of(PlanGroupActivity)
ActivityAttendanceBody = body_of(RecordActivityAttendance, "activity_id")
FindingsBody = body_of(RecordFindings, "activity_id")
ActivitySuggestionBody = body_of(SubmitSuggestion, "co_signers")

StationStaff = admitted(ScheduleSession)
SessionReaders = admitted(GetSession)
Figures = admitted(StationReport)
ObligationReaders = admitted(ListObligations)
ContactRecorders = admitted(RecordContact)
Ops = admitted(CheckObligations, "office")
ActivityOffice = admitted(PlanGroupActivity)
ActivityReaders = admitted(ListGroupActivities)
GroupDeputy = admitted(SignUpForActivity)
FindingsRecorders = admitted(RecordFindings)
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
PUBLIC = problem_responses(404, 409, 422, 429)


def register_liaison_routes(app: FastAPI) -> None:
    @app.get(f"{API}/sessions", tags=TAGS, responses=problem_responses(422, 503, 504),
             summary="The reception calendar (public): sessions of a station (or every "
                     "station), a deputy, a year and month, by day, with the deputies on duty "
                     "and the places left; `upcoming=true` from today on",
             openapi_extra=sends(ListSessions))
    async def list_sessions(services: ServicesDep, principal: MaybePrincipal,
                            station_id: Annotated[str | None, Query(max_length=100)] = None,
                            deputy_id: Annotated[str | None, Query(max_length=100)] = None,
                            year: YearQ = None,
                            month: Annotated[int | None, Query(ge=1, le=12)] = None,
                            upcoming: bool = False) -> list[dict[str, Any]]:
        found = await services.send(request_of(ListSessions, query={
            "station_id": station_id, "deputy_id": deputy_id, "year": year, "month": month,
            "upcoming": upcoming}), principal)
        return found["items"]

    @app.post(f"{API}/stations/{{station_id}}/sessions", status_code=201, tags=TAGS,
              summary="Publish a reception session on a station's calendar (its staff, or "
                      "the office)", openapi_extra=sends(ScheduleSession))
    async def schedule_session(station_id: str, body: ScheduleBody,  # type: ignore[valid-type]
                               services: ServicesDep, principal: StationStaff) -> dict[str, Any]:
        return await services.send(request_of(ScheduleSession, body, station_id=station_id),
                                   principal)

    @app.get(f"{API}/sessions/{{session_id}}", tags=TAGS,
             summary="A session with its bookings (masked), walk-ins, attendance and the "
                     "messages raised there (its station's staff, the office, leaders, its "
                     "deputies)", openapi_extra=sends(GetSession))
    async def get_session(session_id: str, services: ServicesDep,
                          principal: SessionReaders) -> dict[str, Any]:
        return await services.send(request_of(GetSession, session_id=session_id), principal)

    @app.post(f"{API}/sessions/{{session_id}}/bookings", status_code=201, tags=TAGS,
              responses=PUBLIC,
              summary="A citizen books a place (anonymous): one booking per phone, up to the "
                      "capacity (409 when full or already booked)",
              openapi_extra=sends(BookSession))
    async def book_session(session_id: str, body: BookingBody,  # type: ignore[valid-type]
                           services: ServicesDep, principal: MaybePrincipal) -> dict[str, Any]:
        return await services.send(request_of(BookSession, body, session_id=session_id),
                                   principal)

    @app.post(f"{API}/sessions/{{session_id}}/walk-ins", tags=TAGS,
              summary="Station staff record people who came without booking",
              openapi_extra=sends(RecordWalkIn))
    async def record_walk_in(session_id: str, body: WalkInBody,  # type: ignore[valid-type]
                             services: ServicesDep, principal: StationStaff) -> dict[str, Any]:
        return await services.send(request_of(RecordWalkIn, body, session_id=session_id),
                                   principal)

    @app.post(f"{API}/sessions/{{session_id}}/attendance", tags=TAGS,
              summary="Station staff record, once, the deputies present and the people "
                      "received (each deputy present scores under the reception rule)",
              openapi_extra=sends(RecordAttendance))
    async def record_attendance(session_id: str, body: AttendanceBody,  # type: ignore[valid-type]
                                services: ServicesDep,
                                principal: StationStaff) -> dict[str, Any]:
        return await services.send(request_of(RecordAttendance, body, session_id=session_id),
                                   principal)

    @app.post(f"{API}/stations/{{station_id}}/sessions/{{session_id}}/messages",
              status_code=201, tags=TAGS,
              summary="Station staff record what a citizen raised at a session of their "
                      "station: a citizen message in intake, linked back to the session",
              openapi_extra=sends(PostMessageV2))
    async def session_message(station_id: str, session_id: str,
                              body: SessionMessageBody,  # type: ignore[valid-type]
                              services: ServicesDep,
                              principal: StationStaff) -> dict[str, Any]:
        return await services.send(request_of(PostMessageV2, body, station_id=station_id,
                                              session_id=session_id), principal)

    @app.get(f"{API}/reception-report", tags=TAGS,
             summary="A station's (or every station's) reception figures of a year by month: "
                     "sessions held, deputies on duty and present (进站率), people received, "
                     "messages collected (station staff: their own station)",
             openapi_extra=sends(StationReport))
    async def station_report(services: ServicesDep, principal: Figures,
                             station_id: Annotated[str | None, Query(max_length=100)] = None,
                             year: YearQ = None) -> dict[str, Any]:
        return await services.send(request_of(StationReport, query={
            "station_id": station_id, "year": year}), principal)

    @app.get(f"{API}/obligations", tags=TAGS,
             summary="Contact obligations of a year with their progress (a deputy: their own); "
                     "`behind=true`: only those behind the year's pace",
             openapi_extra=sends(ListObligations))
    async def list_obligations(services: ServicesDep, principal: ObligationReaders,
                               year: YearQ = None, behind: bool = False) -> list[dict[str, Any]]:
        return await services.send(request_of(ListObligations, query={
            "year": year, "behind": behind}), principal)

    @app.post(f"{API}/obligations/{{obligation_id}}/contacts", status_code=201, tags=TAGS,
              summary="Record a contact of an obligation (either side, or the office)",
              openapi_extra=sends(RecordContact))
    async def record_contact(obligation_id: str, body: ContactBody,  # type: ignore[valid-type]
                             services: ServicesDep,
                             principal: ContactRecorders) -> dict[str, Any]:
        return await services.send(request_of(RecordContact, body,
                                              obligation_id=obligation_id), principal)

    @app.get(f"{API}/contacts", tags=TAGS,
             summary="Contacts recorded in a year (a deputy: only their own)",
             openapi_extra=sends(ListContacts))
    async def list_contacts(services: ServicesDep, principal: ObligationReaders,
                            year: YearQ = None,
                            obligation_id: Annotated[str | None, Query(max_length=100)] = None,
                            ) -> list[dict[str, Any]]:
        return await services.send(request_of(ListContacts, query={
            "year": year, "obligation_id": obligation_id}), principal)

    @app.post(f"{API}/obligations/check", tags=TAGS,
              summary="Run the periodic obligation check now (the office): each obligation "
                      "behind the pace is noticed once a month and its holder told",
              openapi_extra=sends(CheckObligations))
    async def check_obligations(services: ServicesDep, principal: Ops) -> dict[str, Any]:
        return await services.send(CheckObligations(), principal)

    register_activity_routes(app)


def register_activity_routes(app: FastAPI) -> None:
    """Deputy groups' activities and research (代表小组活动与专题调研)."""
    tags = ["deputy group activities"]
    activity = f"{API}/group-activities/{{activity_id}}"

    @app.get(f"{API}/group-activities", tags=tags,
             summary="The month's call: group activities of a year (and month), by day (a "
                     "deputy: their group's)", openapi_extra=sends(ListGroupActivities))
    async def list_activities(services: ServicesDep, principal: ActivityReaders,
                              year: YearQ = None,
                              month: Annotated[int | None, Query(ge=1, le=12)] = None,
                              group: Annotated[str | None, Query(max_length=100)] = None,
                              ) -> list[dict[str, Any]]:
        return await services.send(request_of(ListGroupActivities, query={
            "year": year, "month": month, "group": group}), principal)

    @app.post(f"{API}/group-activities", status_code=201, tags=tags,
              summary="Plan a deputy group's activity in the month's call (the office)",
              openapi_extra=sends(PlanGroupActivity))
    async def plan_activity(body: PlanBody,  # type: ignore[valid-type]
                            services: ServicesDep, principal: ActivityOffice) -> dict[str, Any]:
        return await services.send(request_of(PlanGroupActivity, body), principal)

    @app.get(activity, tags=tags,
             summary="A group activity: sign-ups, attendance, findings and the suggestion it "
                     "became (a deputy: of their group)", openapi_extra=sends(GetGroupActivity))
    async def get_activity(activity_id: str, services: ServicesDep,
                           principal: ActivityReaders) -> dict[str, Any]:
        return await services.send(request_of(GetGroupActivity, activity_id=activity_id),
                                   principal)

    @app.post(f"{activity}/sign-up", tags=tags,
              summary="A deputy of the group signs up, once, before the day (403: another "
                      "group's deputy; 409: signed up already, full or too late)",
              openapi_extra=sends(SignUpForActivity))
    async def sign_up(activity_id: str, services: ServicesDep,
                      principal: GroupDeputy) -> dict[str, Any]:
        return await services.send(request_of(SignUpForActivity, activity_id=activity_id),
                                   principal)

    @app.post(f"{activity}/withdraw", tags=tags,
              summary="A deputy withdraws their sign-up before the day",
              openapi_extra=sends(WithdrawFromActivity))
    async def withdraw(activity_id: str, services: ServicesDep,
                       principal: GroupDeputy) -> dict[str, Any]:
        return await services.send(request_of(WithdrawFromActivity, activity_id=activity_id),
                                   principal)

    @app.post(f"{activity}/attendance", tags=tags,
              summary="The office records, once, the participants present (each scores under "
                      "the inspection and research rule); 409 the second time",
              openapi_extra=sends(RecordActivityAttendance))
    async def activity_attendance(activity_id: str,
                                  body: ActivityAttendanceBody,  # type: ignore[valid-type]
                                  services: ServicesDep,
                                  principal: ActivityOffice) -> dict[str, Any]:
        return await services.send(request_of(RecordActivityAttendance, body,
                                              activity_id=activity_id), principal)

    @app.post(f"{activity}/findings", tags=tags,
              summary="A research activity's findings (调研成果): the office or a participant "
                      "present", openapi_extra=sends(RecordFindings))
    async def findings(activity_id: str, body: FindingsBody,  # type: ignore[valid-type]
                       services: ServicesDep, principal: FindingsRecorders) -> dict[str, Any]:
        return await services.send(request_of(RecordFindings, body, activity_id=activity_id),
                                   principal)

    @app.post(f"{activity}/suggestion", status_code=201, tags=tags,
              summary="A participant present turns the research findings into a joint "
                      "suggestion in intake as its lead deputy, the other participants present "
                      "co-signing; the activity then shows the suggestion (once: 409)",
              openapi_extra=sends(SubmitSuggestion, ClaimActivitySuggestion,
                                  LinkActivitySuggestion))  # the body is SubmitSuggestion's
    async def activity_suggestion(activity_id: str,
                                  body: ActivitySuggestionBody,  # type: ignore[valid-type]
                                  services: ServicesDep,
                                  principal: GroupDeputy) -> dict[str, Any]:
        claimed = await services.send(request_of(ClaimActivitySuggestion,
                                                 activity_id=activity_id), principal)
        made = await services.send(request_of(SubmitSuggestion, body,
                                              co_signers=claimed["co_signers"]), principal)
        linked = await services.send(request_of(LinkActivitySuggestion, activity_id=activity_id,
                                                suggestion_id=made["id"]), principal)
        return {"suggestion_id": made["id"], "co_signers": claimed["co_signers"],
                "activity": linked}

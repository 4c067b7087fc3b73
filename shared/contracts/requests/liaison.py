"""The liaison service's requests: reception sessions at stations (the public calendar and
booking, walk-ins, attendance, the station report) and contact obligations (contacts
recorded by either side, progress, the periodic check).

Roles: the public calendar and booking admit anonymous citizens; a station's staff (role
``station``, their user's ``unit_id`` naming the station) and the office schedule sessions and
record what happens at them (the service checks the station); deputies see their own sessions
and obligations; the office and leaders see every figure."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

from shared.contracts.requests import (
    DEPUTY,
    EVERYONE,
    LEADER,
    OFFICE,
    OPS,
    STATION,
    Command,
    Query,
)
from shared.contracts.requests.limits import CONTACT_NAME_MAX, NOTE_MAX, TEXT_MAX, Phone

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
STATION_OR_OFFICE = STATION | OFFICE
FIGURES = OFFICE | LEADER | STATION  # the station report
OBLIGATION_READERS = OFFICE | LEADER | DEPUTY
SESSION_READERS = OFFICE | LEADER | DEPUTY | STATION
TOPIC_MAX = 500


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class LiaisonCommand(Command):
    service: ClassVar[str] = "liaison"


class LiaisonQuery(Query):
    service: ClassVar[str] = "liaison"


# --- reception sessions -----------------------------------------------------------------------

class ScheduleSession(LiaisonCommand):
    """Publish a reception session on a station's calendar, with the deputies on duty."""

    name: ClassVar[str] = "schedule_session"
    roles: ClassVar[frozenset[str]] = STATION_OR_OFFICE
    model_config = _example({"station_id": "station-fengjie", "title": "人大代表接待选民日",
                             "day": "2026-03-10", "starts": "09:00", "ends": "11:30",
                             "deputy_ids": ["deputy-1", "deputy-2"], "capacity": 20,
                             "online": False})

    station_id: str = Field(max_length=100)
    title: str = Field("人大代表接待选民日", min_length=1, max_length=100)
    day: date
    starts: str = Field(pattern=HHMM, examples=["09:00"])
    ends: str = Field(pattern=HHMM, examples=["11:30"])
    deputy_ids: list[str] = Field(min_length=1, max_length=20,
                                  description="the deputies on duty")
    capacity: int = Field(20, ge=1, le=500, description="places citizens can book")
    online: bool = Field(False, description="网上接待日: received online")

    @field_validator("ends")
    @classmethod
    def _after_start(cls, value: str, info: Any) -> str:
        if info.data.get("starts") and value <= info.data["starts"]:
            raise ValueError("a session ends after it starts")
        return value


class ListSessions(LiaisonQuery):
    """The calendar: sessions of a station (or every station), of a year and month, by day.
    Public: no booking is shown, only the places left."""

    name: ClassVar[str] = "list_sessions"
    roles: ClassVar[frozenset[str]] = EVERYONE

    station_id: str | None = Field(None, max_length=100)
    deputy_id: str | None = Field(None, max_length=100,
                                  description="sessions this deputy is on duty at or attended")
    year: int | None = Field(None, ge=2000, le=2100)
    month: int | None = Field(None, ge=1, le=12)
    upcoming: bool = Field(False, description="only sessions from today on")


class GetSession(LiaisonQuery):
    """A session with its bookings (masked), walk-ins, attendance and linked messages: the
    station's staff (their station), the office and leaders; a deputy on duty at it."""

    name: ClassVar[str] = "get_session"
    roles: ClassVar[frozenset[str]] = SESSION_READERS

    session_id: str = Field(max_length=100)


class BookSession(LiaisonCommand):
    """A citizen books a place (anonymous): one booking per phone per session, up to the
    session's capacity. Only the masked name and phone and a keyed digest of the phone are
    kept."""

    roles: ClassVar[frozenset[str]] = EVERYONE
    model_config = _example({"session_id": "5b0c8f9e-3b1a-4f0e-9a51-0d6f1d3c2a11",
                             "contact_name": "李女士", "contact_phone": "13812345678"})

    name: ClassVar[str] = "book_session"
    session_id: str = Field(max_length=100)
    contact_name: str = Field(min_length=1, max_length=CONTACT_NAME_MAX)
    contact_phone: Phone = Field(examples=["13812345678"])


class RecordWalkIn(LiaisonCommand):
    """Station staff record people who came without booking."""

    name: ClassVar[str] = "record_walk_in"
    roles: ClassVar[frozenset[str]] = STATION_OR_OFFICE
    model_config = _example({"session_id": "5b0c8f9e-3b1a-4f0e-9a51-0d6f1d3c2a11",
                             "people": 2, "note": "反映小区停车问题"})

    session_id: str = Field(max_length=100)
    people: int = Field(1, ge=1, le=200)
    note: str | None = Field(None, max_length=NOTE_MAX)


class RecordAttendance(LiaisonCommand):
    """Station staff record, once, the deputies present and the people received."""

    name: ClassVar[str] = "record_attendance"
    roles: ClassVar[frozenset[str]] = STATION_OR_OFFICE
    model_config = _example({"session_id": "5b0c8f9e-3b1a-4f0e-9a51-0d6f1d3c2a11",
                             "deputies_present": ["deputy-1"], "people_received": 7})

    session_id: str = Field(max_length=100)
    deputies_present: list[str] = Field(max_length=20)
    people_received: int = Field(ge=0, le=10000)


class StationReport(LiaisonQuery):
    """A station's (or every station's) figures by month of a year: sessions held, deputies
    on duty and present (进站率), people received, messages collected."""

    name: ClassVar[str] = "station_report"
    roles: ClassVar[frozenset[str]] = FIGURES

    station_id: str | None = Field(None, max_length=100)
    year: int | None = Field(None, ge=2000, le=2100)


# --- contact obligations ----------------------------------------------------------------------

class ListObligations(LiaisonQuery):
    """The contact obligations of a year with their progress (a deputy: theirs, as holder or
    counterpart); ``behind``: only those behind the year's pace."""

    name: ClassVar[str] = "list_obligations"
    reply: ClassVar[Any] = list[dict[str, Any]]
    roles: ClassVar[frozenset[str]] = OBLIGATION_READERS

    year: int | None = Field(None, ge=2000, le=2100)
    behind: bool = False


class RecordContact(LiaisonCommand):
    """A contact of an obligation, recorded by either side (the holder, a counterpart deputy)
    or the office."""

    name: ClassVar[str] = "record_contact"
    roles: ClassVar[frozenset[str]] = DEPUTY | OFFICE
    model_config = _example({"obligation_id": "committee:deputy-2",
                             "counterpart_id": "deputy-1", "form": "visit",
                             "topic": "听取基层代表对老旧小区改造的意见", "on": "2026-03-05"})

    obligation_id: str = Field(max_length=100)
    counterpart_id: str = Field(max_length=100)
    form: Literal["visit", "phone", "meeting"] = Field(description="走访、电话、座谈")
    topic: str = Field(min_length=1, max_length=TOPIC_MAX)
    on: date


class ListContacts(LiaisonQuery):
    """Contacts of a year (a deputy: only those of their obligations)."""

    name: ClassVar[str] = "list_contacts"
    reply: ClassVar[Any] = list[dict[str, Any]]
    roles: ClassVar[frozenset[str]] = OBLIGATION_READERS

    year: int | None = Field(None, ge=2000, le=2100)
    obligation_id: str | None = Field(None, max_length=100)


class CheckObligations(LiaisonCommand):
    """Run the periodic check now: every obligation behind the pace is noticed (once a month
    at most), and its holder told through notifications."""

    name: ClassVar[str] = "check_obligations"
    roles: ClassVar[frozenset[str]] = OPS


# --- group activities and research (代表小组活动与专题调研) ------------------------------------
# The office plans a deputy group's activity in the month's call; the group's deputies sign up
# (once each) and withdraw before the day; the office records the attendance once, each
# participant present scoring; a research activity's findings become one joint suggestion,
# submitted by a participant present (the lead) through the gateway (ClaimActivitySuggestion,
# intake's SubmitSuggestion, LinkActivitySuggestion).

ACTIVITY_READERS = OFFICE | LEADER | DEPUTY
ActivityKind = Literal["inspection", "research", "forum", "topic_research"]


class PlanGroupActivity(LiaisonCommand):
    """The office plans a deputy group's activity (视察、调研、座谈、专题调研) in the month's
    call (本月代表活动征集通知)."""

    name: ClassVar[str] = "plan_group_activity"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"group": "城建环保组", "title": "老旧小区加装电梯专题调研",
                             "kind": "topic_research", "day": "2026-03-20",
                             "place": "鱼复街道社区服务中心", "capacity": 10})

    group: str = Field(min_length=1, max_length=100, description="the deputy group (代表小组)")
    title: str = Field(min_length=1, max_length=100)
    kind: ActivityKind = Field(description="视察 inspection, 调研 research, 座谈 forum, "
                                           "专题调研 topic_research")
    day: date
    place: str = Field(min_length=1, max_length=200)
    capacity: int | None = Field(None, ge=1, le=500, description="places (none: no limit)")


class ListGroupActivities(LiaisonQuery):
    """The month's call: group activities of a year (and month), by day (a deputy: their
    group's, with whether they signed up and attended)."""

    name: ClassVar[str] = "list_group_activities"
    reply: ClassVar[Any] = list[dict[str, Any]]
    roles: ClassVar[frozenset[str]] = ACTIVITY_READERS

    year: int | None = Field(None, ge=2000, le=2100)
    month: int | None = Field(None, ge=1, le=12)
    group: str | None = Field(None, max_length=100)


class GetGroupActivity(LiaisonQuery):
    """A group activity: sign-ups, attendance, findings and the suggestion it became (a
    deputy: of their group only)."""

    name: ClassVar[str] = "get_group_activity"
    roles: ClassVar[frozenset[str]] = ACTIVITY_READERS

    activity_id: str = Field(max_length=100)


class SignUpForActivity(LiaisonCommand):
    """A deputy of the group signs up (once), before the activity's day."""

    name: ClassVar[str] = "sign_up_for_activity"
    roles: ClassVar[frozenset[str]] = DEPUTY

    activity_id: str = Field(max_length=100)


class WithdrawFromActivity(LiaisonCommand):
    """A deputy withdraws their sign-up, before the activity's day."""

    name: ClassVar[str] = "withdraw_from_activity"
    roles: ClassVar[frozenset[str]] = DEPUTY

    activity_id: str = Field(max_length=100)


class RecordActivityAttendance(LiaisonCommand):
    """The office records, once, the participants present (deputies of the group); each
    scores under the points rule for inspections and research."""

    name: ClassVar[str] = "record_activity_attendance"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"activity_id": "5b0c8f9e-3b1a-4f0e-9a51-0d6f1d3c2a11",
                             "present": ["deputy-1", "deputy-3"]})

    activity_id: str = Field(max_length=100)
    present: list[str] = Field(max_length=200)


class RecordFindings(LiaisonCommand):
    """A research activity's output (调研成果): its findings, recorded by the office or a
    participant present, until it became a suggestion."""

    name: ClassVar[str] = "record_findings"
    roles: ClassVar[frozenset[str]] = OFFICE | DEPUTY
    model_config = _example({"activity_id": "5b0c8f9e-3b1a-4f0e-9a51-0d6f1d3c2a11",
                             "findings": "走访三个小区，居民对加装电梯意愿强烈……"})

    activity_id: str = Field(max_length=100)
    findings: str = Field(min_length=1, max_length=TEXT_MAX)


class ClaimActivitySuggestion(LiaisonCommand):
    """A participant present takes the findings to intake as the lead deputy; the reply names
    the co-signers (the other participants present) and the findings. Once per activity (the
    same lead may try again until a suggestion is linked)."""

    name: ClassVar[str] = "claim_activity_suggestion"
    roles: ClassVar[frozenset[str]] = DEPUTY

    activity_id: str = Field(max_length=100)


class LinkActivitySuggestion(LiaisonCommand):
    """The suggestion intake made of the findings, linked to the activity by its lead."""

    name: ClassVar[str] = "link_activity_suggestion"
    roles: ClassVar[frozenset[str]] = DEPUTY

    activity_id: str = Field(max_length=100)
    suggestion_id: str = Field(max_length=100)

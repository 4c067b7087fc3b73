"""Events published by the liaison service (代表联络: reception sessions at stations and the
deputies' contact obligations). ``case_id`` is the session's id, or the id of the obligation's year."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent


class _Liaison(IntegrationEvent):
    producer: ClassVar[str] = "liaison"


class ReceptionAttendedV1(_Liaison):
    name: ClassVar[str] = "reception_attended"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A deputy was present at a reception session of a liaison station (接待选民日 / "
        "代表联系服务群众日), as the station's staff recorded the attendance: one event per "
        "deputy present. case_id is the session id. Superseded by v2 (published beside it): the "
        "events of one attendance share one event id, so a consumer keeps only the first."
    )
    consumers: ClassVar[tuple[str, ...]] = ()

    session_id: str
    station_id: str
    deputy_id: str
    held_on: date = Field(description="the session's day (China time)")
    people_received: int = Field(ge=0, description="people the session received in all")


class ReceptionAttendedV2(_Liaison):
    name: ClassVar[str] = "reception_attended"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = (
        "The deputies present at a reception session of a liaison station (接待选民日 / "
        "代表联系服务群众日), as the station's staff recorded the attendance: one event naming "
        "every deputy present (v1 had one per deputy, all with the same event id, so only the "
        "first reached a consumer). case_id is the session id. Points scores each deputy under "
        "the reception rule, once per session."
    )
    consumers: ClassVar[tuple[str, ...]] = ("points",)

    session_id: str
    station_id: str
    deputy_ids: list[str] = Field(description="the deputies present")
    held_on: date = Field(description="the session's day (China time)")
    people_received: int = Field(ge=0, description="people the session received in all")


class BehindCounterpart(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    counterpart_id: str
    name: str
    done: int = Field(ge=0)
    required: int = Field(ge=0)


class ObligationBehindV1(_Liaison):
    name: ClassVar[str] = "obligation_behind"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A contact obligation (常委会组成人员联系代表 / 代表联系选民) is behind for the year as "
        "of a periodic check: the holder has fewer contacts with some of the people they must "
        "contact than the year's pace requires. Once per obligation and month at most. case_id "
        "is the id of the obligation's year (a UUID)."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    obligation_id: str
    kind: str = Field(description="committee_deputies or deputy_voters")
    holder_id: str = Field(description="the deputy who holds the obligation")
    year: int
    as_of: date
    behind: list[BehindCounterpart]


class GroupActivityAttendedV1(_Liaison):
    name: ClassVar[str] = "group_activity_attended"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The deputies who took part in an activity of their deputy group (代表小组活动: 视察、"
        "调研、座谈、专题调研), as the office recorded the attendance once for all participants: "
        "one event with every participant present (one notification is one message: consumers "
        "track it once). case_id is the activity id. Points scores each deputy present under "
        "the rule for inspections and research (activities.inspection_research), once per "
        "activity and deputy."
    )
    consumers: ClassVar[tuple[str, ...]] = ("points",)

    activity_id: str
    group: str = Field(description="the deputy group (代表小组)")
    kind: str = Field(description="inspection, research, forum or topic_research")
    title: str
    deputy_ids: list[str] = Field(description="the participants present")
    held_on: date = Field(description="the activity's day (China time)")

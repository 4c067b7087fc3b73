"""The liaison service's aggregates: a station's reception session (接待选民日 / 代表联系服务
群众日) and a contact obligation's year (常委会组成人员联系代表, 代表联系选民).

A ``ReceptionSession`` is published on a station's calendar with the deputies on duty and a
capacity; citizens book a place (one booking per phone; only a keyed digest of the phone and
masked name and phone are kept: see the README), station staff record walk-ins and, once, the
attendance (deputies present, people received); the citizen messages raised there are linked
to it as intake reports them.

An ``ObligationYear`` holds the contacts recorded in one year for one configured obligation
(who must contact whom is configuration: config/liaison.yaml and the deputies' voters in
config/deputies.yaml) and the notices sent when it fell behind (one per month at most).

No clock is read here: every time is passed in.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.liaison.errors import (ActivityFull, AlreadyDone, BookingClosed, RuleViolation,
                                     SessionFull, SignUpClosed)

CONTACT_FORMS = ("visit", "phone", "meeting")
FORMS_ZH = {"visit": "走访", "phone": "电话", "meeting": "座谈"}


def mask_name(name: str) -> str:
    """李秀英 → 李**: enough for the station to call out a booking, no more."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


class ReceptionSession(Aggregate):
    """One reception session of a station: calendar entry, bookings, walk-ins, attendance and
    the messages raised there."""

    class Scheduled(Aggregate.Created):
        station_id: str
        title: str
        day: date
        starts: str
        ends: str
        deputy_ids: list[str]
        capacity: int
        online: bool
        scheduled_at: datetime

    @event(Scheduled)
    def __init__(self, station_id: str, title: str, day: date, starts: str, ends: str,
                 deputy_ids: list[str], capacity: int, online: bool,
                 scheduled_at: datetime) -> None:
        self.station_id = station_id
        self.title = title
        self.day = day
        self.starts = starts
        self.ends = ends
        self.deputy_ids = list(deputy_ids)
        self.capacity = capacity
        self.online = online
        self.scheduled_at = scheduled_at
        self.bookings: list[dict[str, Any]] = []
        self.walk_ins: list[dict[str, Any]] = []
        self.attendance: dict[str, Any] | None = None
        self.message_ids: list[str] = []

    # --- queries --------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        return self.attendance is not None

    def booked_by(self, phone_digest: str) -> bool:
        return any(b["phone_digest"] == phone_digest for b in self.bookings)

    @property
    def places_left(self) -> int:
        return max(self.capacity - len(self.bookings), 0)

    # --- bookings -------------------------------------------------------------------------

    def book(self, booking_id: str, phone_digest: str, name: str, phone: str,
             today: date, booked_at: datetime) -> None:
        if self.held or today > self.day:
            raise BookingClosed("this session is over: it takes no more bookings")
        if self.booked_by(phone_digest):
            raise AlreadyDone("this phone has already booked this session")
        if not self.places_left:
            raise SessionFull("every place of this session is booked", capacity=self.capacity)
        self._booked(booking_id=booking_id, phone_digest=phone_digest,
                     name_masked=mask_name(name), phone_masked=mask_phone(phone),
                     booked_at=booked_at)

    @event("Booked")
    def _booked(self, booking_id: str, phone_digest: str, name_masked: str,
                phone_masked: str, booked_at: datetime) -> None:
        self.bookings.append({"booking_id": booking_id, "phone_digest": phone_digest,
                              "name_masked": name_masked, "phone_masked": phone_masked,
                              "booked_at": booked_at.isoformat()})

    # --- at the session -------------------------------------------------------------------

    @event("WalkInRecorded")
    def record_walk_in(self, people: int, note: str | None, recorded_at: datetime) -> None:
        self.walk_ins.append({"people": people, "note": note,
                              "recorded_at": recorded_at.isoformat()})

    def record_attendance(self, deputies_present: list[str], people_received: int,
                          recorded_at: datetime) -> None:
        if self.held:
            raise AlreadyDone("this session's attendance is already recorded")
        self._attended(deputies_present=sorted(set(deputies_present)),
                       people_received=people_received, recorded_at=recorded_at)

    @event("AttendanceRecorded")
    def _attended(self, deputies_present: list[str], people_received: int,
                  recorded_at: datetime) -> None:
        self.attendance = {"deputies_present": list(deputies_present),
                           "people_received": people_received,
                           "recorded_at": recorded_at.isoformat()}

    def link_message(self, message_id: str, linked_at: datetime) -> bool:
        """Link a message raised here (False: already linked)."""
        if message_id in self.message_ids:
            return False
        self._linked(message_id=message_id, linked_at=linked_at)
        return True

    @event("MessageLinked")
    def _linked(self, message_id: str, linked_at: datetime) -> None:
        self.message_ids.append(message_id)


class ObligationYear(Aggregate):
    """The contacts of one configured obligation in one year, and its notices."""

    @staticmethod
    def create_id(obligation_id: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:liaison:obligation:{obligation_id}:{year}")

    class Opened(Aggregate.Created):
        obligation_id: str
        kind: str
        holder_id: str
        year: int

    @event(Opened)
    def __init__(self, obligation_id: str, kind: str, holder_id: str, year: int) -> None:
        self.obligation_id = obligation_id
        self.kind = kind
        self.holder_id = holder_id
        self.year = year
        self.contacts: list[dict[str, Any]] = []
        self.notices: list[str] = []  # "YYYY-MM" of each notice sent

    def record_contact(self, contact_id: str, counterpart_id: str, form: str, topic: str,
                       on: date, recorded_by: str, recorded_at: datetime) -> None:
        if form not in CONTACT_FORMS:
            raise RuleViolation(f"unknown form of contact {form!r}")
        if on.year != self.year:
            raise RuleViolation(f"a contact of {on.year} is not one of {self.year}")
        self._contacted(contact_id=contact_id, counterpart_id=counterpart_id, form=form,
                        topic=topic, on=on, recorded_by=recorded_by, recorded_at=recorded_at)

    @event("ContactRecorded")
    def _contacted(self, contact_id: str, counterpart_id: str, form: str, topic: str, on: date,
                   recorded_by: str, recorded_at: datetime) -> None:
        self.contacts.append({"contact_id": contact_id, "counterpart_id": counterpart_id,
                              "form": form, "topic": topic, "on": on.isoformat(),
                              "recorded_by": recorded_by})

    def done_with(self, counterpart_id: str) -> int:
        return sum(1 for c in self.contacts if c["counterpart_id"] == counterpart_id)

    def notice(self, month: str, as_of: date, behind: list[dict[str, Any]]) -> bool:
        """Record that the holder is told they are behind (False: told this month already)."""
        if month in self.notices or not behind:
            return False
        self._noticed(month=month, as_of=as_of, behind=behind)
        return True

    @event("BehindNoticed")
    def _noticed(self, month: str, as_of: date, behind: list[dict[str, Any]]) -> None:
        self.notices.append(month)


def expected_by(required: int, month: int, due_by_month: int) -> int:
    """Contacts with one counterpart the year's pace asks for by the end of ``month``: the
    year's ``required`` spread evenly until ``due_by_month`` (all due by its end), rounded
    down, so a holder is behind only once a whole contact is due."""
    return min(required, required * month // max(due_by_month, 1))


def behind_of(year: ObligationYear | None, counterparts: dict[str, str], required: int,
              month: int, due_by_month: int) -> list[dict[str, Any]]:
    """The counterparts a holder has contacted less often than the pace asks, with counts."""
    expected = expected_by(required, month, due_by_month)
    rows = []
    for cid, name in counterparts.items():
        done = year.done_with(cid) if year else 0
        if done < expected:
            rows.append({"counterpart_id": cid, "name": name, "done": done,
                         "required": required})
    return rows


# --- group activities and research (代表小组活动与专题调研) ------------------------------------

ACTIVITY_KINDS = ("inspection", "research", "forum", "topic_research")
ACTIVITY_KINDS_ZH = {"inspection": "视察", "research": "调研", "forum": "座谈",
                     "topic_research": "专题调研"}


class GroupActivity(Aggregate):
    """One activity of a deputy group (代表小组): planned by the office in the month's call
    (每月初发布本月代表活动征集通知), signed up for by the group's deputies (once each,
    withdrawn before the day), its attendance recorded once for all participants; a research
    activity (专题调研) records its findings, which its lead deputy turns into one joint
    suggestion in intake (选题论证—监督调研—成果转化)."""

    class Planned(Aggregate.Created):
        group: str
        title: str
        kind: str
        day: date
        place: str
        capacity: int | None
        call_month: str
        planned_by: str
        planned_at: datetime

    @event(Planned)
    def __init__(self, group: str, title: str, kind: str, day: date, place: str,
                 capacity: int | None, call_month: str, planned_by: str,
                 planned_at: datetime) -> None:
        self.group = group
        self.title = title
        self.kind = kind
        self.day = day
        self.place = place
        self.capacity = capacity
        self.call_month = call_month
        self.planned_by = planned_by
        self.planned_at = planned_at
        self.signed_up: list[str] = []
        self.attendance: dict[str, Any] | None = None
        self.findings: dict[str, Any] | None = None
        self.suggestion: dict[str, Any] | None = None  # {"lead_id", "suggestion_id" | None}

    @property
    def held(self) -> bool:
        return self.attendance is not None

    @property
    def present(self) -> list[str]:
        return list((self.attendance or {}).get("present", []))

    @property
    def is_research(self) -> bool:
        return self.kind == "topic_research"

    def _open(self, today: date) -> None:
        if self.held or today >= self.day:
            raise SignUpClosed("sign-ups close the day before the activity")

    def sign_up(self, deputy_id: str, today: date, at: datetime) -> None:
        self._open(today)
        if deputy_id in self.signed_up:
            raise AlreadyDone("this deputy has already signed up")
        if self.capacity is not None and len(self.signed_up) >= self.capacity:
            raise ActivityFull("every place of this activity is taken", capacity=self.capacity)
        self._signed_up(deputy_id=deputy_id, at=at)

    @event("SignedUp")
    def _signed_up(self, deputy_id: str, at: datetime) -> None:
        self.signed_up.append(deputy_id)

    def withdraw(self, deputy_id: str, today: date, at: datetime) -> None:
        self._open(today)
        if deputy_id not in self.signed_up:
            raise RuleViolation("this deputy has not signed up")
        self._withdrawn(deputy_id=deputy_id, at=at)

    @event("Withdrawn")
    def _withdrawn(self, deputy_id: str, at: datetime) -> None:
        self.signed_up.remove(deputy_id)

    def record_attendance(self, present: list[str], today: date, recorded_by: str,
                          recorded_at: datetime) -> None:
        if self.held:
            raise AlreadyDone("this activity's attendance is already recorded")
        if today < self.day:
            raise RuleViolation("attendance is recorded on or after the activity's day")
        self._attended(present=sorted(set(present)), recorded_by=recorded_by,
                       recorded_at=recorded_at)

    @event("AttendanceRecorded")
    def _attended(self, present: list[str], recorded_by: str, recorded_at: datetime) -> None:
        self.attendance = {"present": list(present), "recorded_by": recorded_by,
                           "recorded_at": recorded_at.isoformat()}

    def record_findings(self, text: str, recorded_by: str, recorded_at: datetime) -> None:
        if not self.is_research:
            raise RuleViolation("only a research activity (专题调研) records findings")
        if not self.held:
            raise RuleViolation("findings are recorded once the activity took place")
        if self.suggestion is not None:
            raise AlreadyDone("the findings already became a suggestion")
        self._findings(text=text, recorded_by=recorded_by, recorded_at=recorded_at)

    @event("FindingsRecorded")
    def _findings(self, text: str, recorded_by: str, recorded_at: datetime) -> None:
        self.findings = {"text": text, "recorded_by": recorded_by,
                         "recorded_at": recorded_at.isoformat()}

    def claim_suggestion(self, lead_id: str, at: datetime) -> list[str]:
        """The lead deputy (a participant present) takes the findings to intake; the other
        participants present are its co-signers. The same lead may claim again while no
        suggestion is linked (a submission that failed on the way)."""
        if self.findings is None:
            raise RuleViolation("record the findings before turning them into a suggestion")
        if lead_id not in self.present:
            raise RuleViolation("the lead deputy is one of the participants present")
        if self.suggestion is not None:
            if self.suggestion.get("suggestion_id") or self.suggestion["lead_id"] != lead_id:
                raise AlreadyDone("the findings already became (or are becoming) a suggestion")
        else:
            self._claimed(lead_id=lead_id, at=at)
        return [d for d in self.present if d != lead_id]

    @event("SuggestionClaimed")
    def _claimed(self, lead_id: str, at: datetime) -> None:
        self.suggestion = {"lead_id": lead_id, "suggestion_id": None}

    def link_suggestion(self, lead_id: str, suggestion_id: str, at: datetime) -> None:
        if self.suggestion is None or self.suggestion["lead_id"] != lead_id:
            raise RuleViolation("only the deputy who took the findings links the suggestion")
        if self.suggestion.get("suggestion_id"):
            raise AlreadyDone("the activity already shows its suggestion")
        self._linked_suggestion(suggestion_id=suggestion_id, at=at)

    @event("SuggestionLinked")
    def _linked_suggestion(self, suggestion_id: str, at: datetime) -> None:
        assert self.suggestion is not None
        self.suggestion = {**self.suggestion, "suggestion_id": suggestion_id}

"""The liaison service's commands, reactions and queries over its event store: reception
sessions at stations, contact obligations, and deputy groups' activities and research."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import yaml
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, Field

from shared.clock import CHINA_TZ, Clock, clock_from_settings
from shared.contracts.intake import CitizenMessageReceivedV2
from shared.contracts.requests.liaison import (
    BookSession,
    ClaimActivitySuggestion,
    GetGroupActivity,
    GetSession,
    LinkActivitySuggestion,
    ListContacts,
    ListGroupActivities,
    ListObligations,
    PlanGroupActivity,
    RecordActivityAttendance,
    RecordAttendance,
    RecordContact,
    RecordFindings,
    RecordWalkIn,
    ScheduleSession,
    SignUpForActivity,
    WithdrawFromActivity,
)
from shared.eventstore import Actor, ServiceApplication, private_file
from shared.rpc import Forbidden, Invalid, NotFound
from shared.reference import ReferenceData
from shared.settings import ServiceSettings

from services.liaison import views
from services.liaison.domain import GroupActivity, ObligationYear, ReceptionSession, behind_of
from services.liaison.errors import NotAParty, NotYourGroup, NotYourStation

log = logging.getLogger(__name__)
SEE_ALL = ("office", "leader", "system")


class ObligationKind(BaseModel):
    name_zh: str
    required_per_counterpart: int = Field(ge=1)
    min_counterparts: int = Field(1, ge=1)
    max_counterparts: int | None = None


class LiaisonRules(BaseModel):
    """config/liaison.yaml."""

    due_by_month: int = Field(10, ge=1, le=12)
    check_every_seconds: float = Field(3600, gt=0)
    booking_capacity: int = Field(20, ge=1)
    obligations: dict[str, ObligationKind]
    committee_members: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def load(cls, config_dir: Path) -> LiaisonRules:
        with (config_dir / "liaison.yaml").open(encoding="utf-8") as f:
            return cls.model_validate(yaml.safe_load(f) or {})


def booking_key(settings: ServiceSettings) -> bytes:
    """The key of the phone digests (one booking per phone per session): LIAISON_BOOKING_KEY
    (hex; production, the same for every replica), else a random key made once beside the
    store (development), 0600. Never in the event log, so the log alone does not give the
    phone numbers back by trying every number."""
    configured = os.environ.get("LIAISON_BOOKING_KEY")
    if configured:
        return bytes.fromhex(configured)
    path = Path(settings.var_dir) / "liaison-booking.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or not path.read_text().strip():
        private_file(path)
        path.write_text(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


class LiaisonApplication(ServiceApplication):
    name = "liaison"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.rules = LiaisonRules.load(settings.config_dir)
        self.key = booking_key(settings)
        self.index: Any = None  # the sessions' read model (bootstrap.py)
        self.activities: Any = None  # the group activities' read model (bootstrap.py)
        super().__init__(settings)
        # Stations and deputies: this service's replica of the registry's records
        # (shared/reference.py), seeded from config/ and followed in its own log; the tables
        # are updated in place, and the contact obligations follow them.
        self.reference = ReferenceData(self, settings)
        self.stations = self.reference.table("station")
        self.deputies = self.reference.table("deputy")
        self.obligations: dict[str, dict[str, Any]] = {}
        self.reference.catch_up()
        self.reference.on_change(self._follow_reference)

    def _follow_reference(self) -> None:
        self.obligations = self._configured_obligations()

    def today(self) -> date:
        return self.clock.now().astimezone(CHINA_TZ).date()

    # --- configuration ----------------------------------------------------------------------

    def _configured_obligations(self) -> dict[str, dict[str, Any]]:
        """Who must contact whom: each standing-committee member's grassroots deputies, and
        each deputy's fixed voters (config/deputies.yaml)."""
        found: dict[str, dict[str, Any]] = {}
        kinds = self.rules.obligations
        committee = kinds.get("committee_deputies")
        for member, deputy_ids in self.rules.committee_members.items():
            if committee is None or member not in self.deputies:
                continue
            found[f"committee:{member}"] = {
                "obligation_id": f"committee:{member}", "kind": "committee_deputies",
                "name_zh": committee.name_zh, "holder_id": member,
                "required": committee.required_per_counterpart,
                "counterparts": {d: self.deputies.get(d, {}).get("name", d)
                                 for d in deputy_ids}}
        voters = kinds.get("deputy_voters")
        for deputy_id, deputy in self.deputies.items():
            if voters is None or not deputy.get("voters"):
                continue
            found[f"voters:{deputy_id}"] = {
                "obligation_id": f"voters:{deputy_id}", "kind": "deputy_voters",
                "name_zh": voters.name_zh, "holder_id": deputy_id,
                "required": voters.required_per_counterpart,
                "counterparts": {v["id"]: v.get("name", v["id"]) for v in deputy["voters"]}}
        return found

    def deputy_name(self, deputy_id: str) -> str:
        return self.deputies.get(deputy_id, {}).get("name", deputy_id)

    # --- helpers ----------------------------------------------------------------------------

    def _retrying(self, attempt: Any) -> Any:
        """Run a read-change-save again when another request changed the aggregate meanwhile
        (two bookings of the last place: one wins, the other sees the session full)."""
        for _ in range(10):
            try:
                return attempt()
            except IntegrityError:
                continue
        return attempt()

    def session(self, session_id: str) -> ReceptionSession:
        try:
            found = self.repository.get(UUID(session_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no session {session_id}") from None
        if not isinstance(found, ReceptionSession):
            raise NotFound(f"no session {session_id}")
        return found

    @staticmethod
    def check_station(actor: Actor, station_id: str) -> None:
        """Station staff act for their own station only; the office for every station."""
        if actor.role == "station" and actor.unit_id != station_id:
            raise NotYourStation("station staff act for their own station only")

    def phone_digest(self, session_id: str, phone: str) -> str:
        return hmac.new(self.key, f"{session_id}:{phone}".encode(), hashlib.sha256).hexdigest()

    # --- reception sessions -----------------------------------------------------------------

    def schedule_session(self, cmd: ScheduleSession, actor: Actor) -> dict[str, Any]:
        if cmd.station_id not in self.stations:
            raise Invalid.field(["body", "station_id"], f"no station {cmd.station_id}")
        self.check_station(actor, cmd.station_id)
        unknown = [d for d in cmd.deputy_ids if d not in self.deputies]
        if unknown:
            raise Invalid.field(["body", "deputy_ids"], f"unknown deputies {unknown}")
        closed = [d for d in cmd.deputy_ids if not self.reference.active("deputy", d)]
        if closed:
            raise Invalid.field(["body", "deputy_ids"],
                                f"deputies {closed} no longer serve (their records are closed)")
        session = ReceptionSession(
            station_id=cmd.station_id, title=cmd.title, day=cmd.day, starts=cmd.starts,
            ends=cmd.ends, deputy_ids=list(dict.fromkeys(cmd.deputy_ids)),
            capacity=cmd.capacity, online=cmd.online, scheduled_at=self.clock.now())
        self.save(session)
        return views.session_view(self, session, actor)

    def book_session(self, cmd: BookSession, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            session = self.session(cmd.session_id)
            booking_id = str(uuid4())
            session.book(booking_id, self.phone_digest(cmd.session_id, cmd.contact_phone),
                         cmd.contact_name, cmd.contact_phone, today=self.today(),
                         booked_at=self.clock.now())
            self.save(session)
            booking = session.bookings[-1]
            return {"booking_id": booking_id, "session": views.public_view(self, session),
                    "name_masked": booking["name_masked"],
                    "phone_masked": booking["phone_masked"]}

        return self._retrying(attempt)

    def record_walk_in(self, cmd: RecordWalkIn, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            session = self.session(cmd.session_id)
            self.check_station(actor, session.station_id)
            session.record_walk_in(people=cmd.people, note=cmd.note,
                                   recorded_at=self.clock.now())
            self.save(session)
            return views.session_view(self, session, actor)

        return self._retrying(attempt)

    def record_attendance(self, cmd: RecordAttendance, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            session = self.session(cmd.session_id)
            self.check_station(actor, session.station_id)
            unknown = [d for d in cmd.deputies_present if d not in self.deputies]
            if unknown:
                raise Invalid.field(["body", "deputies_present"], f"unknown deputies {unknown}")
            session.record_attendance(cmd.deputies_present, cmd.people_received,
                                      recorded_at=self.clock.now())
            self.save(session)
            return views.session_view(self, session, actor)

        return self._retrying(attempt)

    def get_session(self, ref: GetSession, actor: Actor) -> dict[str, Any]:
        session = self.session(ref.session_id)
        if actor.role == "station":
            self.check_station(actor, session.station_id)
        elif actor.role == "deputy":
            present = (session.attendance or {}).get("deputies_present", [])
            if actor.deputy_id not in session.deputy_ids and actor.deputy_id not in present:
                raise NotFound(f"no session {ref.session_id}")  # not theirs: as if absent
        return views.session_view(self, session, actor)

    def on_message_received(self, event: CitizenMessageReceivedV2) -> list[Any]:
        """A message raised at a session (intake, v2): linked to it, once. A session that is
        not known here, or of another station, is left alone (logged)."""
        if not event.session_id:
            return []
        try:
            session = self.session(event.session_id)
        except NotFound:
            log.warning("message %s names an unknown session %s", event.case_id,
                        event.session_id)
            return []
        if session.station_id != event.station_id:
            log.warning("message %s of %s names a session of %s", event.case_id,
                        event.station_id, session.station_id)
            return []
        return [session] if session.link_message(event.case_id, event.occurred_at) else []

    # --- contact obligations ------------------------------------------------------------------

    def obligation_year(self, obligation_id: str, year: int) -> ObligationYear | None:
        try:
            return self.repository.get(ObligationYear.create_id(obligation_id, year))
        except AggregateNotFoundError:
            return None

    def _parties(self, obligation: dict[str, Any]) -> set[str]:
        """The deputies of an obligation: its holder, and its counterparts when deputies."""
        return {obligation["holder_id"], *(c for c in obligation["counterparts"]
                                           if c in self.deputies)}

    def visible_obligations(self, actor: Actor) -> list[dict[str, Any]]:
        if actor.role in SEE_ALL:
            return list(self.obligations.values())
        if actor.role == "deputy":
            return [o for o in self.obligations.values()
                    if actor.deputy_id in self._parties(o)]
        raise Forbidden("contact obligations are seen by their deputies, the office and leaders")

    def record_contact(self, cmd: RecordContact, actor: Actor) -> dict[str, Any]:
        obligation = self.obligations.get(cmd.obligation_id)
        if obligation is None:
            raise NotFound(f"no obligation {cmd.obligation_id}")
        if actor.role == "deputy" and actor.deputy_id not in self._parties(obligation):
            raise NotAParty("a contact is recorded by the parties of the obligation or the office")
        if cmd.counterpart_id not in obligation["counterparts"]:
            raise Invalid.field(["body", "counterpart_id"],
                                f"{cmd.counterpart_id} is not one of this obligation's people")
        if actor.role == "deputy" and actor.deputy_id != obligation["holder_id"] \
                and actor.deputy_id != cmd.counterpart_id:
            raise NotAParty("a counterpart records only their own contacts")
        if cmd.on > self.today():
            raise Invalid.field(["body", "on"], "a contact is recorded once it took place")

        def attempt() -> dict[str, Any]:
            year = self.obligation_year(cmd.obligation_id, cmd.on.year) or ObligationYear(
                obligation_id=cmd.obligation_id, kind=obligation["kind"],
                holder_id=obligation["holder_id"], year=cmd.on.year)
            contact_id = str(uuid4())
            year.record_contact(contact_id, cmd.counterpart_id, cmd.form, cmd.topic, cmd.on,
                                recorded_by=actor.username, recorded_at=self.clock.now())
            self.save(year)
            return {**year.contacts[-1], "obligation_id": cmd.obligation_id,
                    "holder_id": obligation["holder_id"],
                    "counterpart_name": obligation["counterparts"][cmd.counterpart_id]}

        return self._retrying(attempt)

    def list_obligations(self, q: ListObligations, actor: Actor) -> list[dict[str, Any]]:
        year = q.year or self.today().year
        rows = [views.obligation_view(self, o, self.obligation_year(o["obligation_id"], year),
                                      year) for o in self.visible_obligations(actor)]
        return [r for r in rows if r["behind"]] if q.behind else rows

    def list_contacts(self, q: ListContacts, actor: Actor) -> list[dict[str, Any]]:
        year = q.year or self.today().year
        rows = []
        for o in self.visible_obligations(actor):
            if q.obligation_id and o["obligation_id"] != q.obligation_id:
                continue
            found = self.obligation_year(o["obligation_id"], year)
            for c in (found.contacts if found else []):
                if actor.role == "deputy" and actor.deputy_id not in (o["holder_id"],
                                                                      c["counterpart_id"]):
                    continue  # another counterpart's contact with the holder
                rows.append({**c, "obligation_id": o["obligation_id"], "kind": o["kind"],
                             "holder_id": o["holder_id"],
                             "holder_name": self.deputy_name(o["holder_id"]),
                             "counterpart_name": o["counterparts"].get(c["counterpart_id"])})
        return sorted(rows, key=lambda r: (r["on"], r["contact_id"]), reverse=True)

    def check_obligations(self, _cmd: Any = None, actor: Actor | None = None) -> dict[str, Any]:
        """The periodic check: each obligation behind the pace as of today is noticed (once a
        month), which publishes liaison.obligation_behind.v1 for notifications."""
        today = self.today()
        month = f"{today.year}-{today.month:02d}"
        noticed = []
        for o in self.obligations.values():
            def attempt(o: dict[str, Any] = o) -> bool:
                year = self.obligation_year(o["obligation_id"], today.year)
                behind = behind_of(year, o["counterparts"], o["required"], today.month,
                                   self.rules.due_by_month)
                if not behind:
                    return False
                year = year or ObligationYear(obligation_id=o["obligation_id"], kind=o["kind"],
                                              holder_id=o["holder_id"], year=today.year)
                if not year.notice(month, today, behind):
                    return False
                self.save(year)
                return True

            if self._retrying(attempt):
                noticed.append(o["obligation_id"])
        return {"as_of": today.isoformat(), "noticed": noticed}

    # --- group activities and research --------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """The deputy groups (代表小组) of config/deputies.yaml and their members."""
        found: dict[str, list[str]] = {}
        for deputy_id, deputy in list(self.deputies.items()):  # the replica may add one
            if deputy.get("group"):
                found.setdefault(deputy["group"], []).append(deputy_id)
        return found

    def activity(self, activity_id: str) -> GroupActivity:
        try:
            found = self.repository.get(UUID(activity_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no activity {activity_id}") from None
        if not isinstance(found, GroupActivity):
            raise NotFound(f"no activity {activity_id}")
        return found

    def check_group(self, actor: Actor, activity: GroupActivity) -> None:
        """A deputy acts on (and sees) their own group's activities only."""
        if actor.role == "deputy" and \
                self.deputies.get(actor.deputy_id or "", {}).get("group") != activity.group:
            raise NotYourGroup("a group activity is for the deputies of its group")

    def plan_group_activity(self, cmd: PlanGroupActivity, actor: Actor) -> dict[str, Any]:
        if cmd.group not in self.groups():
            raise Invalid.field(["body", "group"], f"no deputy group {cmd.group}")
        activity = GroupActivity(
            group=cmd.group, title=cmd.title, kind=cmd.kind, day=cmd.day, place=cmd.place,
            capacity=cmd.capacity, call_month=f"{cmd.day.year}-{cmd.day.month:02d}",
            planned_by=actor.username, planned_at=self.clock.now())
        self.save(activity)
        return views.activity_view(self, activity, actor)

    def _change_activity(self, activity_id: str, actor: Actor,
                         change: Any) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            activity = self.activity(activity_id)
            self.check_group(actor, activity)
            change(activity)
            self.save(activity)
            return views.activity_view(self, activity, actor)

        return self._retrying(attempt)

    def sign_up_for_activity(self, cmd: SignUpForActivity, actor: Actor) -> dict[str, Any]:
        return self._change_activity(cmd.activity_id, actor, lambda a: a.sign_up(
            actor.deputy_id, self.today(), self.clock.now()))

    def withdraw_from_activity(self, cmd: WithdrawFromActivity, actor: Actor) -> dict[str, Any]:
        return self._change_activity(cmd.activity_id, actor, lambda a: a.withdraw(
            actor.deputy_id, self.today(), self.clock.now()))

    def record_activity_attendance(self, cmd: RecordActivityAttendance,
                                   actor: Actor) -> dict[str, Any]:
        def change(activity: GroupActivity) -> None:
            members = self.groups().get(activity.group, [])
            others = [d for d in cmd.present if d not in members]
            if others:
                raise Invalid.field(["body", "present"],
                                    f"not deputies of {activity.group}: {others}")
            activity.record_attendance(cmd.present, self.today(), actor.username,
                                       self.clock.now())

        return self._change_activity(cmd.activity_id, actor, change)

    def record_findings(self, cmd: RecordFindings, actor: Actor) -> dict[str, Any]:
        def change(activity: GroupActivity) -> None:
            if actor.role == "deputy" and actor.deputy_id not in activity.present:
                raise NotYourGroup("findings are recorded by a participant present or the office")
            activity.record_findings(cmd.findings, actor.username, self.clock.now())

        return self._change_activity(cmd.activity_id, actor, change)

    def claim_activity_suggestion(self, cmd: ClaimActivitySuggestion,
                                  actor: Actor) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def change(activity: GroupActivity) -> None:
            found["co_signers"] = activity.claim_suggestion(actor.deputy_id, self.clock.now())

        view = self._change_activity(cmd.activity_id, actor, change)
        return {**view, "co_signers": found["co_signers"]}

    def link_activity_suggestion(self, cmd: LinkActivitySuggestion,
                                 actor: Actor) -> dict[str, Any]:
        return self._change_activity(cmd.activity_id, actor, lambda a: a.link_suggestion(
            actor.deputy_id, cmd.suggestion_id, self.clock.now()))

    def get_group_activity(self, ref: GetGroupActivity, actor: Actor) -> dict[str, Any]:
        activity = self.activity(ref.activity_id)
        if actor.role == "deputy":
            try:
                self.check_group(actor, activity)
            except NotYourGroup:
                raise NotFound(f"no activity {ref.activity_id}") from None  # as if absent
        return views.activity_view(self, activity, actor)

    def list_group_activities(self, q: ListGroupActivities,
                              actor: Actor) -> list[dict[str, Any]]:
        group = q.group
        if actor.role == "deputy":
            group = self.deputies.get(actor.deputy_id or "", {}).get("group")
            if group is None:
                return []
        elif group is not None and group not in self.groups():
            raise Invalid.field(["query", "group"], f"no deputy group {group}")
        year = q.year or self.today().year
        ids = self.activities.activity_ids(group, year, q.month)
        return [views.activity_view(self, self.activity(i), actor) for i in ids]

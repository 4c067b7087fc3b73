"""Points' commands, queries and upstream handlers over its event store.

- A deputy's ledger (per year) is rebuilt from its events only.
- Self-reported activities are aggregates of their own; approving one adds the award line to
  the deputy's ledger in the same transaction.
- Upstream handlers return the ledgers they changed; the runtime records them with the
  upstream tracking row atomically. Each handler is also idempotent on its own (a cause scores
  once per deputy), so a second event about the same case does not score twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date as Date
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from shared.blobs import AttachmentIndex, blob_store, described
from shared.clock import CHINA_TZ, Clock, clock_from_settings
from shared.contracts.intake import (
    MessageAnsweredV1,
    MessageRatedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
)
from shared.contracts.liaison import (GroupActivityAttendedV1, ReceptionAttendedV1,
                                     ReceptionAttendedV2)
from shared.contracts.projects import DeputyVotedV1
from shared.contracts.reports import ReportEvaluatedV1, ReportHeldV1
from shared.contracts.supervision import CaseClosedV1
from shared.eventstore import Actor, ServiceApplication
from shared.contracts.requests.points import (
    ActivityRef,
    Recalculate,
    RejectActivity,
    RevokePoints,
    SubmitActivity,
)
from shared.rpc import Conflict, Forbidden, Invalid, NotFound
from shared.reference import ReferenceData
from shared.settings import ServiceSettings, load_config

from services.points import rules as R
from services.points.domain import Activity, DutyLedger, Recalculation
from services.points.read_models import (
    ActivitiesQuery,
    ActivityIndex,
    PointsViews,
    Rankings,
    RankingsQuery,
    RecalculationsQuery,
)
from services.points.rules import ScoringRules

__all__ = ["ScoringRules", "PointsApplication", "ActivitiesQuery", "RankingsQuery",
           "RecalculationsQuery", "Rankings", "ActivityIndex"]

SEE_ALL_ROLES = ("office", "leader", "system")


# The requests (SubmitActivity, RevokePoints...) are declared in
# shared/contracts/requests/points.py.


class _Ledgers:
    """The ledgers one handler touches, each loaded once (so two changes to the same ledger
    land on one object and are saved together)."""

    def __init__(self, app: PointsApplication) -> None:
        self.app = app
        self.loaded: dict[tuple[str, int], DutyLedger] = {}

    def get(self, deputy_id: str, year: int) -> DutyLedger:
        key = (deputy_id, year)
        if key not in self.loaded:
            self.loaded[key] = self.app.ledger(deputy_id, year)
        return self.loaded[key]

    def changed(self) -> list[DutyLedger]:
        # A ledger only looked into (opened but still empty) is not saved.
        return [l for l in self.loaded.values() if l.pending_events and (l.lines or l.facts)]


def _china_date(moment: datetime) -> Date:
    return moment.astimezone(CHINA_TZ).date()


class PointsApplication(ServiceApplication):
    name = "points"
    # A deputy's yearly ledger grows with every line; snapshots keep loading it cheap.
    snapshotting_intervals = {DutyLedger: 50}
    # ... and a kept copy spares even that for every message that touches it.
    kept_aggregates = (DutyLedger,)

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.rules = ScoringRules(load_config(settings, "points"))
        # evidence files recorded on activities (shared/blobs.py)
        self.blobs = blob_store(settings)
        self.attachments = AttachmentIndex(self, [Activity.AttachmentRecorded])
        # The read models (services/points/read_models.py), set by whoever runs the
        # application (the runtime, a test): the queries read them.
        self.views: PointsViews | None = None
        # ledger id -> (deputy, year); a few per deputy and year, never changing
        self._ledger_owners: dict[UUID, tuple[str, int]] = {}
        super().__init__(settings, env={"IS_SNAPSHOTTING_ENABLED": "y"})
        # Deputies and terms: this service's replica of the registry's records
        # (shared/reference.py), seeded from config/ and followed in its own log; the tables
        # are updated in place.
        self.reference = ReferenceData(self, settings)
        self.deputies = self.reference.table("deputy")
        self.terms = self.reference.table("term")
        self.reference.catch_up()

    # --- loading ----------------------------------------------------------------------------

    def ledger(self, deputy_id: str, year: int) -> DutyLedger:
        try:
            return self.repository.get(DutyLedger.create_id(deputy_id, year))
        except AggregateNotFoundError:
            return DutyLedger(deputy_id=deputy_id, year=year)

    def ledger_owner(self, ledger_id: UUID) -> tuple[str, int]:
        """(deputy, year) of a ledger, from its first event: what the outbox needs to publish
        any of the ledger's events, without rebuilding the ledger for each."""
        owner = self._ledger_owners.get(ledger_id)
        if owner is None:
            opened = next(iter(self.events.get(ledger_id, lte=1)), None)
            if opened is None:
                raise AggregateNotFoundError(ledger_id)
            owner = self._ledger_owners[ledger_id] = (opened.deputy_id, opened.year)
        return owner

    def activity(self, activity_id: str) -> Activity:
        try:
            aggregate = self.repository.get(UUID(activity_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no activity {activity_id}") from None
        if not isinstance(aggregate, Activity):
            raise NotFound(f"no activity {activity_id}")
        return aggregate

    def today(self) -> Date:
        return _china_date(self.clock.now())

    def this_year(self) -> int:
        return self.today().year

    # --- authorization ----------------------------------------------------------------------

    def attachment_visible(self, aggregate_id: str, actor: Actor) -> bool:
        """An activity's evidence: for whoever may see the deputy's duty record."""
        try:
            self.check_may_see(actor, self.activity(aggregate_id).deputy_id)
        except (Forbidden, NotFound):
            return False
        return True

    def check_may_see(self, actor: Actor, deputy_id: str) -> None:
        if actor.role in SEE_ALL_ROLES:
            return
        if actor.role == "deputy" and actor.deputy_id == deputy_id:
            return
        if actor.role == "deputy":
            raise Forbidden("a deputy sees only their own duty record")
        raise Forbidden("duty points are seen by the deputy, the office and leaders only")

    def known_deputy(self, deputy_id: str) -> dict[str, Any]:
        deputy = self.deputies.get(deputy_id)
        if deputy is None:
            raise NotFound(f"no deputy {deputy_id}")
        return deputy

    # --- upstream handlers ------------------------------------------------------------------

    def _award_automatic(self, ledger: DutyLedger, rule: dict[str, Any], cause_kind: str,
                         points: float, cause_ref: str, case_id: str | None, event: Any,
                         on: Date, details: dict[str, Any], cap: dict[str, Any] | None = None,
                         ) -> None:
        capped_by = None
        if cap:
            already = ledger.used_in_period(cause_kind, cap.get("period", "year"), on)
            points, capped_by = R.capped(points, cap, cause_kind, on, already)
        ledger.award(
            points=float(points), cause_kind=cause_kind, cause_ref=cause_ref, case_id=case_id,
            rule_version=str(rule["version"]), awarded_at=event.occurred_at, earned_on=on,
            capped_by=capped_by, event_id=event.event_id, details=details,
        )

    def on_suggestion_registered(self, event: SuggestionRegisteredV1) -> list[DutyLedger]:
        registered_on = _china_date(event.occurred_at)
        rule = self.rules.in_force(registered_on)  # none in force: retried, then parked
        split = R.automatic(rule, "suggestion_registered") or {}
        ledgers = _Ledgers(self)
        roles = [(event.lead_deputy_id, "lead")]
        roles += [(co, "co_signer") for co in event.co_signer_ids if co != event.lead_deputy_id]
        for deputy_id, role in roles:
            ledger = ledgers.get(deputy_id, registered_on.year)
            details = {"role": role, "number": event.number, "title": event.title,
                       "category": event.category}
            if ledger.has_fact("suggestion_registered", event.case_id, event.event_id):
                continue  # this registration is already counted
            ledger.record_fact("suggestion_registered", event.case_id, registered_on,
                               details, event.event_id)
            # A suggestion registered again after a reversal scores again; never twice live.
            if role in split and self._find_registration(
                    ledgers, deputy_id, event.case_id, registered_on.year, live=True) is None:
                self._award_automatic(ledger, rule, "suggestion_registered", float(split[role]),
                                      event.case_id, event.case_id, event, registered_on, details)
        return ledgers.changed()

    def on_suggestion_registration_reversed(self, event: SuggestionRegistrationReversedV1,
                                            ) -> list[DutyLedger]:
        """The office reversed the registration (撤销立案): the registration points of the
        lead deputy and co-signers are revoked, naming the number and the reason; the
        suggestion no longer counts as registered until it is registered again."""
        reason = f"立案 {event.number} 已撤销，立案积分撤销 (registration reversed): {event.reason}"
        return self._revoke_registration(event, reason,
                                         "suggestion_registration_reversed",
                                         {"number": event.number, "reason": event.reason})

    def _revoke_registration(self, event: SuggestionMergedV1 | SuggestionRegistrationReversedV1,
                             reason: str, fact_kind: str,
                             fact_details: dict[str, Any]) -> list[DutyLedger]:
        """Revoke the live registration award of the event's lead deputy and co-signers for
        its case, and record the cause as a fact on each ledger."""
        on = _china_date(event.occurred_at)
        ledgers = _Ledgers(self)
        for deputy_id in dict.fromkeys([event.lead_deputy_id, *event.co_signer_ids]):
            found = self._find_registration(ledgers, deputy_id, event.case_id, on.year, live=True)
            if found:
                ledger, line = found
                ledger.revoke_line(line["line_no"], reason, event.occurred_at, event.event_id)
            ledger = ledgers.get(deputy_id, on.year)
            if not ledger.has_fact(fact_kind, event.case_id, event.event_id):
                ledger.record_fact(fact_kind, event.case_id, on, fact_details, event.event_id)
        return ledgers.changed()

    def _find_registration(self, ledgers: _Ledgers, deputy_id: str, case_id: str, year: int,
                           live: bool) -> tuple[DutyLedger, dict[str, Any]] | None:
        """The ledger (this year or last) holding a deputy's registration award for a case."""
        for y in (year, year - 1):
            ledger = ledgers.get(deputy_id, y)
            line = (ledger.live_award if live else ledger.revoked_award)(
                "suggestion_registered", case_id)
            if line:
                return ledger, line
        return None

    def on_suggestion_merged(self, event: SuggestionMergedV1) -> list[DutyLedger]:
        reason = (f"建议已并入 {event.into_suggestion_id}，立案积分撤销 "
                  f"(merged into {event.into_suggestion_id}: registration points revoked)")
        return self._revoke_registration(event, reason, "suggestion_merged",
                                         {"into": event.into_suggestion_id,
                                          "source_number": event.source_number})

    def on_suggestion_merge_undone(self, event: SuggestionMergeUndoneV1) -> list[DutyLedger]:
        on = _china_date(event.occurred_at)
        ledgers = _Ledgers(self)
        for deputy_id in dict.fromkeys([event.lead_deputy_id, *event.co_signer_ids]):
            found = self._find_registration(ledgers, deputy_id, event.case_id, on.year, live=False)
            if found and found[0].line(found[1]["revoked_by"])["event_id"]:
                # Restored only when an upstream event (the merge) revoked it, never when the
                # office revoked it by decision.
                ledger, line = found
                revocation = ledger.line(line["revoked_by"])
                ledger.award(
                    points=round(-float(revocation["points"]), 2),
                    cause_kind="suggestion_registered", cause_ref=event.case_id,
                    case_id=event.case_id, rule_version=line["current_rule_version"],
                    awarded_at=event.occurred_at, earned_on=Date.fromisoformat(line["earned_on"]),
                    event_id=event.event_id,
                    details={**line["details"], "restores_line": line["line_no"],
                             "reason": f"合并已撤销 (merge undone): {event.reason}"},
                )
            ledger = ledgers.get(deputy_id, on.year)
            if not ledger.has_fact("suggestion_merge_undone", event.case_id, event.event_id):
                ledger.record_fact("suggestion_merge_undone", event.case_id, on,
                                   {"into": event.into_suggestion_id, "reason": event.reason},
                                   event.event_id)
        return ledgers.changed()

    def on_case_closed(self, event: CaseClosedV1) -> list[DutyLedger]:
        if event.case_kind != "suggestion" or not event.lead_deputy_id:
            return []
        on = _china_date(event.occurred_at)
        ledgers = _Ledgers(self)
        qualifies = event.result_class == "A" and event.all_satisfied
        rule = self.rules.in_force(on) if qualifies else None
        split = (R.automatic(rule, "suggestion_resolved") or {}) if rule else {}
        roles = [(event.lead_deputy_id, "lead")]
        roles += [(co, "co_signer") for co in event.co_signer_ids if co != event.lead_deputy_id]
        for deputy_id, role in roles:
            ledger = ledgers.get(deputy_id, on.year)
            details = {"role": role, "result_class": event.result_class,
                       "all_satisfied": event.all_satisfied, "rating": event.ratings.get(deputy_id),
                       "rounds": event.rounds, "replied_on_time": event.replied_on_time}
            if not ledger.has_fact("case_closed", event.case_id):
                ledger.record_fact("case_closed", event.case_id, on, details, event.event_id)
            if rule and role in split and not ledger.has_cause("suggestion_resolved", event.case_id):
                self._award_automatic(ledger, rule, "suggestion_resolved", float(split[role]),
                                      event.case_id, event.case_id, event, on, details)
        return ledgers.changed()

    def on_message_answered(self, event: MessageAnsweredV1) -> list[DutyLedger]:
        on = _china_date(event.occurred_at)
        ledgers = _Ledgers(self)
        ledger = ledgers.get(event.deputy_id, on.year)
        details = {"station_id": event.station_id}
        if not ledger.has_fact("message_answered", event.case_id):
            ledger.record_fact("message_answered", event.case_id, on, details, event.event_id)
            rule = self.rules.in_force(on)
            spec = R.automatic(rule, "message_answered")
            if spec and not ledger.has_cause("message_answered", event.case_id):
                self._award_automatic(ledger, rule, "message_answered", float(spec["points"]),
                                      event.case_id, event.case_id, event, on, details,
                                      cap=spec.get("cap"))
        return ledgers.changed()

    def on_reception_attended(self, event: ReceptionAttendedV1) -> list[DutyLedger]:
        """A deputy present at a station's reception session (liaison, v1: one event per
        deputy; no longer subscribed, see v2) scores under the reception rule."""
        return self._reception_attended(event, [event.deputy_id])

    def on_reception_attended_v2(self, event: ReceptionAttendedV2) -> list[DutyLedger]:
        """The deputies present at a station's reception session (liaison, v2: one event for
        all of them, so none is lost as a duplicate of the first) each score under the
        reception rule."""
        return self._reception_attended(event, event.deputy_ids)

    def _reception_attended(self, event: ReceptionAttendedV1 | ReceptionAttendedV2,
                            deputy_ids: list[str]) -> list[DutyLedger]:
        """Scored under the reception rule (activities.reception_day: its points and its cap,
        shared with self-reported reception days), once per session and deputy."""
        return self._attended(event, deputy_ids, "reception_day", "reception_attended",
                              event.session_id, {"station_id": event.station_id,
                                                 "people_received": event.people_received})

    def on_group_activity_attended(self, event: GroupActivityAttendedV1) -> list[DutyLedger]:
        """The deputies present at their group's activity (liaison: 视察、调研、座谈、专题调研)
        each score under the rule for inspections and research (activities.inspection_research:
        its points and its cap, shared with self-reported ones), once per activity."""
        return self._attended(event, event.deputy_ids, "inspection_research",
                              "group_activity_attended", event.activity_id,
                              {"group": event.group, "kind": event.kind, "title": event.title})

    def _attended(self, event: Any, deputy_ids: list[str], activity_kind: str, cause_kind: str,
                  cause_ref: str, details: dict[str, Any]) -> list[DutyLedger]:
        """Deputies present at something liaison records, each scored once (per ``cause_ref``)
        under the activity rule ``activity_kind`` in force on the day: its points, and its cap
        shared with the self-reported activities of that kind."""
        on = event.held_on
        try:
            rule = self.rules.in_force(on)
        except LookupError:
            return []
        spec = R.activities(rule).get(activity_kind)
        if spec is None:
            return []
        ledgers = _Ledgers(self)
        cap = spec.get("cap")
        for deputy_id in dict.fromkeys(deputy_ids):
            ledger = ledgers.get(deputy_id, on.year)
            if ledger.has_cause(cause_kind, cause_ref):
                continue
            points, capped_by = float(spec["points"]), None
            if cap:
                period = cap.get("period", "year")
                already = (ledger.used_in_period(cause_kind, period, on)
                           + ledger.used_in_period(f"activity:{activity_kind}", period, on))
                points, capped_by = R.capped(points, cap, activity_kind, on, already)
            ledger.award(points=points, cause_kind=cause_kind, cause_ref=cause_ref,
                         case_id=None, rule_version=str(rule["version"]),
                         awarded_at=event.occurred_at, earned_on=on,
                         activity_kind=activity_kind, capped_by=capped_by,
                         event_id=event.event_id, details=details)
        return ledgers.changed()

    def on_report_held(self, event: ReportHeldV1) -> list[DutyLedger]:
        """A deputy reported to the voters of their constituency (reports): scored under the
        rule for reporting to voters (activities.report_to_voters: its points and its cap,
        shared with self-reported reports), once per report."""
        on = event.held_on
        ledgers = _Ledgers(self)
        ledger = ledgers.get(event.deputy_id, on.year)
        if ledger.has_cause("report_to_voters", event.report_id):
            return []
        try:
            rule = self.rules.in_force(on)
        except LookupError:
            return []
        spec = R.activities(rule).get("report_to_voters")
        if spec is None:
            return []
        cap = spec.get("cap")
        points, capped_by = float(spec["points"]), None
        if cap:
            already = (ledger.used_in_period("report_to_voters", cap.get("period", "year"), on)
                       + ledger.used_in_period("activity:report_to_voters",
                                               cap.get("period", "year"), on))
            points, capped_by = R.capped(points, cap, "report_to_voters", on, already)
        ledger.award(points=points, cause_kind="report_to_voters", cause_ref=event.report_id,
                     case_id=None, rule_version=str(rule["version"]),
                     awarded_at=event.occurred_at, earned_on=on,
                     activity_kind="report_to_voters", capped_by=capped_by,
                     event_id=event.event_id, details={"attendance": event.attendance})
        return ledgers.changed()

    def on_deputy_voted(self, event: DeputyVotedV1) -> list[DutyLedger]:
        """A deputy voted in a livelihood-project vote (projects; never what they chose):
        their participation is kept as a fact of their ledger of the vote's year, once per
        vote (no scoring rule names it yet)."""
        ledgers = _Ledgers(self)
        ledger = ledgers.get(event.deputy_id, event.year)
        if ledger.has_fact("project_vote", event.ballot_id):
            return []
        ledger.record_fact("project_vote", event.ballot_id, _china_date(event.occurred_at),
                           {"session": event.session}, event.event_id)
        return ledgers.changed()

    def on_report_evaluated(self, event: ReportEvaluatedV1) -> list[DutyLedger]:
        """The voters' evaluation of a deputy's report joins the deputy's ledger of its year
        as a fact (the record's evaluation by voters), once per report."""
        ledgers = _Ledgers(self)
        ledger = ledgers.get(event.deputy_id, event.year)
        if ledger.has_fact("report_evaluated", event.report_id):
            return []
        ledger.record_fact("report_evaluated", event.report_id, _china_date(event.occurred_at),
                           {"evaluations": event.evaluations, **event.results}, event.event_id)
        return ledgers.changed()

    def on_message_rated(self, event: MessageRatedV1) -> list[DutyLedger]:
        if event.handled_by != "deputy" or not event.deputy_id:
            return []
        on = _china_date(event.occurred_at)
        ledgers = _Ledgers(self)
        ledger = ledgers.get(event.deputy_id, on.year)
        details = {"rating": event.rating, "station_id": event.station_id}
        if not ledger.has_fact("message_rated", event.case_id):
            ledger.record_fact("message_rated", event.case_id, on, details, event.event_id)
            if event.rating == "satisfied":
                rule = self.rules.in_force(on)
                spec = R.automatic(rule, "message_rated_satisfied")
                if spec and not ledger.has_cause("message_rated_satisfied", event.case_id):
                    self._award_automatic(ledger, rule, "message_rated_satisfied",
                                          float(spec["points"]), event.case_id, event.case_id,
                                          event, on, details, cap=spec.get("cap"))
        return ledgers.changed()

    # --- commands ---------------------------------------------------------------------------

    def _saving(self, attempt: Callable[[], Any]) -> Any:
        """Run a load-change-save step again when a consumer changed the ledger meanwhile."""
        for _ in range(10):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise Conflict("the ledger kept changing; try again")

    def submit_activity(self, cmd: SubmitActivity, actor: Actor) -> dict[str, Any]:
        if not (actor.role == "deputy" and actor.deputy_id == cmd.deputy_id):
            raise Forbidden("a deputy reports only their own activities")
        self.known_deputy(cmd.deputy_id)
        errors = []
        today = self.today()
        rule = None
        if cmd.date > today:
            errors.append({"loc": ["body", "date"],
                           "msg": f"the date {cmd.date} is in the future (today is {today})"})
        else:
            try:
                rule = self.rules.in_force(cmd.date)
            except LookupError:
                errors.append({"loc": ["body", "date"],
                               "msg": f"no scoring rule is in force on {cmd.date}"})
        if rule is not None and cmd.kind not in R.activities(rule):
            known = ", ".join(R.activities(rule))
            errors.append({"loc": ["body", "kind"],
                           "msg": f"unknown activity kind {cmd.kind!r}; one of: {known}"})
        if not cmd.description:
            errors.append({"loc": ["body", "description"], "msg": "the description is empty"})
        if errors:
            raise Invalid("the activity has invalid fields", errors)
        files = [described(self.blobs, f.sha256, f.name, "evidence",
                           ["body", "evidence_files", i, "sha256"])
                 for i, f in enumerate(cmd.evidence_files)]
        activity = Activity(deputy_id=cmd.deputy_id, kind=cmd.kind, on=cmd.date,
                            description=cmd.description, evidence=cmd.evidence or None,
                            submitted_by=actor.username, submitted_at=self.clock.now())
        for attachment in files:
            activity.record_attachment(attachment)
        self.save(activity)
        return activity.as_dict()

    def _reviewable(self, activity_id: str, actor: Actor) -> Activity:
        if actor.role != "office":
            raise Forbidden("only the office reviews activities")
        activity = self.activity(activity_id)
        activity.check_reviewable_by(actor.username, actor.deputy_id)  # 403 / 409 refusals
        return activity

    def approve_activity(self, cmd: ActivityRef, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            activity = self._reviewable(cmd.activity_id, actor)
            try:
                rule = self.rules.in_force(activity.on)
            except LookupError as exc:
                raise Conflict(str(exc)) from None
            spec = R.activities(rule).get(activity.kind)
            ledger = self.ledger(activity.deputy_id, activity.on.year)
            if spec is None:
                points, capped_by = 0.0, (f"{activity.kind}: 规则 {rule['version']} 不计分 "
                                          f"(not scored by rule {rule['version']})")
            else:
                cap = spec.get("cap")
                already = (ledger.used_in_period(f"activity:{activity.kind}",
                                                 cap.get("period", "year"), activity.on)
                           if cap else 0.0)
                points, capped_by = R.capped(float(spec["points"]), cap, activity.kind,
                                             activity.on, already)
            now = self.clock.now()
            ledger.award(points=points, cause_kind="activity", cause_ref=str(activity.id),
                         case_id=None, rule_version=str(rule["version"]), awarded_at=now,
                         earned_on=activity.on, activity_kind=activity.kind, capped_by=capped_by,
                         details={"description": activity.description[:200]})
            activity.approve(reviewed_by=actor.username, reviewed_at=now, points=points,
                             rule_version=str(rule["version"]), capped_by=capped_by,
                             line_no=ledger.lines[-1]["line_no"])
            self.save(activity, ledger)
            return activity.as_dict()

        return self._saving(attempt)

    def reject_activity(self, cmd: RejectActivity, actor: Actor) -> dict[str, Any]:
        if not cmd.reason:
            raise Invalid.field(["body", "reason"], "a rejection needs a reason")

        def attempt() -> dict[str, Any]:
            activity = self._reviewable(cmd.activity_id, actor)
            activity.reject(reviewed_by=actor.username, reviewed_at=self.clock.now(),
                            reason=cmd.reason)
            self.save(activity)
            return activity.as_dict()

        return self._saving(attempt)

    def revoke_points(self, cmd: RevokePoints, actor: Actor) -> dict[str, Any]:
        if actor.role != "office":
            raise Forbidden("only the office revokes points")
        self.known_deputy(cmd.deputy_id)
        if not cmd.reason:
            raise Invalid.field(["body", "reason"], "a revocation needs a reason")

        def attempt() -> dict[str, Any]:
            ledger = self.ledger(cmd.deputy_id, cmd.year)
            line = ledger.revoke_line(cmd.line_no, cmd.reason, self.clock.now())
            self.save(ledger)
            return line

        return self._saving(attempt)

    def recalculate(self, cmd: Recalculate, actor: Actor) -> dict[str, Any]:
        """Price every live line of a year again under one rule version (recorded)."""
        if actor.role != "office":
            raise Forbidden("only the office recalculates points")
        rule = self.rules.version(cmd.rule_version)
        if rule is None:
            known = ", ".join(str(v["version"]) for v in self.rules.versions)
            raise Invalid.field(["body", "rule_version"],
                                f"no rule version {cmd.rule_version!r}; one of: {known}")
        reason = cmd.reason or f"按 {rule['version']} 版规则重新计算 (recalculated under {rule['version']})"

        def attempt() -> dict[str, Any]:
            now = self.clock.now()
            deputy_ids = sorted(set(self.deputies) | set(self._views().rankings.deputies_in(cmd.year)))
            changed: list[tuple[DutyLedger, list[dict[str, Any]]]] = []
            summary = []
            for deputy_id in deputy_ids:
                ledger = self.ledger(deputy_id, cmd.year)
                if not ledger.lines:
                    continue
                results = R.recalculate(rule, ledger.lines)
                if not results:
                    continue
                changed.append((ledger, results))
                summary.append({"deputy_id": deputy_id,
                                "delta": round(sum(r["delta"] for r in results), 2),
                                "lines_priced": len(results),
                                "lines_adjusted": sum(1 for r in results if r["delta"])})
            record = Recalculation(year=cmd.year, rule_version=str(rule["version"]),
                                   reason=reason, requested_by=actor.username,
                                   requested_at=now, ledgers=summary)
            for ledger, results in changed:
                ledger.recalculated(recalculation_id=str(record.id),
                                    rule_version=str(rule["version"]), adjustments=results,
                                    reason=reason, recalculated_at=now)
            self.save(record, *(ledger for ledger, _ in changed))
            return record.as_dict()

        return self._saving(attempt)

    # --- read models (the queries are answered in services/points/views.py) -------------------

    def _views(self) -> PointsViews:
        if self.views is None:
            raise RuntimeError("the points read models are not attached (PointsViews)")
        return self.views

"""Supervision's aggregates: a handling unit's task (办理任务) and the case (案件) it serves.

A task follows one unit's work: signed for, contact with the deputy (办前联系), progress,
a co-unit's opinion or the lead unit's reply, deadline warnings and escalation. A case follows
the suggestion (or citizen message) as a whole: who rates it, the replies of each round, the
ratings, re-handling rounds, follow-up reviews (回头看) and close-out (销号).

Rules that need both (a reply opens the rating round of the case) are decided in the
application, which saves the task and the case together.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.supervision.errors import AlreadyDone, CannotCloseOut, ContactFirst, RuleViolation

RESULT_CLASSES = ("A", "B", "C")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
REVIEW_OUTCOMES = ("kept", "partly_kept", "not_kept")
CITIZEN = "citizen"  # the rater of a citizen message case


class Published(Aggregate.Event):
    """A published event (its relay translates it from the event alone): version 2 also
    carries the case's ``leadership`` designation as its task or case knew it, and whatever
    else its contract needs. Version 1 events were recorded without them; the upcast cannot
    invent them, so it marks them ``recorded_as_version`` 1 and their relay reads the task
    or case as it was right after them (``services.supervision.bus.facts_of``)."""

    class_version = 2
    recorded_as_version: ClassVar[int] = 2

    leadership: dict[str, Any] | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(leadership=None, recorded_as_version=1)


class SupervisedTask(Aggregate):
    """One unit's task under supervision; its id is the assignment service's task id.

    Every event after the first names the case, so each one can be published on its own.
    The deadline is the assignment's deadline, or the one a re-handling round set: both are
    recorded in events, never overwritten silently.
    """

    @staticmethod
    def create_id(task_id: str) -> UUID:
        return UUID(task_id)

    class Opened(Aggregate.Created):
        """Supervision of a unit's task began. Version 2: every field below is present;
        version 1 events were recorded before case kinds and leadership existed (a
        suggestion's task, no designation) and are upcast with those values."""

        class_version = 2

        task_id: str
        case_id: str
        unit_id: str
        role: str
        deadline: date
        opened_at: datetime
        title: str
        category: str
        urgency: str
        number: str | None
        case_kind: str
        leadership: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("case_kind", "suggestion")
            state.setdefault("leadership", None)

    @event(Opened)
    def __init__(self, task_id: str, case_id: str, unit_id: str, role: str, deadline: date,
                 opened_at: datetime, title: str, category: str, urgency: str,
                 number: str | None, case_kind: str = "suggestion",
                 leadership: dict[str, Any] | None = None) -> None:
        self.case_id = case_id
        # The case's leadership designation (领导领办 / 重点督办) as the task knows it: its
        # events are published flagged with it (v2).
        self.leadership = leadership
        self.unit_id = unit_id
        self.role = role
        self.deadline = deadline
        self.opened_at = opened_at
        self.title = title
        self.category = category
        self.urgency = urgency
        self.number = number
        self.case_kind = case_kind
        self.status = "open"
        self.round = 1
        self.signed_for_at: datetime | None = None
        self.contacts: list[dict[str, Any]] = []
        self.contact_waiver: str | None = None
        self.progress: list[dict[str, Any]] = []
        self.opinion: dict[str, Any] | None = None
        self.replies: list[dict[str, Any]] = []
        self.warnings: list[str] = []  # "<level>@<deadline>"
        self.escalations: list[str] = []  # "<deadline>"
        self.escalated_to: str | None = None  # who received the latest overdue escalation
        self.paused = False  # assignment stopped the task's clock (DeadlineChanged)
        self.withdrawn_reason: str | None = None
        self.replaced_by: str | None = None
        self.closed_on: date | None = None
        # every deadline the task had, from when: the board as of a past day uses it
        self.deadlines: list[dict[str, Any]] = [{"from": opened_at.date().isoformat(),
                                                 "deadline": deadline}]

    # --- queries --------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """Still being handled."""
        return self.status in ("open", "signed_for")

    @property
    def is_paused(self) -> bool:
        return self.paused

    @property
    def answered_on(self) -> date | None:
        """When the unit's part of the current round was done (reply or co-unit opinion)."""
        if self.role == "lead":
            current = [r for r in self.replies if r["round"] == self.round]
            return current[-1]["replied_on"] if current else None
        return self.opinion["submitted_on"] if self.opinion else None

    def answered_as_of(self, day: date) -> date | None:
        """When the unit's part of the round in force on ``day`` was done, if by then."""
        round_then = max(1, sum(1 for e in self.deadlines if date.fromisoformat(e["from"]) <= day))
        if self.role == "lead":
            done = [r["replied_on"] for r in self.replies
                    if r["round"] == round_then and r["replied_on"] <= day]
            return done[-1] if done else None
        if self.opinion and self.opinion["submitted_on"] <= day:
            return self.opinion["submitted_on"]
        return None

    def has_warning(self, level: str) -> bool:
        return f"{level}@{self.deadline.isoformat()}" in self.warnings

    def is_escalated(self) -> bool:
        return self.deadline.isoformat() in self.escalations

    # --- commands ---------------------------------------------------------------------------

    def _require_active(self, what: str) -> None:
        if self.status == "withdrawn":
            raise RuleViolation(f"the task was withdrawn from {self.unit_id}; it cannot be {what}")
        if self.status == "closed":
            raise RuleViolation(f"the case is closed; the task cannot be {what}")
        if self.status == "replied":
            raise AlreadyDone(f"the task was already replied to in round {self.round}; "
                              f"it cannot be {what} until the case is reopened")

    def sign_for(self, at: datetime, by: str) -> None:
        self._require_active("signed for")
        if self.signed_for_at is not None:
            raise AlreadyDone("the task was already signed for")
        self._signed_for(case_id=self.case_id, unit_id=self.unit_id, at=at, by=by,
                         leadership=self.leadership)

    class SignedFor(Published):
        case_id: str
        unit_id: str
        at: datetime
        by: str

    @event(SignedFor)
    def _signed_for(self, case_id: str, unit_id: str, at: datetime, by: str,
                    leadership: dict[str, Any] | None) -> None:
        self.signed_for_at = at
        self.status = "signed_for"

    def record_contact(self, note: str, at: datetime, by: str) -> None:
        self._require_active("contacted")
        self._contact_recorded(case_id=self.case_id, note=note, at=at, by=by)

    @event("ContactRecorded")
    def _contact_recorded(self, case_id: str, note: str, at: datetime, by: str) -> None:
        self.contacts.append({"note": note, "at": at.isoformat(), "by": by})

    def waive_contact(self, reason: str, at: datetime, by: str) -> None:
        self._require_active("changed")
        self._contact_waived(case_id=self.case_id, reason=reason, at=at, by=by)

    @event("ContactWaived")
    def _contact_waived(self, case_id: str, reason: str, at: datetime, by: str) -> None:
        self.contact_waiver = reason

    def note_progress(self, note: str, at: datetime, by: str) -> None:
        self._require_active("updated")
        self._progress_noted(case_id=self.case_id, note=note, at=at, by=by)

    @event("ProgressNoted")
    def _progress_noted(self, case_id: str, note: str, at: datetime, by: str) -> None:
        self.progress.append({"note": note, "at": at.isoformat(), "by": by})

    def submit_opinion(self, text: str, at: datetime, by: str) -> None:
        if self.role != "co":
            raise RuleViolation("only a co-handling unit sends an opinion; the lead unit replies")
        if self.opinion is not None:
            raise AlreadyDone("the co-handling opinion was already sent")
        self._require_active("given an opinion")
        self._opinion_submitted(case_id=self.case_id, text=text, at=at, on=at.date(), by=by,
                                leadership=self.leadership, unit_id=self.unit_id,
                                on_time=at.date() <= self.deadline)

    class OpinionSubmitted(Published):
        """Version 2 also carries the unit and whether the opinion came by the deadline."""

        case_id: str
        text: str
        at: datetime
        on: date
        by: str
        unit_id: str | None
        on_time: bool | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(leadership=None, unit_id=None, on_time=None, recorded_as_version=1)

    @event(OpinionSubmitted)
    def _opinion_submitted(self, case_id: str, text: str, at: datetime, on: date, by: str,
                           leadership: dict[str, Any] | None, unit_id: str | None,
                           on_time: bool | None) -> None:
        self.opinion = {"text": text, "at": at.isoformat(), "submitted_on": on, "by": by}
        self.status = "replied"

    def reply(self, result_class: str, text: str, commitment_date: date | None,
              on: date, at: datetime, by: str, contact_required: bool) -> None:
        if self.role != "lead":
            raise RuleViolation("a co-handling unit does not reply; it sends its opinion to the "
                                "lead unit (POST /api/v1/tasks/{task_id}/opinion)")
        self._require_active("replied to")
        if contact_required and not self.contacts and self.contact_waiver is None:
            raise ContactFirst("contact the deputy before replying (办前联系): record the "
                               "contact, or waive it with a reason")
        self._replied(case_id=self.case_id, unit_id=self.unit_id, result_class=result_class, text=text,
                      commitment_date=commitment_date, round=self.round, replied_on=on,
                      on_time=on <= self.deadline, at=at, by=by, leadership=self.leadership)

    class Replied(Published):
        case_id: str
        unit_id: str
        result_class: str
        text: str
        commitment_date: date | None
        round: int
        replied_on: date
        on_time: bool
        at: datetime
        by: str

    @event(Replied)
    def _replied(self, case_id: str, unit_id: str, result_class: str, text: str, commitment_date: date | None,
                 round: int, replied_on: date, on_time: bool, at: datetime, by: str,
                 leadership: dict[str, Any] | None) -> None:
        self.replies.append({"round": round, "result_class": result_class, "text": text,
                             "commitment_date": commitment_date, "replied_on": replied_on,
                             "on_time": on_time, "at": at.isoformat(), "by": by})
        self.status = "replied"

    def reopen(self, round: int, deadline: date, reason: str, at: datetime) -> None:
        if self.status == "withdrawn":
            raise RuleViolation("a withdrawn task cannot be reopened")
        self._reopened(case_id=self.case_id, round=round, deadline=deadline, reason=reason, at=at)

    @event("Reopened")
    def _reopened(self, case_id: str, round: int, deadline: date, reason: str, at: datetime) -> None:
        self.round = round
        self.deadline = deadline
        self.deadlines.append({"from": at.date().isoformat(), "deadline": deadline})
        self.status = "signed_for" if self.signed_for_at else "open"
        self.closed_on = None

    def change_deadline(self, deadline: date, paused: bool, reason: str | None,
                        at: datetime) -> None:
        """Assignment paused or resumed the clock: while paused no warning is raised."""
        if self.status in ("withdrawn", "closed"):
            return
        self._deadline_changed(case_id=self.case_id, deadline=deadline, paused=paused,
                               reason=reason, at=at)

    @event("DeadlineChanged")
    def _deadline_changed(self, case_id: str, deadline: date, paused: bool, reason: str | None,
                          at: datetime) -> None:
        self.paused = paused
        if deadline != self.deadline:
            self.deadline = deadline
            self.deadlines.append({"from": at.date().isoformat(), "deadline": deadline})

    def raise_warning(self, level: str, at: datetime) -> None:
        if self.has_warning(level):
            raise AlreadyDone(f"{level} warning already raised for {self.deadline}")
        self._warning_raised(case_id=self.case_id, unit_id=self.unit_id, level=level,
                             deadline=self.deadline, at=at, leadership=self.leadership)

    class WarningRaised(Published):
        case_id: str
        unit_id: str
        level: str
        deadline: date
        at: datetime

    @event(WarningRaised)
    def _warning_raised(self, case_id: str, unit_id: str, level: str, deadline: date, at: datetime,
                        leadership: dict[str, Any] | None) -> None:
        self.warnings.append(f"{level}@{deadline.isoformat()}")

    def escalate(self, escalated_to: str, at: datetime) -> None:
        if self.is_escalated():
            raise AlreadyDone(f"already escalated for the deadline {self.deadline}")
        self._escalated(case_id=self.case_id, escalated_to=escalated_to, deadline=self.deadline,
                        at=at, leadership=self.leadership)

    class Escalated(Published):
        case_id: str
        escalated_to: str
        deadline: date
        at: datetime

    @event(Escalated)
    def _escalated(self, case_id: str, escalated_to: str, deadline: date, at: datetime,
                   leadership: dict[str, Any] | None) -> None:
        self.escalations.append(deadline.isoformat())
        self.escalated_to = escalated_to

    def note_leadership(self, leadership: dict[str, Any]) -> None:
        if self.leadership != leadership:
            self._leadership_noted(case_id=self.case_id, leadership=leadership)

    @event("LeadershipNoted")
    def _leadership_noted(self, case_id: str, leadership: dict[str, Any]) -> None:
        self.leadership = leadership

    def withdraw(self, reason: str, replaced_by: str | None, at: datetime) -> None:
        if self.status == "withdrawn":
            return
        self._withdrawn(case_id=self.case_id, reason=reason, replaced_by=replaced_by, at=at)

    @event("Withdrawn")
    def _withdrawn(self, case_id: str, reason: str, replaced_by: str | None, at: datetime) -> None:
        self.status = "withdrawn"
        self.withdrawn_reason = reason
        self.replaced_by = replaced_by

    def close(self, on: date, at: datetime) -> None:
        if self.status not in ("withdrawn", "closed"):
            self._closed(case_id=self.case_id, closed_on=on, at=at)

    @event("Closed")
    def _closed(self, case_id: str, closed_on: date, at: datetime) -> None:
        self.status = "closed"
        self.closed_on = closed_on

    def deadline_on(self, day: date) -> date:
        """The deadline in force on ``day`` (re-handling rounds move it)."""
        current = self.deadlines[0]["deadline"]
        for entry in self.deadlines:
            if date.fromisoformat(entry["from"]) <= day:
                current = entry["deadline"]
        return current


class SupervisedCase(Aggregate):
    """A suggestion (or citizen message) followed from its first task to close-out.

    Its id is the case id itself (intake's suggestion or message id).
    """

    @staticmethod
    def create_id(case_id: str) -> UUID:
        return UUID(case_id)

    @event("Opened")
    def __init__(self, case_id: str, case_kind: str) -> None:
        self.case_id = case_id
        self.case_kind = case_kind
        self.lead_deputy_id: str | None = None
        self.co_signer_ids: list[str] = []
        self.merged_sources: dict[str, list[str]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}  # task id → {unit_id, role, active}
        self.designee: dict[str, Any] | None = None
        self.round = 1
        self.replies: list[dict[str, Any]] = []
        self.ratings: list[dict[str, Any]] = []
        self.lapsed: list[dict[str, Any]] = []
        self.reviews: dict[str, dict[str, Any]] = {}
        self.rehandling: list[dict[str, Any]] = []
        self.escalations: list[dict[str, Any]] = []
        self.closed_on: date | None = None
        self.closed_at: datetime | None = None
        # files recorded on the case (shared/blobs.py): the reply letter (答复函) of a round
        self.attachments: list[dict[str, Any]] = []

    # --- queries --------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.closed_on is not None

    def reply_letters(self, round: int) -> list[dict[str, Any]]:
        return [a for a in getattr(self, "attachments", [])
                if a["purpose"] == "reply_letter" and a["round"] == round and not a["erased"]]

    def raters(self) -> list[str]:
        """Who rates the reply: the lead deputy, co-signers and merged sources' deputies."""
        if self.case_kind == "message":
            return [CITIZEN]
        found: list[str] = []
        for d in [self.lead_deputy_id, *self.co_signer_ids,
                  *(d for ds in self.merged_sources.values() for d in ds)]:
            if d and d not in found:
                found.append(d)
        return found

    @property
    def lead_task_id(self) -> str | None:
        for task_id, t in self.tasks.items():
            if t["role"] == "lead" and t["active"]:
                return task_id
        return None

    def current_reply(self) -> dict[str, Any] | None:
        current = [r for r in self.replies if r["round"] == self.round]
        return current[-1] if current else None

    def first_reply(self) -> dict[str, Any] | None:
        return self.replies[0] if self.replies else None

    def ratings_of_round(self, round: int) -> dict[str, str]:
        return {r["deputy_id"]: r["rating"] for r in self.ratings if r["round"] == round}

    def lapsed_of_round(self, round: int) -> set[str]:
        return {d for entry in self.lapsed if entry["round"] == round for d in entry["deputy_ids"]}

    def unrated(self) -> list[str]:
        rated = self.ratings_of_round(self.round)
        lapsed = self.lapsed_of_round(self.round)
        return [d for d in self.raters() if d not in rated and d not in lapsed]

    def due_reviews(self, today: date) -> list[dict[str, Any]]:
        return [r for r in self.reviews.values() if r["outcome"] is None and r["due_on"] <= today]

    def missing_for_close_out(self, today: date,
                              reply_letter_required: bool = False) -> list[dict[str, str]]:
        """What close-out still needs; empty when the case may be closed. Where the rules
        require it (``reply_letter_required``), the signed reply letter (答复函) of the round's
        reply too."""
        missing = []
        if self.current_reply() is None:
            what = "the lead unit's reply" if self.round == 1 else \
                f"the lead unit's reply in re-handling round {self.round}"
            missing.append({"item": "reply", "detail": f"{what} is missing"})
        elif reply_letter_required and not self.reply_letters(self.round):
            missing.append({"item": "reply_letter",
                            "detail": "the signed reply letter (答复函) of the lead unit's "
                                      "reply is not attached"})
        elif self.unrated():
            missing.append({"item": "rating",
                            "detail": "no rating yet (and the rating period has not ended) from: "
                                      + ", ".join(self.unrated())})
        for review in self.due_reviews(today):
            missing.append({"item": "follow_up_review",
                            "detail": f"follow-up review {review['review_id']} was due on "
                                      f"{review['due_on'].isoformat()} and has no outcome"})
        return missing

    # --- events from upstream ---------------------------------------------------------------

    @event("DeputiesKnown")
    def deputies_known(self, lead_deputy_id: str, co_signer_ids: list[str]) -> None:
        self.lead_deputy_id = lead_deputy_id
        self.co_signer_ids = list(co_signer_ids)

    @event("MergedSourceAdded")
    def merged_source_added(self, source_id: str, deputy_ids: list[str]) -> None:
        self.merged_sources[source_id] = list(deputy_ids)

    @event("MergedSourceRemoved")
    def merged_source_removed(self, source_id: str) -> None:
        self.merged_sources.pop(source_id, None)

    @event("TaskLinked")
    def task_linked(self, task_id: str, unit_id: str, role: str) -> None:
        self.tasks[task_id] = {"unit_id": unit_id, "role": role, "active": True}

    @event("TaskUnlinked")
    def task_unlinked(self, task_id: str, replaced_by: str | None) -> None:
        if task_id in self.tasks:
            self.tasks[task_id]["active"] = False

    @event("LeadershipDesignated")
    def leadership_designated(self, designee_id: str, designee_name: str, designee_kind: str,
                              mode: str) -> None:
        self.designee = {"id": designee_id, "name": designee_name, "kind": designee_kind,
                         "mode": mode}

    @property
    def leadership(self) -> dict[str, Any] | None:
        """The designation in the shape of the events' ``leadership`` flag."""
        d = self.designee
        return d and {"designee_id": d["id"], "designee_name": d["name"],
                      "designee_kind": d["kind"], "mode": d["mode"]}

    # --- handling -------------------------------------------------------------------------

    @event("ReplyRecorded")
    def reply_recorded(self, task_id: str, unit_id: str, result_class: str,
                       commitment_date: date | None, round: int, replied_on: date,
                       on_time: bool) -> None:
        self.replies.append({"task_id": task_id, "unit_id": unit_id, "result_class": result_class,
                             "commitment_date": commitment_date, "round": round,
                             "replied_on": replied_on, "on_time": on_time})

    def rate(self, deputy_id: str, rating: str, comment: str | None, on: date,
             at: datetime | None = None, attitude: str | None = None) -> None:
        if self.is_closed:
            raise RuleViolation("the case is closed; ratings are final")
        if deputy_id not in self.raters():
            raise RuleViolation(f"{deputy_id} is not a deputy of this suggestion")
        reply = self.current_reply()
        if reply is None:
            raise RuleViolation(f"there is no reply to rate in round {self.round} yet")
        if deputy_id in self.ratings_of_round(self.round):
            raise AlreadyDone(f"{deputy_id} already rated round {self.round}")
        self._rated(deputy_id=deputy_id, rating=rating, attitude=attitude, comment=comment,
                    round=self.round, result_class=reply["result_class"], rated_on=on,
                    rated_at=at, leadership=self.leadership)

    class Rated(Published):
        """A rating of the current round's reply: the result (``rating``) and, from version
        3, the handling attitude (``attitude``, 办理态度; None where the rater gave none)."""

        class_version = 3

        deputy_id: str
        rating: str
        attitude: str | None
        comment: str | None
        round: int
        result_class: str
        rated_on: date
        rated_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("rated_at", None)
            state.update(leadership=None, recorded_as_version=1)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["attitude"] = None  # rated before the attitude was asked

    @event(Rated)
    def _rated(self, deputy_id: str, rating: str, attitude: str | None, comment: str | None,
               round: int, result_class: str, rated_on: date, rated_at: datetime | None,
               leadership: dict[str, Any] | None) -> None:
        self.ratings.append({"deputy_id": deputy_id, "rating": rating, "attitude": attitude,
                             "comment": comment, "round": round, "result_class": result_class,
                             "rated_on": rated_on, "rated_at": rated_at})

    def rating_lapsed(self, deputy_ids: list[str], round: int) -> None:
        self._rating_lapsed(deputy_ids=deputy_ids, round=round, leadership=self.leadership)

    class RatingLapsed(Published):
        deputy_ids: list[str]
        round: int

    @event(RatingLapsed)
    def _rating_lapsed(self, deputy_ids: list[str], round: int,
                       leadership: dict[str, Any] | None) -> None:
        self.lapsed.append({"deputy_ids": list(deputy_ids), "round": round})

    def rehandling_started(self, round: int, task_id: str, unit_id: str, deadline: date,
                           reason: str, started_on: date) -> None:
        self._rehandling_started(round=round, task_id=task_id, unit_id=unit_id,
                                 deadline=deadline, reason=reason, started_on=started_on,
                                 leadership=self.leadership)

    class RehandlingStarted(Published):
        round: int
        task_id: str
        unit_id: str
        deadline: date
        reason: str
        started_on: date

    @event(RehandlingStarted)
    def _rehandling_started(self, round: int, task_id: str, unit_id: str, deadline: date,
                            reason: str, started_on: date,
                            leadership: dict[str, Any] | None) -> None:
        self.round = round
        self.closed_on = None
        self.rehandling.append({"round": round, "task_id": task_id, "unit_id": unit_id,
                                "deadline": deadline, "reason": reason, "started_on": started_on})

    def escalated(self, reason: str, escalated_to: str, round: int) -> None:
        self._escalated(reason=reason, escalated_to=escalated_to, round=round,
                        leadership=self.leadership)

    class Escalated(Published):
        reason: str
        escalated_to: str
        round: int

    @event(Escalated)
    def _escalated(self, reason: str, escalated_to: str, round: int,
                   leadership: dict[str, Any] | None) -> None:
        self.escalations.append({"reason": reason, "escalated_to": escalated_to, "round": round})

    def review_scheduled(self, review_id: str, due_on: date, reason: str, round: int) -> None:
        self._review_scheduled(review_id=review_id, due_on=due_on, reason=reason, round=round,
                               leadership=self.leadership)

    class ReviewScheduled(Published):
        review_id: str
        due_on: date
        reason: str
        round: int

    @event(ReviewScheduled)
    def _review_scheduled(self, review_id: str, due_on: date, reason: str, round: int,
                          leadership: dict[str, Any] | None) -> None:
        self.reviews[review_id] = {"review_id": review_id, "due_on": due_on, "reason": reason,
                                   "round": round, "outcome": None, "note": None}

    def record_review(self, review_id: str, outcome: str, note: str, reopened: bool,
                      on: date | None = None) -> None:
        review = self.reviews.get(review_id)
        if review is None:
            raise RuleViolation(f"no follow-up review {review_id} on this case")
        if review["outcome"] is not None:
            raise AlreadyDone(f"follow-up review {review_id} was already recorded")
        self._review_recorded(review_id=review_id, outcome=outcome, note=note, reopened=reopened,
                              leadership=self.leadership, recorded_on=on)

    class ReviewRecorded(Published):
        """Version 3: ``recorded_on``, the day the outcome was recorded (the whole-term list
        of reviews, 本届以来回头看); events recorded before it have None (the read model then
        takes the day of the event's timestamp)."""

        class_version = 3

        review_id: str
        outcome: str
        note: str
        reopened: bool
        recorded_on: date | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["recorded_on"] = None

    @event(ReviewRecorded)
    def _review_recorded(self, review_id: str, outcome: str, note: str, reopened: bool,
                         leadership: dict[str, Any] | None, recorded_on: date | None) -> None:
        self.reviews[review_id].update(outcome=outcome, note=note, reopened=reopened,
                                       recorded_on=recorded_on)

    def record_attachment(self, attachment: dict[str, Any], task_id: str | None,
                          round: int) -> None:
        """A file recorded on the case (its hash in the event: the case's chain covers it)."""
        if self.is_closed:
            raise AlreadyDone("the case is closed out; no file can be attached any more")
        self._attachment_recorded(attachment=attachment, task_id=task_id, round=round)

    @event("AttachmentRecorded")
    def _attachment_recorded(self, attachment: dict[str, Any], task_id: str | None,
                             round: int) -> None:
        if not hasattr(self, "attachments"):
            self.attachments = []
        self.attachments.append({**attachment, "task_id": task_id, "round": round,
                                 "erased": False})

    def close(self, today: date, at: datetime | None = None,
              reply_letter_required: bool = False) -> None:
        if self.is_closed:
            raise AlreadyDone("the case is already closed")
        missing = self.missing_for_close_out(today, reply_letter_required)
        if missing:
            raise CannotCloseOut("cannot close out: " + "; ".join(m["detail"] for m in missing))
        reply = self.current_reply()
        assert reply is not None
        ratings: dict[str, str | None] = {d: None for d in self.raters()}
        ratings.update(self.ratings_of_round(self.round))
        given = [r for r in ratings.values() if r is not None]
        first = self.first_reply()
        self._closed(result_class=reply["result_class"], ratings=ratings,
                     all_satisfied=bool(given) and all(r == "satisfied" for r in given),
                     replied_on_time=bool(first and first["on_time"]), closed_on=today,
                     closed_at=at, leadership=self.leadership, case_kind=self.case_kind,
                     lead_deputy_id=self.lead_deputy_id, co_signer_ids=list(self.co_signer_ids),
                     rounds=self.round)

    class Closed(Published):
        """Version 2 also carries the case's kind, deputies and number of rounds."""

        result_class: str
        ratings: dict[str, str | None]
        all_satisfied: bool
        replied_on_time: bool
        closed_on: date
        closed_at: datetime | None
        case_kind: str | None
        lead_deputy_id: str | None
        co_signer_ids: list[str] | None
        rounds: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("closed_at", None)
            state.update(leadership=None, case_kind=None, lead_deputy_id=None,
                         co_signer_ids=None, rounds=None, recorded_as_version=1)

    @event(Closed)
    def _closed(self, result_class: str, ratings: dict[str, str | None], all_satisfied: bool,
                replied_on_time: bool, closed_on: date, closed_at: datetime | None,
                leadership: dict[str, Any] | None, case_kind: str | None,
                lead_deputy_id: str | None, co_signer_ids: list[str] | None,
                rounds: int | None) -> None:
        self.closed_on = closed_on
        self.closed_at = closed_at
        self.final = {"result_class": result_class, "ratings": ratings,
                      "all_satisfied": all_satisfied, "replied_on_time": replied_on_time}


class Bulletin(Aggregate):
    """A monthly dispatch (月度通报) or quarterly bulletin (季度通报), frozen when published:
    its figures are recorded in its one event, so later events never change it."""

    @staticmethod
    def create_id(period: str) -> UUID:
        from uuid import NAMESPACE_URL, uuid5

        return uuid5(NAMESPACE_URL, f"duty-liaison:bulletin:{period}")

    @event("Published")
    def __init__(self, period: str, kind: str, start: date, end: date, published_at: datetime,
                 published_by: str, board: dict[str, Any], stats: dict[str, Any]) -> None:
        self.period = period
        self.kind = kind
        self.start = start
        self.end = end
        self.published_at = published_at
        self.published_by = published_by
        self.board = board
        self.stats = stats

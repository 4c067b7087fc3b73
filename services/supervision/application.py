"""Supervision's commands and queries over its event store."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

import yaml
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, Field

from shared.calendar import CalendarNotConfigured, ReplicaCalendar, WorkingCalendar
from shared.clock import CHINA_TZ, Clock, clock_from_settings
from shared.contracts.assignment import (
    LeadershipDesignatedV1,
    TaskAssignedV1,
    TaskDeadlineChangedV1,
    TaskWithdrawnV1,
)
from shared.contracts.intake import (
    MessageRatedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
)
from shared.eventstore import Actor, ServiceApplication
from shared.read_store import ViewStore
from shared.blobs import AttachmentIndex, blob_store, described
from shared.contracts.requests.supervision import (  # noqa: F401  (tests import them here)
    AttachReplyLetter,
    CaseRef,
    GetReplyTemplate,
    ListReplyTemplates,
    RateCase,
    RecordReview,
    RemoveReplyTemplate,
    ReplyTemplate,
    ReplyToTask,
    SetReplyTemplate,
    SubmitOpinion,
    TaskNote,
    TaskRef,
    WaiveContact,
)
from shared.paging import page_of_list
from shared.rpc import Conflict, Forbidden, Invalid, NotFound
from shared.reference import ReferenceData
from shared.settings import ServiceSettings, load_config

from services.supervision import views
from services.supervision.domain import CITIZEN, SupervisedCase, SupervisedTask
from services.supervision.read_models import last_day_before
from services.supervision.reply_templates import (DEFAULT, InvalidTemplate, ReplyTemplateBook,
                                                  check_template, fill, history_of,
                                                  variables_in)

log = logging.getLogger(__name__)


class SupervisionRules(BaseModel):
    """config/supervision.yaml."""

    warning_working_days: int = Field(5, ge=0)
    message_warning_working_days: int = Field(1, ge=0)
    escalation_overdue_working_days: int = Field(5, ge=0)
    rehandling_working_days: int = Field(20, ge=1)
    max_rehandling_rounds: int = Field(2, ge=0)
    rating_period_days: int = Field(30, ge=1)
    review_after_basically_satisfied_days: int = Field(90, ge=1)
    contact_required_before_reply: bool = True
    # close-out needs the signed reply letter (答复函) of the round's reply attached
    reply_letter_required: bool = False
    escalate_to_by_default: str = "office"
    # the seed of the reply templates (答复模板): recorded as the ReplyTemplateBook's creation
    # when the log has none; afterwards the book is the record (services/supervision/
    # reply_templates.py) and this is not read again
    reply_templates: dict[str, dict[str, str]] = Field(default_factory=dict)

    @classmethod
    def load(cls, config_dir: Path) -> SupervisionRules:
        with (config_dir / "supervision.yaml").open(encoding="utf-8") as f:
            return cls.model_validate(yaml.safe_load(f) or {})


class Days:
    """Working-day arithmetic; a year without a configured holiday schedule falls back to
    Monday–Friday (logged once), so the deadline clock keeps running."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar
        self._warned: set[int] = set()

    def _fallback(self, exc: CalendarNotConfigured) -> None:
        if exc.year not in self._warned:
            self._warned.add(exc.year)
            log.warning("%s — counting Monday to Friday as working days meanwhile", exc)

    def add(self, start: date, n: int) -> date:
        try:
            return self.calendar.add_working_days(start, n)
        except CalendarNotConfigured as exc:
            self._fallback(exc)
            d = start
            while n:
                d += timedelta(days=1)
                n -= d.weekday() < 5
            return d

    def between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative when b is before a."""
        if b < a:
            return -self.between(b, a)
        try:
            return self.calendar.working_days_between(a, b)
        except CalendarNotConfigured as exc:
            self._fallback(exc)
            return sum(1 for i in range(1, (b - a).days + 1) if (a + timedelta(days=i)).weekday() < 5)


# The requests (ReplyToTask, RateCase...) are declared in shared/contracts/requests/supervision.py.


def _china_today(clock: Clock) -> date:
    return clock.now().astimezone(CHINA_TZ).date()


class SupervisionApplication(ServiceApplication):
    name = "supervision"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.rules = SupervisionRules.load(settings.config_dir)
        # The read-model database (shared/read_store.py), given by the runtime's builder:
        # closed with the application, so an application closed on its own (tests, tools)
        # leaves no connection open.
        self.read_store: ViewStore | None = None
        super().__init__(settings)
        # Units (their names on bulletins), deputies and stations (the event validator): this
        # service's replica of the registry's records (shared/reference.py), seeded from
        # config/ and followed in its own log; updated in place.
        self.reference = ReferenceData(self, settings)
        self.units = self.reference.table("unit")
        self.reference.catch_up()
        # the working-day calendars: the replica's (a registry change counts from then on)
        self.days = Days(ReplicaCalendar(self.reference))
        # files recorded on cases (shared/blobs.py): the reply letters
        self.blobs = blob_store(settings)
        self.attachments = AttachmentIndex(self, [SupervisedCase.AttachmentRecorded])
        # category codes and names (config/categories.yaml), until the replica holds them
        self._config_categories = {c["code"]: c.get("name_zh", c["code"])
                                   for c in load_config(settings, "categories")}

    def close(self) -> None:
        super().close()
        if self.read_store is not None:
            self.read_store.close()

    def today(self) -> date:
        return _china_today(self.clock)

    # --- colours --------------------------------------------------------------------------

    def task_colour(self, task: SupervisedTask, day: date | None = None) -> str:
        """green on time, yellow near the deadline, red overdue, closed (views.py)."""
        return views.task_colour(self, task, day)

    def warning_days(self, task: SupervisedTask) -> int:
        """Citizen messages have limits of days, not months: their warning comes later."""
        return self.warning_days_of(task.case_kind)

    def warning_days_of(self, case_kind: str) -> int:
        if case_kind == "message":
            return self.rules.message_warning_working_days
        return self.rules.warning_working_days

    def escalation_due_until(self, today: date) -> date:
        """A task whose deadline is on or before this day is overdue by more than the
        escalation's working days today."""
        return last_day_before(today, self.rules.escalation_overdue_working_days,
                               self.days.between)

    # what an actor is shown (services/supervision/views.py)

    def task_view(self, task: SupervisedTask) -> dict[str, Any]:
        return views.task_view(self, task)

    def case_view(self, case: SupervisedCase) -> dict[str, Any]:
        return views.case_view(self, case)

    case_status = staticmethod(views.case_status)

    # --- loading and saving ---------------------------------------------------------------

    def _task(self, task_id: str, actor: Actor | None = None) -> SupervisedTask:
        try:
            task: SupervisedTask = self.repository.get(SupervisedTask.create_id(task_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no task {task_id}") from None
        if actor is not None and not self.may_see_task(task, actor):
            raise NotFound(f"no task {task_id}")  # another party's: existence not told
        return task

    def may_see_task(self, task: SupervisedTask, actor: Actor) -> bool:
        """The office, leaders and the system see every task; a unit its own; a deputy the
        tasks of the cases they are a deputy of (lead deputy, co-signer, or of a suggestion
        merged into the case)."""
        if actor.role in ("office", "leader", "system"):
            return True
        if actor.role == "unit":
            return bool(actor.unit_id) and actor.unit_id == task.unit_id
        if actor.role == "deputy":
            return bool(actor.deputy_id) and self.is_deputy_of(task.case_id, actor.deputy_id)
        return False

    def is_deputy_of(self, case_id: str, deputy_id: str) -> bool:
        try:
            case = self._case(case_id)
        except NotFound:
            return False
        return case.case_kind == "suggestion" and deputy_id in case.raters()

    def _case(self, case_id: str) -> SupervisedCase:
        try:
            return self.repository.get(SupervisedCase.create_id(case_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no supervised case {case_id} (not assigned yet?)") from None

    def _case_or_new(self, case_id: str, kind: str = "suggestion") -> SupervisedCase:
        try:
            return self.repository.get(SupervisedCase.create_id(case_id))
        except AggregateNotFoundError:
            return SupervisedCase(case_id=case_id, case_kind=kind)

    def _save(self, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict("the case changed meanwhile; reload it and try again") from None

    # --- upstream events ------------------------------------------------------------------

    def on_task_assigned(self, event: TaskAssignedV1) -> list[Any]:
        try:
            self.repository.get(UUID(event.task_id))
            return []
        except AggregateNotFoundError:
            pass
        case = self._case_or_new(event.case_id, event.case_kind)
        task = SupervisedTask(
            task_id=event.task_id, case_id=event.case_id, unit_id=event.unit_id, role=event.role,
            deadline=event.deadline, opened_at=event.assigned_at, title=event.title,
            category=event.category, urgency=event.urgency, number=event.number,
            case_kind=event.case_kind, leadership=case.leadership,
        )
        case.task_linked(task_id=event.task_id, unit_id=event.unit_id, role=event.role)
        if case.is_closed or case.round > 1:
            log.warning("task %s assigned to case %s after it was %s", event.task_id,
                        event.case_id, "closed" if case.is_closed else "reopened")
        return [task, case]

    def on_task_withdrawn(self, event: TaskWithdrawnV1) -> list[Any]:
        try:
            task = self._task(event.task_id)
        except NotFound:
            return []  # never opened here: nothing to stop
        task.withdraw(reason=event.reason, replaced_by=event.replaced_by_task_id, at=event.occurred_at)
        case = self._case_or_new(event.case_id, task.case_kind)
        case.task_unlinked(task_id=event.task_id, replaced_by=event.replaced_by_task_id)
        return [task, case]

    def on_task_deadline_changed(self, event: TaskDeadlineChangedV1) -> list[Any]:
        try:
            task = self._task(event.task_id)
        except NotFound:
            return []
        task.change_deadline(deadline=event.deadline, paused=event.paused, reason=event.reason,
                             at=self.clock.now())
        return [task]

    def on_leadership_designated(self, event: LeadershipDesignatedV1) -> list[Any]:
        case = self._case_or_new(event.case_id)
        case.leadership_designated(designee_id=event.designee_id, designee_name=event.designee_name,
                                   designee_kind=event.designee_kind, mode=event.mode)
        tasks = []
        for task_id in [t for t, link in case.tasks.items() if link["active"]]:
            try:  # the task's later events are flagged with it (v2)
                task = self._task(task_id)
            except NotFound:
                continue
            task.note_leadership(case.leadership)
            tasks.append(task)
        return [case, *tasks]

    def on_suggestion_registered(self, event: SuggestionRegisteredV1) -> list[Any]:
        case = self._case_or_new(event.case_id)
        case.deputies_known(lead_deputy_id=event.lead_deputy_id, co_signer_ids=event.co_signer_ids)
        return [case]

    def on_suggestion_merged(self, event: SuggestionMergedV1) -> list[Any]:
        target = self._case_or_new(event.into_suggestion_id)
        target.merged_source_added(source_id=event.case_id,
                                   deputy_ids=[event.lead_deputy_id, *event.co_signer_ids])
        return [target]

    def on_suggestion_merge_undone(self, event: SuggestionMergeUndoneV1) -> list[Any]:
        target = self._case_or_new(event.into_suggestion_id)
        target.merged_source_removed(source_id=event.case_id)
        return [target]

    def on_message_rated(self, event: MessageRatedV1) -> list[Any]:
        try:
            case = self._case(event.case_id)
        except NotFound:
            return []  # answered by a deputy or converted: no unit task to follow here
        if case.current_reply() is None or CITIZEN in case.ratings_of_round(case.round) \
                or case.is_closed:
            log.info("citizen rating of %s ignored: nothing to rate in round %s",
                     event.case_id, case.round)
            return []
        return self._apply_rating(case, CITIZEN, event.rating, None)

    # --- task handling (units) ------------------------------------------------------------

    def _unit_task(self, task_id: str, actor: Actor) -> SupervisedTask:
        if actor.role not in ("unit", "office"):
            raise Forbidden("only the handling unit (or the office) acts on a task")
        return self._task(task_id, actor)

    def _by(self, actor: Actor) -> str:
        return actor.unit_id or actor.username

    def acknowledge(self, ref: TaskRef, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(ref.task_id, actor)
        self._rule(task.sign_for, at=self.clock.now(), by=self._by(actor))
        self._save(task)
        return self.task_view(task)

    def record_contact(self, cmd: TaskNote, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(cmd.task_id, actor)
        self._rule(task.record_contact, note=cmd.note, at=self.clock.now(), by=self._by(actor))
        self._save(task)
        return self.task_view(task)

    def waive_contact(self, cmd: WaiveContact, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(cmd.task_id, actor)
        self._rule(task.waive_contact, reason=cmd.reason, at=self.clock.now(), by=self._by(actor))
        self._save(task)
        return self.task_view(task)

    def note_progress(self, cmd: TaskNote, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(cmd.task_id, actor)
        self._rule(task.note_progress, note=cmd.note, at=self.clock.now(), by=self._by(actor))
        self._save(task)
        return self.task_view(task)

    def submit_opinion(self, cmd: SubmitOpinion, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(cmd.task_id, actor)
        self._rule(task.submit_opinion, text=cmd.text, at=self.clock.now(), by=self._by(actor))
        self._save(task)
        return self.task_view(task)

    def reply(self, cmd: ReplyToTask, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(cmd.task_id, actor)
        today = self.today()
        if cmd.commitment_date is not None and cmd.commitment_date < today:
            raise Invalid.field(["body", "commitment_date"], "the commitment date is in the past")
        case = self._case(task.case_id)
        self._rule(task.reply, result_class=cmd.result_class, text=cmd.text,
                   commitment_date=cmd.commitment_date, on=today, at=self.clock.now(),
                   by=self._by(actor), contact_required=self.rules.contact_required_before_reply
                   and task.case_kind == "suggestion")
        case.reply_recorded(task_id=str(task.id), unit_id=task.unit_id,
                            result_class=cmd.result_class, commitment_date=cmd.commitment_date,
                            round=task.round, replied_on=today, on_time=today <= task.deadline)
        if cmd.reply_letter is not None:
            letter = described(self.blobs, cmd.reply_letter.sha256, cmd.reply_letter.name,
                               "reply_letter", ["body", "reply_letter", "sha256"])
            case.record_attachment(attachment=letter, task_id=str(task.id), round=task.round)
        if cmd.result_class == "B":
            case.review_scheduled(review_id=f"r{len(case.reviews) + 1}", due_on=cmd.commitment_date,
                                  reason="class_b_commitment", round=task.round)
        self._save(task, case)
        return self.task_view(task)

    def attach_reply_letter(self, cmd: AttachReplyLetter, actor: Actor) -> dict[str, Any]:
        task = self._unit_task(cmd.task_id, actor)
        case = self._case(task.case_id)
        purpose = "reply_letter" if task.role == "lead" else "opinion_letter"
        self._rule(case.record_attachment,
                   attachment=described(self.blobs, cmd.attachment.sha256,
                                        cmd.attachment.name, purpose,
                                        ["body", "attachment", "sha256"]),
                   task_id=str(task.id), round=task.round)
        self._save(case)
        return self.case_view(case)

    def attachment_visible(self, aggregate_id: str, actor: Actor) -> bool:
        """A case's files: for whoever may see the case (get_case decides)."""
        try:
            self.get_case(CaseRef.model_construct(case_id=aggregate_id), actor)
        except NotFound:
            return False
        return True

    # --- rating, re-handling, reviews, close-out (deputies, office) ----------------------

    def rate(self, cmd: RateCase, actor: Actor) -> dict[str, Any]:
        if actor.role != "deputy" or not actor.deputy_id:
            raise Forbidden("only the suggestion's deputies rate it")
        case = self._case(cmd.case_id)
        if case.case_kind != "suggestion":
            raise Conflict("a citizen message is rated by the citizen with the follow-up token")
        if actor.deputy_id not in case.raters():
            raise Forbidden(f"{actor.deputy_id} is not a deputy of this suggestion")
        self._save(*self._apply_rating(case, actor.deputy_id, cmd.rating, cmd.comment,
                                       cmd.attitude))
        return self.case_view(case)

    def _apply_rating(self, case: SupervisedCase, rater: str, rating: str,
                      comment: str | None, attitude: str | None = None) -> list[Any]:
        today = self.today()
        self._rule(case.rate, deputy_id=rater, rating=rating, comment=comment, on=today,
                   at=self.clock.now(), attitude=attitude)
        changed: list[Any] = [case]
        if rating == "unsatisfied":
            changed += self._reopen(case, "unsatisfied")
        elif rating == "basically_satisfied":
            due_on = self.review_due_after_basically_satisfied(case, today)
            if not any(r["round"] == case.round and r["due_on"] == due_on
                       and r["outcome"] is None for r in case.reviews.values()):
                case.review_scheduled(review_id=f"r{len(case.reviews) + 1}", due_on=due_on,
                                      reason="basically_satisfied", round=case.round)
        return changed

    def review_due_after_basically_satisfied(self, case: SupervisedCase, today: date) -> date:
        """A basically-satisfied rating's follow-up review (回头看) is due at the commitment date
        of the reply rated (a class-B reply has one); without one, the configured default
        (``review_after_basically_satisfied_days`` calendar days after the rating).

        A pending review of the same round already due that day (the class-B reply's own, or
        another deputy's rating) covers it: no second review is scheduled for the same day."""
        reply = case.current_reply()
        if reply is not None and reply.get("commitment_date") is not None:
            return reply["commitment_date"]
        return today + timedelta(days=self.rules.review_after_basically_satisfied_days)

    def _reopen(self, case: SupervisedCase, reason: str) -> list[Any]:
        """Start a re-handling round, or escalate when the rounds are used up."""
        if len(case.rehandling) >= self.rules.max_rehandling_rounds:
            case.escalated(reason="rehandling_cap", escalated_to=self._escalation_target(case),
                           round=case.round)
            return []
        lead_id = case.lead_task_id
        if lead_id is None:
            raise Conflict("the case has no active lead task to reopen")
        task = self._task(lead_id)
        today = self.today()
        deadline = self.days.add(today, self.rules.rehandling_working_days)
        round = case.round + 1
        case.rehandling_started(round=round, task_id=lead_id, unit_id=task.unit_id,
                                deadline=deadline, reason=reason, started_on=today)
        task.reopen(round=round, deadline=deadline, reason=reason, at=self.clock.now())
        return [task]

    def _escalation_target(self, case: SupervisedCase) -> str:
        return case.designee["id"] if case.designee else self.rules.escalate_to_by_default

    def record_review(self, cmd: RecordReview, actor: Actor) -> dict[str, Any]:
        if actor.role not in ("office", "leader"):
            raise Forbidden("follow-up reviews are recorded by the office or a leader")
        case = self._case(cmd.case_id)
        reopen = cmd.outcome == "not_kept" or (cmd.outcome == "partly_kept" and bool(cmd.reopen))
        files = [described(self.blobs, f.sha256, f.name, "review_evidence",
                           ["body", "evidence_files", i, "sha256"])
                 for i, f in enumerate(cmd.evidence_files)]
        self._rule(case.record_review, review_id=cmd.review_id, outcome=cmd.outcome,
                   note=cmd.note, reopened=reopen, on=self.today())
        for attachment in files:
            case.record_attachment(attachment=attachment, task_id=None, round=case.round)
        changed: list[Any] = [case]
        if reopen:
            changed += self._reopen(case, f"review_{cmd.outcome}")
        self._save(*changed)
        return self.case_view(case)

    def close_case(self, ref: CaseRef, actor: Actor) -> dict[str, Any]:
        if actor.role != "office":
            raise Forbidden("only the office closes out a case")
        case = self._case(ref.case_id)
        missing = case.missing_for_close_out(self.today(), self.rules.reply_letter_required) \
            if not case.is_closed else []
        if missing:
            raise Conflict("the case cannot be closed out yet: "
                           + "; ".join(m["detail"] for m in missing), missing=missing,
                           errors=[{"loc": ["case", m["item"]], "msg": m["detail"]} for m in missing])
        self._rule(case.close, today=self.today(), at=self.clock.now(),
                   reply_letter_required=self.rules.reply_letter_required)
        tasks = []
        for task_id in case.tasks:
            task = self._task(task_id)
            task.close(on=self.today(), at=self.clock.now())
            tasks.append(task)
        self._save(case, *tasks)
        return self.case_view(case)

    def get_case(self, ref: CaseRef, actor: Actor) -> dict[str, Any]:
        case = self._case(ref.case_id)
        if actor.role == "unit" and not any(t["unit_id"] == actor.unit_id for t in case.tasks.values()):
            raise NotFound(f"no supervised case {ref.case_id}")
        if actor.role == "deputy" and (case.case_kind != "suggestion"
                                       or actor.deputy_id not in case.raters()):
            raise NotFound(f"no supervised case {ref.case_id}")
        if actor.role not in ("office", "leader", "system", "unit", "deputy"):
            raise NotFound(f"no supervised case {ref.case_id}")
        return self.case_view(case)

    def case_scope(self, case_id: str) -> tuple[list[Any], None]:
        """The aggregates of a case here: the case and every task it had."""
        try:
            case = self._case(case_id)
        except NotFound:
            return [], None
        return [case.id, *(UUID(t) for t in case.tasks)], None

    def get_task(self, ref: TaskRef, actor: Actor) -> dict[str, Any]:
        return self.task_view(self._task(ref.task_id, actor))

    # --- terms (届, the registry's, as replicated here) --------------------------------------

    def terms(self) -> list[dict[str, Any]]:
        """Every term known here, the latest first (what a period may select)."""
        terms = [{"id": t.get("id") or key, "name": t.get("name"), "number": t.get("number"),
                  "start": str(t.get("start")), "end": t.get("end") and str(t["end"])}
                 for key, t in dict(self.reference.table("term")).items()]
        return sorted(terms, key=lambda t: (t["start"], t["id"]), reverse=True)

    def term_range(self, term_id: str | None, loc: list[str | int],
                   ) -> tuple[dict[str, Any], date, date]:
        """A term and its days: its start to its end (an open term: to today). ``term_id``
        None: the current term (the open one, else the latest begun). 422 at ``loc`` for a
        term the registry does not have."""
        terms = dict(self.reference.table("term"))  # a copy: the registry may add one meanwhile
        today = self.today()
        if term_id is None:
            begun = [t for t in terms.values() if str(t.get("start") or "") <= today.isoformat()]
            current = [t for t in begun if not t.get("end")] or begun
            if not current:
                raise Invalid.field(loc, "no term has begun")
            term = max(current, key=lambda t: str(t["start"]))
        else:
            term = terms.get(term_id)
            if term is None:
                raise Invalid.field(loc, f"no term {term_id}")
        start = date.fromisoformat(str(term["start"]))
        end = date.fromisoformat(str(term["end"])) if term.get("end") else today
        return ({"id": term.get("id"), "name": term.get("name"), "number": term.get("number"),
                 "start": start.isoformat(), "end": term.get("end") and str(term["end"])},
                start, end)

    # --- reply templates (答复模板, services/supervision/reply_templates.py) ------------------

    def template_book(self) -> ReplyTemplateBook:
        """The book of reply templates; seeded from config/supervision.yaml when the log has
        none (a replica seeding at the same moment makes the same version 1: ours fails on
        the store's optimistic concurrency and theirs is read)."""
        try:
            return self.repository.get(ReplyTemplateBook.create_id())
        except AggregateNotFoundError:
            pass
        book = ReplyTemplateBook.seed(self.rules.reply_templates, "system", self.clock.now())
        try:
            self.save(book)
        except IntegrityError:
            return self.repository.get(ReplyTemplateBook.create_id())
        return book

    @property
    def categories(self) -> dict[str, str]:
        """Category code -> Chinese name: what a reply template may name. The registry's
        categories as replicated here when the replica keeps them, else the configuration."""
        try:
            table = self.reference.table("category")
        except (KeyError, ValueError):
            table = {}
        if table:
            return {code: (r.get("name_zh") or code) for code, r in table.items()}
        return self._config_categories

    def reply_template(self, q: ReplyTemplate, actor: Actor) -> dict[str, Any]:
        source, text = self.template_book().chosen(q.category, q.result_class)
        answer: dict[str, Any] = {"category": q.category, "result_class": q.result_class,
                                  "source": source, "text": text,
                                  "variables": variables_in(text)}
        if q.task_id is not None:
            task = self._task(q.task_id, actor)
            values = {"title": task.title or "", "number": task.number or "",
                      "category": self.categories.get(task.category or "", task.category or ""),
                      "unit_name": self.units.get(task.unit_id, {}).get("name", task.unit_id)}
            if q.commitment_date is not None:
                day = q.commitment_date
                values["commitment_date"] = f"{day.year}年{day.month}月{day.day}日"
            answer["filled"] = fill(text, values)
            answer["blanks"] = [v for v in variables_in(text) if v not in values]
        return answer

    def list_reply_templates(self, q: ListReplyTemplates, actor: Actor) -> dict[str, Any]:
        rows = [r for r in self.template_book().rows()
                if (q.category is None or r["category"] == q.category)
                and (q.result_class is None or r["result_class"] == q.result_class)]
        for row in rows:
            row["category_name"] = self._category_name(row["category"])
        key = (lambda r: [r["category"] != DEFAULT, r["category"], r["result_class"]])
        rows.sort(key=key)
        return page_of_list(rows, q, key=key)

    def _category_name(self, category: str) -> str:
        return "所有类别（默认）" if category == DEFAULT else self.categories.get(category, category)

    def get_reply_template(self, q: GetReplyTemplate, actor: Actor) -> dict[str, Any]:
        book = self.template_book()
        history = history_of(list(self.events.get(book.id)), q.category, q.result_class)
        if book.text_of(q.category, q.result_class) is None and not history:
            raise NotFound(f"no {q.category} {q.result_class} reply template")
        row = (book.row(q.category, q.result_class)
               if book.text_of(q.category, q.result_class) is not None
               else {"category": q.category, "result_class": q.result_class, "text": None,
                     "variables": [], "changed_by": None, "changed_at": None})
        source, text = book.chosen(q.category, q.result_class)
        return {**row, "category_name": self._category_name(q.category), "removed":
                row["text"] is None, "in_use": {"source": source, "text": text},
                "history": history}

    def _template_editor(self, actor: Actor) -> None:
        if actor.role != "office":
            raise Forbidden("only the office changes reply templates")

    def _on_book(self, change: Callable[[ReplyTemplateBook], Any]) -> ReplyTemplateBook:
        """Apply a change to the book, again on the latest book when another one was saved
        meanwhile."""
        for attempt in range(5):
            book = self.template_book()
            change(book)
            if not book.pending_events:
                return book
            try:
                self.save(book)
                return book
            except IntegrityError:
                if attempt == 4:
                    raise Conflict("the reply templates changed meanwhile; try again") from None
        raise AssertionError("unreachable")

    def set_reply_template(self, cmd: SetReplyTemplate, actor: Actor) -> dict[str, Any]:
        self._template_editor(actor)
        try:
            text = check_template(cmd.category, cmd.result_class, cmd.text,
                                  set(self.categories))
        except InvalidTemplate as exc:
            raise Invalid("the reply template has invalid fields: " + str(exc),
                          errors=[{"loc": ["body", e["field"]], "msg": e["msg"]}
                                  for e in exc.errors]) from None
        self._on_book(lambda book: book.set_template(
            cmd.category, cmd.result_class, text, actor.username, self.clock.now()))
        return self.get_reply_template(GetReplyTemplate.model_construct(
            category=cmd.category, result_class=cmd.result_class), actor)

    def remove_reply_template(self, cmd: RemoveReplyTemplate, actor: Actor) -> dict[str, Any]:
        self._template_editor(actor)

        def remove(book: ReplyTemplateBook) -> None:
            try:
                book.remove_template(cmd.category, cmd.result_class, actor.username,
                                     self.clock.now())
            except LookupError:
                raise NotFound(f"no {cmd.category} {cmd.result_class} reply template") from None

        self._on_book(remove)
        return self.get_reply_template(GetReplyTemplate.model_construct(
            category=cmd.category, result_class=cmd.result_class), actor)

    # --- the deadline clock (periodic, every replica) -------------------------------------

    def sweep_due(self, read: Any, catch_up: Callable[[], Any]) -> int:
        """Warnings, escalations and lapsed ratings due today: the candidates are indexed
        queries of the read model ``read`` (500 at a time), each decided on its aggregate;
        ``catch_up`` brings the read model up to date first. Returns the events recorded."""
        catch_up()
        today = self.today()
        recorded = 0
        after: tuple[str, str] | None = None
        while rows := read.tasks_to_sweep(today, after):
            recorded += self.sweep([r["task_id"] for r in rows], [])
            after = (rows[-1]["deadline"], rows[-1]["task_id"])
        replied_before = today - timedelta(days=self.rules.rating_period_days)
        last: str | None = None
        while ids := read.case_ids_awaiting_ratings(replied_before, last):
            recorded += self.sweep([], ids)
            last = ids[-1]
        return recorded

    def sweep(self, task_ids: list[str], case_ids: list[str]) -> int:
        """Raise due warnings and escalations and record lapsed ratings. Each change is saved
        on its own; a conflict means another replica recorded it first, so it is skipped:
        every threshold is recorded once."""
        recorded = 0
        today = self.today()
        for task_id in task_ids:
            recorded += self._sweep_task(task_id, today)
        for case_id in case_ids:
            recorded += self._sweep_case(case_id, today)
        return recorded

    def _save_once(self, *aggregates: Any) -> int:
        try:
            self.save(*aggregates)
            return 1
        except IntegrityError:
            return 0  # recorded by another replica meanwhile

    def _sweep_task(self, task_id: str, today: date) -> int:
        task = self._task(task_id)
        if not task.is_active or task.is_paused:
            return 0
        now = self.clock.now()
        if today > task.deadline:
            if not task.has_warning("red"):
                task.raise_warning("red", at=now)
            overdue = self.days.between(task.deadline, today)
            if overdue > self.rules.escalation_overdue_working_days and not task.is_escalated():
                try:
                    target = self._escalation_target(self._case(task.case_id))
                except NotFound:
                    target = self.rules.escalate_to_by_default
                task.escalate(escalated_to=target, at=now)
        elif self.days.between(today, task.deadline) <= self.warning_days(task) \
                and not task.has_warning("yellow"):
            task.raise_warning("yellow", at=now)
        if not task.pending_events:
            return 0
        return self._save_once(task)

    def _sweep_case(self, case_id: str, today: date) -> int:
        case = self._case(case_id)
        reply = case.current_reply()
        if case.is_closed or reply is None:
            return 0
        if today <= reply["replied_on"] + timedelta(days=self.rules.rating_period_days):
            return 0
        unrated = case.unrated()
        if not unrated:
            return 0
        case.rating_lapsed(deputy_ids=unrated, round=case.round)
        return self._save_once(case)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _rule(method: Any, **kwargs: Any) -> None:
        method(**kwargs)  # a RuleViolation is answered 409 (shared/runtime.refusal_reply)

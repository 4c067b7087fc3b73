"""Supervision's bus adapters: upstream events in, integration events out, request/reply routes."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts import IntegrationEvent
from shared.contracts.assignment import (
    LeadershipDesignatedV1,
    TaskAssignedV1,
    TaskDeadlineChangedV1,
    TaskWithdrawnV1,
)
from shared.contracts.leadership import with_leadership
from shared.contracts.intake import (
    MessageRatedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
)
from shared.contracts.supervision import (
    CaseClosedV1,
    CaseEscalatedV1,
    CoOpinionSubmittedV1,
    DeadlineWarningV1,
    FollowUpReviewRecordedV1,
    FollowUpReviewScheduledV1,
    RatingLapsedV1,
    RehandlingStartedV1,
    ReplySubmittedV1,
    ReplySubmittedV3,
    SuggestionRatedV1,
    TaskOpenedV1,
    TaskSignedForV1,
)
from shared.event_validation import validate_consumers
from shared.eventstore import Actor
from shared.rpc import Conflict, Forbidden, Invalid, NotFound
from shared.runtime import ServiceRuntime
from shared.paging import MAX_LIMIT
from shared.read_store import ReadModels, ViewStore
from shared.settings import ServiceSettings, load_config

from services.supervision.application import SupervisionApplication
from shared.contracts.requests.supervision import (
    AcknowledgeTask,
    AttachReplyLetter,
    Board,
    BulletinHtml,
    CaseIds,
    CloseCase,
    ClosedCases,
    GetBulletin,
    GetCase,
    GetTask,
    ListTasks,
    NoteProgress,
    PublishBulletin,
    RateCase,
    RecordContact,
    RecordReview,
    ReplyTemplate,
    ReplyToTask,
    Stats,
    SubmitOpinion,
    SweepNow,
    WaiveContact,
)
from services.supervision.bulletins import bulletin_view, period_bounds, render_bulletin_html
from services.supervision.domain import Bulletin, Published, SupervisedCase, SupervisedTask
from services.supervision.read_models import Scope, SupervisionViews
from shared.paging import year_filter

SERVICE = "supervision"


class SupervisionSettings(ServiceSettings):
    supervision_sweep_seconds: float = 30.0


def translate(app: SupervisionApplication, event: Any,
              envelope: dict[str, Any]) -> list[IntegrationEvent] | None:
    """The integration events published for a domain event, if any: v1, and v2 flagged with
    the case's leadership designation as the task or case knew it when the event was recorded.
    Read from the event alone; only an event recorded before it carried what its contract
    needs has that read from the store (see ``facts_of``)."""
    if isinstance(event, SupervisedTask.Event):
        found = _task_event(app, event, envelope)
    elif isinstance(event, SupervisedCase.Event):
        found = _case_event(app, event, {**envelope, "case_id": str(event.originator_id)})
    else:
        return None
    if found is None:
        return None
    published = with_leadership(found, facts_of(app, event).leadership)
    if isinstance(event, SupervisedTask.Replied):  # v3: the reply's text, for the citizen
        published.append(ReplySubmittedV3(**dict(published[-1]), reply_text=event.text))
    return published


def facts_of(app: SupervisionApplication, event: Any) -> Any:
    """What the event's contract needs besides the event's own fields: the event itself,
    which carries it (a task's ``Opened`` always carried its leadership). An event recorded
    before it did (``Published.recorded_as_version`` 1: the upcast cannot invent the facts)
    has them from the task or case as it was right after it."""
    if not isinstance(event, Published) or event.recorded_as_version >= 2:
        return event
    recorded = app.repository.get(event.originator_id, version=event.originator_version)
    if isinstance(recorded, SupervisedCase):
        return SimpleNamespace(leadership=recorded.leadership, case_kind=recorded.case_kind,
                               lead_deputy_id=recorded.lead_deputy_id,
                               co_signer_ids=recorded.co_signer_ids, rounds=recorded.round)
    on_time = (event.on <= recorded.deadline
               if isinstance(event, SupervisedTask.OpinionSubmitted) else None)
    return SimpleNamespace(leadership=recorded.leadership, unit_id=recorded.unit_id,
                           on_time=on_time)


def _task_event(app: SupervisionApplication, event: Any,
                envelope: dict[str, Any]) -> IntegrationEvent | None:
    task_id = str(event.originator_id)
    env = {**envelope, "case_id": event.case_id}
    if isinstance(event, SupervisedTask.Opened):
        return TaskOpenedV1(**env, task_id=task_id, unit_id=event.unit_id, role=event.role,
                            deadline=event.deadline)
    if isinstance(event, SupervisedTask.SignedFor):
        return TaskSignedForV1(**env, task_id=task_id, unit_id=event.unit_id)
    if isinstance(event, SupervisedTask.Replied):
        return ReplySubmittedV1(**env, task_id=task_id, unit_id=event.unit_id,
                                result_class=event.result_class,
                                commitment_date=event.commitment_date, round=event.round,
                                on_time=event.on_time)
    if isinstance(event, SupervisedTask.OpinionSubmitted):
        facts = facts_of(app, event)
        return CoOpinionSubmittedV1(**env, task_id=task_id, unit_id=facts.unit_id,
                                    on_time=facts.on_time)
    if isinstance(event, SupervisedTask.WarningRaised):
        return DeadlineWarningV1(**env, task_id=task_id, unit_id=event.unit_id,
                                 level=event.level, deadline=event.deadline)
    if isinstance(event, SupervisedTask.Escalated):
        return CaseEscalatedV1(**env, reason="overdue", escalated_to=event.escalated_to,
                               task_id=task_id)
    return None


def _case_event(app: SupervisionApplication, event: Any, env: dict[str, Any]) -> IntegrationEvent | None:
    if isinstance(event, SupervisedCase.Rated):
        return SuggestionRatedV1(**env, deputy_id=event.deputy_id, rating=event.rating,
                                 round=event.round, result_class=event.result_class)
    if isinstance(event, SupervisedCase.RatingLapsed):
        return RatingLapsedV1(**env, deputy_ids=event.deputy_ids, round=event.round)
    if isinstance(event, SupervisedCase.RehandlingStarted):
        return RehandlingStartedV1(**env, round=event.round, task_id=event.task_id,
                                   unit_id=event.unit_id, deadline=event.deadline,
                                   reason=event.reason)
    if isinstance(event, SupervisedCase.ReviewScheduled):
        return FollowUpReviewScheduledV1(**env, review_id=event.review_id, due_on=event.due_on,
                                         reason=event.reason)
    if isinstance(event, SupervisedCase.ReviewRecorded):
        return FollowUpReviewRecordedV1(**env, review_id=event.review_id, outcome=event.outcome,
                                        reopened=event.reopened)
    if isinstance(event, SupervisedCase.Escalated):
        return CaseEscalatedV1(**env, reason=event.reason, escalated_to=event.escalated_to)
    if isinstance(event, SupervisedCase.Closed):
        facts = facts_of(app, event)
        return CaseClosedV1(**env, case_kind=facts.case_kind, result_class=event.result_class,
                            lead_deputy_id=facts.lead_deputy_id, co_signer_ids=facts.co_signer_ids,
                            ratings=event.ratings, all_satisfied=event.all_satisfied,
                            rounds=facts.rounds, replied_on_time=event.replied_on_time)
    return None


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = SupervisionSettings(**(settings or ServiceSettings()).model_dump()).model_copy(
        update={"service_name": SERVICE})
    app = SupervisionApplication(settings, clock=clock)
    app.read_store = ViewStore(settings)
    views = SupervisionViews(app, app.read_store)
    read_models = ReadModels(app, views.store, [views])
    if not views.ready and app.max_notification_id() == 0:
        # an empty log: built at once (an in-process runtime is never started), under the
        # build lock, adopting what a replica starting beside this one has just built
        read_models.rebuild(views, force=False)
    runtime = ServiceRuntime(settings, app, translate, read_models=read_models,
                             tracer_provider=tracer_provider)
    runtime.consume("assignment", {
        TaskAssignedV1: app.on_task_assigned,
        TaskWithdrawnV1: app.on_task_withdrawn,
        TaskDeadlineChangedV1: app.on_task_deadline_changed,
        LeadershipDesignatedV1: app.on_leadership_designated,
    })
    runtime.consume("intake", {
        SuggestionRegisteredV1: app.on_suggestion_registered,
        SuggestionMergedV1: app.on_suggestion_merged,
        SuggestionMergeUndoneV1: app.on_suggestion_merge_undone,
        MessageRatedV1: app.on_message_rated,
    })
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, settings)

    runtime.audit_cases(app.case_scope)
    # every request this service answers, by contract (shared/contracts/requests/supervision.py)
    runtime.handlers({
        AcknowledgeTask: app.acknowledge,
        RecordContact: app.record_contact,
        WaiveContact: app.waive_contact,
        NoteProgress: app.note_progress,
        SubmitOpinion: app.submit_opinion,
        ReplyToTask: app.reply,
        AttachReplyLetter: app.attach_reply_letter,
        RateCase: app.rate,
        RecordReview: app.record_review,
        CloseCase: app.close_case,
        GetTask: app.get_task,
        GetCase: app.get_case,
        ReplyTemplate: app.reply_template,
    })

    @runtime.handle(ListTasks)
    def list_tasks(q: ListTasks, actor: Actor) -> Any:
        """A page of tasks (``{items, next_cursor, total}``). A caller that sends neither
        ``limit`` nor ``cursor`` (written before lists paged: a case's tasks) gets the full
        views of every year's matching tasks as a bare list, at most 500 of them."""
        scope = Scope.of(actor)
        if actor.role == "unit":
            q = q.model_copy(update={"unit_id": actor.unit_id})
        if not q.paged():
            year = year_filter(q.year, app.today().year) if q.year is not None else None
            ids = views.task_ids(q, year, scope)
            if len(ids) > MAX_LIMIT:
                raise Invalid.field(["query", "limit"], f"more than {MAX_LIMIT} tasks match: "
                                    "ask for pages (limit, cursor)")
            return [app.task_view(app._task(t)) for t in ids]
        default = None if q.case_id is not None and q.year is None else app.today().year
        year = None if default is None else year_filter(q.year, default)
        return views.list_tasks(q, year, scope)

    @runtime.handle(CaseIds)
    def case_ids(q: CaseIds, actor: Actor) -> dict[str, Any]:
        """Case ids with non-withdrawn tasks of a unit (a unit: its own), opened in ``year``
        (default this year), overdue today or not; a page by case id."""
        scope = Scope.of(actor)
        if actor.role == "unit":
            q = q.model_copy(update={"unit_id": actor.unit_id})
        return views.case_ids(q, year_filter(q.year, app.today().year), scope)

    @runtime.handle(ClosedCases)
    def closed_cases(q: ClosedCases, actor: Actor) -> Any:
        """Closed cases with their outcome (for reconciliation with points), by case id; a
        caller that sends neither ``limit`` nor ``cursor`` gets a bare list (at most 500)."""
        if {"limit", "cursor"} & q.model_fields_set:
            return views.closed_cases(q)
        found = views.closed_cases(q.model_copy(update={"limit": MAX_LIMIT}))
        if found["next_cursor"]:
            raise Invalid.field(["query", "limit"], f"more than {MAX_LIMIT} closed cases: "
                                "ask for pages (limit, cursor)")
        return found["items"]

    @runtime.handle(Board)
    def board(q: Board, actor: Actor) -> dict[str, Any]:
        """The board of the tasks the actor may see (a unit: its own; a deputy: those of
        their cases), counts included."""
        scope = Scope.of(actor)
        unit_id = actor.unit_id if actor.role == "unit" else q.unit_id
        day = q.as_of or app.today()
        return views.board(day, year_filter(q.year, day.year), unit_id, q.category, q.colour,
                           q.limit, scope)

    @runtime.handle(Stats)
    def stats(q: Stats, actor: Actor) -> dict[str, Any]:
        """The statistics of the cases the actor may see (a unit: those it has a task of; a
        deputy: those they are a deputy of)."""
        return views.stats(*q.bounds(app.today()), Scope.of(actor))

    @runtime.handle(PublishBulletin)
    def publish_bulletin(cmd: PublishBulletin, actor: Actor) -> dict[str, Any]:
        if actor.role != "office":
            raise Forbidden("only the office publishes bulletins")
        try:
            kind, start, end = period_bounds(cmd.period)
        except ValueError as exc:
            raise Invalid.field(["body", "period"], str(exc)) from None
        if end >= app.today():
            raise Conflict(f"the period {cmd.period} ends on {end.isoformat()}; a bulletin is "
                           "published after its period has ended")
        try:
            existing: Bulletin = app.repository.get(Bulletin.create_id(cmd.period))
            return {**bulletin_view(existing), "already_published": True}
        except AggregateNotFoundError:
            pass
        bulletin = Bulletin(period=cmd.period, kind=kind, start=start, end=end,
                            published_at=app.clock.now(), published_by=actor.username,
                            board=views.board(end, end.year), stats=views.stats(start, end))
        app.save(bulletin)  # a concurrent publication of the same period conflicts: one wins
        return bulletin_view(bulletin)

    def _bulletin(period: str) -> Bulletin:
        try:
            return app.repository.get(Bulletin.create_id(period))
        except AggregateNotFoundError:
            raise NotFound(f"no bulletin published for {period}") from None

    @runtime.handle(GetBulletin)
    def get_bulletin(ref: GetBulletin, actor: Actor) -> dict[str, Any]:
        return bulletin_view(_bulletin(ref.period))

    units = {u["id"]: u.get("name", u["id"]) for u in load_config(settings, "units")}
    categories = {c["code"]: c.get("name_zh", c["code"]) for c in load_config(settings, "categories")}

    @runtime.handle(BulletinHtml)
    def bulletin_html(ref: BulletinHtml, actor: Actor) -> dict[str, Any]:
        return {"html": render_bulletin_html(bulletin_view(_bulletin(ref.period)), units, categories)}

    @runtime.every(settings.supervision_sweep_seconds, "deadline-clock")
    def deadline_clock() -> int:
        """Warnings, escalations and lapsed ratings due today: the candidates are indexed
        queries of the read model (500 at a time), each decided on its aggregate."""
        runtime.catch_up()
        today = app.today()
        recorded = 0
        after: tuple[str, str] | None = None
        while rows := views.tasks_to_sweep(today, after):
            recorded += app.sweep([r["task_id"] for r in rows], [])
            after = (rows[-1]["deadline"], rows[-1]["task_id"])
        replied_before = today - timedelta(days=app.rules.rating_period_days)
        last: str | None = None
        while ids := views.case_ids_awaiting_ratings(replied_before, last):
            recorded += app.sweep([], ids)
            last = ids[-1]
        return recorded

    @runtime.handle(SweepNow)
    def sweep_now(_: SweepNow, actor: Actor) -> dict[str, Any]:
        """Run the deadline clock at once (ops and tests; the periodic job does the same)."""
        if actor.role not in ("office", "system"):
            raise Forbidden("only the office runs the deadline clock by hand")
        return {"recorded": deadline_clock()}

    return runtime

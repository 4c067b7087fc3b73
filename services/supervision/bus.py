"""Supervision's bus registrations: upstream events in, integration events out (translated
from the domain events), request/reply routes, the deadline clock. Wired in
``services.supervision.bootstrap``."""

from __future__ import annotations

from types import SimpleNamespace
from functools import partial
from typing import TYPE_CHECKING, Any

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
from shared.reference import consume_registry
from shared.eventstore import Actor
from shared.rpc import Forbidden
from shared.runtime import ServiceRuntime

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
    GetReplyTemplate,
    GetTask,
    ListReplyTemplates,
    ListReviews,
    ListTasks,
    LeaderCases,
    NoteProgress,
    PublishBulletin,
    RateCase,
    RecordContact,
    RecordReview,
    RemoveReplyTemplate,
    ReplyTemplate,
    ReplyToTask,
    SetReplyTemplate,
    Stats,
    SubmitOpinion,
    SweepNow,
    WaiveContact,
)
from services.supervision import bulletins, views
from services.supervision.domain import Published, SupervisedCase, SupervisedTask
from services.supervision.read_models import SupervisionViews

if TYPE_CHECKING:
    from services.supervision.bootstrap import SupervisionSettings

SERVICE = "supervision"


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


def register(runtime: ServiceRuntime, app: SupervisionApplication, read: SupervisionViews,
             settings: SupervisionSettings) -> None:
    """What supervision consumes, the requests it answers and its deadline clock (wired in
    ``services.supervision.bootstrap``; ``read``: its read model)."""

    def sweep_now(_: SweepNow, actor: Actor) -> dict[str, Any]:
        """Run the deadline clock at once (ops and tests; the periodic job does the same)."""
        if actor.role not in ("office", "system"):
            raise Forbidden("only the office runs the deadline clock by hand")
        return {"recorded": app.sweep_due(read, runtime.catch_up)}

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
    # the registry's units, deputies and stations, replicated into supervision's log
    consume_registry(runtime, app, app.reference)
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, settings, app.reference)

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
        ListReplyTemplates: app.list_reply_templates,
        GetReplyTemplate: app.get_reply_template,
        SetReplyTemplate: app.set_reply_template,
        RemoveReplyTemplate: app.remove_reply_template,
        ListTasks: partial(views.list_tasks, app, read),
        CaseIds: partial(views.case_ids, app, read),
        ClosedCases: partial(views.closed_cases, read),
        Board: partial(views.board, app, read),
        Stats: partial(views.stats, app, read),
        ListReviews: partial(views.list_reviews, app, read),
        LeaderCases: partial(views.leader_cases, read),
        PublishBulletin: partial(bulletins.publish_bulletin, app, read),
        GetBulletin: partial(bulletins.get_bulletin, app),
        BulletinHtml: partial(bulletins.bulletin_html, app, bulletins.names_of(app)),
        SweepNow: sweep_now,
    })

    # the deadline clock: warnings, escalations and lapsed ratings due today
    runtime.every(settings.supervision_sweep_seconds, "deadline-clock")(
        lambda: app.sweep_due(read, runtime.catch_up))


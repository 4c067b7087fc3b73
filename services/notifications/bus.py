"""Notifications' bus adapters: upstream consumers in, request/reply routes, the delivery job.

It publishes no integration event (its outbox translates nothing): what it decides is kept in
its own log and read through its routes and its deliveries."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.contracts import IntegrationEvent
from shared.contracts.assignment import (
    LeadershipDesignatedV1,
    TaskAssignedV1,
    TaskReturnRefusedV1,
    TaskReturnRequestedV1,
    TaskWithdrawnV1,
)
from shared.contracts.intake import (
    CitizenMessageReceivedV1,
    MessageAnsweredV1,
    MessageClaimedV1,
    MessageConvertedV1,
    MessageForwardedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
)
from shared.contracts.points import ActivityReviewedV1, PointsRevokedV1
from shared.contracts.supervision import (
    CaseEscalatedV1,
    DeadlineWarningV1,
    FollowUpReviewScheduledV1,
    RatingLapsedV1,
    RehandlingStartedV1,
    ReplySubmittedV1,
    SuggestionRatedV1,
)
from shared.event_validation import validate_consumers
from shared.eventstore import Actor
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.notifications.application import NotificationSettings, NotificationsApplication
from shared.contracts.requests.notifications import (
    GetPreferences,
    ListNotifications,
    MarkRead,
    SetPreferences,
)
from services.notifications.read_models import NotificationViews

SERVICE = "notifications"


def translate(app: NotificationsApplication, event: Any,
              envelope: dict[str, Any]) -> IntegrationEvent | None:
    return None


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = NotificationSettings(**(settings or ServiceSettings()).model_dump()).model_copy(
        update={"service_name": SERVICE})
    app = NotificationsApplication(settings, clock=clock)
    views = app.views = NotificationViews(app)
    runtime = ServiceRuntime(settings, app, translate, read_models=views.read_models,
                             tracer_provider=tracer_provider)

    runtime.consume("intake", {
        SuggestionRegisteredV1: app.on_suggestion_registered,
        CitizenMessageReceivedV1: app.on_message_received,
        MessageClaimedV1: app.on_message_claimed,
        MessageForwardedV1: app.on_message_forwarded,
        MessageConvertedV1: app.on_message_converted,
        MessageAnsweredV1: app.on_message_answered,
        SuggestionMergedV1: app.on_suggestion_merged,
        SuggestionMergeUndoneV1: app.on_suggestion_merge_undone,
    })
    runtime.consume("assignment", {
        TaskAssignedV1: app.on_task_assigned,
        TaskWithdrawnV1: app.on_task_withdrawn,
        TaskReturnRefusedV1: app.on_return_refused,
        TaskReturnRequestedV1: app.on_return_requested,
        LeadershipDesignatedV1: app.on_leadership_designated,
    })
    runtime.consume("supervision", {
        DeadlineWarningV1: app.on_deadline_warning,
        RehandlingStartedV1: app.on_rehandling_started,
        FollowUpReviewScheduledV1: app.on_follow_up_review_scheduled,
        ReplySubmittedV1: app.on_reply_submitted,
        CaseEscalatedV1: app.on_case_escalated,
        SuggestionRatedV1: app.on_suggestion_rated,
        RatingLapsedV1: app.on_rating_lapsed,
    })
    runtime.consume("points", {
        ActivityReviewedV1: app.on_activity_reviewed,
        PointsRevokedV1: app.on_points_revoked,
    })
    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, settings)

    # every request this service answers, by contract (shared/contracts/requests/
    # notifications.py); each is about the actor's own inbox, for the roles that have one
    @runtime.handle(ListNotifications)
    def list_notifications(q: ListNotifications, actor: Actor) -> dict[str, Any]:
        """The signed-in user's inbox, newest first (``unread``: unread ones only)."""
        result = views.inbox.query(actor.username, q.unread, q)
        return {**result, "unread": views.inbox.unread_count(actor.username)}

    runtime.handlers({
        MarkRead: app.mark_read,
        GetPreferences: lambda _q, actor: app.get_preferences(actor),
        SetPreferences: app.set_preferences,
    })

    @runtime.every(settings.notify_delivery_seconds, "deliveries")
    def deliver_due() -> int:
        """Each delivery that is due, tried once now (its outcome recorded)."""
        runtime.catch_up()
        while reminders := views.reminders.due(app.clock.now()):
            for row in reminders:
                app.remind(row["case_id"], row["name"], row["due_at"])
            runtime.catch_up()
            if len(reminders) < 100:
                break
        done = 0
        while rows := views.deliveries.due(app.clock.now()):
            for row in rows:
                app.deliver_one(row["id"], row["channel"])
                done += 1
            runtime.catch_up()
            if len(rows) < 100:
                break
        return 0  # nothing to publish

    runtime.deliver_due = deliver_due  # type: ignore[attr-defined]
    return runtime

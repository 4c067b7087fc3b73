"""Notifications' bus registrations: upstream consumers in, request/reply routes, the delivery
job (wired in ``services.notifications.bootstrap``).

It publishes no integration event (its outbox translates nothing): what it decides is kept in
its own log and read through its routes and its deliveries."""

from __future__ import annotations

from typing import Any

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
    MessageMergedV1,
    MessageMergeUndoneV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
)
from shared.contracts.liaison import ObligationBehindV1
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
from shared.reference import consume_registry
from shared.runtime import ServiceRuntime

from services.notifications.application import NotificationSettings, NotificationsApplication
from services.notifications.recipients import consume_accounts
from shared.contracts.requests.notifications import (
    GetPreferences,
    ListNotifications,
    MarkRead,
    SetPreferences,
)
from services.notifications.views import inbox, preferences_of

SERVICE = "notifications"


def translate(app: NotificationsApplication, event: Any,
              envelope: dict[str, Any]) -> IntegrationEvent | None:
    return None


def register(runtime: ServiceRuntime, app: NotificationsApplication,
             settings: NotificationSettings) -> None:
    """What notifications consumes, the requests it answers and its delivery job."""
    runtime.consume("intake", {
        SuggestionRegisteredV1: app.on_suggestion_registered,
        CitizenMessageReceivedV1: app.on_message_received,
        MessageClaimedV1: app.on_message_claimed,
        MessageForwardedV1: app.on_message_forwarded,
        MessageConvertedV1: app.on_message_converted,
        MessageAnsweredV1: app.on_message_answered,
        SuggestionMergedV1: app.on_suggestion_merged,
        SuggestionMergeUndoneV1: app.on_suggestion_merge_undone,
        MessageMergedV1: app.on_message_merged,
        MessageMergeUndoneV1: app.on_message_merge_undone,
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
    runtime.consume("liaison", {ObligationBehindV1: app.on_obligation_behind})
    # every upstream event is checked (ids, reference data) before any effect
    consume_registry(runtime, app, app.reference)  # the registry's stations, replicated
    consume_accounts(runtime, app, app.recipients)  # the accounts (who is told), replicated
    validate_consumers(runtime, settings, app.reference)

    # every request this service answers, by contract (shared/contracts/requests/
    # notifications.py); each is about the actor's own inbox, for the roles that have one
    runtime.handlers({
        ListNotifications: lambda q, actor: inbox(app.views, q, actor),
        MarkRead: app.mark_read,
        GetPreferences: lambda _q, actor: preferences_of(app, actor.username),
        SetPreferences: app.set_preferences,
    })

    # each reminder and delivery that is due (NotificationsApplication.deliver_due)
    runtime.every(settings.notify_delivery_seconds, "deliveries")(
        lambda: app.deliver_due(runtime.catch_up))

"""Intake's bus registrations: request/reply routes, upstream consumers, periodic jobs, and
the domain → integration event mapping. Wired in ``services.intake.bootstrap``."""

from __future__ import annotations

from functools import partial
from typing import Any

from shared.contracts import IntegrationEvent
from shared.contracts.supervision import CaseClosedV1, ReplySubmittedV3
from shared.contracts.intake import (
    CitizenMessageReceivedV1,
    CitizenMessageReceivedV2,
    MessageAnsweredV1,
    MessageClaimedV1,
    MessageConvertedV1,
    MessageForwardedV1,
    MessageMergedV1,
    MessageMergeUndoneV1,
    MessageRatedV1,
    PersonalDataErasedV1,
    SuggestionDeclinedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
    SuggestionSubmittedV1,
)
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.contracts.requests.intake import (
    AccessLogRef,
    AnswerMessage,
    ClaimMessage,
    ConvertMessage,
    DeclineSuggestion,
    ErasePersonalData,
    AttachToMessage,
    AttachToSuggestion,
    FollowUpRef,
    ForwardMessage,
    GetMessage,
    GetSuggestion,
    GiveUpMessage,
    ListMessages,
    ListSuggestions,
    MergeMessage,
    MergeSuggestion,
    MessagePublicationRef,
    PostMessage,
    PostMessageToDeputy,
    PostMessageV2,
    PublicationRef,
    PublicResultsQuery,
    Publish,
    PublishMessage,
    RateMessage,
    Reference,
    RegisterSuggestion,
    ReleaseExpiredClaims,
    ReverseRegistration,
    SimilarMessagesRef,
    SimilarRef,
    SubmitSuggestion,
    UndoMerge,
    UndoMessageMerge,
)
from shared.runtime import ServiceRuntime

from services.intake import views
from services.intake.application import IntakeApplication, IntakeSettings
from services.intake.attachments import attach_to_message, attach_to_suggestion
from services.intake.domain import CitizenMessage, Published, Suggestion
from services.intake.message_merging import merge_message, undo_message_merge
from services.intake.follow_up import FollowUpIndex, message_feedback
from services.intake.publication import (
    PublicResults,
    note_handling,
    publish,
    publish_message,
    withdraw,
    withdraw_message,
)

SERVICE = "intake"


def translate(app: IntakeApplication, event: Any, envelope: dict[str, Any],
              ) -> IntegrationEvent | list[IntegrationEvent] | None:
    if isinstance(event, Suggestion.Submitted):
        return SuggestionSubmittedV1(
            **envelope,
            title=event.title,
            category=event.category,
            lead_deputy_id=event.lead_deputy_id,
            co_signer_ids=event.co_signer_ids,
            station_id=event.station_id,
        )
    if isinstance(event, Suggestion.Registered):
        facts = facts_of(app, event)
        station = app.stations.get(facts.station_id or "", {})
        return SuggestionRegisteredV1(
            **envelope,
            number=event.number,
            title=facts.title,
            category=event.category,
            urgency=event.urgency,
            lead_deputy_id=facts.lead_deputy_id,
            co_signer_ids=facts.co_signer_ids,
            station_id=facts.station_id,
            district=station.get("district"),
        )
    if isinstance(event, Suggestion.Declined):
        return SuggestionDeclinedV1(**envelope, reason=event.reason,
                                    lead_deputy_id=facts_of(app, event).lead_deputy_id)
    if isinstance(event, Suggestion.RegistrationReversed):
        facts = facts_of(app, event)
        return SuggestionRegistrationReversedV1(
            **envelope, number=event.number, reason=event.reason,
            lead_deputy_id=facts.lead_deputy_id, co_signer_ids=facts.co_signer_ids)
    if isinstance(event, (Suggestion.MergedInto, Suggestion.MergeUndone)):
        # case_id is the source; the target's own SourceMerged/SourceUnmerged stay inside.
        source = facts_of(app, event)
        if isinstance(event, Suggestion.MergedInto):
            return SuggestionMergedV1(**envelope, into_suggestion_id=event.into_suggestion_id,
                                      lead_deputy_id=source.lead_deputy_id,
                                      co_signer_ids=source.co_signer_ids,
                                      source_number=source.number, score=event.score)
        return SuggestionMergeUndoneV1(**envelope, into_suggestion_id=event.into_suggestion_id,
                                       lead_deputy_id=source.lead_deputy_id,
                                       co_signer_ids=source.co_signer_ids, reason=event.reason)
    return translate_message_event(app, event, envelope)


def translate_message_event(app: IntakeApplication, event: Any, envelope: dict[str, Any],
                            ) -> IntegrationEvent | list[IntegrationEvent] | None:
    """Citizen-message events; none of them carries personal data or the free text."""
    if isinstance(event, CitizenMessage.Received):
        station = app.stations.get(event.station_id, {})
        facts = dict(station_id=event.station_id, district=station.get("district"),
                     grid=event.grid, category=event.category,
                     has_contact=event.personal_data is not None)
        received = CitizenMessageReceivedV1(**envelope, **facts)
        session_id = event.session_id  # (class_version 3; older events upcast to None)
        if session_id is None:
            return received
        # v2 beside v1 for a message raised at a reception session (liaison links it)
        return [received, CitizenMessageReceivedV2(**envelope, **facts, session_id=session_id)]
    if isinstance(event, CitizenMessage.PersonalDataErased):
        return PersonalDataErasedV1(**envelope)
    if isinstance(event, CitizenMessage.MergedInto):
        return MessageMergedV1(**envelope, into_message_id=event.into_message_id,
                               station_id=event.station_id, score=event.score)
    if isinstance(event, CitizenMessage.MergeUndone):
        return MessageMergeUndoneV1(**envelope, into_message_id=event.into_message_id,
                                    station_id=event.station_id, reason=event.reason)
    if not isinstance(event, Published):
        return None
    message = facts_of(app, event)
    if isinstance(event, CitizenMessage.Claimed):
        return MessageClaimedV1(**envelope, deputy_id=event.deputy_id,
                                station_id=message.station_id, claimed_at=event.claimed_at,
                                claim_expires_at=event.claim_expires_at)
    if isinstance(event, CitizenMessage.Forwarded):
        deputy_id = envelope["actor"].deputy_id if envelope["actor"].role == "deputy" else None
        return MessageForwardedV1(**envelope, unit_id=event.unit_id,
                                  station_id=message.station_id, category=message.category,
                                  deputy_id=deputy_id)
    if isinstance(event, CitizenMessage.Answered):
        return MessageAnsweredV1(**envelope, deputy_id=event.deputy_id,
                                 station_id=message.station_id)
    if isinstance(event, CitizenMessage.Rated):
        return MessageRatedV1(**envelope, rating=event.rating, station_id=message.station_id,
                              handled_by=message.handled_by, deputy_id=message.claimed_by)
    if isinstance(event, CitizenMessage.Converted):
        return MessageConvertedV1(**envelope, suggestion_id=event.suggestion_id,
                                  deputy_id=event.deputy_id, station_id=message.station_id)
    return None


def facts_of(app: IntakeApplication, event: Published) -> Any:
    """What a published event's contract needs beyond the event's own change: the event
    itself (version 2 carries it), or, for an event recorded before it did
    (``recorded_as_version`` 1: the upcast cannot invent the facts), the suggestion or
    message as it was right after the event."""
    if event.recorded_as_version >= 2:
        return event
    return app.repository.get(event.originator_id, version=event.originator_version)


def register(runtime: ServiceRuntime, app: IntakeApplication, settings: IntakeSettings,
             follow_up_index: FollowUpIndex, public_results: PublicResults) -> None:
    """What intake consumes, its periodic jobs and the requests it answers (wired in
    ``services.intake.bootstrap``)."""

    def on_reply_submitted(event: ReplySubmittedV3) -> list[Any]:
        """The suggestion notes its reply; a message (forwarded, or converted into the
        suggestion) records the unit's feedback for the citizen."""
        noted = app.on_reply_submitted(event)
        changed = {id(a): a for a in [*noted, *note_handling(app, event, noted),
                                      *message_feedback(app, event)]}
        return list(changed.values())

    runtime.consume("supervision", {CaseClosedV1: app.on_case_closed,
                                    ReplySubmittedV3: on_reply_submitted})
    # the registry's deputies, stations and units, replicated into intake's log
    consume_registry(runtime, app, app.reference)

    # every upstream event is checked (ids, reference data) before any effect
    validate_consumers(runtime, settings, app.reference)

    @runtime.every(1.0, "similar-matters-encoding")
    def encode_similar_matters() -> bool:
        """New texts get their sentence vectors soon after they arrive (similar_matters.py)."""
        app.similar_view.encode_some(seconds=1.0)
        return False  # records no events

    @runtime.every(settings.claim_sweep_seconds, "claim-sweep")
    def sweep_expired_claims() -> int:
        """Expired claims go back to the pool even when nobody looks at the message."""
        return app.release_expired_claims()["released"]

    # Every request intake answers (shared/contracts/requests/intake.py): contract → handler.
    # A message's view and lists are commands (the relay is woken after them): reading may
    # record a lapsed claim's release.
    runtime.handlers({
        # suggestions
        SubmitSuggestion: app.submit_suggestion,
        RegisterSuggestion: app.register_suggestion,
        DeclineSuggestion: app.decline_suggestion,
        ReverseRegistration: app.reverse_registration,
        GetSuggestion: app.get_suggestion,
        ListSuggestions: app.list_suggestions,
        MergeSuggestion: app.merge_suggestion,
        UndoMerge: app.undo_merge,
        SimilarRef: app.similar_suggestions,
        # citizen messages (群众意见)
        PostMessage: app.post_message,
        PostMessageV2: app.post_message,
        PostMessageToDeputy: app.post_message_to_deputy,
        ClaimMessage: app.claim_message,
        GiveUpMessage: app.give_up_message,
        AnswerMessage: app.answer_message,
        ConvertMessage: app.convert_message,
        ForwardMessage: app.forward_message,
        RateMessage: app.rate_message,
        ErasePersonalData: app.erase_personal_data,
        AttachToMessage: partial(attach_to_message, app),
        AttachToSuggestion: partial(attach_to_suggestion, app),
        GetMessage: app.get_message,
        ListMessages: app.list_messages,
        SimilarMessagesRef: app.similar_messages,
        MergeMessage: lambda cmd, actor: merge_message(app, cmd, actor),
        UndoMessageMerge: lambda cmd, actor: undo_message_merge(app, cmd, actor),
        AccessLogRef: app.access_log,
        ReleaseExpiredClaims: app.release_expired_claims,
        # published results, the citizen's follow-up, reference data
        Publish: lambda cmd, actor: publish(app, cmd, actor),
        PublicationRef: lambda ref, actor: withdraw(app, ref, actor),
        PublishMessage: lambda cmd, actor: publish_message(app, cmd, actor),
        MessagePublicationRef: lambda ref, actor: withdraw_message(app, ref, actor),
        PublicResultsQuery: lambda q, actor: public_results.query(q),
        FollowUpRef: partial(views.follow_up_view, app, follow_up_index),
        Reference: partial(views.reference, app),
    })

    runtime.audit_cases(views.case_audit_scope)

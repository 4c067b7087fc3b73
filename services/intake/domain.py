"""Intake's aggregates: the suggestion (代表建议), the yearly registration sequence and the
citizen message (群众意见)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.contracts.requests.limits import RATINGS, URGENCIES  # noqa: F401  (one place)

from services.intake.errors import (AlreadyDone, HeldByAnother, MergesPending,
                                    NotAllowedInState)


class Published(Aggregate.Event):
    """An event the relay publishes from the event alone: version 2 carries every fact its
    contract needs (the suggestion's deputies and title, the message's station...), so
    refactoring an aggregate cannot change what goes on the wire. Version 1 events were
    recorded without them; the upcast cannot invent them, so it marks them
    ``recorded_as_version`` 1 and their relay reads the aggregate as it was right after them
    (``services.intake.bus.facts_of``). The methods' parameters for those facts default to
    None, so an old event still applies to its aggregate."""

    class_version = 2
    recorded_as_version: ClassVar[int] = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["recorded_as_version"] = 1


class Suggestion(Aggregate):
    """A deputy's formal suggestion, from submission to registration or decline."""

    class Submitted(Aggregate.Created):
        """A deputy submitted the suggestion. Version 2: every field below is present;
        version 1 events were recorded before a suggestion could come from a citizen message
        (none, and no sealed body under a poster's key)."""

        class_version = 2

        title: str
        body: str
        category: str
        lead_deputy_id: str
        co_signer_ids: list[str]
        station_id: str | None
        submitted_at: datetime
        from_message_id: str | None
        sealed_body: str | None
        personal_data_ref: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for name in ("from_message_id", "sealed_body", "personal_data_ref"):
                state.setdefault(name, None)

    @event(Submitted)
    def __init__(
        self,
        title: str,
        body: str,
        category: str,
        lead_deputy_id: str,
        co_signer_ids: list[str],
        station_id: str | None,
        submitted_at: datetime,
        from_message_id: str | None = None,
        sealed_body: str | None = None,
        personal_data_ref: str | None = None,
    ) -> None:
        self.title = title
        # A suggestion made from a citizen message without words of the deputy's own carries
        # the citizen's text sealed under the poster's key (``sealed_body``, key named by
        # ``personal_data_ref``) and an empty ``body``: erasing the poster erases this copy too.
        self.body = body
        self.sealed_body = sealed_body
        self.personal_data_ref = personal_data_ref
        self.category = category
        self.lead_deputy_id = lead_deputy_id
        self.co_signer_ids = list(co_signer_ids)
        self.station_id = station_id
        self.submitted_at = submitted_at
        self.status = "submitted"
        self.number: str | None = None
        self.urgency: str | None = None
        self.registered_at: datetime | None = None
        self.decline_reason: str | None = None
        # The citizen message this suggestion was made from (None for older events).
        self.from_message_id = from_message_id
        # Merging (从“一件事”到“一类事”): a source points to its target, a target lists its sources.
        self.merged_into: str | None = None
        self.merged_at: datetime | None = None
        self.status_before_merge: str | None = None
        self.merged_sources: list[str] = []
        # Registrations reversed (撤销立案): {number, reason, reversed_at}, oldest first.
        self.reversed_registrations: list[dict[str, str]] = []
        # The handling unit's first reply, learned from supervision's reply_submitted event.
        self.replied_at: datetime | None = None
        # Close-out (销号) in supervision, learned from its case_closed event.
        self.case_closed_at: datetime | None = None
        self.result_class: str | None = None
        # The latest reply's unit and result class (HandlingNoted), and the published result.
        self.handling: dict[str, Any] | None = None
        self.publication: dict[str, Any] | None = None

    @property
    def deputy_ids(self) -> list[str]:
        return [self.lead_deputy_id, *self.co_signer_ids]

    def ensure_reviewable(self) -> None:
        if self.status != "submitted":
            raise AlreadyDone(f"suggestion is already {self.status}", status_now=self.status)

    def register(self, number: str, category: str, urgency: str, registered_at: datetime) -> None:
        self.ensure_reviewable()
        self._registered(number=number, category=category, urgency=urgency,
                         registered_at=registered_at, title=self.title,
                         lead_deputy_id=self.lead_deputy_id,
                         co_signer_ids=list(self.co_signer_ids), station_id=self.station_id)

    class Registered(Published):
        number: str
        category: str
        urgency: str
        registered_at: datetime
        title: str
        lead_deputy_id: str
        co_signer_ids: list[str]
        station_id: str | None

    @event(Registered)
    def _registered(self, number: str, category: str, urgency: str, registered_at: datetime,
                    title: str | None = None, lead_deputy_id: str | None = None,
                    co_signer_ids: list[str] | None = None,
                    station_id: str | None = None) -> None:
        self.status = "registered"
        self.number = number
        self.category = category
        self.urgency = urgency
        self.registered_at = registered_at

    def decline(self, reason: str, declined_at: datetime) -> None:
        self.ensure_reviewable()
        self._declined(reason=reason, declined_at=declined_at,
                       lead_deputy_id=self.lead_deputy_id)

    class Declined(Published):
        reason: str
        declined_at: datetime
        lead_deputy_id: str

    @event(Declined)
    def _declined(self, reason: str, declined_at: datetime,
                  lead_deputy_id: str | None = None) -> None:
        self.status = "declined"
        self.decline_reason = reason

    def reverse_registration(self, reason: str, reversed_at: datetime) -> None:
        """The office reverses (撤销立案) a registration made in error: the suggestion waits
        for review again. Its number stays allocated to it in the yearly sequence (never
        reused); a new registration gets a new number."""
        if self.status != "registered" or self.number is None:
            raise NotAllowedInState(f"suggestion is {self.status}; only a registered suggestion's "
                                    "registration can be reversed", status_now=self.status)
        if self.merged_sources:
            raise MergesPending("other suggestions are merged into this one: undo those merges "
                                "first", status_now=self.status)
        if self.replied_at is not None:
            raise NotAllowedInState("the handling unit has already replied: a registration is "
                                    "reversed only before the reply", status_now=self.status)
        self._registration_reversed(number=self.number, reason=reason, reversed_at=reversed_at,
                                    lead_deputy_id=self.lead_deputy_id,
                                    co_signer_ids=list(self.co_signer_ids))

    class RegistrationReversed(Published):
        number: str
        reason: str
        reversed_at: datetime
        lead_deputy_id: str
        co_signer_ids: list[str]

    @event(RegistrationReversed)
    def _registration_reversed(self, number: str, reason: str, reversed_at: datetime,
                               lead_deputy_id: str | None = None,
                               co_signer_ids: list[str] | None = None) -> None:
        self.reversed_registrations = [
            *self.reversed_registrations,
            {"number": number, "reason": reason, "reversed_at": reversed_at.isoformat()},
        ]
        self.status = "submitted"
        self.number = None
        self.urgency = None
        self.registered_at = None

    # --- merging ------------------------------------------------------------------------

    def ensure_mergeable_source(self) -> None:
        if self.status not in MERGEABLE:
            raise NotAllowedInState(f"suggestion is {self.status}; only a submitted or registered "
                                    "suggestion can be merged", status_now=self.status)
        if self.merged_sources:
            raise MergesPending("other suggestions are merged into this one: undo those merges "
                                "first", status_now=self.status)

    def ensure_merge_target(self) -> None:
        if self.status not in MERGEABLE:
            raise NotAllowedInState(f"the target suggestion is {self.status}; merge only into a "
                                    "submitted or registered suggestion", status_now=self.status)

    def merge_into(self, target_id: str, merged_at: datetime, score: float | None = None) -> None:
        if target_id == str(self.id):
            raise NotAllowedInState("a suggestion cannot be merged into itself", status_now=self.status)
        self.ensure_mergeable_source()
        self._merged_into(into_suggestion_id=target_id, previous_status=self.status,
                          merged_at=merged_at, score=score, lead_deputy_id=self.lead_deputy_id,
                          co_signer_ids=list(self.co_signer_ids), number=self.number)

    class MergedInto(Published):
        into_suggestion_id: str
        previous_status: str
        merged_at: datetime
        score: float | None
        lead_deputy_id: str
        co_signer_ids: list[str]
        number: str | None  # the source's registration number, if it had one

    @event(MergedInto)
    def _merged_into(self, into_suggestion_id: str, previous_status: str, merged_at: datetime,
                     score: float | None = None, lead_deputy_id: str | None = None,
                     co_signer_ids: list[str] | None = None,
                     number: str | None = None) -> None:
        self.status_before_merge = previous_status
        self.status = "merged"
        self.merged_into = into_suggestion_id
        self.merged_at = merged_at

    def source_merged(self, source_id: str, merged_at: datetime) -> None:
        self.ensure_merge_target()
        if source_id in self.merged_sources:
            raise AlreadyDone("that suggestion is already merged into this one", status_now=self.status)
        self._source_merged(source_id=source_id, merged_at=merged_at)

    @event("SourceMerged")
    def _source_merged(self, source_id: str, merged_at: datetime) -> None:
        self.merged_sources = [*self.merged_sources, source_id]

    def undo_merge(self, reason: str, undone_at: datetime) -> None:
        if self.status != "merged" or self.merged_into is None:
            raise NotAllowedInState(f"suggestion is {self.status}, not merged", status_now=self.status)
        self._merge_undone(into_suggestion_id=self.merged_into,
                           restored_status=self.status_before_merge or "submitted",
                           reason=reason, undone_at=undone_at,
                           lead_deputy_id=self.lead_deputy_id,
                           co_signer_ids=list(self.co_signer_ids))

    class MergeUndone(Published):
        into_suggestion_id: str
        restored_status: str
        reason: str
        undone_at: datetime
        lead_deputy_id: str
        co_signer_ids: list[str]

    @event(MergeUndone)
    def _merge_undone(self, into_suggestion_id: str, restored_status: str, reason: str,
                      undone_at: datetime, lead_deputy_id: str | None = None,
                      co_signer_ids: list[str] | None = None) -> None:
        self.status = restored_status
        self.merged_into = None
        self.merged_at = None
        self.status_before_merge = None

    def source_unmerged(self, source_id: str, reason: str, undone_at: datetime) -> None:
        if source_id not in self.merged_sources:
            raise NotAllowedInState("that suggestion is not merged into this one", status_now=self.status)
        self._source_unmerged(source_id=source_id, reason=reason, undone_at=undone_at)

    @event("SourceUnmerged")
    def _source_unmerged(self, source_id: str, reason: str, undone_at: datetime) -> None:
        self.merged_sources = [s for s in self.merged_sources if s != source_id]

    def note_reply(self, result_class: str, replied_at: datetime) -> bool:
        """Supervision recorded the lead unit's reply: from now on the registration stands.
        False (nothing recorded) when a reply is already known."""
        if self.replied_at is not None or self.status != "registered":
            return False
        self._reply_noted(result_class=result_class, replied_at=replied_at)
        return True

    @event("ReplyNoted")
    def _reply_noted(self, result_class: str, replied_at: datetime) -> None:
        self.replied_at = replied_at

    def close_case(self, result_class: str, closed_at: datetime) -> bool:
        """Supervision closed out this suggestion's case. False (nothing recorded) when it is
        already known to be closed."""
        if self.case_closed_at is not None:
            return False
        self._case_closed(result_class=result_class, closed_at=closed_at,
                          status_before=self.status)
        return True

    @event("CaseClosed")
    def _case_closed(self, result_class: str, closed_at: datetime, status_before: str) -> None:
        self.case_closed_at = closed_at
        self.result_class = result_class
        # A merged source keeps pointing to its target; a registered suggestion is done.
        if self.status == "registered":
            self.status = "closed"


    # --- handling unit and public disclosure (services/intake/publication.py) -----------

    def note_handling(self, unit_id: str, result_class: str, round: int,
                      source_event_id: str) -> bool:
        """The latest reply's unit and result class (what a publication shows)."""
        if self.handling and self.handling.get("source_event_id") == source_event_id:
            return False
        self._handling_noted(unit_id=unit_id, result_class=result_class, round=round,
                             source_event_id=source_event_id)
        return True

    @event("HandlingNoted")
    def _handling_noted(self, unit_id: str, result_class: str, round: int,
                        source_event_id: str) -> None:
        self.handling = {"unit_id": unit_id, "result_class": result_class, "round": round,
                         "source_event_id": source_event_id}

    def publish(self, summary: str, published_at: datetime, by: str) -> None:
        handling = self.handling
        if self.status not in ("registered", "closed") or self.number is None:
            raise NotAllowedInState(f"suggestion is {self.status}; only a registered suggestion's "
                                    "result is published", status_now=self.status)
        if not handling and self.result_class is None:
            raise NotAllowedInState("there is no result to publish yet: the handling unit has not "
                                    "replied", status_now=self.status)
        self._published(summary=summary, published_at=published_at, by=by,
                        result_class=self.result_class or handling["result_class"],
                        unit_id=handling["unit_id"] if handling else None)

    @event("Published")
    def _published(self, summary: str, published_at: datetime, by: str,
                   result_class: str, unit_id: str | None) -> None:
        self.publication = {"summary": summary, "published_at": published_at.isoformat(),
                            "by": by, "result_class": result_class, "unit_id": unit_id}

    def withdraw_publication(self, withdrawn_at: datetime, by: str) -> None:
        if not self.publication:
            raise NotAllowedInState("the result is not published", status_now=self.status)
        self._publication_withdrawn(withdrawn_at=withdrawn_at, by=by)

    @event("PublicationWithdrawn")
    def _publication_withdrawn(self, withdrawn_at: datetime, by: str) -> None:
        self.publication = None

    # --- attachments (shared/blobs.py: the hash in the event, so the chain covers the file) ---

    def record_attachment(self, attachment: dict[str, Any]) -> None:
        self._attachment_recorded(attachment=attachment)

    @event("AttachmentRecorded")
    def _attachment_recorded(self, attachment: dict[str, Any]) -> None:
        self.attachments = [*getattr(self, "attachments", []), {**attachment, "erased": False}]


MERGEABLE = ("submitted", "registered")


def merge_refusal(source_id: str, target_id: str, merged_into: dict[str, str | None]) -> str | None:
    """Why merging source into target would make a cycle (None if it would not): following
    the targets' own merges from target must never lead back to source."""
    seen = {target_id}
    current: str | None = target_id
    while current is not None:
        if current == source_id:
            return "merging these would make a cycle"
        current = merged_into.get(current)
        if current in seen:
            return "the target is part of a merge cycle"
        if current is not None:
            seen.add(current)
    return None


class RegistrationSequence(Aggregate):
    """Hands out the gap-free yearly registration numbers (2026-0001, 2026-0002, ...).

    One aggregate per year: two concurrent registrations both try to record the next
    version of it, the event store lets exactly one of them commit, and the other retries.
    """

    @staticmethod
    def create_id(year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:intake:registration-sequence:{year}")

    @event("Started")
    def __init__(self, year: int) -> None:
        self.year = year
        self.last = 0

    @event("NumberAllocated")
    def allocate(self, suggestion_id: str) -> None:
        self.last += 1

    @property
    def last_number(self) -> str:
        return f"{self.year}-{self.last:04d}"


RELEASE_REASONS = ("expired", "given_up")
# received → claimed → answered | converted | forwarded → closed (rated by the citizen);
# a claim released (expired or given up) returns the message to the pool (received);
# the office may forward a message that is received or claimed (dispatch).
RATEABLE = ("answered", "converted", "forwarded")


class CitizenMessage(Aggregate):
    """A citizen's message left at a liaison station (群众意见), from receipt to rating.

    Personal data never lives here in plaintext: ``personal_data`` (name and phone) and
    ``sealed_content`` (the free text) are ciphertext under the data subject's own key (kept
    outside the event log), ``personal_data_ref`` names that key. Older events carry the
    content in plain text (``content``); both forms are read.
    No clock is read here: every time is passed in.
    """

    class Received(Aggregate.Created):
        """A citizen left the message. Version 2: every field below is present; version 1
        events were recorded before contents were sealed (the content in plain text, no
        ``sealed_content``). Version 3: ``session_id``, the reception session (liaison
        service) station staff recorded it at; None for every earlier message."""

        class_version = 3

        station_id: str
        grid: str | None
        content: str | None
        category: str | None
        follow_up_token_hash: str
        personal_data_ref: str | None
        personal_data: str | None
        received_at: datetime
        sealed_content: str | None
        session_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("sealed_content", None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.setdefault("session_id", None)

    @event(Received)
    def __init__(
        self,
        station_id: str,
        grid: str | None,
        content: str | None,
        category: str | None,
        follow_up_token_hash: str,
        personal_data_ref: str | None,
        personal_data: str | None,
        received_at: datetime,
        sealed_content: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self.station_id = station_id
        self.session_id = session_id  # raised at a reception session (liaison), if so
        self.grid = grid
        # Messages recorded before the content was encrypted carry it in plain text here;
        # newer ones carry None here and the content sealed under the poster's own key.
        self.content = content
        self.sealed_content = sealed_content
        self.category = category
        self.follow_up_token_hash = follow_up_token_hash
        self.personal_data_ref = personal_data_ref
        self.personal_data = personal_data
        self.received_at = received_at
        self.status = "received"
        self.claimed_by: str | None = None
        self.claimed_at: datetime | None = None
        self.claim_expires_at: datetime | None = None
        self.answer: str | None = None
        self.answered_by: str | None = None
        self.suggestion_id: str | None = None
        self.unit_id: str | None = None
        self.rating: str | None = None
        self.personal_data_erased = False
        self._feedback: dict[str, Any] | None = None  # the handling unit's (FeedbackRecorded)
        self.answered_at: datetime | None = None
        self._publication: dict[str, Any] | None = None  # set by Published, cleared by withdrawal
        # merging (the same matter from many people): this message's target, or the
        # messages merged into this one
        self.merged_into: str | None = None
        self.merged_sources: list[str] = []
        self.status_before_merge: str | None = None

    # --- claims -------------------------------------------------------------------------

    def claim_expired(self, now: datetime) -> bool:
        return (self.status == "claimed" and self.claim_expires_at is not None
                and now >= self.claim_expires_at)

    def claim(self, deputy_id: str, claimed_at: datetime, time_limit: timedelta) -> None:
        if self.status == "claimed" and self.claimed_by == deputy_id:
            raise AlreadyDone("you already hold this message", status_now=self.status)
        if self.status == "claimed":
            raise HeldByAnother("another deputy holds this message", status_now=self.status)
        if self.status != "received":
            raise AlreadyDone(f"message is already {self.status}", status_now=self.status)
        self._claimed(deputy_id=deputy_id, claimed_at=claimed_at,
                      claim_expires_at=claimed_at + time_limit, station_id=self.station_id)

    class Claimed(Published):
        deputy_id: str
        claimed_at: datetime
        claim_expires_at: datetime
        station_id: str

    @event(Claimed)
    def _claimed(self, deputy_id: str, claimed_at: datetime, claim_expires_at: datetime,
                 station_id: str | None = None) -> None:
        self.status = "claimed"
        self.claimed_by = deputy_id
        self.claimed_at = claimed_at
        self.claim_expires_at = claim_expires_at

    def release_claim(self, reason: str, released_at: datetime) -> None:
        if reason not in RELEASE_REASONS:
            raise ValueError(f"unknown release reason {reason!r}")
        if self.status != "claimed":
            raise NotAllowedInState(f"message is {self.status}, not claimed", status_now=self.status)
        self._claim_released(deputy_id=self.claimed_by, reason=reason, released_at=released_at)

    def give_up(self, deputy_id: str, released_at: datetime) -> None:
        self.ensure_held_by(deputy_id)
        self.release_claim("given_up", released_at)

    @event("ClaimReleased")
    def _claim_released(self, deputy_id: str | None, reason: str, released_at: datetime) -> None:
        self.status = "received"
        self.claimed_by = None
        self.claimed_at = None
        self.claim_expires_at = None

    def ensure_held_by(self, deputy_id: str) -> None:
        if self.status != "claimed":
            raise NotAllowedInState(f"message is {self.status}; claim it first", status_now=self.status)
        if self.claimed_by != deputy_id:
            raise HeldByAnother("another deputy holds this message", status_now=self.status)

    # --- handling -----------------------------------------------------------------------

    def answer_directly(self, deputy_id: str, text: str, answered_at: datetime) -> None:
        self.ensure_held_by(deputy_id)
        self._answered(deputy_id=deputy_id, text=text, answered_at=answered_at,
                       station_id=self.station_id)

    class Answered(Published):
        deputy_id: str
        text: str
        answered_at: datetime
        station_id: str

    @event(Answered)
    def _answered(self, deputy_id: str, text: str, answered_at: datetime,
                  station_id: str | None = None) -> None:
        self.status = "answered"
        self.answer = text
        self.answered_by = deputy_id
        self.answered_at = answered_at

    def convert(self, deputy_id: str, suggestion_id: str, converted_at: datetime) -> None:
        self.ensure_held_by(deputy_id)
        self._converted(deputy_id=deputy_id, suggestion_id=suggestion_id,
                        converted_at=converted_at, station_id=self.station_id)

    class Converted(Published):
        deputy_id: str
        suggestion_id: str
        converted_at: datetime
        station_id: str

    @event(Converted)
    def _converted(self, deputy_id: str, suggestion_id: str, converted_at: datetime,
                   station_id: str | None = None) -> None:
        self.status = "converted"
        self.suggestion_id = suggestion_id

    def forward(self, unit_id: str, forwarded_at: datetime, *, by_deputy: str | None = None,
                by_office: bool = False) -> None:
        if by_office:
            if self.status not in ("received", "claimed"):
                raise AlreadyDone(f"message is already {self.status}", status_now=self.status)
        else:
            if by_deputy is None:
                raise HeldByAnother("only the deputy holding the message or the office can forward it")
            self.ensure_held_by(by_deputy)
        self._forwarded(unit_id=unit_id, forwarded_at=forwarded_at, station_id=self.station_id,
                        category=self.category)

    class Forwarded(Published):
        unit_id: str
        forwarded_at: datetime
        station_id: str
        category: str | None

    @event(Forwarded)
    def _forwarded(self, unit_id: str, forwarded_at: datetime, station_id: str | None = None,
                   category: str | None = None) -> None:
        self.status = "forwarded"
        self.unit_id = unit_id
        self.claim_expires_at = None

    # --- merging: the same matter from many people (services/intake/message_merging.py) --

    def merge_into(self, target_id: str, merged_at: datetime, by: str,
                   score: float | None = None) -> None:
        """This message is the same matter as ``target_id``: it is handled there. Only a
        message nobody has taken up yet (in the pool, unclaimed) is merged."""
        if target_id == str(self.id):
            raise NotAllowedInState("a message cannot be merged into itself",
                                    status_now=self.status)
        if self.status != "received":
            raise NotAllowedInState(f"message is {self.status}; only a message still waiting in "
                                    "the pool (not claimed, not handled) can be merged",
                                    status_now=self.status)
        if self.merged_sources:
            raise MergesPending("other messages are merged into this one: undo those merges "
                                "first", status_now=self.status)
        self._merged_into(into_message_id=target_id, previous_status=self.status,
                          merged_at=merged_at, by=by, score=score, station_id=self.station_id)

    @event("MergedInto")
    def _merged_into(self, into_message_id: str, previous_status: str, merged_at: datetime,
                     by: str, score: float | None, station_id: str) -> None:
        # station_id: what message_merged tells (the relay reads no aggregate)
        self.status_before_merge = previous_status
        self.status = "merged"
        self.merged_into = into_message_id

    def source_merged(self, source_id: str, merged_at: datetime) -> None:
        """A message merged into this one (the target): never a merged message itself."""
        if self.status == "merged":
            raise NotAllowedInState("the target message is itself merged into another: merge "
                                    "into that one", status_now=self.status)
        if self.personal_data_erased:
            raise NotAllowedInState("the target message's content is erased",
                                    status_now=self.status)
        if source_id in self.merged_sources:
            raise AlreadyDone("that message is already merged into this one",
                              status_now=self.status)
        self._source_merged(source_id=source_id, merged_at=merged_at)

    @event("SourceMerged")
    def _source_merged(self, source_id: str, merged_at: datetime) -> None:
        self.merged_sources = [*self.merged_sources, source_id]

    def undo_merge(self, reason: str, undone_at: datetime, by: str) -> None:
        if self.status != "merged" or self.merged_into is None:
            raise NotAllowedInState(f"message is {self.status}, not merged",
                                    status_now=self.status)
        self._merge_undone(into_message_id=self.merged_into,
                           restored_status=self.status_before_merge or "received",
                           reason=reason, undone_at=undone_at, by=by,
                           station_id=self.station_id)

    @event("MergeUndone")
    def _merge_undone(self, into_message_id: str, restored_status: str, reason: str,
                      undone_at: datetime, by: str, station_id: str) -> None:
        self.status = restored_status
        self.merged_into = None
        self.status_before_merge = None

    def source_unmerged(self, source_id: str, reason: str, undone_at: datetime) -> None:
        if source_id not in self.merged_sources:
            raise NotAllowedInState("that message is not merged into this one",
                                    status_now=self.status)
        self._source_unmerged(source_id=source_id, reason=reason, undone_at=undone_at)

    @event("SourceUnmerged")
    def _source_unmerged(self, source_id: str, reason: str, undone_at: datetime) -> None:
        self.merged_sources = [m for m in self.merged_sources if m != source_id]

    def rate(self, rating: str, rated_at: datetime) -> None:
        if rating not in RATINGS:
            raise ValueError(f"unknown rating {rating!r}")
        if self.rating is not None:
            raise AlreadyDone("the message is already rated", status_now=self.status)
        if self.status not in RATEABLE:
            raise NotAllowedInState(f"message is {self.status}; it can be rated once it is handled",
                                    status_now=self.status)
        if not self.can_rate():
            raise NotAllowedInState("there is nothing to rate yet: a forwarded or converted message "
                                    "can be rated once the handling unit's feedback is in",
                                    status_now=self.status)
        self._rated(rating=rating, rated_at=rated_at, station_id=self.station_id,
                    handled_by=self.handled_by, claimed_by=self.claimed_by)

    @property
    def handled_by(self) -> str:
        """How the message was handled: converted to a suggestion, forwarded to a unit, or
        answered by a deputy."""
        if self.suggestion_id is not None:
            return "suggestion"
        if self.unit_id is not None:
            return "unit"
        return "deputy"

    # --- the handling unit's feedback (a forwarded message, or the suggestion it became) ---

    @property
    def feedback(self) -> dict | None:
        return self._feedback

    def can_rate(self) -> bool:
        """Something to rate: the deputy's answer, or the unit's feedback."""
        if self.rating is not None or self.status not in RATEABLE:
            return False
        return self.status == "answered" or self.feedback is not None

    def record_feedback(self, unit_id: str, result_class: str, commitment_date: date | None,
                        round: int, replied_at: datetime, source_event_id: str,
                        reply_text: str | None = None) -> bool:
        """The handling unit replied (to the forwarded message, or to the suggestion it was
        converted into); the latest round's reply is the feedback. False: already recorded."""
        current = self.feedback
        if current is not None and current.get("source_event_id") == source_event_id:
            return False
        if self.status not in ("forwarded", "converted", "closed"):
            return False
        self._feedback_recorded(unit_id=unit_id, result_class=result_class,
                                commitment_date=commitment_date, round=round,
                                replied_at=replied_at, source_event_id=source_event_id,
                                reply_text=reply_text)
        return True

    @event("FeedbackRecorded")
    def _feedback_recorded(self, unit_id: str, result_class: str, commitment_date: date | None,
                           round: int, replied_at: datetime, source_event_id: str,
                           reply_text: str | None = None) -> None:
        # reply_text: the unit's own words (reply_submitted v3; none in earlier records)
        self._feedback = {"unit_id": unit_id, "result_class": result_class,
                          "commitment_date": commitment_date.isoformat()
                          if commitment_date else None,
                          "round": round, "replied_at": replied_at.isoformat(),
                          "source_event_id": source_event_id, "reply_text": reply_text}

    # --- public disclosure of the answer (services/intake/publication.py) ---------------

    @property
    def publication(self) -> dict[str, Any] | None:
        return self._publication

    def publish(self, summary: str, published_at: datetime, by: str) -> None:
        """The office marks the message public: only once it has an answer (the deputy's)
        or the handling unit's feedback."""
        feedback = self.feedback
        if self.answer is None and feedback is None:
            raise NotAllowedInState(f"message is {self.status}; it is published once it has an "
                                    "answer or the handling unit's feedback",
                                    status_now=self.status)
        answered_at = self.answered_at
        self._published(summary=summary, published_at=published_at, by=by,
                        station_id=self.station_id,
                        unit_id=feedback["unit_id"] if feedback else self.unit_id,
                        result_class=feedback["result_class"] if feedback else None,
                        received_at=self.received_at,
                        handled_at=feedback["replied_at"] if feedback else
                        (answered_at.isoformat() if answered_at else None))

    @event("Published")
    def _published(self, summary: str, published_at: datetime, by: str, station_id: str,
                   unit_id: str | None, result_class: str | None, received_at: datetime,
                   handled_at: str | None) -> None:
        self._publication = {"summary": summary, "published_at": published_at.isoformat(),
                             "by": by, "station_id": station_id, "unit_id": unit_id,
                             "result_class": result_class,
                             "received_at": received_at.isoformat(), "handled_at": handled_at}

    def withdraw_publication(self, withdrawn_at: datetime, by: str) -> None:
        if not self.publication:
            raise NotAllowedInState("the message is not published", status_now=self.status)
        self._publication_withdrawn(withdrawn_at=withdrawn_at, by=by)

    @event("PublicationWithdrawn")
    def _publication_withdrawn(self, withdrawn_at: datetime, by: str) -> None:
        self._publication = None

    class Rated(Published):
        rating: str
        rated_at: datetime
        station_id: str
        handled_by: str
        claimed_by: str | None

    @event(Rated)
    def _rated(self, rating: str, rated_at: datetime, station_id: str | None = None,
               handled_by: str | None = None, claimed_by: str | None = None) -> None:
        self.rating = rating
        self.status = "closed"

    # --- personal data ------------------------------------------------------------------

    def erase_personal_data(self, erased_at: datetime) -> None:
        if self.personal_data_erased:
            raise AlreadyDone("personal data is already erased", status_now=self.status)
        self._personal_data_erased(erased_at=erased_at)

    @event("PersonalDataErased")
    def _personal_data_erased(self, erased_at: datetime) -> None:
        # The ciphertext stays in the log; its key is deleted, so it can no longer be read.
        self.personal_data_erased = True

    # --- attachments (shared/blobs.py: the hash in the event, so the chain covers the file) ---

    def record_attachment(self, attachment: dict[str, Any]) -> None:
        self._attachment_recorded(attachment=attachment)

    @event("AttachmentRecorded")
    def _attachment_recorded(self, attachment: dict[str, Any]) -> None:
        self.attachments = [*getattr(self, "attachments", []), {**attachment, "erased": False}]

    def erase_attachments(self, erased_at: datetime) -> list[str]:
        """The poster's files are erased with their personal data: the events keep the
        hashes (the chain still verifies), the bytes are deleted by the application."""
        sha256s = sorted({a["sha256"] for a in getattr(self, "attachments", [])
                          if not a["erased"]})
        if sha256s:
            self._attachments_erased(sha256s=sha256s, erased_at=erased_at)
        return sha256s

    @event("AttachmentsErased")
    def _attachments_erased(self, sha256s: list[str], erased_at: datetime) -> None:
        self.attachments = [{**a, "erased": a["erased"] or a["sha256"] in sha256s}
                            for a in self.attachments]


class PersonalDataAccessLog(Aggregate):
    """Who read a message's personal data unmasked, when, which fields, and why (one log per
    message, apart from the message so that reading never conflicts with handling it)."""

    @staticmethod
    def create_id(message_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:intake:personal-data-access:{message_id}")

    @event("Started")
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.reads: list[dict[str, object]] = []

    @event("Read")
    def record_read(self, username: str, role: str, fields: list[str], route: str,
                    purpose: str | None, read_at: datetime) -> None:
        self.reads.append({"username": username, "role": role, "fields": list(fields),
                           "route": route, "purpose": purpose, "read_at": read_at})

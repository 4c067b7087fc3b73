"""Intake's commands and queries over its event store."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic_settings import SettingsConfigDict

from shared.contracts.supervision import CaseClosedV1, ReplySubmittedV1
from shared.blobs import AttachmentIndex, blob_store
from shared.clock import CHINA_TZ, Clock, clock_from_settings
from shared.errors import DomainError
from shared.eventstore import Actor, ServiceApplication
from shared.paging import MAX_LIMIT
from shared.read_store import Rebuilding, ViewStore
from shared.reference import ReferenceData
from shared.contracts.requests.intake import (  # noqa: F401  (names kept: tests import them here)
    AccessLogRef,
    AnswerMessage,
    ConvertMessage,
    DeclineSuggestion,
    ForwardMessage,
    GetSuggestion,
    ListMessages,
    ListSuggestions,
    MergeSuggestion,
    MessageRef,
    PostMessage,
    PostMessageToDeputy,
    RateMessage,
    RegisterSuggestion,
    ReverseRegistration,
    SimilarMessagesRef,
    SimilarRef,
    SubmitSuggestion,
    SuggestionRef,
    UndoMerge,
)
from shared.contracts.requests.limits import PHONE_PATTERN  # noqa: F401  (one place)
from shared.rpc import Conflict, Forbidden, Invalid, NotFound
from shared.settings import ServiceSettings

from services.intake.domain import (
    CitizenMessage,
    PersonalDataAccessLog,
    RegistrationSequence,
    Suggestion,
    merge_refusal,
)
from services.intake import attachments
from services.intake.personal_data import ERASED, KeyStore, mask_name, mask_phone, seal
from services.intake.read_models import MessagesView, SuggestionsView
from services.intake.similar_matters import SimilarMattersView
from services.intake.similarity import excerpt

STAFF_ROLES = ("office", "leader", "unit", "deputy")
UNREGISTERED = ("submitted", "declined")


class IntakeSettings(ServiceSettings):
    """Intake's own settings on top of the shared ones (same unprefixed environment)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # A claimed message not handled within this time returns to the pool (CLAIM_TIME_LIMIT,
    # an ISO 8601 duration such as PT24H or P1D).
    claim_time_limit: timedelta = timedelta(hours=24)
    # How often the runtime sweeps expired claims back to the pool (CLAIM_SWEEP_SECONDS).
    claim_sweep_seconds: float = 5.0
    # The sentence model of similar matters (SIMILAR_MODEL): use (default) or e5
    # (services/intake/encoder.py).
    similar_model: Literal["use", "e5"] = "use"

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> IntakeSettings:
        if isinstance(settings, IntakeSettings):
            return settings
        return cls(**settings.model_dump())


# The requests (SubmitSuggestion, PostMessage...) are declared in
# shared/contracts/requests/intake.py.


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IntakeApplication(ServiceApplication):
    name = "intake"
    snapshotting_intervals = {RegistrationSequence: 50}
    # Every registration reads the year's sequence: kept in memory between them.
    kept_aggregates = (RegistrationSequence,)

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        settings = IntakeSettings.from_settings(settings)
        self.claim_time_limit = settings.claim_time_limit
        self._registering = threading.Lock()
        super().__init__(settings, env={"IS_SNAPSHOTTING_ENABLED": "y"})
        # Deputies, stations and units: this service's replica of the registry's records
        # (shared/reference.py), seeded from config/ and followed in its own log; the tables
        # are updated in place.
        self.reference = ReferenceData(self, settings)
        self.deputies = self.reference.table("deputy")
        self.stations = self.reference.table("station")
        self.units = self.reference.table("unit")
        # Categories too (a closed one keeps its name on old cases; nothing new goes in it)
        self.categories = self.reference.table("category")
        # A deputy's stations (a station's ``deputies`` and a deputy's ``station``): the
        # pools of messages the deputy sees; recomputed when the replica changes.
        self.deputy_stations: dict[str, set[str]] = {}
        self.reference.catch_up()
        self.reference.on_change(self._index_deputy_stations)
        self.keys = KeyStore(settings)
        # The persisted read models (services/intake/read_models.py); ReadModels builds them.
        self.views = ViewStore(settings)
        self.suggestions_view = SuggestionsView(self, self.views)
        self.messages_view = MessagesView(self, self.views)
        # similar matters: sentence vectors and character features (similar_matters.py)
        self.similar_view = SimilarMattersView(self, self.views)
        # files on suggestions and messages (services/intake/attachments.py)
        self.blobs = blob_store(settings)
        self.attachments = AttachmentIndex(
            self, [Suggestion.AttachmentRecorded, CitizenMessage.AttachmentRecorded],
            [CitizenMessage.AttachmentsErased])

    def _index_deputy_stations(self) -> None:
        index: dict[str, set[str]] = {}
        for station in list(self.stations.values()):
            for d in station.get("deputies") or []:
                index.setdefault(d, set()).add(station["id"])
        for d in list(self.deputies.values()):
            if d.get("station"):
                index.setdefault(d["id"], set()).add(d["station"])
        self.deputy_stations = index

    def close(self) -> None:
        self.keys.close()
        self.views.close()
        super().close()

    def _category_refused(self, category: str) -> str | None:
        """Why nothing new may be filed under ``category`` (unknown, or closed by the
        registry), or None."""
        if category not in self.categories:
            return f"unknown category {category!r}"
        if not self.reference.active("category", category):
            return (f"category {category!r} is closed (its registry record): choose another "
                    "category")
        return None

    # --- commands -----------------------------------------------------------------------

    def submit_suggestion(self, cmd: SubmitSuggestion, actor: Actor) -> dict[str, Any]:
        if actor.role != "deputy" or not actor.deputy_id:
            raise Forbidden("only a deputy can submit a suggestion")
        lead = actor.deputy_id
        errors: list[dict[str, Any]] = []
        refused = self._category_refused(cmd.category)
        if refused:
            errors.append({"loc": ["body", "category"], "msg": refused})
        if lead not in self.deputies:
            errors.append({"loc": ["actor"], "msg": f"unknown deputy {lead!r}"})
        elif not self.reference.active("deputy", lead):
            errors.append({"loc": ["actor"], "msg": f"deputy {lead!r} no longer serves (their "
                                                    "record is closed): no new suggestion"})
        seen: set[str] = set()
        for i, co in enumerate(cmd.co_signers):
            loc = ["body", "co_signers", i]
            if co == lead:
                errors.append({"loc": loc, "msg": "a co-signer cannot be the lead deputy"})
            elif co in seen:
                errors.append({"loc": loc, "msg": f"duplicate co-signer {co!r}"})
            elif co not in self.deputies:
                errors.append({"loc": loc, "msg": f"unknown deputy {co!r}"})
            elif not self.reference.active("deputy", co):
                errors.append({"loc": loc, "msg": f"deputy {co!r} no longer serves (their "
                                                  "record is closed): cannot co-sign"})
            seen.add(co)
        station_id = cmd.station_id or self.deputies.get(lead, {}).get("station")
        if cmd.station_id and cmd.station_id not in self.stations:
            errors.append({"loc": ["body", "station_id"], "msg": f"unknown station {cmd.station_id!r}"})
        if errors:
            raise Invalid("the suggestion has invalid fields", errors)
        suggestion = Suggestion(
            title=cmd.title,
            body=cmd.body,
            category=cmd.category,
            lead_deputy_id=lead,
            co_signer_ids=cmd.co_signers,
            station_id=station_id,
            submitted_at=self.clock.now(),
        )
        self.save(suggestion)
        return {"id": str(suggestion.id), "status": suggestion.status}

    def register_suggestion(self, cmd: RegisterSuggestion, actor: Actor) -> dict[str, Any]:
        refused = self._category_refused(cmd.category) if cmd.category is not None else None
        if refused:
            raise Invalid.field(["body", "category"], refused)
        now = self.clock.now()
        year = now.astimezone(CHINA_TZ).year
        # One registration at a time in this process (they all take the next number of one
        # sequence); replicas compete through optimistic concurrency on the sequence.
        with self._registering:
            for _ in range(50):
                suggestion = self._suggestion(cmd.suggestion_id)
                suggestion.ensure_reviewable()
                try:
                    sequence = self.repository.get(RegistrationSequence.create_id(year))
                except AggregateNotFoundError:
                    sequence = RegistrationSequence(year=year)
                sequence.allocate(suggestion_id=str(suggestion.id))
                suggestion.register(
                    number=sequence.last_number,
                    category=cmd.category or suggestion.category,
                    urgency=cmd.urgency,
                    registered_at=now,
                )
                try:
                    self.save(sequence, suggestion)
                except IntegrityError:
                    continue
                return {"id": str(suggestion.id), "number": suggestion.number,
                        "status": suggestion.status}
        raise Conflict("too many concurrent registrations; try again")

    def decline_suggestion(self, cmd: DeclineSuggestion, actor: Actor) -> dict[str, Any]:
        suggestion = self._suggestion(cmd.suggestion_id)
        suggestion.decline(reason=cmd.reason, declined_at=self.clock.now())
        try:
            self.save(suggestion)
        except IntegrityError:
            raise Conflict("the suggestion changed meanwhile; reload it") from None
        return {"id": str(suggestion.id), "status": suggestion.status}

    def reverse_registration(self, cmd: ReverseRegistration, actor: Actor) -> dict[str, Any]:
        """The office reverses a registration (撤销立案); assignment withdraws the tasks and
        points revokes the registration points when they see the published event."""
        if actor.role != "office":
            raise Forbidden("only the office can reverse a registration")
        suggestion = self._suggestion(cmd.suggestion_id)
        suggestion.reverse_registration(reason=cmd.reason, reversed_at=self.clock.now())
        try:
            self.save(suggestion)
        except IntegrityError:
            raise Conflict("the suggestion changed meanwhile; reload it") from None
        return self.suggestion_view(suggestion)

    # --- queries ------------------------------------------------------------------------

    def get_suggestion(self, ref: SuggestionRef, actor: Actor) -> dict[str, Any]:
        suggestion = self._suggestion(ref.suggestion_id)
        if actor.role == "deputy" and actor.deputy_id not in suggestion.deputy_ids:
            raise NotFound(f"no suggestion {ref.suggestion_id}")
        if actor.role == "unit" and suggestion.status in UNREGISTERED:
            # a unit sees only suggestions assigned to it: the gateway also asks supervision
            # whether the unit has a task of it
            raise NotFound(f"no suggestion {ref.suggestion_id}")
        return self.suggestion_view(suggestion)

    def suggestion_body(self, s: Suggestion) -> str:
        """The body as the deputy wrote it, or the citizen's sealed text (ERASED once the
        poster is erased)."""
        return self.content_of(s.personal_data_ref, s.sealed_body, s.body)

    def suggestion_view(self, s: Suggestion) -> dict[str, Any]:
        return suggestion_view(s, self.suggestion_body(s))

    def on_case_closed(self, event: CaseClosedV1) -> list[Suggestion]:
        """Supervision closed out (销号) a case: a suggestion's is recorded on the suggestion,
        which leaves the open matters compared for similarity. A citizen message's case
        closes with its poster's rating here, so it needs nothing."""
        if event.case_kind != "suggestion":
            return []
        try:
            suggestion = self._suggestion(event.case_id)
        except NotFound:
            return []  # not one of ours (a case opened elsewhere)
        # recorded by the consumer together with the upstream position
        return [suggestion] if suggestion.close_case(event.result_class,
                                                    closed_at=event.occurred_at) else []

    def on_reply_submitted(self, event: ReplySubmittedV1) -> list[Suggestion]:
        """The lead unit replied: the suggestion's registration can no longer be reversed."""
        try:
            suggestion = self._suggestion(event.case_id)
        except NotFound:
            return []  # a citizen message's case, or not one of ours
        return [suggestion] if suggestion.note_reply(event.result_class,
                                                    replied_at=event.occurred_at) else []

    def _suggestion(self, suggestion_id: str) -> Suggestion:
        try:
            suggestion = self.repository.get(UUID(suggestion_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no suggestion {suggestion_id}") from None
        if not isinstance(suggestion, Suggestion):
            raise NotFound(f"no suggestion {suggestion_id}")
        return suggestion

    # --- citizen messages: commands -----------------------------------------------------

    def post_message(self, cmd: PostMessage, actor: Actor,
                     hold_for: str | None = None) -> dict[str, Any]:
        if actor.role == "station" and actor.unit_id != cmd.station_id:
            raise Forbidden("station staff record messages at their own station only")
        station = self.stations.get(cmd.station_id)
        if station is None:
            raise NotFound(f"no station {cmd.station_id}")
        if not self.reference.active("station", cmd.station_id):
            raise Conflict(f"station {cmd.station_id} is closed: it takes no new messages")
        errors: list[dict[str, Any]] = []
        refused = self._category_refused(cmd.category) if cmd.category is not None else None
        if refused:
            errors.append({"loc": ["body", "category"], "msg": refused})
        if cmd.grid is not None and cmd.grid not in station.get("grids", []):
            errors.append({"loc": ["body", "grid"],
                           "msg": f"grid {cmd.grid!r} does not belong to station {cmd.station_id}"})
        if errors:
            raise Invalid("the message has invalid fields", errors)
        token = secrets.token_urlsafe(24)
        personal = {k: v for k, v in (("name", cmd.contact_name), ("phone", cmd.contact_phone)) if v}
        # Every poster is a data subject with a key of their own, anonymous ones too: the free
        # text may hold personal details, and erasing the key makes it unreadable.
        subject_id = str(uuid4())
        key = self.keys.create(subject_id)
        message = CitizenMessage(
            station_id=cmd.station_id,
            grid=cmd.grid,
            content=None,
            category=cmd.category,
            follow_up_token_hash=token_hash(token),
            personal_data_ref=subject_id,
            personal_data=seal(key, subject_id, personal) if personal else None,
            received_at=self.clock.now(),
            sealed_content=seal(key, subject_id, cmd.content, "content"),
            session_id=getattr(cmd, "session_id", None),  # PostMessageV2
        )
        if hold_for is not None:  # left for one deputy (their QR code): held by them at once
            message.claim(hold_for, claimed_at=self.clock.now(), time_limit=self.claim_time_limit)
        self.save(message)
        return {"id": str(message.id), "status": message.status, "follow_up_token": token}

    def post_message_to_deputy(self, cmd: PostMessageToDeputy, actor: Actor) -> dict[str, Any]:
        """A message left through a deputy's own QR code: received at the deputy's station,
        held by the deputy."""
        deputy = self.deputies.get(cmd.deputy_id)
        if deputy is None or not deputy.get("station"):
            raise NotFound(f"no deputy {cmd.deputy_id}")
        if not self.reference.active("deputy", cmd.deputy_id):
            raise Conflict(f"deputy {cmd.deputy_id} no longer serves (their record is closed): "
                           "leave the message at a liaison station instead",
                           errors=[{"loc": ["path", "deputy_id"],
                                    "msg": "该代表已不再履职，请到代表联络站留言"}])
        message = PostMessage(station_id=deputy["station"],
                              **cmd.model_dump(exclude={"deputy_id"}, exclude_unset=True))
        return self.post_message(message, actor, hold_for=cmd.deputy_id)

    def claim_message(self, ref: MessageRef, actor: Actor) -> dict[str, Any]:
        deputy_id = self._deputy(actor, "claim a message")
        message = self._message(ref.message_id, actor)
        message.claim(deputy_id, claimed_at=self.clock.now(), time_limit=self.claim_time_limit)
        self._save_message(message)
        return self.message_view(message, actor)

    # --- suggestions: merging and similar matters ---------------------------------------

    def merge_suggestion(self, cmd: MergeSuggestion, actor: Actor) -> dict[str, Any]:
        if actor.role != "office":
            raise Forbidden("only the office can merge suggestions")
        if cmd.into == cmd.suggestion_id:
            raise Conflict("a suggestion cannot be merged into itself")
        source = self._suggestion(cmd.suggestion_id)
        try:
            target = self._suggestion(cmd.into)
        except NotFound:
            raise Invalid.field(["body", "into"], f"no suggestion {cmd.into}") from None
        source.ensure_mergeable_source()
        target.ensure_merge_target()
        refusal = merge_refusal(str(source.id), str(target.id), self._merge_links(str(target.id)))
        if refusal:
            raise Conflict(refusal, status_now=source.status)
        score = self.similar_view.score(str(source.id), str(target.id))
        now = self.clock.now()
        source.merge_into(str(target.id), merged_at=now,
                          score=round(score, 4) if score is not None else None)
        target.source_merged(str(source.id), merged_at=now)
        try:
            self.save(source, target)
        except IntegrityError:
            raise Conflict("a suggestion changed meanwhile; reload it") from None
        return {**self.suggestion_view(source), "target": self.suggestion_view(target)}

    def undo_merge(self, cmd: UndoMerge, actor: Actor) -> dict[str, Any]:
        if actor.role != "office":
            raise Forbidden("only the office can undo a merge")
        source = self._suggestion(cmd.suggestion_id)
        if source.status != "merged" or source.merged_into is None:
            raise Conflict(f"suggestion is {source.status}, not merged", status_now=source.status)
        target = self._suggestion(source.merged_into)
        now = self.clock.now()
        source.undo_merge(reason=cmd.reason, undone_at=now)
        target.source_unmerged(str(source.id), reason=cmd.reason, undone_at=now)
        try:
            self.save(source, target)
        except IntegrityError:
            raise Conflict("a suggestion changed meanwhile; reload it") from None
        return {**self.suggestion_view(source), "target": self.suggestion_view(target)}

    def _merge_links(self, start: str) -> dict[str, str | None]:
        """merged_into along the chain from start (for the cycle check)."""
        links: dict[str, str | None] = {}
        current: str | None = start
        while current is not None and current not in links and len(links) < 1000:
            try:
                nxt = self._suggestion(current).merged_into
            except NotFound:
                nxt = None
            links[current] = nxt
            current = nxt
        return links

    def similar_suggestions(self, ref: SimilarRef, actor: Actor) -> list[dict[str, Any]]:
        """The best earlier candidates for the same matter, open or handled (similar_matters.py)."""
        if actor.role != "office":
            raise Forbidden("only the office looks for similar matters")
        suggestion = self._suggestion(ref.suggestion_id)
        exclude = {suggestion.from_message_id} if suggestion.from_message_id else set()
        return self._similar(str(suggestion.id), ref.limit, exclude)

    def similar_messages(self, ref: SimilarMessagesRef, actor: Actor) -> list[dict[str, Any]]:
        if actor.role != "office":
            raise Forbidden("only the office looks for similar matters")
        message = self._message(ref.message_id)
        return self._similar(str(message.id), ref.limit, set())

    def _similar(self, doc_id: str, limit: int, exclude: set[str]) -> list[dict[str, Any]]:
        found = self.similar_view.similar(doc_id, limit=limit, exclude=exclude)
        suggestions = [c.id for c in found if c.kind == "suggestion"]
        messages = [c.id for c in found if c.kind == "message"]
        labels: dict[str, dict[str, Any]] = {}
        try:  # (a list being rebuilt: the candidates without their labels meanwhile)
            if suggestions:
                for r in self.suggestions_view.rows_by_id(suggestions):
                    labels[r["id"]] = {"title": r["title"], "number": r["number"],
                                       "merged_into": r["merged_into"]}
            if messages:
                for r in self.messages_view.rows_by_id(messages):
                    labels[r["id"]] = {"excerpt": excerpt(r["content"])}
        except Rebuilding:
            pass
        return [{"id": c.id, "kind": c.kind, "score": round(c.score, 4), "status": c.status,
                 "likely_same": c.likely_same,
                 "scores": {"meaning": round(c.meaning, 4),
                            "characters": round(c.characters, 4)},
                 **(labels.get(c.id) or ({"title": None} if c.kind == "suggestion"
                                         else {"excerpt": None}))}
                for c in found]

    def give_up_message(self, ref: MessageRef, actor: Actor) -> dict[str, Any]:
        deputy_id = self._deputy(actor, "give up a claim")
        message = self._message(ref.message_id, actor)
        message.give_up(deputy_id, released_at=self.clock.now())
        self._save_message(message)
        return self.message_view(message, actor)

    def answer_message(self, cmd: AnswerMessage, actor: Actor) -> dict[str, Any]:
        deputy_id = self._deputy(actor, "answer a message")
        message = self._message(cmd.message_id, actor)
        message.answer_directly(deputy_id, text=cmd.text, answered_at=self.clock.now())
        self._save_message(message)
        return self.message_view(message, actor)

    def convert_message(self, cmd: ConvertMessage, actor: Actor) -> dict[str, Any]:
        deputy_id = self._deputy(actor, "turn a message into a suggestion")
        message = self._message(cmd.message_id, actor)
        message.ensure_held_by(deputy_id)
        category = cmd.category or message.category
        if category is None:
            raise Invalid.field(["body", "category"],
                                "the message has no category: give one for the suggestion")
        refused = self._category_refused(category)
        if refused:
            raise Invalid.field(["body", "category"], refused)
        if deputy_id not in self.deputies:
            raise Invalid.field(["actor"], f"unknown deputy {deputy_id!r}")
        if not self.reference.active("deputy", deputy_id):
            raise Conflict(f"deputy {deputy_id} no longer serves (their record is closed): "
                           "no new suggestion")
        now = self.clock.now()
        content = self.message_content(message)
        if content == ERASED:
            raise Conflict("the message's content is erased; it cannot become a suggestion",
                           status_now=message.status)
        # The title travels on the bus and into every service: never the citizen's words.
        station_name = self.stations.get(message.station_id, {}).get("name", message.station_id)
        title = cmd.title or f"群众意见转化：{station_name}（{now.date().isoformat()}）"
        if cmd.body is not None:
            body, sealed_body, subject_id = cmd.body, None, None
        elif message.sealed_content is not None and message.personal_data_ref:
            key = self.keys.get(message.personal_data_ref)
            if key is None:
                raise Conflict("the message's content is erased; it cannot become a suggestion",
                               status_now=message.status)
            subject_id = message.personal_data_ref
            body, sealed_body = "", seal(key, subject_id, content, "content")
        else:  # a message recorded before contents were sealed
            body, sealed_body, subject_id = content, None, None
        suggestion = Suggestion(
            title=title,
            body=body,
            category=category,
            lead_deputy_id=deputy_id,
            co_signer_ids=[],
            station_id=message.station_id,
            submitted_at=now,
            from_message_id=str(message.id),
            sealed_body=sealed_body,
            personal_data_ref=subject_id,
        )
        message.convert(deputy_id, suggestion_id=str(suggestion.id), converted_at=now)
        self._save_message(message, suggestion)
        return {"id": str(message.id), "status": message.status,
                "suggestion_id": str(suggestion.id)}

    def forward_message(self, cmd: ForwardMessage, actor: Actor) -> dict[str, Any]:
        if actor.role not in ("deputy", "office"):
            raise Forbidden("only a deputy or the office can forward a message")
        if cmd.unit_id not in self.units:
            raise Invalid.field(["body", "unit_id"], f"unknown unit {cmd.unit_id!r}")
        message = self._message(cmd.message_id, actor)
        if actor.role == "office":
            message.forward(cmd.unit_id, self.clock.now(), by_office=True)
        else:
            message.forward(cmd.unit_id, self.clock.now(), by_deputy=actor.deputy_id)
        self._save_message(message)
        return self.message_view(message, actor, route="forward_message")

    def rate_message(self, cmd: RateMessage, actor: Actor) -> dict[str, Any]:
        message = self._message(cmd.message_id)
        self._check_token(message, cmd.token)
        message.rate(cmd.rating, rated_at=self.clock.now())
        self._save_message(message)
        return {"id": str(message.id), "status": message.status, "rating": message.rating}

    def erase_personal_data(self, ref: MessageRef, actor: Actor) -> dict[str, Any]:
        if actor.role != "office":
            raise Forbidden("only the office can erase personal data")
        message = self._message(ref.message_id)
        message.erase_personal_data(erased_at=self.clock.now())
        erased_files = attachments.erase_message_files(self, message)
        if message.personal_data_ref:
            self.keys.delete(message.personal_data_ref)
        self._save_message(message)
        attachments.delete_erased_blobs(self, erased_files)
        return self.message_view(message, actor)

    def release_expired_claims(self, _payload: Any = None, _actor: Actor | None = None,
                               ) -> dict[str, Any]:
        """The sweep: every claim past its time limit goes back to the pool (an indexed query
        on the claims' expiry; nothing while the messages read model is first built)."""
        if not self.messages_view.ready:
            return {"released": []}
        self.messages_view.catch_up()
        now = self.clock.now()
        released = []
        for message_id in self.messages_view.claims_expired_by(now):
            try:
                message = self._message(message_id)  # releases it when expired
            except (NotFound, Conflict, DomainError):
                continue
            if message.status == "received":
                released.append(message_id)
        return {"released": released}

    # --- citizen messages: queries ------------------------------------------------------

    def get_message(self, ref: MessageRef, actor: Actor) -> dict[str, Any]:
        message = self._message(ref.message_id)
        if actor.role not in STAFF_ROLES:
            self._check_token(message, ref.token)
        elif not self.may_see_message(message, actor):
            raise NotFound(f"no message {ref.message_id}")
        return self.message_view(message, actor, route="get_message", purpose=ref.purpose)

    def access_log(self, ref: AccessLogRef, actor: Actor) -> list[dict[str, Any]]:
        if actor.role != "office":
            raise Forbidden("only the office reads the personal-data access log")
        message = self._message(ref.message_id)
        try:
            log = self.repository.get(PersonalDataAccessLog.create_id(str(message.id)))
        except AggregateNotFoundError:
            return []
        return [{**r, "read_at": r["read_at"].isoformat()} for r in log.reads]

    def _record_access(self, message: CitizenMessage, actor: Actor, fields: list[str],
                       route: str, purpose: str | None) -> None:
        """One entry in the message's access log; the data is not shown if this fails."""
        log_id = PersonalDataAccessLog.create_id(str(message.id))
        for _ in range(10):
            try:
                log = self.repository.get(log_id)
            except AggregateNotFoundError:
                log = PersonalDataAccessLog(message_id=str(message.id))
            log.record_read(username=actor.username, role=actor.role, fields=fields,
                            route=route, purpose=purpose, read_at=self.clock.now())
            try:
                self.save(log)
                return
            except IntegrityError:
                continue  # another read was recorded meanwhile: append after it
        raise Conflict("could not record the access to personal data; try again")

    def list_messages(self, q: ListMessages, actor: Actor) -> dict[str, Any]:
        """A page of messages (a unit sees those forwarded to it); the year is the receipt
        year, the current one by default."""
        if actor.role not in STAFF_ROLES:
            raise Forbidden("only staff can list messages")
        self.release_expired_claims()
        self.messages_view.catch_up()
        unit_id = (actor.unit_id or "") if actor.role == "unit" else None
        if actor.role == "deputy":
            deputy_id = actor.deputy_id or ""
            return self.messages_view.query(
                q, self.clock.now(), deputy_id=deputy_id,
                stations=sorted(self.deputy_stations.get(deputy_id, ())))
        return self.messages_view.query(q, self.clock.now(), unit_id=unit_id)

    def list_suggestions(self, q: ListSuggestions, actor: Actor) -> Any:
        """A page of suggestions (a deputy sees only their own); the year is the submission
        year, the current one by default. A caller that sends neither ``limit`` nor
        ``cursor`` (written before lists paged: ``duty-ops verify``) gets every year's
        matching suggestions as a bare list, at most 500 of them."""
        if actor.role == "deputy":
            q = q.model_copy(update={"deputy_id": actor.deputy_id or ""})
        elif actor.role == "unit":
            # A unit lists the suggestions assigned to it: which those are is supervision's
            # (its tasks, scoped to the unit there); the gateway asks it for the case ids and
            # passes them here. Without them, or of those the unregistered ones, nothing.
            if q.ids is None:
                raise Forbidden("a unit lists the suggestions of its tasks (by unit_id)")
            q = q.model_copy(update={"registered_only": True})
        elif actor.role not in ("office", "leader", "system"):
            raise Forbidden("only staff can list suggestions")
        if {"limit", "cursor"} & q.model_fields_set:
            return self.suggestions_view.query(q, self.clock.now())
        found = self.suggestions_view.query(q.model_copy(update={
            "limit": MAX_LIMIT, "year": q.year if "year" in q.model_fields_set else "all"}),
            self.clock.now())
        if found["next_cursor"]:
            raise Invalid.field(["query", "limit"], f"more than {MAX_LIMIT} suggestions "
                                "match: ask for pages (limit, cursor)")
        return found["items"]

    # --- citizen messages: helpers ------------------------------------------------------

    def _deputy(self, actor: Actor, what: str) -> str:
        if actor.role != "deputy" or not actor.deputy_id:
            raise Forbidden(f"only a deputy can {what}")
        return actor.deputy_id

    def attachment_visible(self, aggregate_id: str, actor: Actor) -> bool:
        return attachments.visible(self, aggregate_id, actor)

    def may_see_message(self, message: CitizenMessage, actor: Actor) -> bool:
        """The office and leaders see every message; a unit those forwarded to it; a deputy
        those of their stations' pools and those they hold or held."""
        if actor.role in ("office", "leader", "system"):
            return True
        if actor.role == "unit":
            return bool(actor.unit_id) and message.unit_id == actor.unit_id
        if actor.role == "deputy" and actor.deputy_id:
            deputy_id = actor.deputy_id
            if message.station_id in self.deputy_stations.get(deputy_id, ()) \
                    or deputy_id in (message.claimed_by, message.answered_by):
                return True
            self.messages_view.catch_up()
            return self.messages_view.held_by(deputy_id, str(message.id))
        return False

    def _message(self, message_id: str, actor: Actor | None = None) -> CitizenMessage:
        """Load a message; a claim past its time limit is released first (and recorded).
        With a deputy ``actor``: a message they may not see is not found."""
        message = self._load_message(message_id)
        if actor is not None and actor.role == "deputy" \
                and not self.may_see_message(message, actor):
            raise NotFound(f"no message {message_id}")
        return message

    def _load_message(self, message_id: str) -> CitizenMessage:
        for _ in range(5):
            try:
                message = self.repository.get(UUID(message_id))
            except (ValueError, AggregateNotFoundError):
                raise NotFound(f"no message {message_id}") from None
            if not isinstance(message, CitizenMessage):
                raise NotFound(f"no message {message_id}")
            if not message.claim_expired(self.clock.now()):
                return message
            assert message.claim_expires_at is not None
            message.release_claim("expired", released_at=message.claim_expires_at)
            try:
                self.save(message)
            except IntegrityError:
                continue  # someone else changed it meanwhile: load again
            return message
        raise Conflict("the message changed meanwhile; try again")

    def _save_message(self, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict("the message changed meanwhile; reload it") from None

    def _check_token(self, message: CitizenMessage, token: str | None) -> None:
        if not token or not hmac.compare_digest(token_hash(token), message.follow_up_token_hash):
            raise Forbidden("a valid follow-up token is needed for this message")

    def personal_data(self, message: CitizenMessage) -> dict[str, Any] | None:
        if not message.personal_data_ref or not message.personal_data:
            return None
        if message.personal_data_erased:
            return None
        return self.keys.decrypt(message.personal_data_ref, message.personal_data)

    def message_content(self, m: CitizenMessage) -> str:
        """The free text: decrypted (newer events) or as recorded (older ones); ERASED once
        the poster's personal data is erased."""
        if m.personal_data_erased:
            return ERASED
        return self.content_of(m.personal_data_ref, m.sealed_content, m.content)

    def content_of(self, subject_id: str | None, sealed: str | None,
                   plain: str | None, remembered: bool = False) -> str:
        """The text, decrypted (``remembered``: with the key remembered for the page of the
        log a read model is applying, see ``KeyStore.get_remembered``)."""
        if sealed is None:
            return plain if plain is not None else ""
        if subject_id is None:
            return ERASED
        text = self.keys.decrypt(subject_id, sealed, "content", remembered=remembered)
        return text if isinstance(text, str) else ERASED

    def message_view(self, m: CitizenMessage, actor: Actor, route: str | None = None,
                     purpose: str | None = None) -> dict[str, Any]:
        """The message as this actor may see it. When the office is shown a name or phone
        unmasked and a route is given, the read is recorded in the access log first."""
        contact_name = contact_phone = None
        if m.personal_data_ref and m.personal_data:
            data = self.personal_data(m)
            if data is None:
                contact_name = contact_phone = ERASED
            else:
                contact_name, contact_phone = data.get("name"), data.get("phone")
                if actor.role != "office":
                    contact_name, contact_phone = mask_name(contact_name), mask_phone(contact_phone)
                elif route is not None:
                    fields = [f for f, v in (("contact_name", contact_name),
                                             ("contact_phone", contact_phone)) if v]
                    if fields:
                        self._record_access(m, actor, fields, route, purpose)
        elif m.personal_data_erased and m.personal_data:
            contact_name = contact_phone = ERASED
        station = self.stations.get(m.station_id, {})
        view = {
            "id": str(m.id),
            "status": m.status,
            "station_id": m.station_id,
            "district": station.get("district"),
            "grid": m.grid,
            "content": self.message_content(m),
            "category": m.category,
            "contact_name": contact_name,
            "contact_phone": contact_phone,
            "personal_data_erased": m.personal_data_erased,
            "received_at": m.received_at.isoformat(),
            "claimed_by": m.claimed_by,
            "claimed_at": m.claimed_at.isoformat() if m.claimed_at else None,
            "claim_expires_at": m.claim_expires_at.isoformat() if m.claim_expires_at else None,
            # another deputy's answer is theirs to the citizen: not shown to other deputies
            "answer": m.answer if actor.role != "deputy" or m.answered_by is None
            or m.answered_by == actor.deputy_id else None,
            "suggestion_id": m.suggestion_id,
            "unit_id": m.unit_id,
            "rating": m.rating,
            "version": m.version,
            "merged_into": m.merged_into,
            "merged_sources": list(m.merged_sources),
            # the citizen's photos (services/intake/attachments.py): for staff who see it
            "attachments": list(getattr(m, "attachments", [])),
            **message_feedback_view(m),
        }
        if actor.role not in STAFF_ROLES:  # the citizen, with the follow-up token
            for key in ("claimed_by", "claimed_at", "claim_expires_at", "version",
                        "attachments"):
                view.pop(key)
        return view


def message_feedback_view(m: CitizenMessage) -> dict[str, Any]:
    """The handling unit's feedback on a forwarded (or converted) message, and whether the
    citizen may rate now (services/intake/follow_up.py)."""
    feedback = m.feedback
    return {"feedback": {k: v for k, v in feedback.items() if k != "source_event_id"}
            if feedback else None, "can_rate": m.can_rate()}


def suggestion_view(s: Suggestion, body: str) -> dict[str, Any]:
    closed_at = s.case_closed_at
    return {
        "id": str(s.id),
        "status": s.status,
        "number": s.number,
        "title": s.title,
        "body": body,
        "category": s.category,
        "urgency": s.urgency,
        "lead_deputy_id": s.lead_deputy_id,
        "co_signers": s.co_signer_ids,
        "station_id": s.station_id,
        "submitted_at": s.submitted_at.isoformat(),
        "registered_at": s.registered_at.isoformat() if s.registered_at else None,
        "decline_reason": s.decline_reason,
        "from_message_id": s.from_message_id,
        "merged_into": s.merged_into,
        "merged_at": s.merged_at.isoformat() if s.merged_at else None,
        "merged_sources": list(s.merged_sources),
        "reversed_registrations": list(s.reversed_registrations),
        "replied_at": s.replied_at.isoformat() if s.replied_at else None,
        "case_closed_at": closed_at.isoformat() if closed_at else None,
        "result_class": s.result_class,
        "attachments": list(getattr(s, "attachments", [])),
        "version": s.version,
    }

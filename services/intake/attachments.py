"""Files on intake's objects (shared/blobs.py): a suggestion's (its deputies or the office
attach them) and a citizen message's (a citizen's photo, attached by a deputy who may see the
message or by the office, or sent by the citizen with the message from a QR page: the poster's
follow-up token, JPEG or PNG, at most ``CITIZEN_PHOTOS_MAX``). Each is recorded by an ``AttachmentRecorded`` event of the
suggestion or message, with its SHA-256, size, type and name, so the aggregate's hash chain
covers the file. Erasing a poster's personal data erases their message's files too: an
``AttachmentsErased`` event names the hashes (the chain still verifies, ``duty-ops verify``
reports them as erased) and the bytes are deleted from the blob store, unless another record
still holds the same file."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from shared.blobs import JPEG, PNG, described
from shared.contracts.requests.intake import AttachToMessage, AttachToSuggestion
from shared.eventstore import Actor
from shared.rpc import Conflict, Forbidden, Invalid, NotFound

from services.intake.domain import CitizenMessage, Suggestion

log = logging.getLogger(__name__)


def attach_to_suggestion(app: Any, cmd: AttachToSuggestion, actor: Actor) -> dict[str, Any]:
    suggestion = app._suggestion(cmd.suggestion_id)
    if actor.role == "deputy" and actor.deputy_id not in suggestion.deputy_ids:
        raise NotFound(f"no suggestion {cmd.suggestion_id}")
    if actor.role not in ("deputy", "office"):
        raise Forbidden("a suggestion's files are attached by its deputies or the office")
    suggestion.record_attachment(described(app.blobs, cmd.attachment.sha256,
                                           cmd.attachment.name, "suggestion",
                                           ["body", "attachment", "sha256"]))
    app._save_message(suggestion)
    return {"id": str(suggestion.id), "attachments": suggestion.attachments}


# The photos a citizen sends with a message from a QR page (the gateway's station and deputy
# pages): at most this many, JPEG or PNG only, while the message is still new.
CITIZEN_PHOTOS_MAX = 3
CITIZEN_PHOTO_TYPES = (JPEG, PNG)


def attach_to_message(app: Any, cmd: AttachToMessage, actor: Actor) -> dict[str, Any]:
    message = app._message(cmd.message_id, actor)
    citizen = actor.role not in ("deputy", "office")
    if citizen:
        # the poster, with the follow-up token: their own photos, sent with the message
        app._check_token(message, cmd.token)
    if message.personal_data_erased:
        raise Conflict("the poster's personal data is erased; no file can be attached")
    attachment = described(app.blobs, cmd.attachment.sha256, cmd.attachment.name,
                           "citizen_photo", ["body", "attachment", "sha256"])
    if citizen:
        if attachment["content_type"] not in CITIZEN_PHOTO_TYPES:
            raise Invalid.field(["body", "attachment", "sha256"],
                                "只能上传照片（JPEG 或 PNG）: a citizen attaches photos only")
        if message.answered_by is not None or message.unit_id is not None \
                or len(getattr(message, "attachments", [])) >= CITIZEN_PHOTOS_MAX:
            raise Conflict("photos are sent with the message; no more can be added")
    message.record_attachment(attachment)
    app._save_message(message)
    return {"id": str(message.id), "attachments": message.attachments}


def visible(app: Any, aggregate_id: str, actor: Actor) -> bool:
    """A file of a suggestion: for whoever reads the suggestion (its deputies, the office,
    leaders; not a unit: intake does not know its tasks). Of a message: whoever may see it."""
    try:
        aggregate = app.repository.get(UUID(aggregate_id))
    except Exception:  # noqa: BLE001  not found, not an id
        return False
    if isinstance(aggregate, Suggestion):
        if actor.role in ("office", "leader", "system"):
            return True
        return actor.role == "deputy" and actor.deputy_id in aggregate.deputy_ids
    if isinstance(aggregate, CitizenMessage):
        return app.may_see_message(aggregate, actor)
    return False


def erase_message_files(app: Any, message: CitizenMessage) -> list[str]:
    """Record the erasure of the poster's files on the message (saved by the caller)."""
    return message.erase_attachments(erased_at=app.clock.now())


def delete_erased_blobs(app: Any, sha256s: list[str]) -> None:
    """After the erasure is recorded: delete each file no other record still holds."""
    for sha256 in sha256s:
        if not app.attachments.still_needed(sha256):
            app.blobs.delete(sha256)
        else:
            log.info("file %s is recorded elsewhere too: its bytes are kept", sha256)

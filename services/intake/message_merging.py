"""Merging citizen messages: the same matter from many people (one broken streetlight, twenty
messages). The office merges a message still waiting in the pool into another message; the
source leaves the pool (nobody claims it), is handled with its target, and its citizen's
follow-up page shows the target's answer or the handling unit's feedback. A merge is undone
with a reason: the source goes back to the pool as it was.

Both sides are recorded, each in its own message's history (``MergedInto`` and
``MergeUndone`` on the source, ``SourceMerged`` and ``SourceUnmerged`` on the target), saved
together in one transaction. A message that others are merged into is not merged itself, and
nothing is merged into a merged message, so merges never chain.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import IntegrityError

from shared.contracts.requests.intake import MergeMessage, UndoMessageMerge
from shared.eventstore import Actor
from shared.read_store import Rebuilding
from shared.rpc import Conflict, Forbidden, Invalid, NotFound


def merge_message(app: Any, cmd: MergeMessage, actor: Actor) -> dict[str, Any]:
    if actor.role != "office":
        raise Forbidden("only the office can merge messages")
    if cmd.into == cmd.message_id:
        raise Conflict("a message cannot be merged into itself")
    source = app._message(cmd.message_id)
    try:
        target = app._message(cmd.into)
    except NotFound:
        raise Invalid.field(["body", "into"], f"no message {cmd.into}") from None
    now = app.clock.now()
    try:  # the score shown when merging is recorded; a similarity index being rebuilt
        score = app.similar_view.score(str(source.id), str(target.id))  # does not stop a merge
    except Rebuilding:
        score = None
    source.merge_into(str(target.id), merged_at=now, by=actor.username,
                      score=round(score, 4) if score is not None else None)
    target.source_merged(str(source.id), merged_at=now)
    _save(app, source, target)
    return {**app.message_view(source, actor), "target": app.message_view(target, actor)}


def undo_message_merge(app: Any, cmd: UndoMessageMerge, actor: Actor) -> dict[str, Any]:
    if actor.role != "office":
        raise Forbidden("only the office can undo a merge")
    source = app._message(cmd.message_id)
    into, now = source.merged_into, app.clock.now()
    source.undo_merge(reason=cmd.reason, undone_at=now, by=actor.username)  # merged, or refused
    target = app._message(into)
    target.source_unmerged(str(source.id), reason=cmd.reason, undone_at=now)
    _save(app, source, target)
    return {**app.message_view(source, actor), "target": app.message_view(target, actor)}


def _save(app: Any, *messages: Any) -> None:
    try:
        app.save(*messages)
    except IntegrityError:
        raise Conflict("a message changed meanwhile; reload it") from None

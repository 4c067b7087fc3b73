"""The citizen's loop after posting a message: the handling unit's feedback reaches the
message, and the follow-up page finds the message by its follow-up token.

- ``message_feedback``: supervision's ``reply_submitted`` for a forwarded message's case, or
  for the suggestion a message was converted into, is recorded on the message
  (``FeedbackRecorded``): the citizen sees it, Open311 shows it and closes the request, and
  only then may the citizen rate (a message answered by a deputy can be rated at once).
- ``FollowUpIndex``: the token's hash → the message (a persisted read model): the token is
  all the citizen has; it is never stored, only its SHA-256.
- ``follow_up``: what the token's holder is shown: status, answer or feedback, whether they
  can rate. Never the personal data or the text of the message (they wrote it).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from shared.contracts.supervision import ReplySubmittedV1
from shared.contracts.requests.intake import FollowUpRef  # noqa: F401  (name kept)
from shared.projection import key_of
from shared.read_store import TableProjection, Tx
from shared.rpc import NotFound

from services.intake.domain import CitizenMessage, Suggestion

RESULT_TEXT = {
    "A": "问题已解决或意见已采纳",
    "B": "正在解决或已列入计划",
    "C": "因条件限制暂时无法解决，已作说明，留作参考",
}


# FollowUpRef is declared in shared/contracts/requests/intake.py.


class FollowUpIndex(TableProjection):
    name = "FollowUpIndex"
    tables = ("FollowUpIndex_tokens",)

    def create(self, tx: Tx) -> None:
        tx.execute(f"CREATE TABLE {self.t('FollowUpIndex_tokens')} ("
                   "token_hash TEXT PRIMARY KEY, message_id TEXT NOT NULL)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, CitizenMessage.Received):
            return
        assert self.tx is not None
        self.tx.execute(f"INSERT INTO {self.t('FollowUpIndex_tokens')} (token_hash, message_id) "
                        "VALUES (?, ?) ON CONFLICT (token_hash) DO NOTHING",
                        (domain_event.follow_up_token_hash, key_of(domain_event.originator_id)))

    def message_id(self, token_hash: str) -> str | None:
        self.require_ready()
        with self.store.read() as tx:
            row = tx.one(f"SELECT message_id FROM {self.t('FollowUpIndex_tokens')} "
                         "WHERE token_hash = ?", (token_hash,))
        return row["message_id"] if row else None


def _message(app: Any, message_id: str) -> CitizenMessage | None:
    try:
        aggregate = app.repository.get(UUID(message_id))
    except (ValueError, AggregateNotFoundError):
        return None
    return aggregate if isinstance(aggregate, CitizenMessage) else None


def message_feedback(app: Any, event: ReplySubmittedV1) -> list[CitizenMessage]:
    """The unit's reply recorded on the message it answers (directly, or through the
    suggestion the message became)."""
    message = _message(app, event.case_id)
    if message is None:
        try:
            suggestion = app.repository.get(UUID(event.case_id))
        except (ValueError, AggregateNotFoundError):
            return []
        source = suggestion.from_message_id if isinstance(suggestion, Suggestion) else None
        message = _message(app, source) if source else None
        if message is None:
            return []
    changed = message.record_feedback(
        unit_id=event.unit_id, result_class=event.result_class,
        commitment_date=event.commitment_date, round=event.round,
        replied_at=event.occurred_at, source_event_id=event.event_id,
        reply_text=getattr(event, "reply_text", None))
    return [message] if changed else []


def feedback_text(feedback: dict[str, Any], unit_name: str | None = None) -> str:
    text = RESULT_TEXT.get(feedback["result_class"], "")
    if feedback["result_class"] == "B" and feedback.get("commitment_date"):
        text += f"（承诺于 {feedback['commitment_date']} 前办结）"
    who = unit_name or feedback["unit_id"]
    return f"{who}已反馈：{text}"


FOLLOW_UP_STATUS = {
    "received": "已收到，等待代表认领",
    "claimed": "代表已认领，正在办理",
    "forwarded": "已转交承办单位办理",
    "converted": "已转为代表建议办理",
    "answered": "代表已答复",
    "closed": "已办结并评价",
    "merged": "与其他群众反映的同一事项合并办理",
}


def follow_up(app: Any, index: FollowUpIndex, token: str,
              unit_names: dict[str, str] | None = None) -> dict[str, Any]:
    from services.intake.application import token_hash

    message_id = index.message_id(token_hash(token))
    message = _message(app, message_id) if message_id else None
    if message is None:
        raise NotFound("no message has this follow-up code")
    # A merged message is handled with its target (services/intake/message_merging.py): its
    # citizen sees the target's answer or feedback (and rates nothing: the target's citizen
    # rates the handling).
    handled = message
    if message.status == "merged" and message.merged_into:
        handled = _message(app, message.merged_into) or message
    feedback = handled.feedback
    answer = handled.answer if handled.status in ("answered", "closed") else None
    done = handled.status in ("answered", "closed") or feedback is not None
    status_text = FOLLOW_UP_STATUS.get(message.status, message.status)
    if handled is not message:
        status_text += "；" + FOLLOW_UP_STATUS.get(handled.status, handled.status)
    return {
        "id": str(message.id),
        "status": message.status,
        "status_text": status_text,
        "done": done,
        "received_at": message.received_at.isoformat(),
        "answer": answer,
        "feedback": {**{k: v for k, v in feedback.items() if k != "source_event_id"},
                     "text": feedback_text(feedback, (unit_names or {}).get(
                         feedback["unit_id"]))} if feedback else None,
        "rating": message.rating,
        "can_rate": message.can_rate(),
    }

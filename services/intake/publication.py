"""Public disclosure of handled suggestions' results (应公开、尽公开).

Intake owns publication: the suggestion is intake's aggregate, with its number and title,
and intake is where a suggestion's personal data is sealed and known — the place that can
tell what may go out. Supervision knows the result, and tells it on the bus: intake notes
the latest reply's unit and result class (``HandlingNoted``, from ``reply_submitted``) and
the close-out's result (``CaseClosed``). The office publishes with a summary of its own (or
the result class's standard wording), never the citizen's text, a name or a phone number;
publication and withdrawal are events of the suggestion, so they are in its audit history.

``PublicResults`` is the public list (a persisted read model): number, title, handling unit,
result class, summary, publication time; a withdrawn result leaves it.

A citizen message (群众留言) marked public by the office shows the same way, once it has an
answer (the deputy's, or the handling unit's feedback recorded by follow_up.py): kind
``message``, 群众留言 in place of a number, the station's name as its title, the handling unit
if any, the published summary (the office's, or a standard wording: never the citizen's name,
phone or text), and its dates. Its publication and withdrawal are events of the message.
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError

from shared.contracts.supervision import ReplySubmittedV1
from shared.eventstore import Actor
from shared.contracts.requests.intake import (  # noqa: F401  (names kept)
    MessagePublicationRef,
    Publish,
    PublishMessage,
    PublicationRef,
    PublicResultsQuery,
)
from shared.paging import checked_after, page
from shared.projection import key_of
from shared.read_store import TableProjection, Tx, like_pattern
from shared.rpc import Forbidden, Invalid, NotFound

from services.intake.domain import CitizenMessage, Suggestion

RESULT_SUMMARY = {
    "A": "所提问题已解决或建议已采纳",
    "B": "所提问题正在解决或已列入计划逐步解决",
    "C": "因条件限制或其他原因暂时无法解决，已向代表说明，留作参考",
}
PERSONAL = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{17}[\dXx]")
MESSAGE_LABEL = "群众留言"
# A published message's standard wording: the deputy answered it, or the unit's result class.
MESSAGE_ANSWERED = "代表已对留言反映的问题作出答复"
MESSAGE_FEEDBACK = {
    "A": "承办单位已反馈：问题已解决或意见已采纳",
    "B": "承办单位已反馈：正在解决或已列入计划",
    "C": "承办单位已反馈：因条件限制暂时无法解决，已作说明，留作参考",
}


# The requests (Publish, PublicationRef, PublicResultsQuery) are declared in
# shared/contracts/requests/intake.py.


def _suggestion(app: Any, suggestion_id: str) -> Suggestion:
    try:
        aggregate = app.repository.get(UUID(suggestion_id))
    except (ValueError, AggregateNotFoundError):
        raise NotFound(f"no suggestion {suggestion_id}") from None
    if not isinstance(aggregate, Suggestion):
        raise NotFound(f"no suggestion {suggestion_id}")
    return aggregate


def note_handling(app: Any, event: ReplySubmittedV1,
                  loaded: list[Any] = ()) -> list[Suggestion]:
    """``loaded``: aggregates an earlier handler of the same event changed (changed again
    here rather than loaded a second time)."""
    suggestion = next((a for a in loaded if str(a.id) == event.case_id), None)
    if suggestion is None:
        try:
            suggestion = _suggestion(app, event.case_id)
        except NotFound:
            return []
    changed = suggestion.note_handling(unit_id=event.unit_id, result_class=event.result_class,
                                       round=event.round, source_event_id=event.event_id)
    return [suggestion] if changed else []


def publish(app: Any, cmd: Publish, actor: Actor) -> dict[str, Any]:
    if actor.role != "office":
        raise Forbidden("the office publishes results")
    suggestion = _suggestion(app, cmd.suggestion_id)
    summary = cmd.summary or None
    if summary and PERSONAL.search(summary):
        raise Invalid.field(["body", "summary"], "a published summary carries no phone or "
                            "identity-card number")
    result_class = suggestion.result_class or (suggestion.handling or {}).get("result_class")
    suggestion.publish(summary=summary or RESULT_SUMMARY.get(result_class or "", ""),
                       published_at=app.clock.now(), by=actor.username)
    app.save(suggestion)
    return publication_view(app, suggestion)


def withdraw(app: Any, ref: PublicationRef, actor: Actor) -> dict[str, Any]:
    if actor.role != "office":
        raise Forbidden("the office withdraws publications")
    suggestion = _suggestion(app, ref.suggestion_id)
    suggestion.withdraw_publication(withdrawn_at=app.clock.now(), by=actor.username)
    app.save(suggestion)
    return {"id": str(suggestion.id), "published": False}


def _checked_summary(summary: str | None) -> str | None:
    summary = (summary or "").strip() or None
    if summary and PERSONAL.search(summary):
        raise Invalid.field(["body", "summary"], "a published summary carries no phone or "
                            "identity-card number")
    return summary


def _citizen_message(app: Any, message_id: str) -> CitizenMessage:
    try:
        aggregate = app.repository.get(UUID(message_id))
    except (ValueError, AggregateNotFoundError):
        raise NotFound(f"no message {message_id}") from None
    if not isinstance(aggregate, CitizenMessage):
        raise NotFound(f"no message {message_id}")
    return aggregate


def publish_message(app: Any, cmd: PublishMessage, actor: Actor) -> dict[str, Any]:
    """The office marks a handled message public (its answer or the unit's feedback)."""
    if actor.role != "office":
        raise Forbidden("the office publishes messages")
    message = _citizen_message(app, cmd.message_id)
    summary = _checked_summary(cmd.summary)
    feedback = message.feedback
    default = (MESSAGE_FEEDBACK.get(feedback["result_class"], MESSAGE_ANSWERED)
               if feedback else MESSAGE_ANSWERED)
    message.publish(summary=summary or default, published_at=app.clock.now(),
                    by=actor.username)
    app.save(message)
    return {"id": str(message.id), "published": True,
            **message_publication_view(app, message.publication or {})}


def withdraw_message(app: Any, ref: MessagePublicationRef, actor: Actor) -> dict[str, Any]:
    if actor.role != "office":
        raise Forbidden("the office withdraws publications")
    message = _citizen_message(app, ref.message_id)
    message.withdraw_publication(withdrawn_at=app.clock.now(), by=actor.username)
    app.save(message)
    return {"id": str(message.id), "published": False}


def message_publication_view(app: Any, p: dict[str, Any]) -> dict[str, Any]:
    """What the public sees of a published message: never its text or the citizen."""
    station = app.stations.get(p["station_id"], {}).get("name", p["station_id"])
    unit = app.units.get(p["unit_id"], {}).get("name", p["unit_id"]) if p["unit_id"] else None
    return {"kind": "message", "number": MESSAGE_LABEL, "title": station, "station": station,
            "unit": unit, "result_class": p["result_class"], "summary": p["summary"],
            "received_at": p["received_at"], "handled_at": p["handled_at"],
            "published_at": p["published_at"]}


def publication_view(app: Any, s: Suggestion) -> dict[str, Any]:
    p = s.publication
    unit = app.units.get(p["unit_id"], {}).get("name", p["unit_id"]) if p["unit_id"] else None
    return {"id": str(s.id), "published": True, "number": s.number, "title": s.title,
            "unit": unit, "result_class": p["result_class"], "summary": p["summary"],
            "published_at": p["published_at"]}


class PublicResults(TableProjection):
    name = "PublicResults"
    tables = ("PublicResults_items",)

    def create(self, tx: Tx) -> None:
        items = self.t("PublicResults_items")
        tx.execute(f"CREATE TABLE {items} (id TEXT PRIMARY KEY, published_at TEXT NOT NULL, "
                   "number TEXT NOT NULL, title TEXT NOT NULL, data TEXT NOT NULL)")
        tx.execute(f"CREATE INDEX {items}_published ON {items} (published_at, id)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if isinstance(domain_event, (CitizenMessage.Published,
                                     CitizenMessage.PublicationWithdrawn)):
            self._apply_message(domain_event)
            return
        if not isinstance(domain_event, (Suggestion.Published, Suggestion.PublicationWithdrawn)):
            return
        assert self.tx is not None
        items = self.t("PublicResults_items")
        key = key_of(domain_event.originator_id)
        self.tx.execute(f"DELETE FROM {items} WHERE id = ?", (key,))
        if isinstance(domain_event, Suggestion.PublicationWithdrawn):
            return
        s: Suggestion = self.app.repository.get(domain_event.originator_id,
                                                version=domain_event.originator_version)
        row = publication_view(self.app, s)
        item = {k: row[k] for k in ("number", "title", "unit", "result_class", "summary",
                                    "published_at")}
        self.tx.execute(f"INSERT INTO {items} (id, published_at, number, title, data) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (key, row["published_at"], s.number, s.title,
                         json.dumps(item, ensure_ascii=False)))

    def _apply_message(self, e: Any) -> None:
        """A citizen message's publication (the event carries all it shows)."""
        assert self.tx is not None
        items = self.t("PublicResults_items")
        key = key_of(e.originator_id)
        self.tx.execute(f"DELETE FROM {items} WHERE id = ?", (key,))
        if isinstance(e, CitizenMessage.PublicationWithdrawn):
            return
        item = message_publication_view(self.app, {
            "summary": e.summary, "published_at": e.published_at.isoformat(),
            "station_id": e.station_id, "unit_id": e.unit_id,
            "result_class": e.result_class, "received_at": e.received_at.isoformat(),
            "handled_at": e.handled_at})
        # the public reference of the entry (the feed's id): not the message's own id
        item["ref"] = str(uuid5(NAMESPACE_URL, f"duty:intake:public-message:{key}"))
        self.tx.execute(f"INSERT INTO {items} (id, published_at, number, title, data) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (key, item["published_at"], item["number"], item["title"],
                         json.dumps(item, ensure_ascii=False)))

    def query(self, q: PublicResultsQuery) -> dict[str, Any]:
        """Published results, newest first."""
        self.require_ready()
        after = checked_after(q, 2)
        items = self.t("PublicResults_items")
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        op = "ILIKE" if self.store.dialect == "postgres" else "LIKE"
        for word in (q.q or "").split():
            where.append(f"(title {op} ? ESCAPE '\\' OR number = ?)")
            params += [like_pattern(word), word]
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(published_at, id) < (?, ?)")
            params += [str(a) for a in after]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT published_at, id, data FROM {items} "
                          f"WHERE {' AND '.join(where)} ORDER BY published_at DESC, id DESC "
                          "LIMIT ?", (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {items} WHERE {filters}",
                              filter_params)
        return page(rows, q.limit, key=lambda r: (r["published_at"], r["id"]), total=total,
                    view=lambda r: json.loads(r["data"]))

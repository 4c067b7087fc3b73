"""Routing rules (交办规则) in assignment's application: seeding, the rules routing reads, and
the office's requests (shared/contracts/requests/assignment.py: ListRoutingRules,
GetRoutingRule, PutRoutingRule, DeleteRoutingRule, ReorderRoutingRules, MoveRoutingRule).

- ``seed_if_empty``: a log without the rule book records config/routing.yaml as its first
  version (``Seeded`` by ``system``); a log that has one never reads the file again.
- ``LiveRoutingRules``: what ``on_suggestion_registered`` matches against. Before each match it
  reads the book, which the application keeps in memory (``kept_aggregates``) and brings up
  to date with the events stored after it by ANY process: a change made through one replica
  of the service routes the very next suggestion in every replica. At start the book is read
  from the service's own log.
- ``RoutingRuleDesk``: the requests. A change is worked out on the current book and saved; a
  book changed meanwhile by another office (the store's optimistic concurrency) is read again
  and the change worked out again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from shared.audit import history_entry
from shared.contracts.requests.assignment import (DeleteRoutingRule, GetRoutingRule,
                                                  ListRoutingRules, MoveRoutingRule,
                                                  PutRoutingRule, ReorderRoutingRules)
from shared.eventstore import Actor
from shared.paging import page_of_list
from shared.rpc import Invalid, NotFound
from shared.settings import ServiceSettings, load_config

from services.assignment.errors import InvalidRule, NoSuchRule
from services.assignment.routing_rules import (BOOK_ID, EVENT_ZH, RoutingRuleBook, check_rule,
                                               concerns)

log = logging.getLogger(__name__)
SYSTEM = "system"
ATTEMPTS = 20


def seed_if_empty(app: Any, settings: ServiceSettings) -> RoutingRuleBook:
    """The rule book of ``app``'s log; recorded from config/routing.yaml when there is none."""
    try:
        return app.repository.get(BOOK_ID)
    except AggregateNotFoundError:
        pass
    try:
        rules = load_config(settings, "routing")
    except FileNotFoundError:
        rules = []
    book = RoutingRuleBook.seed(rules or [], SYSTEM, app.clock.now())
    try:
        app.save(book)
    except IntegrityError:  # a replica starting beside this one seeded first
        return app.repository.get(BOOK_ID)
    log.info("assignment: routing rules seeded from %s: %d rules", settings.config_dir,
             len(book.rules))
    return book


class LiveRoutingRules:
    """The rules routing matches against: the rule book's, read again before each match (a
    test may set ``rules`` itself; they hold until the book next changes)."""

    def __init__(self, read_book: Callable[[], RoutingRuleBook]) -> None:
        self._read_book = read_book
        self.version: int | None = None
        self.rules: list[dict[str, Any]] = []
        self.refresh()

    def refresh(self) -> None:
        book = self._read_book()
        if book.version != self.version:
            self.rules = [dict(r) for r in book.rules]
            self.version = book.version

    def match(self, category: str, district: str | None, title: str = "") -> dict[str, Any] | None:
        """The first rule whose stated conditions all hold (see RoutingRules in application)."""
        from services.assignment.application import RoutingRules

        self.refresh()
        return RoutingRules.match(self, category, district, title)  # type: ignore[arg-type]


def _invalid(exc: InvalidRule) -> Invalid:
    """The 422 answer: each wrong field where the request had it."""
    def loc(field: str) -> list[str]:
        if field == "id":
            return ["path", "rule_id"]
        return ["body", field]
    return Invalid("the routing rule has invalid fields: " + str(exc),
                   errors=[{"loc": loc(e["field"]), "msg": e["msg"]} for e in exc.errors])


class RoutingRuleDesk:
    """The office's requests on the routing rules of ``app`` (AssignmentApplication)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def book(self) -> RoutingRuleBook:
        return self.app.repository.get(BOOK_ID)

    def _unit_state(self, unit: str) -> str:
        if unit not in self.app.units:
            return "unknown"
        return "active" if self.app.reference.active("unit", unit) else "closed"

    def _changing(self, change: Callable[[RoutingRuleBook], Any]) -> tuple[RoutingRuleBook, Any]:
        """Apply ``change`` to the current book and save it (again on a book changed meanwhile)."""
        for n in range(ATTEMPTS):
            book = self.book()
            try:
                result = change(book)
            except InvalidRule as exc:
                raise _invalid(exc) from None
            except NoSuchRule as exc:
                raise NotFound(str(exc)) from None
            if not book.pending_events:
                return book, result
            try:
                self.app.save(book)
                return book, result
            except IntegrityError:
                if n == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.01 * min(n + 1, 10)))
        raise AssertionError("unreachable")

    @staticmethod
    def _row(book: RoutingRuleBook, rule_id: str) -> dict[str, Any]:
        position = book.position(rule_id)
        assert position is not None
        return {**book.rules[position], "position": position + 1}

    # --- commands -----------------------------------------------------------------------

    def put(self, cmd: PutRoutingRule, actor: Actor) -> dict[str, Any]:
        fields = cmd.model_dump(exclude={"rule_id", "before"})
        try:
            rule = check_rule({"id": cmd.rule_id, **fields}, self.app.categories,
                              self._unit_state)
        except InvalidRule as exc:
            raise _invalid(exc) from None
        now = self.app.clock.now()
        book, outcome = self._changing(
            lambda b: b.put(rule, actor.username, now, before=cmd.before))
        return {**self._row(book, cmd.rule_id), "created": outcome == "created",
                "changed": outcome != "unchanged", "version": book.version}

    def delete(self, cmd: DeleteRoutingRule, actor: Actor) -> dict[str, Any]:
        now = self.app.clock.now()
        book, _ = self._changing(lambda b: b.remove(cmd.rule_id, actor.username, now))
        return {"removed": cmd.rule_id, "ids": book.ids(), "version": book.version}

    def reorder(self, cmd: ReorderRoutingRules, actor: Actor) -> dict[str, Any]:
        now = self.app.clock.now()
        book, changed = self._changing(lambda b: b.reorder(list(cmd.ids), actor.username, now))
        return {"ids": book.ids(), "changed": changed, "version": book.version}

    def move(self, cmd: MoveRoutingRule, actor: Actor) -> dict[str, Any]:
        now = self.app.clock.now()
        offset = -1 if cmd.direction == "up" else 1
        book, changed = self._changing(
            lambda b: b.move(cmd.rule_id, offset, actor.username, now))
        return {**self._row(book, cmd.rule_id), "changed": changed, "ids": book.ids()}

    # --- queries ------------------------------------------------------------------------

    def list(self, q: ListRoutingRules, actor: Actor) -> dict[str, Any]:
        book = self.book()
        text = (q.q or "").strip().lower()
        rows = []
        for i, rule in enumerate(book.rules):
            if q.category and rule["category"] != q.category:
                continue
            if text and not (text in rule["id"].lower()
                             or any(text in k.lower() for k in rule["keywords"])):
                continue
            rows.append({**rule, "position": i + 1})
        return {**page_of_list(rows, q, key=lambda r: [r["position"]]),
                "version": book.version, "count": len(book.rules)}

    def get(self, q: GetRoutingRule, actor: Actor) -> dict[str, Any]:
        book = self.book()
        if book.position(q.rule_id) is None:
            raise NotFound(f"no routing rule {q.rule_id}")
        history = []
        for stored in self.app.stored_records(BOOK_ID):
            entry = history_entry(self.app.name, stored, chain_ok=True)
            kind, data = entry["event_type"], entry["data"]
            if not concerns(kind, data, q.rule_id):
                continue
            before: Any = None
            after: Any = None
            if kind == "Seeded":
                after = next(r for r in data["rules"] if r.get("id") == q.rule_id)
            elif kind == "RuleAdded":
                after = {**data["rule"], "position": data["position"] + 1}
            elif kind == "RuleChanged":
                before, after = data["before"], data["after"]
            elif kind == "RuleRemoved":
                before = data["rule"]
            elif kind == "RulesReordered":
                before = {"position": data["before"].index(q.rule_id) + 1}
                after = {"position": data["after"].index(q.rule_id) + 1}
            history.append({"version": entry["version"], "time": entry["time"],
                            "event_type": kind, "label": EVENT_ZH.get(kind, kind),
                            "actor": data.get("actor") or (entry["actor"] or {}).get("username"),
                            "before": before, "after": after})
        return {**self._row(book, q.rule_id), "version": book.version, "history": history}

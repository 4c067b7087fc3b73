"""Routing rules as data (交办规则): the rule book aggregate (services/assignment/routing_rules.py)
and, in assignment's application over a SQLite store, its seeding, the office's requests
(routing_desk.py) and routing reading the book's current rules, also in a second replica of
the service on the same log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from services.assignment.application import AssignmentApplication
from services.assignment.errors import InvalidRule, NoSuchRule
from services.assignment.routing_rules import RoutingRuleBook, check_rule, concerns
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.intake import SuggestionRegisteredV1
from shared.contracts.requests.assignment import (DeleteRoutingRule, GetRoutingRule,
                                                  ListRoutingRules, MoveRoutingRule,
                                                  PutRoutingRule, ReorderRoutingRules)
from shared.eventstore import Actor
from shared.rpc import Invalid, NotFound
from shared.settings import ServiceSettings
from tests.harness import ROOT

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CATEGORIES = {"livelihood", "economy", "safety_hazard"}
UNITS = {"unit-a": "active", "unit-b": "active", "unit-x": "closed"}
SEED = yaml.safe_load((ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"))
OFFICE = Actor("office", "office")


def state(unit: str) -> str:
    return UNITS.get(unit, "unknown")


def checked(**rule) -> dict:
    return check_rule({"category": "livelihood", "lead_unit": "unit-a", **rule}, CATEGORIES,
                      state)


def fields(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for e in exc.value.errors:
        found.setdefault(e["field"], []).append(e["msg"])
    return found


# --- the aggregate ------------------------------------------------------------------------------

def test_the_seed_is_the_configuration_in_order_with_every_field():
    book = RoutingRuleBook.seed(SEED, "system", AT)
    assert book.ids() == [r["id"] for r in SEED]
    assert book.rule("rule-safety") == {"id": "rule-safety", "category": "safety_hazard",
                                        "district": None, "keywords": [], "lead_unit": "unit-a",
                                        "co_units": [], "automatic": True}
    assert RoutingRuleBook.seed([], "system", AT).id == book.id  # one book per system
    with pytest.raises(InvalidRule) as exc:
        RoutingRuleBook.seed([*SEED, SEED[0]], "system", AT)
    assert "rule-safety" in fields(exc)["id"][0]


def test_a_new_rule_goes_last_or_ahead_of_a_named_rule():
    book = RoutingRuleBook.seed(SEED, "system", AT)
    assert book.put(checked(id="rule-end"), "office", AT) == "created"
    assert book.ids()[-1] == "rule-end"
    assert book.put(checked(id="rule-lift", keywords=["电梯"]), "office", AT,
                    before="rule-livelihood") == "created"
    assert book.ids().index("rule-lift") == book.ids().index("rule-livelihood") - 1
    with pytest.raises(InvalidRule) as exc:
        book.put(checked(id="rule-other"), "office", AT, before="rule-none")
    assert "before" in fields(exc)
    added = [e for e in book.collect_events() if type(e).__name__ == "RuleAdded"]
    assert [(e.rule["id"], e.position, e.actor) for e in added] == [
        ("rule-end", len(SEED), "office"), ("rule-lift", 3, "office")]


def test_a_change_records_only_the_fields_that_differ_before_and_after():
    book = RoutingRuleBook.seed(SEED, "system", AT)
    rule = book.rule("rule-livelihood")
    assert book.put({**rule, "co_units": ["unit-a"], "automatic": False}, "clerk", AT) == "changed"
    assert book.put({**rule, "co_units": ["unit-a"], "automatic": False}, "clerk", AT) == "unchanged"
    (changed,) = [e for e in book.collect_events() if type(e).__name__ == "RuleChanged"]
    assert (changed.rule_id, changed.actor, changed.at) == ("rule-livelihood", "clerk", AT)
    assert changed.before == {"co_units": [], "automatic": True}
    assert changed.after == {"co_units": ["unit-a"], "automatic": False}
    assert book.rule("rule-livelihood")["automatic"] is False


def test_removing_and_reordering():
    book = RoutingRuleBook.seed(SEED[:3], "system", AT)
    a, b, c = book.ids()
    assert book.reorder([c, a, b], "office", AT) is True
    assert book.ids() == [c, a, b]
    assert book.reorder([c, a, b], "office", AT) is False  # the same order: no event
    with pytest.raises(InvalidRule) as exc:
        book.reorder([c, a, a, "rule-none"], "office", AT)
    messages = " ".join(fields(exc)["ids"])
    assert b in messages and "rule-none" in messages and "重复" in messages
    assert book.move(c, -1, "office", AT) is False  # already first
    assert book.move(c, +1, "office", AT) is True and book.ids() == [a, c, b]
    book.remove(c, "office", AT)
    assert book.ids() == [a, b]
    with pytest.raises(NoSuchRule):
        book.remove(c, "office", AT)
    names = [type(e).__name__ for e in book.collect_events()]
    assert names == ["Seeded", "RulesReordered", "RulesReordered", "RuleRemoved"]


@pytest.mark.parametrize("rule, field", [
    ({"category": "tourism"}, "category"),
    ({"lead_unit": "unit-none"}, "lead_unit"),
    ({"lead_unit": "unit-x"}, "lead_unit"),              # closed by the registry
    ({"co_units": ["unit-a"]}, "co_units"),              # the lead unit among the co-units
    ({"co_units": ["unit-b", "unit-b"]}, "co_units"),
    ({"co_units": ["unit-none"]}, "co_units"),
    ({"keywords": ["供暖", " "]}, "keywords"),
    ({"keywords": "供暖"}, "keywords"),
    ({"keywords": [3]}, "keywords"),
    ({"id": "规则一"}, "id"),
    ({"id": ""}, "id"),
    ({"automatic": "yes"}, "automatic"),
    ({"colour": "red"}, "colour"),
])
def test_a_wrong_rule_is_refused_field_by_field(rule, field):
    with pytest.raises(InvalidRule) as exc:
        checked(**{"id": "rule-new", **rule})
    assert field in fields(exc), exc.value.errors


def test_every_wrong_field_is_named_at_once():
    with pytest.raises(InvalidRule) as exc:
        check_rule({"id": "r1", "category": "tourism", "lead_unit": "unit-none",
                    "keywords": [""]}, CATEGORIES, state)
    assert set(fields(exc)) == {"category", "lead_unit", "keywords"}


def test_a_rule_history_is_the_events_that_concern_it():
    assert concerns("Seeded", {"rules": [{"id": "r1"}]}, "r1")
    assert not concerns("RuleChanged", {"rule_id": "r2"}, "r1")
    assert concerns("RulesReordered", {"before": ["r1", "r2"], "after": ["r2", "r1"]}, "r1")
    assert not concerns("RulesReordered", {"before": ["r1", "r2", "r3"],
                                           "after": ["r1", "r3", "r2"]}, "r1")


# --- in the application ----------------------------------------------------------------------------

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)


@pytest.fixture
def settings(tmp_path) -> ServiceSettings:
    return ServiceSettings(service_name="assignment", event_store="sqlite", var_dir=tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


@pytest.fixture
def app(settings, clock):
    application = AssignmentApplication(settings, clock=clock)
    yield application
    application.close()


def registered(n: int, title: str, category: str = "livelihood") -> SuggestionRegisteredV1:
    return SuggestionRegisteredV1(
        event_id=f"intake:{n}", case_id=f"case-{n}", source_service="intake",
        source_notification_id=n, occurred_at=MONDAY,
        actor={"username": "office", "role": "office"}, number=f"2026-{n:04d}", title=title,
        category=category, urgency="blue", lead_deputy_id="deputy-1")


def routed(app: AssignmentApplication, n: int, title: str) -> str | None:
    changed = app.on_suggestion_registered(registered(n, title))
    app.save(*changed)
    return changed[0].routing_rule_id


def test_an_empty_log_is_seeded_once_and_routes_as_the_file_says(app, settings, clock):
    assert app.routing_rules_book().ids() == [r["id"] for r in SEED]
    assert routed(app, 1, "冬季供暖不热") == "rule-utilities"
    assert routed(app, 2, "加装电梯") == "rule-livelihood"
    again = AssignmentApplication(settings, clock=clock)  # a restart: read, not seeded again
    try:
        assert again.routing_rules_book().version == 1
        assert [e["event_type"] for e in again.routing_rules.get(
            GetRoutingRule(rule_id="rule-safety"), OFFICE)["history"]] == ["Seeded"]
    finally:
        again.close()


def test_a_change_routes_the_next_suggestion_in_every_replica(app, settings, clock):
    other = AssignmentApplication(settings, clock=clock)  # a second replica, same log
    try:
        assert routed(other, 1, "电梯老旧") == "rule-livelihood"
        done = app.routing_rules.put(PutRoutingRule(
            rule_id="rule-lift", category="livelihood", keywords=["电梯"], lead_unit="unit-c",
            co_units=["unit-a"], automatic=True, before="rule-livelihood"), OFFICE)
        assert (done["created"], done["position"]) == (True, 4)
        assert routed(other, 2, "电梯老旧") == "rule-lift"
        assert routed(app, 3, "电梯老旧") == "rule-lift"
        other.routing_rules.delete(DeleteRoutingRule(rule_id="rule-lift"), OFFICE)
        assert routed(app, 4, "电梯老旧") == "rule-livelihood"
    finally:
        other.close()


def test_the_requests_answer_field_by_field_and_keep_a_history(app, clock):
    desk = app.routing_rules
    with pytest.raises(Invalid) as exc:
        desk.put(PutRoutingRule(rule_id="rule-bad", category="tourism", lead_unit="unit-a",
                                co_units=["unit-a"], keywords=["ok", ""]), OFFICE)
    assert sorted(tuple(e["loc"]) for e in exc.value.errors) == [
        ("body", "category"), ("body", "co_units"), ("body", "keywords")]
    with pytest.raises(NotFound):
        desk.get(GetRoutingRule(rule_id="rule-bad"), OFFICE)
    with pytest.raises(NotFound):
        desk.delete(DeleteRoutingRule(rule_id="rule-bad"), OFFICE)

    clock.advance(timedelta(hours=1))
    clerk = Actor("clerk-2", "office")
    rule = desk.get(GetRoutingRule(rule_id="rule-economy"), OFFICE)
    desk.put(PutRoutingRule(rule_id="rule-economy", category="economy", lead_unit="unit-d",
                            co_units=["unit-b"], automatic=False), clerk)
    desk.move(MoveRoutingRule(rule_id="rule-economy", direction="up"), clerk)
    found = desk.get(GetRoutingRule(rule_id="rule-economy"), OFFICE)
    assert found["position"] == rule["position"] - 1 and found["co_units"] == ["unit-b"]
    seeded, changed, moved = found["history"]
    assert (seeded["event_type"], seeded["actor"]) == ("Seeded", "system")
    assert (changed["label"], changed["actor"]) == ("修改", "clerk-2")
    assert changed["before"] == {"co_units": [], "automatic": True}
    assert changed["after"] == {"co_units": ["unit-b"], "automatic": False}
    assert changed["time"] > seeded["time"]
    assert (moved["event_type"], moved["before"], moved["after"]) == (
        "RulesReordered", {"position": 8}, {"position": 7})

    with pytest.raises(Invalid) as exc:
        desk.reorder(ReorderRoutingRules(ids=["rule-economy"]), OFFICE)
    assert exc.value.errors[0]["loc"] == ["body", "ids"]
    ids = list(reversed(app.routing_rules_book().ids()))
    assert desk.reorder(ReorderRoutingRules(ids=ids), OFFICE)["ids"] == ids

    page = desk.list(ListRoutingRules(q="供暖", limit=10), OFFICE)
    assert [r["id"] for r in page["items"]] == ["rule-utilities"]
    page = desk.list(ListRoutingRules(category="livelihood", limit=2), OFFICE)
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_cursor"]
    rest = desk.list(ListRoutingRules(category="livelihood", limit=2,
                                      cursor=page["next_cursor"]), OFFICE)
    positions = [r["position"] for r in page["items"] + rest["items"]]
    assert positions == sorted(positions) and len(positions) == 3

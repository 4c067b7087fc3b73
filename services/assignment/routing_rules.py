"""Routing rules (交办规则) as data: assignment's ``RoutingRuleBook`` aggregate.

A rule proposes the units of a newly registered suggestion: ``category`` (and optionally
``district`` and title ``keywords``) -> ``lead_unit`` and ``co_units``, assigned at once when
``automatic``. The FIRST rule that matches wins, so the rules' ORDER is part of the data.

One book per system (fixed id ``BOOK_ID``), holding every rule in order, rather than one
aggregate per rule plus an order: adding a rule ahead of another, removing one and reordering
are each one event of one aggregate, so the order is always consistent with the rules, two
offices changing the rules at once are decided by the store's optimistic concurrency on one
version (the second is worked out again on the new rules), and routing reads exactly one
aggregate (kept in memory, brought up to date with the events stored after it). A district
has tens of rules, not thousands: the book stays small.

Events (who: ``actor``, the username, beside the event's metadata; when: ``at``):

- ``Seeded(rules, actor, at)``: the first version (config/routing.yaml, by ``system``);
- ``RuleAdded(rule, position, actor, at)``: a new rule at ``position`` (0-based);
- ``RuleChanged(rule_id, before, after, actor, at)``: the fields that differ, before and after
  (a change that changes nothing is no event);
- ``RuleRemoved(rule_id, rule, position, actor, at)``: the rule as it was, and where;
- ``RulesReordered(before, after, actor, at)``: the ids in the old and the new order.

``check_rule`` gives a rule its canonical shape or refuses it field by field
(``InvalidRule``). The module is pure: no store, no clock, no configuration; what is known
(categories, units) is handed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.assignment.errors import InvalidRule, NoSuchRule

BOOK_ID: UUID = uuid5(NAMESPACE_URL, "duty:assignment:routing-rule-book")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
ID_MESSAGE = "编号应为 1 到 64 个字母、数字或 . _ : -，以字母或数字开头"
TEXT_MAX = 100
KEYWORDS_MAX = 50
FIELDS = ("id", "category", "district", "keywords", "lead_unit", "co_units", "automatic")

# unit id -> "active", "closed" or "unknown" (the service's replica of the registry's units)
UnitState = Callable[[str], str]


def _text(value: Any, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError("必填")
        return None
    if not isinstance(value, str):
        raise ValueError("应为文本")
    if len(value.strip()) > TEXT_MAX:
        raise ValueError(f"不能超过 {TEXT_MAX} 个字符")
    return value.strip()


def _texts(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError("应为列表")
    items = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"每个{what}应为非空文本")
        if len(item.strip()) > TEXT_MAX:
            raise ValueError(f"每个{what}不能超过 {TEXT_MAX} 个字符")
        items.append(item.strip())
    return items


def shape(rule: Any) -> dict[str, Any]:
    """The rule's canonical shape (every field present, texts trimmed), or InvalidRule naming
    each field whose form is wrong. Nothing is looked up."""
    result, errors = _shape(rule)
    if errors:
        raise InvalidRule(errors)
    return result


def _shape(rule: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The well-formed fields in their canonical shape, and a message per wrong field."""
    if not isinstance(rule, dict):
        return {}, [{"field": "rule", "msg": "应为对象"}]
    errors = [{"field": name, "msg": "未知字段"} for name in rule if name not in FIELDS]
    result: dict[str, Any] = {}
    checks: dict[str, Callable[[Any], Any]] = {
        "id": lambda v: _text(v, True),
        "category": lambda v: _text(v, True),
        "district": lambda v: _text(v, False),
        "keywords": lambda v: _texts(v, "关键词"),
        "lead_unit": lambda v: _text(v, True),
        "co_units": lambda v: _texts(v, "协办单位"),
        "automatic": _boolean,
    }
    for name, check in checks.items():
        try:
            result[name] = check(rule.get(name))
        except ValueError as exc:
            errors.append({"field": name, "msg": str(exc)})
    if "id" in result and result["id"] and not ID_PATTERN.match(result["id"]):
        errors.append({"field": "id", "msg": ID_MESSAGE})
    if "keywords" in result:
        if len(result["keywords"]) > KEYWORDS_MAX:
            errors.append({"field": "keywords", "msg": f"关键词不能超过 {KEYWORDS_MAX} 个"})
        result["keywords"] = list(dict.fromkeys(result["keywords"]))
    return result, errors


def _boolean(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("应为是或否")
    return value


def check_rule(rule: Any, categories: Container[str], unit_state: UnitState) -> dict[str, Any]:
    """``shape`` and the references: a known category, known units in service (the lead not
    among the co-units, no co-unit twice). InvalidRule with one message per wrong field."""
    canonical, errors = _shape(rule)
    if not isinstance(rule, dict):
        raise InvalidRule(errors)
    if canonical.get("category") and canonical["category"] not in categories:
        errors.append({"field": "category", "msg": f"没有类别 {canonical['category']}"})
    lead = canonical.get("lead_unit")
    co = canonical.get("co_units") or []
    for name, units in (("lead_unit", [lead] if lead else []), ("co_units", co)):
        for unit in units:
            state = unit_state(unit)
            if state == "unknown":
                errors.append({"field": name, "msg": f"没有承办单位 {unit}"})
            elif state == "closed":
                errors.append({"field": name, "msg": f"承办单位 {unit} 已停用"})
    if lead and lead in co:
        errors.append({"field": "co_units", "msg": "主办单位不能同时是协办单位"})
    if len(set(co)) != len(co):
        errors.append({"field": "co_units", "msg": "协办单位重复"})
    if errors:
        raise InvalidRule(errors)
    return canonical


def differences(before: dict[str, Any], after: dict[str, Any],
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that differ: their values before and after."""
    changed = [k for k in FIELDS if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


class RoutingRuleBook(Aggregate):
    """Every routing rule, in the order they are tried."""

    @staticmethod
    def create_id() -> UUID:
        return BOOK_ID

    @classmethod
    def seed(cls, rules: list[dict[str, Any]], actor: str, at: datetime) -> RoutingRuleBook:
        """The first version: rules of the configuration file in their shape (references are
        not checked: a configured unit the registry closed holds automatic assignment)."""
        canonical = [shape(rule) for rule in rules]
        ids = [r["id"] for r in canonical]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise InvalidRule([{"field": "id", "msg": f"编号 {', '.join(twice)} 重复"}])
        return cls(rules=canonical, actor=actor, at=at)

    @event("Seeded")
    def __init__(self, rules: list[dict[str, Any]], actor: str, at: datetime) -> None:
        self.rules: list[dict[str, Any]] = [dict(r) for r in rules]
        self.changed_at = at

    # --- reading --------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return [r["id"] for r in self.rules]

    def position(self, rule_id: str) -> int | None:
        for i, rule in enumerate(self.rules):
            if rule["id"] == rule_id:
                return i
        return None

    def rule(self, rule_id: str) -> dict[str, Any]:
        at = self.position(rule_id)
        if at is None:
            raise NoSuchRule(f"no routing rule {rule_id}")
        return dict(self.rules[at])

    # --- changes --------------------------------------------------------------------------

    def put(self, rule: dict[str, Any], actor: str, at: datetime,
            before: str | None = None) -> str:
        """Add the rule (``rule`` checked: see ``check_rule``) ahead of rule ``before`` (None:
        last), or change the rule of its id to it. ``created``, ``changed`` or ``unchanged``.
        ``before`` is for a new rule; move an existing one with ``reorder``."""
        current = self.position(rule["id"])
        if current is None:
            if before is None:
                position = len(self.rules)
            else:
                found = self.position(before)
                if found is None:
                    raise InvalidRule([{"field": "before", "msg": f"没有规则 {before}"}])
                position = found
            self._added(rule=dict(rule), position=position, actor=actor, at=at)
            return "created"
        old, new = differences(self.rules[current], rule)
        if not new:
            return "unchanged"
        self._changed(rule_id=rule["id"], before=old, after=new, actor=actor, at=at)
        return "changed"

    @event("RuleAdded")
    def _added(self, rule: dict[str, Any], position: int, actor: str, at: datetime) -> None:
        self.rules.insert(position, dict(rule))
        self.changed_at = at

    @event("RuleChanged")
    def _changed(self, rule_id: str, before: dict[str, Any], after: dict[str, Any],
                 actor: str, at: datetime) -> None:
        at_ = self.position(rule_id)
        assert at_ is not None
        self.rules[at_] = {**self.rules[at_], **after}
        self.changed_at = at

    def remove(self, rule_id: str, actor: str, at: datetime) -> None:
        position = self.position(rule_id)
        if position is None:
            raise NoSuchRule(f"no routing rule {rule_id}")
        self._removed(rule_id=rule_id, rule=dict(self.rules[position]), position=position,
                      actor=actor, at=at)

    @event("RuleRemoved")
    def _removed(self, rule_id: str, rule: dict[str, Any], position: int, actor: str,
                 at: datetime) -> None:
        del self.rules[position]
        self.changed_at = at

    def reorder(self, ids: list[str], actor: str, at: datetime) -> bool:
        """Put the rules in this order: every current id once. False when it is the order
        already (no event); InvalidRule naming the missing, unknown or repeated ids."""
        current = self.ids()
        errors = []
        missing = [i for i in current if i not in ids]
        unknown = [i for i in ids if i not in current]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if missing:
            errors.append({"field": "ids", "msg": "缺少规则 " + "、".join(missing)})
        if unknown:
            errors.append({"field": "ids", "msg": "没有规则 " + "、".join(unknown)})
        if twice:
            errors.append({"field": "ids", "msg": "规则重复 " + "、".join(twice)})
        if errors:
            raise InvalidRule(errors)
        if ids == current:
            return False
        self._reordered(before=current, after=list(ids), actor=actor, at=at)
        return True

    def move(self, rule_id: str, offset: int, actor: str, at: datetime) -> bool:
        """Move a rule up (-1) or down (+1); False at either end (no event)."""
        position = self.position(rule_id)
        if position is None:
            raise NoSuchRule(f"no routing rule {rule_id}")
        target = position + offset
        if target < 0 or target >= len(self.rules):
            return False
        ids = self.ids()
        ids[position], ids[target] = ids[target], ids[position]
        return self.reorder(ids, actor, at)

    @event("RulesReordered")
    def _reordered(self, before: list[str], after: list[str], actor: str, at: datetime) -> None:
        by_id = {r["id"]: r for r in self.rules}
        self.rules = [by_id[i] for i in after]
        self.changed_at = at


def concerns(event_type: str, data: dict[str, Any], rule_id: str) -> bool:
    """Whether a stored event of the book (its type and data) is part of one rule's history."""
    if event_type == "Seeded":
        return any(r.get("id") == rule_id for r in data.get("rules") or [])
    if event_type == "RuleAdded":
        return (data.get("rule") or {}).get("id") == rule_id
    if event_type in ("RuleChanged", "RuleRemoved"):
        return data.get("rule_id") == rule_id
    if event_type == "RulesReordered":
        before, after = data.get("before") or [], data.get("after") or []
        return rule_id in before and rule_id in after and \
            before.index(rule_id) != after.index(rule_id)
    return False


EVENT_ZH = {"Seeded": "初始配置", "RuleAdded": "新建", "RuleChanged": "修改",
            "RuleRemoved": "删除", "RulesReordered": "调整顺序"}

__all__ = ["BOOK_ID", "RoutingRuleBook", "check_rule", "concerns", "shape"]

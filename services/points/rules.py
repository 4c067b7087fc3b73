"""Scoring rules (履职积分规则): versioned data, pure calculations.

A rule version (config/points.yaml) names the activity kinds with their points and caps, the
points from the handling flow, and the eight indicators. Everything here is a pure function
of its arguments so that the domain, recalculation and tests share one definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

PERIODS = ("month", "quarter", "year")
PERIOD_ZH = {"month": "每月", "quarter": "每季度", "year": "每年"}


class ScoringRules:
    """Versioned scoring rules: the version in force on a date applies to points earned then."""

    def __init__(self, versions: list[dict[str, Any]]) -> None:
        self.versions = sorted(versions, key=lambda v: str(v["effective_from"]))

    def in_force(self, on: date) -> dict[str, Any]:
        current = None
        for version in self.versions:
            if date.fromisoformat(str(version["effective_from"])) <= on:
                current = version
        if current is None:
            raise LookupError(f"no scoring rule is in force on {on}")
        return current

    def version(self, name: str) -> dict[str, Any] | None:
        for version in self.versions:
            if str(version["version"]) == str(name):
                return version
        return None

    def effective_until(self, name: str) -> date | None:
        """The day before the next version takes effect (None: still in force)."""
        found = False
        for version in self.versions:
            if found:
                return date.fromordinal(
                    date.fromisoformat(str(version["effective_from"])).toordinal() - 1)
            found = str(version["version"]) == str(name)
        return None

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for v in self.versions:
            out.append({
                "version": str(v["version"]),
                "effective_from": str(v["effective_from"]),
                "effective_until": (str(u) if (u := self.effective_until(v["version"])) else None),
                "activities": {k: dict(a) for k, a in activities(v).items()},
                "automatic": dict(v.get("automatic") or {}),
                "indicators": [dict(i) for i in indicators(v)],
            })
        return out


def activities(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(rule.get("activities") or {})


def indicators(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return list(rule.get("indicators") or [])


def automatic(rule: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return (rule.get("automatic") or {}).get(kind)


def period_key(period: str, on: date) -> str:
    if period == "month":
        return f"{on.year}-{on.month:02d}"
    if period == "quarter":
        return f"{on.year}-Q{(on.month - 1) // 3 + 1}"
    return str(on.year)


def cap_label(kind: str, cap: dict[str, Any], on: date) -> str:
    period = cap.get("period", "year")
    return (f"{kind}: {PERIOD_ZH.get(period, period)}上限 {float(cap['max_points']):g} 分 "
            f"(cap {float(cap['max_points']):g} points per {period}, {period_key(period, on)})")


def capped(base: float, cap: dict[str, Any] | None, kind: str, on: date,
           already: float) -> tuple[float, str | None]:
    """Points an item worth ``base`` scores when ``already`` points of its kind were earned
    in the cap's period: the rest of the cap at most; names the cap when it bit."""
    if not cap:
        return round(base, 2), None
    room = max(float(cap["max_points"]) - already, 0.0)
    if base <= room + 1e-9:
        return round(base, 2), None
    return round(room, 2), cap_label(kind, cap, on)


def item_points(rule: dict[str, Any], line: dict[str, Any]) -> tuple[float, dict[str, Any] | None] | None:
    """What one ledger award line is worth under ``rule`` before caps, and the cap that
    applies to it; None when the rule cannot price it (the line is then left as it is)."""
    kind = line.get("cause_kind")
    if kind == "activity":
        spec = activities(rule).get(line.get("activity_kind") or "")
        if spec is None:
            return (0.0, None) if line.get("activity_kind") else None
        return float(spec["points"]), spec.get("cap")
    spec = automatic(rule, kind or "")
    if spec is None:
        return None
    role = (line.get("details") or {}).get("role")
    if "points" in spec:
        return float(spec["points"]), spec.get("cap")
    if role in spec:
        return float(spec[role]), None
    return None


def cap_group(line: dict[str, Any]) -> str:
    """Lines that share a cap: the same activity kind, or the same automatic kind."""
    if line.get("cause_kind") == "activity":
        return f"activity:{line.get('activity_kind')}"
    return str(line.get("cause_kind"))


def recalculate(rule: dict[str, Any], lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Price every live award line again under ``rule`` (caps re-applied in date order).

    Returns one entry per line the rule can price: ``{line_no, old, new, delta, capped_by}``.
    """
    used: dict[tuple[str, str], float] = {}
    live = [l for l in lines if l["type"] == "award" and not l.get("revoked_by")]
    live.sort(key=lambda l: (l.get("earned_on") or l["awarded_at"][:10], l["line_no"]))
    out = []
    for line in live:
        priced = item_points(rule, line)
        if priced is None:
            continue
        base, cap = priced
        on = date.fromisoformat(line.get("earned_on") or line["awarded_at"][:10])
        key = (cap_group(line), period_key((cap or {}).get("period", "year"), on))
        kind = line.get("activity_kind") or line["cause_kind"]
        new, capped_by = capped(base, cap, kind, on, used.get(key, 0.0))
        used[key] = used.get(key, 0.0) + new
        old = float(line["current_points"])
        out.append({"line_no": line["line_no"], "old": old, "new": new,
                    "delta": round(new - old, 2), "capped_by": capped_by})
    return sorted(out, key=lambda r: r["line_no"])


# --- the eight indicators ---------------------------------------------------------------------

# Award lines besides approved activities that count as activities of their kind in the
# indicators: a deputy group's activity attended (liaison), under inspection_research.
COUNTED_AS_ACTIVITY = ("activity", "group_activity_attended")


def compute_indicators(rule: dict[str, Any], lines: list[dict[str, Any]],
                       facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The indicators of ``rule`` for one deputy and year, from the ledger's lines and facts.

    Measures: ``activities`` (approved activities of the listed kinds, or ``all``),
    ``messages_answered``, ``suggestions_registered`` (lead or co-signer; merged-away and reversed ones not
    counted), ``suggestion_satisfied_rate`` and ``suggestion_resolved_rate`` (shares of the
    deputy's closed suggestions rated satisfied by all who rated / replied class A; null when
    none closed).
    """
    approved: dict[str, int] = {}
    for l in lines:
        if l["type"] == "award" and l["cause_kind"] in COUNTED_AS_ACTIVITY \
                and not l.get("revoked_by"):
            approved[l.get("activity_kind")] = approved.get(l.get("activity_kind"), 0) + 1
    closed = [f for f in facts if f["kind"] == "case_closed"]
    return indicators_from_counts(rule, {
        "activities_by_kind": approved,
        "messages_answered": sum(1 for f in facts if f["kind"] == "message_answered"),
        "suggestions_registered": len(_net_registered(facts) - _net_merged(facts)),
        "suggestions_closed": len(closed),
        "suggestions_closed_satisfied": sum(1 for f in closed
                                            if f["details"].get("all_satisfied")),
        "suggestions_closed_resolved": sum(1 for f in closed
                                           if f["details"].get("result_class") == "A"),
    })


def indicators_from_counts(rule: dict[str, Any], counts: dict[str, Any]) -> list[dict[str, Any]]:
    """The indicators of ``rule`` from what they count (the duty record reads the counts from
    the read models, services/points/read_models.py): ``activities_by_kind`` (approved, not
    revoked), ``messages_answered``, ``suggestions_registered`` (net of reversals and
    merges), ``suggestions_closed`` and of those ``…_satisfied`` (all satisfied) and
    ``…_resolved`` (class A)."""
    by_kind: dict[str, int] = counts.get("activities_by_kind") or {}
    closed = int(counts.get("suggestions_closed") or 0)
    out = []
    for spec in indicators(rule):
        measure = spec.get("measure")
        value: float | int | None
        unit = "count"
        if measure == "activities":
            kinds = spec.get("kinds", "all")
            value = sum(n for kind, n in by_kind.items() if kinds == "all" or kind in kinds)
        elif measure == "messages_answered":
            value = int(counts.get("messages_answered") or 0)
        elif measure == "suggestions_registered":
            value = int(counts.get("suggestions_registered") or 0)
        elif measure == "suggestion_satisfied_rate":
            unit = "rate"
            value = (round(int(counts.get("suggestions_closed_satisfied") or 0) / closed, 4)
                     if closed else None)
        elif measure == "suggestion_resolved_rate":
            unit = "rate"
            value = (round(int(counts.get("suggestions_closed_resolved") or 0) / closed, 4)
                     if closed else None)
        else:
            value = None
        out.append({"code": spec.get("code"), "name_zh": spec.get("name_zh"),
                    "name_en": spec.get("name_en"), "unit": unit, "value": value})
    return out


def _net(facts: list[dict[str, Any]], added: str, removed: str) -> set[str]:
    """Refs whose last ``added``/``removed`` fact (in recording order) is ``added``."""
    refs: set[str] = set()
    for f in facts:
        if f["kind"] == added:
            refs.add(f["ref"])
        elif f["kind"] == removed:
            refs.discard(f["ref"])
    return refs


def _net_registered(facts: list[dict[str, Any]]) -> set[str]:
    """Suggestions registered and not reversed since."""
    return _net(facts, "suggestion_registered", "suggestion_registration_reversed")


def _net_merged(facts: list[dict[str, Any]]) -> set[str]:
    return _net(facts, "suggestion_merged", "suggestion_merge_undone")


# --- rankings ---------------------------------------------------------------------------------

def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order deputies for a ranking: total points (descending), then approved activities
    (descending), then deputy id (ascending). Deputies with the same total share a rank
    (并列: 1, 2, 2, 4), the order among them only lists them; ``tied_on_points`` marks them."""
    ordered = sorted(rows, key=lambda r: (-round(r["total"], 2), -r["approved_activities"],
                                          r["deputy_id"]))
    totals: dict[float, int] = {}
    for r in ordered:
        totals[round(r["total"], 2)] = totals.get(round(r["total"], 2), 0) + 1
    out, place, previous = [], 0, None
    for i, r in enumerate(ordered, start=1):
        if round(r["total"], 2) != previous:
            place, previous = i, round(r["total"], 2)
        out.append({"rank": place, **r, "tied_on_points": totals[previous] > 1})
    return out

"""Routing rules: category, district and title keywords; the first matching rule wins."""

from __future__ import annotations

import pytest

from services.assignment.application import RoutingRules

RULES = [
    {"id": "gas-east", "category": "livelihood", "district": "东城区", "keywords": ["燃气"],
     "lead_unit": "unit-x"},
    {"id": "utilities", "category": "livelihood", "keywords": ["燃气", "供暖"], "lead_unit": "unit-a"},
    {"id": "livelihood", "category": "livelihood", "lead_unit": "unit-b"},
    {"id": "any-school", "keywords": ["学校"], "lead_unit": "unit-e"},
]


@pytest.mark.parametrize("category, district, title, rule", [
    ("livelihood", "东城区", "燃气管道老化", "gas-east"),
    ("livelihood", "西城区", "燃气管道老化", "utilities"),
    ("livelihood", None, "冬季供暖不热", "utilities"),
    ("livelihood", "东城区", "加装电梯", "livelihood"),
    ("economy", None, "学校周边交通拥堵", "any-school"),
    ("economy", None, "营商环境", None),
])
def test_the_first_rule_whose_conditions_all_hold_wins(category, district, title, rule):
    found = RoutingRules(RULES).match(category, district, title)
    assert (found["id"] if found else None) == rule


@pytest.mark.parametrize("keywords", ["燃气", [""], [1]])
def test_malformed_keywords_are_refused_at_start(keywords):
    with pytest.raises(ValueError, match="keywords"):
        RoutingRules([{"id": "bad", "keywords": keywords, "lead_unit": "unit-a"}])

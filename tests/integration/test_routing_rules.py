"""Routing rules (交办规则) as data of the assignment service, through the gateway against the
real system (a real nats-server; SQLite and PostgreSQL): the seeded rules route as
config/routing.yaml did; the office puts a keyword rule ahead of the category rule and the next
suggestion registered with that keyword is routed by it; a change's history says who, when,
before and after; units and deputies are refused; a wrong rule is answered field by field; a
restarted service still has the rules (rebuilt from its own log, not from the file)."""

from __future__ import annotations

from tests.integration.test_assignment import assignment_of
from tests.integration.test_end_to_end import SUGGESTION

RULES = "/api/v1/admin/routing-rules"
LIFT = {"category": "livelihood", "keywords": ["电梯"], "lead_unit": "unit-c",
        "co_units": ["unit-a"], "automatic": True, "before": "rule-livelihood"}


async def put(api, as_user: str, rule_id: str, body: dict):
    return await api.client.put(f"{RULES}/{rule_id}", json=body,
                                headers=await api.login(as_user))


async def registered(api, title: str, category: str = "livelihood") -> str:
    r = await api.post("deputy-1", "/api/v1/suggestions",
                       {**SUGGESTION, "title": title, "category": category})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.post("office", f"/api/v1/suggestions/{sid}/register", {"urgency": "blue"})
    assert r.status_code == 200, r.text
    return sid


async def routed(api, title: str) -> tuple:
    view = await assignment_of(api, await registered(api, title))
    return view["routing_rule_id"], view["lead_unit_id"], view["co_unit_ids"]


async def test_the_office_puts_a_keyword_rule_ahead_and_the_next_suggestion_follows_it(api, system):
    r = await api.get("office", RULES, limit=100)
    assert r.status_code == 200, r.text
    seeded = [rule["id"] for rule in r.json()]
    assert seeded[:4] == ["rule-safety", "rule-utilities", "rule-relocation", "rule-livelihood"]
    assert r.headers["X-Total-Count"] == str(len(seeded))
    # the seeded rules route as the configuration file did
    assert await routed(api, "关于解决小区冬季供暖不热的建议") == ("rule-utilities", "unit-a",
                                                                 ["unit-b"])
    assert await routed(api, "建议加装老旧小区电梯") == ("rule-livelihood", "unit-b", [])

    r = await put(api, "office", "rule-lift", LIFT)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["position"]) == (True, 4)
    r = await api.get("office", RULES, limit=100)
    assert [rule["id"] for rule in r.json()] == [*seeded[:3], "rule-lift", *seeded[3:]]
    # the very next suggestion with the keyword is routed by the new rule, one without by the
    # category rule as before
    assert await routed(api, "再次建议加装老旧小区电梯") == ("rule-lift", "unit-c", ["unit-a"])
    assert await routed(api, "建议增加社区养老食堂") == ("rule-livelihood", "unit-b", [])

    # search and filter
    r = await api.get("leader", RULES, q="电梯")
    assert r.status_code == 200 and [rule["id"] for rule in r.json()] == ["rule-lift"]
    r = await api.get("office", RULES, category="livelihood", limit=2)
    assert [rule["id"] for rule in r.json()] == ["rule-utilities", "rule-relocation"]
    assert r.headers["X-Total-Count"] == "4" and 'rel="next"' in r.headers["Link"]

    # moved behind the category rule, it no longer routes anything
    r = await api.post("office", f"{RULES}/order", {"ids": [*seeded[:4], "rule-lift", *seeded[4:]]})
    assert r.status_code == 200, r.text
    assert await routed(api, "第三次建议加装电梯") == ("rule-livelihood", "unit-b", [])

    r = await api.client.delete(f"{RULES}/rule-lift", headers=await api.login("office"))
    assert r.status_code == 200, r.text
    r = await api.get("office", f"{RULES}/rule-lift")
    assert r.status_code == 404


async def test_a_change_is_in_the_rules_history_with_who_when_before_and_after(api, system):
    r = await put(api, "office", "rule-economy", {"category": "economy", "lead_unit": "unit-d",
                                                  "co_units": ["unit-b"], "automatic": False})
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    r = await api.get("leader", f"{RULES}/rule-economy")
    assert r.status_code == 200, r.text
    rule = r.json()
    assert (rule["co_units"], rule["automatic"]) == (["unit-b"], False)
    seeded, changed = rule["history"]
    assert (seeded["event_type"], seeded["actor"]) == ("Seeded", "system")
    assert seeded["after"]["lead_unit"] == "unit-d"
    assert (changed["event_type"], changed["actor"]) == ("RuleChanged", "office")
    assert changed["before"] == {"co_units": [], "automatic": True}
    assert changed["after"] == {"co_units": ["unit-b"], "automatic": False}
    assert changed["time"] >= seeded["time"]
    # the same rule again: no change, no history line
    r = await put(api, "office", "rule-economy", {"category": "economy", "lead_unit": "unit-d",
                                                  "co_units": ["unit-b"], "automatic": False})
    assert r.json()["changed"] is False
    r = await api.get("office", f"{RULES}/rule-economy")
    assert len(r.json()["history"]) == 2


async def test_units_and_deputies_are_refused_and_a_wrong_rule_is_answered_per_field(api, system):
    for user in ("unit-a", "deputy-1"):
        assert (await api.get(user, RULES)).status_code == 403
        assert (await api.get(user, f"{RULES}/rule-safety")).status_code == 403
        assert (await put(api, user, "rule-x", LIFT)).status_code == 403
    assert (await put(api, "leader", "rule-x", LIFT)).status_code == 403
    r = await api.client.delete(f"{RULES}/rule-safety", headers=await api.login("unit-a"))
    assert r.status_code == 403

    r = await put(api, "office", "rule-bad", {
        "category": "tourism", "keywords": ["燃气", " "], "lead_unit": "unit-none",
        "co_units": ["unit-b", "unit-none"]})
    assert r.status_code == 422, r.text
    locations = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert locations == {("body", "category"), ("body", "keywords"), ("body", "lead_unit"),
                         ("body", "co_units")}
    r = await put(api, "office", "rule-bad", {"category": "livelihood", "lead_unit": "unit-a",
                                              "co_units": ["unit-a"]})
    assert r.status_code == 422 and [e["loc"] for e in r.json()["errors"]] == [
        ["body", "co_units"]]
    r = await put(api, "office", "规则", {"category": "livelihood", "lead_unit": "unit-a"})
    assert r.status_code == 422
    r = await api.post("office", f"{RULES}/order", {"ids": ["rule-safety"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "ids"]
    assert (await api.get("office", f"{RULES}/rule-bad")).status_code == 404


async def test_a_restarted_service_keeps_the_rules_from_its_own_log(api, system):
    r = await put(api, "office", "rule-lift", LIFT)
    assert r.status_code == 200, r.text
    await system.stop("assignment")
    await system.start("assignment")
    r = await api.get("office", f"{RULES}/rule-lift")
    assert r.status_code == 200, r.text
    assert (r.json()["position"], r.json()["lead_unit"]) == (4, "unit-c")
    assert [h["event_type"] for h in r.json()["history"]] == ["RuleAdded"]
    assert await routed(api, "建议加装老旧小区电梯") == ("rule-lift", "unit-c", ["unit-a"])

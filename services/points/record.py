"""A deputy's duty record for a year (履职档案): every activity, suggestion, message and point
with its date, the eight indicators and the deputy's place in the rankings."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.points import rules as R
from services.points.read_models import ActivitiesQuery

CAUSE_ZH = {
    "activity": "履职活动",
    "suggestion_registered": "建议立案",
    "suggestion_resolved": "建议办结（A类且满意）",
    "message_answered": "认领并答复群众留言",
    "message_rated_satisfied": "群众评价满意",
}
ROLE_ZH = {"lead": "领衔", "co_signer": "附议"}
RESULT_ZH = {"A": "A类 已解决或基本解决", "B": "B类 正在解决或列入计划", "C": "C类 留作参考"}
RATING_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意",
             None: "未评价"}
STATUS_ZH = {"pending": "待审核", "approved": "已通过", "rejected": "未通过"}


def _suggestions(facts: list[dict[str, Any]], lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_case: dict[str, dict[str, Any]] = {}
    for f in facts:
        if not f["kind"].startswith(("suggestion_", "case_")):
            continue
        s = by_case.setdefault(f["ref"], {
            "case_id": f["ref"], "number": None, "title": None, "role": None,
            "registered_on": None, "reversed_on": None, "reversal_reason": None,
            "merged_into": None, "merged_on": None,
            "closed_on": None, "result_class": None, "all_satisfied": None, "rating": None,
            "points": 0.0, "history": [],
        })
        d = f["details"]
        s["history"].append({"kind": f["kind"], "on": f["on"]})
        if f["kind"] == "suggestion_registered":
            s.update(number=d.get("number"), title=d.get("title"), role=d.get("role"),
                     registered_on=f["on"], reversed_on=None, reversal_reason=None)
        elif f["kind"] == "suggestion_registration_reversed":
            s.update(reversed_on=f["on"], reversal_reason=d.get("reason"))
        elif f["kind"] == "suggestion_merged":
            s.update(merged_into=d.get("into"), merged_on=f["on"])
        elif f["kind"] == "suggestion_merge_undone":
            s.update(merged_into=None, merged_on=None)
        elif f["kind"] == "case_closed":
            s.update(closed_on=f["on"], result_class=d.get("result_class"),
                     all_satisfied=d.get("all_satisfied"), rating=d.get("rating"),
                     role=s["role"] or d.get("role"))
    for line in lines:
        if line.get("case_id") in by_case and line["cause_kind"].startswith("suggestion_"):
            s = by_case[line["case_id"]]
            s["points"] = round(s["points"] + line["points"], 2)
    return sorted(by_case.values(), key=lambda s: (s["registered_on"] or s["closed_on"] or "",
                                                   s["case_id"]))


def _messages(facts: list[dict[str, Any]], lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_message: dict[str, dict[str, Any]] = {}
    for f in facts:
        if not f["kind"].startswith("message_"):
            continue
        m = by_message.setdefault(f["ref"], {"message_id": f["ref"], "answered_on": None,
                                             "rating": None, "rated_on": None, "points": 0.0})
        if f["kind"] == "message_answered":
            m["answered_on"] = f["on"]
        elif f["kind"] == "message_rated":
            m.update(rating=f["details"].get("rating"), rated_on=f["on"])
    for line in lines:
        if line.get("case_id") in by_message and line["cause_kind"].startswith("message_"):
            m = by_message[line["case_id"]]
            m["points"] = round(m["points"] + line["points"], 2)
    return sorted(by_message.values(), key=lambda m: (m["answered_on"] or "", m["message_id"]))


def deputy_record(app: Any, views: Any, deputy_id: str, year: int) -> dict[str, Any]:
    """``views``: points' read models (services/points/read_models.py)."""
    deputy = app.deputies.get(deputy_id, {"id": deputy_id})
    ledger = app.ledger(deputy_id, year)
    try:
        rule = app.rules.in_force(min(app.today(), date(year, 12, 31)))
    except LookupError:
        rule = {}
    kinds = R.activities(rule)
    acts: list[dict[str, Any]] = []
    cursor = None
    while True:  # a deputy's activities of one year, a page at a time
        found = views.activities.query(ActivitiesQuery(limit=500, cursor=cursor), deputy_id, year)
        acts += found["items"]
        cursor = found["next_cursor"]
        if not cursor:
            break
    for a in acts:
        a["kind_zh"] = (kinds.get(a["kind"]) or {}).get("name_zh", a["kind"])
        a["status_zh"] = STATUS_ZH.get(a["status"], a["status"])
    overall = views.rankings.place(deputy_id, year)
    group = deputy.get("group")
    in_group = views.rankings.place(deputy_id, year, group) if group else None
    lines = []
    for line in ledger.lines:
        kind_zh = CAUSE_ZH.get(line["cause_kind"], line["cause_kind"])
        if line.get("activity_kind"):
            kind_zh = (kinds.get(line["activity_kind"]) or {}).get("name_zh", line["activity_kind"])
        lines.append({**line, "cause_zh": kind_zh})
    return {
        "deputy": {k: v for k, v in deputy.items()},
        "year": year,
        "total": ledger.total,
        "rule_version": rule.get("version"),
        "rank": overall["rank"],
        "ranked_deputies": overall["ranked"],
        "group_rank": in_group["rank"] if in_group else None,
        "group_size": sum(1 for d in app.deputies.values() if d.get("group") == group) if group else None,
        "indicators": R.compute_indicators(rule, ledger.lines, ledger.facts),
        "activities": acts,
        "suggestions": _suggestions(ledger.facts, ledger.lines),
        "messages": _messages(ledger.facts, ledger.lines),
        "lines": lines,
    }

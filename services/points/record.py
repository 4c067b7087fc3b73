"""A deputy's duty record for a year (履职档案): the total, the totals per cause, the eight
indicators and the deputy's place in the rankings over the whole year, and the most recent
activities, suggestions, messages and points with their dates (each list says how many it
shows of how many, and where the whole list pages: a record stays small whatever the
history). Read from points' read-model tables, never by loading the ledger."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from services.points import rules as R

API = "/api/v1"

CAUSE_ZH = {
    "activity": "履职活动",
    "suggestion_registered": "建议立案",
    "suggestion_resolved": "建议办结（A类且满意）",
    "message_answered": "认领并答复群众留言",
    "message_rated_satisfied": "群众评价满意",
    "report_to_voters": "向选民述职",
    "reception_attended": "参加接待选民日",
    "group_activity_attended": "参加代表小组活动",
}
ROLE_ZH = {"lead": "领衔", "co_signer": "附议"}
RESULT_ZH = {"A": "A类 已解决或基本解决", "B": "B类 正在解决或列入计划", "C": "C类 留作参考"}
RATING_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意",
             None: "未评价"}
STATUS_ZH = {"pending": "待审核", "approved": "已通过", "rejected": "未通过"}


# The record's suggestions and messages from one ledger's facts and lines: the definition the
# ``DutyRecord`` read model keeps in its tables (tests compare the two).

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


SHOWN = 50  # items of each list the record shows (the most recent); the rest are paged


def _listed(shown: int, total: int, href: str) -> dict[str, Any]:
    """How much of a list the record shows, and where the whole list pages."""
    return {"shown": shown, "total": total, "complete": shown >= total, "href": href,
            "order": "the most recent, oldest of them first"}


def voter_evaluations(app: Any, deputy_id: str, year: int) -> list[dict[str, Any]]:
    """The voters' evaluations of the deputy's reports of the year (述职评议, from the
    reports service, kept as facts of the ledger): participants and satisfaction rates."""
    try:
        facts = app.ledger(deputy_id, year).facts
    except Exception:  # no ledger yet
        return []
    return [{"report_id": f["ref"], "on": f["on"],
             "evaluations": f["details"].get("evaluations", 0),
             **{q: (f["details"].get(q) or {}).get("satisfaction_rate")
                for q in ("overall", "duty", "contact")}}
            for f in facts if f["kind"] == "report_evaluated"]


def project_votes(app: Any, deputy_id: str, year: int) -> list[dict[str, Any]]:
    """The livelihood-project votes the deputy took part in that year (民生实事项目票决;
    participation only, from the projects service)."""
    try:
        facts = app.ledger(deputy_id, year).facts
    except Exception:  # no ledger yet
        return []
    return [{"ballot_id": f["ref"], "on": f["on"], "session": f["details"].get("session")}
            for f in facts if f["kind"] == "project_vote"]


def deputy_record(app: Any, views: Any, deputy_id: str, year: int,
                  shown: int = SHOWN) -> dict[str, Any]:
    """A deputy's duty record of a year, bounded whatever the history: the total, the totals
    per cause, the indicators and the counts are computed over the read models' tables
    (``views``: services/points/read_models.py) for the whole year; each list (activities,
    suggestions, messages, ledger lines) holds its ``shown`` most recent items, and ``lists``
    tells for each how many it shows of how many and where the whole list pages."""
    deputy = app.deputies.get(deputy_id, {"id": deputy_id})
    try:
        rule = app.rules.in_force(min(app.today(), date(year, 12, 31)))
    except LookupError:
        rule = {}
    kinds = R.activities(rule)
    summary = views.lines.summary(deputy_id, year)
    counts = views.record.counts(deputy_id, year)
    found = views.activities.recent(deputy_id, year, shown)
    acts = found["items"]
    for a in acts:
        a["kind_zh"] = (kinds.get(a["kind"]) or {}).get("name_zh", a["kind"])
        a["status_zh"] = STATUS_ZH.get(a["status"], a["status"])
    suggestions = views.record.suggestions(deputy_id, year, last=shown)["items"]
    points = views.lines.points_by_case(deputy_id, year, "suggestion_",
                                        [s["case_id"] for s in suggestions])
    for s in suggestions:
        s["points"] = points.get(s["case_id"], 0.0)
    messages = views.record.messages(deputy_id, year, last=shown)["items"]
    points = views.lines.points_by_case(deputy_id, year, "message_",
                                        [m["message_id"] for m in messages])
    for m in messages:
        m["points"] = points.get(m["message_id"], 0.0)
    lines = []
    for line in views.lines.recent(deputy_id, year, shown):
        kind_zh = CAUSE_ZH.get(line["cause_kind"], line["cause_kind"])
        if line.get("activity_kind"):
            kind_zh = (kinds.get(line["activity_kind"]) or {}).get("name_zh", line["activity_kind"])
        lines.append({**line, "cause_zh": kind_zh})
    overall = views.rankings.place(deputy_id, year)
    group = deputy.get("group")
    in_group = views.rankings.place(deputy_id, year, group) if group else None
    who = quote(deputy_id, safe="")
    return {
        "deputy": {k: v for k, v in deputy.items()},
        "year": year,
        "total": summary["total"],
        "by_cause": summary["by_cause"],
        "approved_activities": summary["approved_activities"],
        "rule_version": rule.get("version"),
        "rank": overall["rank"],
        "ranked_deputies": overall["ranked"],
        "group_rank": in_group["rank"] if in_group else None,
        "group_size": sum(1 for d in list(app.deputies.values()) if d.get("group") == group) if group else None,
        "indicators": R.indicators_from_counts(rule, {
            **counts, "activities_by_kind": views.lines.approved_activities_by_kind(
                deputy_id, year)}),
        "counts": {"activities": found["total"], "activities_by_status": found["by_status"],
                   **counts, "lines": summary["lines"]},
        "activities": acts,
        "suggestions": suggestions,
        "messages": messages,
        "lines": lines,
        "voter_evaluations": voter_evaluations(app, deputy_id, year),
        "project_votes": project_votes(app, deputy_id, year),
        "lists": {
            "activities": _listed(len(acts), found["total"],
                                  f"{API}/activities?deputy_id={who}&year={year}"),
            "suggestions": _listed(len(suggestions), counts["suggestions"],
                                   f"{API}/deputies/{who}/record/suggestions?year={year}"),
            "messages": _listed(len(messages), counts["messages"],
                                f"{API}/deputies/{who}/record/messages?year={year}"),
            "lines": _listed(len(lines), summary["lines"],
                             f"{API}/deputies/{who}/points?year={year}"),
        },
    }


def record_suggestions(views: Any, deputy_id: str, year: int, q: Any) -> dict[str, Any]:
    """A page of a deputy's suggestions of a year as the record shows them (with points)."""
    found = views.record.suggestions(deputy_id, year, q)
    points = views.lines.points_by_case(deputy_id, year, "suggestion_",
                                        [s["case_id"] for s in found["items"]])
    for s in found["items"]:
        s["points"] = points.get(s["case_id"], 0.0)
    found["total"] = views.record.counts(deputy_id, year)["suggestions"]
    return found


def record_messages(views: Any, deputy_id: str, year: int, q: Any) -> dict[str, Any]:
    """A page of a deputy's messages of a year as the record shows them (with points)."""
    found = views.record.messages(deputy_id, year, q)
    points = views.lines.points_by_case(deputy_id, year, "message_",
                                        [m["message_id"] for m in found["items"]])
    for m in found["items"]:
        m["points"] = points.get(m["message_id"], 0.0)
    found["total"] = views.record.counts(deputy_id, year)["messages"]
    return found

"""``duty-ops verify``: hash chains in every store, and reconciliation across services in both
directions (docs/security.md, "Verification both ways").

Downstream from intake:
- every registered suggestion has a (not withdrawn) task in supervision;
- every closed, resolved (class A), all-satisfied suggestion has its points.

Upstream, towards the cause:
- every task in supervision and in assignment belongs to a case intake has: a suggestion that
  was registered (it has a number) or a citizen message;
- every points line's cause exists: the case it names in intake, or the duty activity in points;
- no deputy outside the reference data (``config/deputies.yaml``) in any ledger or ranking.

Every attachment recorded in a service's log (shared/blobs.py): its file's bytes still hash
to the SHA-256 its event carries; a file missing or changed is a finding, a file whose
erasure the log records (a poster's personal data erased) is reported as erased.

And no parked (dead-letter) message. Any finding makes ``ok`` false (the CLI exits 1). Every
list is read whole, page by page (``limit`` 500, following ``next_cursor``; ``year: all``).
"""

from __future__ import annotations

import json
from typing import Any

import nats

from shared.identity import signed_request

SERVICES = ("intake", "assignment", "supervision", "points", "notifications")
# Services whose chains are verified when they run (a system may run without them).
OPTIONAL_SERVICES = ("liaison", "projects", "reports", "accounts", "registry")
OPS = {"username": "ops", "role": "office"}
PAGE = 500
# Points lines whose cause is a case (suggestion or citizen message) in intake.
CASE_CAUSES = ("suggestion_registered", "suggestion_resolved", "message_answered",
               "message_rated_satisfied")


async def _call(nc: Any, service: str, command: str, payload: dict[str, Any] | None = None) -> Any:
    msg = await nc.request(f"duty.rpc.{service}.{command}",
                           signed_request(service, payload, OPS), timeout=300)
    reply = json.loads(msg.data)
    if not reply.get("ok"):
        raise RuntimeError(f"{service}.{command}: {reply.get('detail')}")
    return reply["result"]


async def _all(nc: Any, service: str, command: str, payload: dict[str, Any] | None = None,
               items: str = "items") -> list[dict[str, Any]]:
    """Every row of a paged list: pages of ``PAGE`` following ``next_cursor``."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await _call(nc, service, command, {**(payload or {}), "limit": PAGE,
                                                  **({"cursor": cursor} if cursor else {})})
        rows.extend(page[items])
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


def known_deputies(config_dir: Any = None) -> set[str]:
    from shared.settings import ServiceSettings, load_config

    settings = ServiceSettings(service_name="ops")
    if config_dir is not None:
        settings = settings.model_copy(update={"config_dir": config_dir})
    return {str(d["id"]) for d in load_config(settings, "deputies")}


async def verify_platform(nats_url: str, deputies: set[str] | None = None) -> dict[str, Any]:
    """Chains of every aggregate of every service, reconciliation both ways and the parked
    messages; ``ok`` only when nothing was found."""
    from ops.dead_letters import list_parked

    deputies = known_deputies() if deputies is None else deputies
    nc = await nats.connect(nats_url)
    try:
        chains = {s: await _call(nc, s, "verify_store") for s in SERVICES}
        for s in OPTIONAL_SERVICES:
            try:
                chains[s] = await _call(nc, s, "verify_store")
            except nats.errors.NoRespondersError:
                pass  # not running here
        # every recorded attachment's bytes against the hash its event carries
        attachments = {s: await _call(nc, s, "verify_attachments") for s in SERVICES}
        suggestions = await _all(nc, "intake", "list_suggestions", {"year": "all"})
        messages = await _all(nc, "intake", "list_messages", {"year": "all"})
        by_id = {s["id"]: s for s in suggestions}
        message_ids = {m["id"] for m in messages}
        registered = {s["id"] for s in suggestions if s.get("status") in ("registered", "closed")}
        # a case that has (had) a registration number, or a citizen message
        cases = {s["id"] for s in suggestions if s.get("number")} | message_ids
        supervision_tasks = await _all(nc, "supervision", "list_tasks",
                                       {"year": "all", "order": "task_id"})
        assignment_tasks = await _all(nc, "assignment", "list_tasks", {"year": "all"})
        with_task = {t["case_id"] for t in supervision_tasks if t["status"] != "withdrawn"}
        tasks_without_case = sorted(
            {f"supervision:{t['task_id']} (case {t['case_id']})" for t in supervision_tasks
             if t["case_id"] not in cases}
            | {f"assignment:{t['task_id']} (case {t['case_id']})" for t in assignment_tasks
               if t["case_id"] not in cases})

        closed = await _all(nc, "supervision", "closed_cases")
        missing_points = []
        for case in closed:
            if case["case_kind"] == "suggestion" and case["result_class"] == "A" \
                    and case["all_satisfied"]:
                lines = await _call(nc, "points", "case_points", {"case_id": case["case_id"]})
                if not any(line.get("cause_kind") == "suggestion_resolved" for line in lines):
                    missing_points.append(case["case_id"])

        lines = await _all(nc, "points", "ledger_lines", {"year": "all"})
        activities = {a["id"] for a in await _all(nc, "points", "list_activities",
                                                  {"year": "all"})}
        points_without_cause = []
        for line in lines:
            if line.get("type") != "award":
                continue  # a revocation's cause is its award (a line of the same ledger)
            where = f"{line['deputy_id']}/{line['year']}#{line['line_no']}"
            if line.get("cause_kind") == "activity":
                if line.get("cause_ref") not in activities:
                    points_without_cause.append(f"{where}: activity {line.get('cause_ref')} "
                                                "not in points")
            elif line.get("case_id") is not None or line.get("cause_kind") in CASE_CAUSES:
                if line.get("case_id") not in cases:
                    points_without_cause.append(f"{where}: {line.get('cause_kind')} of case "
                                                f"{line.get('case_id')} not in intake")
        unknown = {f"ledger:{line['deputy_id']}" for line in lines
                   if line["deputy_id"] not in deputies}
        for year in sorted({int(line["year"]) for line in lines}):
            for row in await _all(nc, "points", "rankings", {"year": year}, items="rows"):
                if row["deputy_id"] not in deputies:
                    unknown.add(f"ranking {year}:{row['deputy_id']}")
        unknown |= {f"suggestion {s['id']}:{d}" for s in suggestions
                    for d in [s.get("lead_deputy_id"), *(s.get("deputy_ids") or [])]
                    if d and d not in deputies}
        reconciliation = {
            "registered_suggestions": len(registered),
            "registered_without_task": sorted(registered - with_task),
            "tasks": {"supervision": len(supervision_tasks),
                      "assignment": len(assignment_tasks)},
            "tasks_without_case": tasks_without_case,
            "closed_cases": len(closed),
            "resolved_without_points": missing_points,
            "points_lines": len(lines),
            "points_without_cause": points_without_cause,
            "unknown_deputies": sorted(unknown),
        }
        # keep the suggestions referenced for a reader of the JSON
        reconciliation["registered_without_task_numbers"] = [
            by_id[i].get("number") for i in reconciliation["registered_without_task"]]
    finally:
        await nc.close()
    parked = [p.summary() for p in await list_parked(nats_url)]
    findings = (len(reconciliation["registered_without_task"]) + len(tasks_without_case)
                + len(missing_points) + len(points_without_cause) + len(unknown) + len(parked)
                + sum(len(a["problems"]) for a in attachments.values()))
    ok = all(c["ok"] for c in chains.values()) and findings == 0
    return {"ok": ok, "chains": chains, "attachments": attachments,
            "reconciliation": reconciliation, "parked": parked, "findings": findings}

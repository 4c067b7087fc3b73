"""``duty-ops verify``: hash chains in every store, and reconciliation across services."""

from __future__ import annotations

import json
from typing import Any

import nats

from shared.identity import signed_request

SERVICES = ("intake", "assignment", "supervision", "points")
OPS = {"username": "ops", "role": "office"}


async def _call(nc: Any, service: str, command: str, payload: dict[str, Any] | None = None) -> Any:
    msg = await nc.request(f"duty.rpc.{service}.{command}",
                           signed_request(service, payload, OPS), timeout=300)
    reply = json.loads(msg.data)
    if not reply.get("ok"):
        raise RuntimeError(f"{service}.{command}: {reply.get('detail')}")
    return reply["result"]


async def verify_platform(nats_url: str) -> dict[str, Any]:
    """Chains: every aggregate of every service. Reconciliation: every registered suggestion
    has a task in supervision; every closed class-A, all-satisfied case has its points."""
    nc = await nats.connect(nats_url)
    try:
        chains = {s: await _call(nc, s, "verify_store") for s in SERVICES}
        suggestions = await _call(nc, "intake", "list_suggestions", {})
        registered = {s["id"] for s in suggestions
                      if s.get("number") and s.get("status") not in ("merged", "declined")}
        tasks = await _call(nc, "supervision", "list_tasks", {})
        with_task = {t["case_id"] for t in tasks if t["status"] != "withdrawn"}
        closed = await _call(nc, "supervision", "closed_cases")
        missing_points = []
        for case in closed:
            if case["case_kind"] == "suggestion" and case["result_class"] == "A" and case["all_satisfied"]:
                lines = await _call(nc, "points", "case_points", {"case_id": case["case_id"]})
                if not any(line.get("cause_kind") == "suggestion_resolved" for line in lines):
                    missing_points.append(case["case_id"])
        reconciliation = {
            "registered_suggestions": len(registered),
            "registered_without_task": sorted(registered - with_task),
            "closed_cases": len(closed),
            "resolved_without_points": missing_points,
        }
    finally:
        await nc.close()
    ok = all(c["ok"] for c in chains.values()) and not reconciliation["registered_without_task"] \
        and not missing_points
    return {"ok": ok, "chains": chains, "reconciliation": reconciliation}

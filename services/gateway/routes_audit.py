"""Audit routes: a case's history gathered from every service's own event log, its hash-chain
verification, and an export an auditor can verify offline (``duty-ops verify-export``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import AwareDatetime

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, ServicesDep, Staff

API = "/api/v1"
AUDITED = ("intake", "assignment", "supervision", "points")
PERSONAL_KEYS = ("contact", "phone", "personal", "name_cipher", "content_cipher")


async def _each_service(services: ServicesDep, command: str, payload: dict[str, Any],
                        principal: Principal) -> list[dict[str, Any]]:
    async def one(service: str) -> dict[str, Any] | None:
        try:
            return await services.call(service, command, payload, principal)
        except ServiceFailure as exc:
            if exc.reply.get("status") == 404:  # this service keeps no history (yet)
                return None
            raise
    results = await asyncio.gather(*(one(s) for s in AUDITED))
    return [r for r in results if r]


async def _may_see(case_id: str, services: ServicesDep, principal: Principal) -> None:
    """Office and leaders see every case; a unit the cases it has a task in; a deputy the
    cases they rate (their own suggestions, co-signed or merged into)."""
    if principal.role in ("office", "leader"):
        return
    if principal.role == "unit":
        tasks = await services.call("supervision", "list_tasks", {"case_id": case_id}, principal)
        if tasks:
            return
    if principal.role == "deputy":
        try:
            await services.call("supervision", "get_case", {"case_id": case_id}, principal)
            return
        except ServiceFailure:
            pass
        try:
            suggestion = await services.call("intake", "get_suggestion",
                                             {"suggestion_id": case_id}, principal)
            if suggestion.get("lead_deputy_id") == principal.deputy_id:
                return
        except ServiceFailure:
            pass
    raise HTTPException(404, f"no case {case_id}")


def _mask(value: Any, role: str) -> Any:
    if role == "office":
        return value
    if isinstance(value, dict):
        return {k: ("***" if any(p in k.lower() for p in PERSONAL_KEYS) else _mask(v, role))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, role) for v in value]
    return value


def register_audit_routes(app: FastAPI) -> None:
    tags = ["audit"]

    @app.get(f"{API}/cases/{{case_id}}/history", tags=tags,
             summary="Every event of every service about a case, in order, with hash chains",
             responses={404: {"description": "no such case (or not visible to you)"}})
    async def history(case_id: str, services: ServicesDep, principal: Staff,
                      as_of: AwareDatetime | None = None) -> dict[str, Any]:
        """Gathered from each service's own event store (not a copy). With ``as_of`` (ISO
        8601 with offset) only what was recorded by then, and each aggregate's state then.
        Personal fields are masked except for the office."""
        await _may_see(case_id, services, principal)
        payload = {"case_id": case_id, "as_of": as_of.isoformat() if as_of else None}
        parts = await _each_service(services, "case_history", payload, principal)
        events = sorted((e for p in parts for e in p["events"]),
                        key=lambda e: (e["time"] or "", e["service"], e["aggregate_id"], e["version"]))
        if not events:
            raise HTTPException(404, f"no case {case_id}")
        chains = [c for p in parts for c in p["chains"]]
        return {
            "case_id": case_id,
            "as_of": as_of.isoformat() if as_of else None,
            "events": _mask(events, principal.role),
            "state": {p["service"]: _mask(p["state"], principal.role) for p in parts},
            "verified": all(c["ok"] for c in chains),
            "chains": chains,
        }

    @app.get(f"{API}/cases/{{case_id}}/verify", tags=tags,
             summary="Recompute every hash chain of a case from the services' event stores")
    async def verify(case_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        await _may_see(case_id, services, principal)
        parts = await _each_service(services, "verify_case", {"case_id": case_id}, principal)
        chains = [c for p in parts for c in p["chains"]]
        if not chains:
            raise HTTPException(404, f"no case {case_id}")
        broken = [c for c in chains if not c["ok"]]
        return {"case_id": case_id, "ok": not broken, "chains": chains, "broken": broken,
                "checked_at": datetime.now().astimezone().isoformat()}

    @app.get(f"{API}/cases/{{case_id}}/export", tags=tags,
             summary="The stored records of a case, for offline verification (office)")
    async def export(case_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        if principal.role not in ("office", "leader"):
            raise HTTPException(403, "exports are for the office and leaders")
        parts = await _each_service(services, "case_records", {"case_id": case_id}, principal)
        if not any(p["aggregates"] for p in parts):
            raise HTTPException(404, f"no case {case_id}")
        return {"case_id": case_id, "format": "duty-liaison-case-export/1",
                "services": {p["service"]: p["aggregates"] for p in parts}}




"""Audit routes: a case's history gathered from every service's own event log, its hash-chain
verification, and an export an auditor can verify offline (``duty-ops verify-export``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import AwareDatetime

from services.gateway.auth import Principal
from services.gateway.deps import ServiceFailure, ServicesDep, Staff
from services.gateway.paging import PAGED, Paging, next_link
from shared.contracts.requests.intake import GetSuggestion
from shared.contracts.requests.runtime import CaseHistory, CaseRecords, VerifyCase
from shared.contracts.requests.supervision import GetCase, ListTasks
from shared.paging import decode_cursor, encode_cursor

API = "/api/v1"
AUDITED = ("intake", "assignment", "supervision", "points")
PERSONAL_KEYS = ("contact", "phone", "personal", "name_cipher", "content_cipher")


async def _each_service(services: ServicesDep, query: CaseHistory,
                        principal: Principal) -> list[dict[str, Any]]:
    """``query`` (a case's history or its chains) asked of every audited service."""
    async def one(service: str) -> dict[str, Any] | None:
        try:
            return await services.send(query, principal, service=service)
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
        tasks = await services.send(ListTasks(case_id=case_id, limit=1), principal)
        if tasks["items"]:
            return
    if principal.role == "deputy":
        try:
            await services.send(GetCase(case_id=case_id), principal)
            return
        except ServiceFailure:
            pass
        try:
            suggestion = await services.send(GetSuggestion(suggestion_id=case_id), principal)
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


def _history_key(entry: dict[str, Any]) -> tuple[str, str, str, int]:
    """A case history's order: time, service, aggregate id, version (unique per entry)."""
    return (entry["time"] or "", entry["service"], entry["aggregate_id"], entry["version"])


def _history_after(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        after = decode_cursor(cursor)
    except ValueError:
        after = None
    if after is None or len(after) != 4 or not all(isinstance(k, str) for k in after[:3]) \
            or not isinstance(after[3], int):
        raise HTTPException(422, [{"loc": ["query", "cursor"], "type": "value_error",
                                   "msg": "not a cursor this list gave out"}])
    return after


def register_audit_routes(app: FastAPI) -> None:
    tags = ["audit"]

    @app.get(f"{API}/cases/{{case_id}}/history", tags=tags,
             summary="Every event of every service about a case, in order, with hash chains "
                     "(paged: limit/cursor over the entries)",
             responses={**PAGED, 404: {"description": "no such case (or not visible to you)"}})
    async def history(case_id: str, request: Request, response: Response,
                      services: ServicesDep, principal: Staff, paging: Paging,
                      as_of: AwareDatetime | None = None) -> dict[str, Any]:
        """Gathered from each service's own event store (not a copy). With ``as_of`` (ISO
        8601 with offset) only what was recorded by then, and each aggregate's state then.
        Personal fields are masked except for the office.

        ``events`` is one page of the history: ``limit`` entries (default 50, at most 500)
        in the order time, service, aggregate id, version; the next page is in the ``Link``
        header, the number of entries in ``X-Total-Count``. Each service answers its own
        page after the cursor and the gateway merges them. Every page carries the chain
        verification of the whole case (``verified``; ``chains``: at most 100 listed per
        service, broken ones first) and the aggregates' ``state`` (an attribute over 16 KB
        is left out and named in its ``omitted``)."""
        after = _history_after(paging.cursor)
        await _may_see(case_id, services, principal)
        parts = await _each_service(services, CaseHistory(
            case_id=case_id, as_of=as_of, limit=paging.limit, after=after), principal)
        merged = sorted((e for p in parts for e in p["events"]), key=_history_key)
        events = merged[:paging.limit]
        more = len(merged) > paging.limit or any(p.get("more") for p in parts)
        total = sum(p.get("total", len(p["events"])) for p in parts)
        if not total:
            raise HTTPException(404, f"no case {case_id}")
        if more and events:
            response.headers["Link"] = next_link(request,
                                                 encode_cursor(_history_key(events[-1])))
        response.headers["X-Total-Count"] = str(total)
        chains = [c for p in parts for c in p["chains"]]
        return {
            "case_id": case_id,
            "as_of": as_of.isoformat() if as_of else None,
            "events": _mask(events, principal.role),
            "state": {p["service"]: _mask(p["state"], principal.role) for p in parts},
            "verified": all(p.get("ok", True) for p in parts) and all(c["ok"] for c in chains),
            "chains": chains,
        }

    @app.get(f"{API}/cases/{{case_id}}/verify", tags=tags,
             summary="Recompute every hash chain of a case from the services' event stores "
                     "(a bounded summary)")
    async def verify(case_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        """Every chain of the case is verified whole; the answer lists at most 100 chains
        per service (broken ones first) and at most 100 broken ones, with the totals."""
        await _may_see(case_id, services, principal)
        parts = await _each_service(services, VerifyCase(case_id=case_id, limit=0), principal)
        chains = [c for p in parts for c in p["chains"]]
        if not chains:
            raise HTTPException(404, f"no case {case_id}")
        broken = [c for c in chains if not c["ok"]][:100]
        ok = all(p.get("ok", True) for p in parts) and not broken
        return {"case_id": case_id, "ok": ok, "chains": chains, "broken": broken,
                "chains_total": sum(p.get("chains_total", len(p["chains"])) for p in parts),
                "broken_total": sum(p.get("broken_total", 0) for p in parts),
                "events": sum(p.get("chain_events", 0) for p in parts),
                "checked_at": datetime.now().astimezone().isoformat()}

    @app.get(f"{API}/cases/{{case_id}}/export", tags=tags,
             summary="The stored records of a case, for offline verification (office)")
    async def export(case_id: str, services: ServicesDep, principal: Staff) -> dict[str, Any]:
        """Every stored record of the case's aggregates in every service (a file to keep:
        not paged); gathered from the services a page of records at a time."""
        if principal.role not in ("office", "leader"):
            raise HTTPException(403, "exports are for the office and leaders")

        async def records(service: str) -> dict[str, list[dict[str, Any]]] | None:
            aggregates: dict[str, list[dict[str, Any]]] = {}
            after = None
            while True:
                try:
                    part = await services.send(CaseRecords(case_id=case_id, after=after),
                                               principal, service=service)
                except ServiceFailure as exc:
                    if exc.reply.get("status") == 404:  # this service keeps no history
                        return None
                    raise
                for aggregate_id, page in part["aggregates"].items():
                    aggregates.setdefault(aggregate_id, []).extend(page)
                after = part.get("next")
                if not after:
                    return aggregates

        found = dict(zip(AUDITED, await asyncio.gather(*(records(s) for s in AUDITED))))
        found = {s: a for s, a in found.items() if a is not None}
        if not any(found.values()):
            raise HTTPException(404, f"no case {case_id}")
        return {"case_id": case_id, "format": "duty-liaison-case-export/1",
                "services": found}

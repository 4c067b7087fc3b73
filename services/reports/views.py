"""What an actor is shown of a report to voters: never the participants' codes or their
individual answers, only how many evaluated and, once closed, the summary."""

from __future__ import annotations

from typing import Any

from services.reports.domain import VoterReport


def report_view(r: VoterReport) -> dict[str, Any]:
    return {"report_id": str(r.id), "deputy_id": r.deputy_id, "title": r.title,
            "scheduled_on": r.scheduled_on.isoformat(), "place": r.place, "year": r.year,
            "status": r.status, "participants": len(r.code_hashes),
            "held_on": r.held_on.isoformat() if r.held_on else None,
            "attendance": r.attendance, "evaluations": len(r.evaluations),
            "summary": r.summary, "scheduled_at": r.scheduled_at.isoformat()}


def form_view(report: dict[str, Any], deputy_name: str) -> dict[str, Any]:
    """The participant's page: what the meeting is, and whether evaluating is open."""
    return {"report_id": report["report_id"], "title": report["title"],
            "deputy_name": deputy_name, "scheduled_on": report["scheduled_on"],
            "place": report["place"], "open": report["status"] == "held",
            "status": report["status"]}

"""What an actor is shown of livelihood-project voting: views of the aggregates.

A ballot's running tally is never shown: until it is closed a view has only its status and
how many ballots were cast; its results appear once frozen. Nothing here names what a deputy
chose (no aggregate of a deputy holds it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.projects.domain import Ballot, FollowedProject, Proposal


def proposal_view(p: Proposal) -> dict[str, Any]:
    return {"proposal_id": str(p.id), "title": p.title, "description": p.description,
            "source_kind": p.source_kind, "source_id": p.source_id, "unit_id": p.unit_id,
            "proposed_by": p.proposed_by, "proposed_at": p.proposed_at.isoformat(),
            "year": p.year, "status": p.status, "ballot_id": p.ballot_id, "votes": p.votes}


def ballot_view(b: Ballot) -> dict[str, Any]:
    """A ballot as anyone admitted sees it (the tally only once closed)."""
    return {"ballot_id": str(b.id), "session": b.session, "year": b.year, "title": b.title,
            "max_choices": b.max_choices, "seats": b.seats,
            "candidates": [dict(c) for c in b.candidates], "status": b.status,
            "drafted_at": b.drafted_at.isoformat(),
            "opened_at": b.opened_at.isoformat() if b.opened_at else None,
            "closed_at": b.closed_at.isoformat() if b.closed_at else None,
            "ballots_cast": b.ballots_cast if b.status == "closed" else None,
            "results": b.results if b.status == "closed" else None}


def public_results_view(ballot: dict[str, Any]) -> dict[str, Any]:
    """A closed ballot's published results: session, candidates' votes, chosen, ties."""
    return {key: ballot[key] for key in ("ballot_id", "session", "year", "title", "seats",
                                         "max_choices", "closed_at", "ballots_cast",
                                         "results")}


def milestone_view(m: dict[str, Any], today: date) -> dict[str, Any]:
    due = date.fromisoformat(m["due"])
    done_on = date.fromisoformat(m["done_on"]) if m["done_on"] else None
    overdue = (done_on or today) > due
    return {**m, "overdue": overdue and done_on is None,
            "late": done_on is not None and done_on > due,
            "status": "done" if done_on else ("overdue" if overdue else "open")}


def project_view(f: FollowedProject) -> dict[str, Any]:
    """A followed project as recorded (deadlines are judged when it is shown: ``shown``)."""
    return {"project_id": str(f.id), "ballot_id": f.ballot_id, "proposal_id": f.proposal_id,
            "title": f.title, "unit_id": f.unit_id, "session": f.session, "year": f.year,
            "votes": f.votes, "adopted_at": f.adopted_at.isoformat(), "status": f.status,
            "milestones": [dict(m) for m in f.milestones],
            "evaluations": {d: dict(e) for d, e in f.evaluations.items()},
            "evaluation": f.evaluation,
            "completed_at": f.completed_at.isoformat() if f.completed_at else None}


def shown(project: dict[str, Any], today: date, *, role: str,
          deputy_id: str | None) -> dict[str, Any]:
    """A project's view for one actor: milestones with their deadline status; the office
    and leaders see every evaluation, a deputy their own, a unit the summary only."""
    evaluations = project.get("evaluations") or {}
    answer = {**project, "milestones": [milestone_view(m, today)
                                        for m in project["milestones"]],
              "evaluations_count": len(evaluations)}
    if role in ("office", "leader", "system"):
        answer["evaluations"] = [{"deputy_id": d, **e} for d, e in sorted(evaluations.items())]
    else:
        answer.pop("evaluations", None)
    if role == "deputy":
        answer["my_evaluation"] = evaluations.get(deputy_id or "")
    answer["overdue_milestones"] = sum(1 for m in answer["milestones"] if m["overdue"])
    return answer

"""Livelihood-project voting (民生实事项目人大代表票决制): the aggregates and their events.

- ``Proposal``: a project proposed by the office or a deputy, or taken from a citizen message
  or a suggestion (its ``source_id``); listed on a ballot, then chosen or not.
- ``Ballot``: the vote of one session (届次/会议, year) over its candidates. The running tally
  is the ballot's own events (``VoteCounted`` carries the choices and nothing about who chose
  them), so closing counts every accepted vote exactly once: a vote and the close both change
  the ballot, and the store's optimistic concurrency orders them.
- ``DeputyBallot``: the fact that one deputy voted in one ballot. Its id is derived from the
  ballot and the deputy, so a second ballot of the same deputy is a second creation of the
  same aggregate, which the store refuses (version 1 exists) whichever replica writes it.
  It is saved in the same transaction as the ballot's ``VoteCounted`` and never carries the
  choices.
- ``FollowedProject``: a chosen project followed to its end: the responsible unit, milestones
  with deadlines, the unit's progress reports, completion and the deputies' evaluation (one
  per deputy).

No clock and no I/O here: times come in as arguments.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.projects.errors import (
    AlreadyEvaluated,
    InvalidChoice,
    NotTheUnit,
    WrongState,
)

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
SOURCE_KINDS = ("office", "deputy", "message", "suggestion")


class Proposal(Aggregate):
    @event("Proposed")
    def __init__(self, title: str, description: str, source_kind: str, source_id: str | None,
                 unit_id: str | None, proposed_by: str, proposed_at: datetime, year: int) -> None:
        self.title = title
        self.description = description
        self.source_kind = source_kind
        self.source_id = source_id
        self.unit_id = unit_id
        self.proposed_by = proposed_by
        self.proposed_at = proposed_at
        self.year = year
        self.status = "proposed"
        self.ballot_id: str | None = None
        self.votes: int | None = None

    def list_on(self, ballot_id: str) -> None:
        if self.status != "proposed":
            raise WrongState(f"the proposal is {self.status}: only a proposal not yet on a "
                             "ballot is listed", status_now=self.status)
        self._listed(ballot_id=ballot_id)

    @event("Listed")
    def _listed(self, ballot_id: str) -> None:
        self.status = "listed"
        self.ballot_id = ballot_id

    @event("Decided")
    def decide(self, chosen: bool, votes: int) -> None:
        self.status = "chosen" if chosen else "not_chosen"
        self.votes = votes


class Ballot(Aggregate):
    @event("Drafted")
    def __init__(self, session: str, year: int, title: str, max_choices: int, seats: int,
                 candidates: list[dict[str, Any]], drafted_at: datetime) -> None:
        self.session = session
        self.year = year
        self.title = title
        self.max_choices = max_choices
        self.seats = seats
        self.candidates = [dict(c) for c in candidates]
        self.drafted_at = drafted_at
        self.status = "draft"
        self.opened_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.tally: dict[str, int] = {c["proposal_id"]: 0 for c in candidates}
        self.ballots_cast = 0
        self.results: dict[str, Any] | None = None

    def candidate_ids(self) -> list[str]:
        return [c["proposal_id"] for c in self.candidates]

    def open(self, at: datetime) -> None:
        if self.status != "draft":
            raise WrongState(f"the ballot is {self.status}: only a draft is opened",
                             status_now=self.status)
        self._opened(at=at)

    @event("Opened")
    def _opened(self, at: datetime) -> None:
        self.status = "open"
        self.opened_at = at

    def check_choices(self, choices: list[str]) -> None:
        if self.status != "open":
            raise WrongState("voting is not open" if self.status == "draft"
                             else "voting is closed: no ballot is accepted any more",
                             status_now=self.status)
        if not choices:
            raise InvalidChoice("a ballot names at least one project")
        if len(set(choices)) != len(choices):
            raise InvalidChoice("a ballot names each project once")
        if len(choices) > self.max_choices:
            raise InvalidChoice(f"a ballot names at most {self.max_choices} projects",
                                max_choices=self.max_choices)
        unknown = sorted(set(choices) - set(self.candidate_ids()))
        if unknown:
            raise InvalidChoice("a ballot names only the projects on it", unknown=unknown)

    def count(self, choices: list[str]) -> None:
        """One ballot's choices added to the tally (who cast it is not recorded here)."""
        self.check_choices(choices)
        self._counted(choices=sorted(choices))

    @event("VoteCounted")
    def _counted(self, choices: list[str]) -> None:
        self.ballots_cast += 1
        for proposal_id in choices:
            self.tally[proposal_id] = self.tally.get(proposal_id, 0) + 1

    def close(self, at: datetime) -> dict[str, Any]:
        if self.status != "open":
            raise WrongState(f"the ballot is {self.status}: only an open ballot is closed",
                             status_now=self.status)
        self._closed(at=at, results=self.compute_results())
        return self.results  # type: ignore[return-value]

    def compute_results(self) -> dict[str, Any]:
        """Candidates by votes (most first); the first ``seats`` with at least one vote are
        chosen, except candidates tied at the cut-off where the tie would take more seats
        than are left: those are reported as ``ties`` and not chosen (the office decides)."""
        rows = sorted(({"proposal_id": c["proposal_id"], "title": c["title"],
                        "votes": self.tally.get(c["proposal_id"], 0)} for c in self.candidates),
                      key=lambda r: (-r["votes"], r["title"], r["proposal_id"]))
        for row in rows:
            row["rank"] = 1 + sum(1 for other in rows if other["votes"] > row["votes"])
        chosen: list[str] = []
        ties: list[str] = []
        for votes in sorted({r["votes"] for r in rows if r["votes"] > 0}, reverse=True):
            group = [r["proposal_id"] for r in rows if r["votes"] == votes]
            left = self.seats - len(chosen)
            if left <= 0:
                break
            if len(group) <= left:
                chosen += group
            else:
                ties = group
                break
        for row in rows:
            row["chosen"] = row["proposal_id"] in chosen
            row["tied"] = row["proposal_id"] in ties
        return {"rows": rows, "ballots_cast": self.ballots_cast, "chosen": chosen,
                "ties": ties, "seats": self.seats}

    @event("Closed")
    def _closed(self, at: datetime, results: dict[str, Any]) -> None:
        self.status = "closed"
        self.closed_at = at
        self.results = results


class DeputyBallot(Aggregate):
    """That a deputy voted in a ballot: created once (its id is the ballot's and the deputy's),
    never with the choices."""

    @staticmethod
    def create_id(ballot_id: str, deputy_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:projects:ballot:{ballot_id}:deputy:{deputy_id}")

    @event("Cast")
    def __init__(self, ballot_id: str, deputy_id: str, cast_at: datetime) -> None:
        self.ballot_id = ballot_id
        self.deputy_id = deputy_id
        self.cast_at = cast_at


class FollowedProject(Aggregate):
    @staticmethod
    def create_id(ballot_id: str, proposal_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:projects:followed:{ballot_id}:{proposal_id}")

    @event("Adopted")
    def __init__(self, ballot_id: str, proposal_id: str, title: str, unit_id: str | None,
                 session: str, year: int, votes: int, adopted_at: datetime) -> None:
        self.ballot_id = ballot_id
        self.proposal_id = proposal_id
        self.title = title
        self.unit_id = unit_id
        self.session = session
        self.year = year
        self.votes = votes
        self.adopted_at = adopted_at
        self.status = "in_progress"
        self.milestones: list[dict[str, Any]] = []
        self.evaluations: dict[str, dict[str, Any]] = {}
        self.evaluation: dict[str, Any] | None = None
        self.completed_at: datetime | None = None

    def _require(self, *states: str, doing: str) -> None:
        if self.status not in states:
            raise WrongState(f"the project is {self.status}: {doing}", status_now=self.status)

    def milestone(self, milestone_id: str) -> dict[str, Any] | None:
        return next((m for m in self.milestones if m["milestone_id"] == milestone_id), None)

    def assign_unit(self, unit_id: str) -> None:
        self._require("in_progress", doing="the responsible unit is set while it is in progress")
        self._unit_assigned(unit_id=unit_id)

    @event("UnitAssigned")
    def _unit_assigned(self, unit_id: str) -> None:
        self.unit_id = unit_id

    def plan_milestone(self, milestone_id: str, title: str, due: date) -> None:
        self._require("in_progress", doing="milestones are planned while it is in progress")
        if self.milestone(milestone_id) is not None:
            raise WrongState("this milestone is already planned")
        self._planned(milestone_id=milestone_id, title=title, due=due)

    @event("MilestonePlanned")
    def _planned(self, milestone_id: str, title: str, due: date) -> None:
        self.milestones.append({"milestone_id": milestone_id, "title": title,
                                "due": due.isoformat(), "reports": [], "done_on": None})

    def report(self, milestone_id: str, unit_id: str | None, note: str, done: bool,
               at: datetime, on: date) -> None:
        if not self.unit_id or unit_id != self.unit_id:
            raise NotTheUnit("only the project's responsible unit reports its progress")
        self._require("in_progress", doing="progress is reported while it is in progress")
        milestone = self.milestone(milestone_id)
        if milestone is None:
            raise WrongState("no such milestone in this project")
        if milestone["done_on"]:
            raise WrongState("this milestone is already done")
        self._reported(milestone_id=milestone_id, note=note, done=done, at=at, on=on)

    @event("MilestoneReported")
    def _reported(self, milestone_id: str, note: str, done: bool, at: datetime,
                  on: date) -> None:
        milestones = []
        for m in self.milestones:  # replaced, never changed in place
            if m["milestone_id"] == milestone_id:
                m = {**m, "reports": [*m["reports"], {"note": note, "done": done,
                                                      "at": at.isoformat()}],
                     "done_on": on.isoformat() if done else None}
            milestones.append(m)
        self.milestones = milestones

    def complete(self, at: datetime) -> None:
        self._require("in_progress", doing="only a project in progress is completed")
        if not self.milestones or any(not m["done_on"] for m in self.milestones):
            raise WrongState("a project is completed once every milestone is done")
        self._completed(at=at)

    @event("Completed")
    def _completed(self, at: datetime) -> None:
        self.status = "evaluating"
        self.completed_at = at

    def evaluate(self, deputy_id: str, rating: str, comment: str, at: datetime) -> None:
        self._require("evaluating", doing="deputies evaluate a completed project")
        if rating not in RATINGS:
            raise WrongState(f"a rating is one of {', '.join(RATINGS)}")
        if deputy_id in self.evaluations:
            raise AlreadyEvaluated("this deputy has already evaluated the project")
        self._evaluated(deputy_id=deputy_id, rating=rating, comment=comment, at=at)

    @event("Evaluated")
    def _evaluated(self, deputy_id: str, rating: str, comment: str, at: datetime) -> None:
        self.evaluations = {**self.evaluations,
                            deputy_id: {"rating": rating, "comment": comment,
                                        "at": at.isoformat()}}

    def close_evaluation(self, at: datetime) -> dict[str, Any]:
        self._require("evaluating", doing="only an evaluation under way is closed")
        self._evaluation_closed(at=at, summary=self.evaluation_summary())
        return self.evaluation  # type: ignore[return-value]

    def evaluation_summary(self) -> dict[str, Any]:
        counts = {r: 0 for r in RATINGS}
        for e in self.evaluations.values():
            counts[e["rating"]] += 1
        total = sum(counts.values())
        content = counts["satisfied"] + counts["basically_satisfied"]
        return {"evaluations": total, **counts,
                "satisfaction_rate": round(content / total, 4) if total else None}

    @event("EvaluationClosed")
    def _evaluation_closed(self, at: datetime, summary: dict[str, Any]) -> None:
        self.status = "evaluated"
        self.evaluation = summary

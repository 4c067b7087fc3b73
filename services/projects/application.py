"""Projects' commands and queries over its event store (livelihood-project voting).

Exactly once under concurrency, decided by the store, not by a read model:

- a vote saves the ballot's ``VoteCounted`` and the deputy's ``DeputyBallot`` (an id derived
  from the ballot and the deputy) in one transaction. Two ballots of one deputy, from two
  replicas at once, both try to create that aggregate: the store keeps one and refuses the
  other (IntegrityError) -> 409. Votes of different deputies conflict only on the ballot's
  version: the loser reloads and tries again.
- closing changes the ballot too, so a vote recorded before the close is in the tally the
  close freezes, and one after it finds the ballot closed (409).
- an evaluation is an event of the project, whose version orders two at once; the second of
  one deputy finds the first and is refused (409).

The ``VoteCounted`` event is recorded with a neutral actor (no user, no trace): nothing
stored with the choices names the deputy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from shared.clock import CHINA_TZ, Clock, clock_from_settings
from shared.contracts.requests.projects import (
    AssignProjectUnit,
    CastVote,
    CloseBallot,
    CloseEvaluation,
    CompleteProject,
    CreateBallot,
    EvaluateProject,
    OpenBallot,
    PlanMilestone,
    ProposeProject,
    ReportMilestone,
)
from shared.eventstore import META_KEY, Actor, ServiceApplication
from shared.rpc import Forbidden, Invalid, NotFound
from shared.reference import ReferenceData
from shared.settings import ServiceSettings

from services.projects.domain import Ballot, DeputyBallot, FollowedProject, Proposal
from services.projects.errors import AlreadyVoted, WrongState
from services.projects.views import ballot_view, project_view, proposal_view

A = TypeVar("A")
ATTEMPTS = 60  # a vote that lost the race for the ballot's next version tries again
# Stored with the choices instead of the voter (shared/eventstore.py's metadata).
BALLOT_BOX = {"actor": {"username": "ballot-box", "role": "system"}, "causation_id": None,
              "trace": {}}


class ProjectsApplication(ServiceApplication):
    name = "projects"
    snapshotting_intervals = {Ballot: 200}

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.views: Any = None  # the read models (read_models.ProjectsViews), set by bootstrap
        super().__init__(settings, env={"IS_SNAPSHOTTING_ENABLED": "y"})
        # Units: this service's replica of the registry's records (shared/reference.py),
        # seeded from config/ and followed in its own log; updated in place.
        self.reference = ReferenceData(self, settings)
        self.units = self.reference.table("unit")
        self.reference.catch_up()

    # --- time and loading -----------------------------------------------------------------

    def today(self) -> date:
        return self.clock.now().astimezone(CHINA_TZ).date()

    def this_year(self) -> int:
        return self.today().year

    def _get(self, cls: type[A], aggregate_id: str, what: str) -> A:
        try:
            aggregate = self.repository.get(UUID(aggregate_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no {what} {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what} {aggregate_id}")
        return aggregate

    def proposal(self, proposal_id: str) -> Proposal:
        return self._get(Proposal, proposal_id, "proposal")

    def ballot(self, ballot_id: str) -> Ballot:
        return self._get(Ballot, ballot_id, "ballot")

    def project(self, project_id: str) -> FollowedProject:
        return self._get(FollowedProject, project_id, "project")

    def _unit(self, unit_id: str | None, field: str) -> None:
        if unit_id is not None and unit_id not in self.units:
            raise Invalid.field(["body", field], f"no unit {unit_id}")
        if unit_id is not None and not self.reference.active("unit", unit_id):
            raise Invalid.field(["body", field], f"unit {unit_id} is closed")

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        """Run a load-decide-save step again when another command saved the same aggregate
        first (optimistic concurrency); the step itself raises the refusals."""
        for n in range(ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                if n == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.01 * min(n + 1, 10)))
        raise AssertionError("unreachable")

    # --- proposals ------------------------------------------------------------------------

    def propose(self, cmd: ProposeProject, actor: Actor) -> dict[str, Any]:
        self._unit(cmd.unit_id, "unit_id")
        source_kind = cmd.source_kind
        if source_kind in ("message", "suggestion") and not cmd.source_id:
            raise Invalid.field(["body", "source_id"],
                                "a proposal from a message or a suggestion names its id")
        if actor.role == "deputy" and source_kind == "office":
            source_kind = "deputy"
        if actor.role == "office" and source_kind == "deputy":
            raise Invalid.field(["body", "source_kind"], "the office proposes as the office")
        proposal = Proposal(title=cmd.title, description=cmd.description,
                            source_kind=source_kind, source_id=cmd.source_id,
                            unit_id=cmd.unit_id, proposed_by=actor.deputy_id or actor.username,
                            proposed_at=self.clock.now(), year=cmd.year or self.this_year())
        self.save(proposal)
        return proposal_view(proposal)

    # --- ballots --------------------------------------------------------------------------

    def create_ballot(self, cmd: CreateBallot, actor: Actor) -> dict[str, Any]:
        if len(set(cmd.proposal_ids)) != len(cmd.proposal_ids):
            raise Invalid.field(["body", "proposal_ids"], "each proposal once")
        if cmd.max_choices > len(cmd.proposal_ids) or cmd.seats > len(cmd.proposal_ids):
            raise Invalid.field(["body", "max_choices"],
                                "at most as many choices and seats as candidates")
        proposals = [self.proposal(pid) for pid in cmd.proposal_ids]
        ballot = Ballot(session=cmd.session, year=cmd.year, title=cmd.title,
                        max_choices=cmd.max_choices, seats=cmd.seats,
                        candidates=[{"proposal_id": str(p.id), "title": p.title,
                                     "unit_id": p.unit_id} for p in proposals],
                        drafted_at=self.clock.now())
        for p in proposals:
            p.list_on(str(ballot.id))
        self.save(ballot, *proposals)
        return ballot_view(ballot)

    def open_ballot(self, cmd: OpenBallot, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            ballot = self.ballot(cmd.ballot_id)
            ballot.open(self.clock.now())
            self.save(ballot)
            return ballot_view(ballot)
        return self._retrying(attempt)

    def cast_vote(self, cmd: CastVote, actor: Actor) -> dict[str, Any]:
        deputy_id = actor.deputy_id
        if not deputy_id:
            raise Forbidden("only a deputy votes")
        marker_id = DeputyBallot.create_id(cmd.ballot_id, deputy_id)

        def voted() -> bool:
            try:
                self.repository.get(marker_id)
                return True
            except AggregateNotFoundError:
                return False

        def attempt() -> dict[str, Any]:
            ballot = self.ballot(cmd.ballot_id)
            ballot.check_choices(cmd.choices)  # closed: 409 before anything else
            if voted():
                raise AlreadyVoted("this deputy has already voted in this ballot")
            ballot.count(cmd.choices)
            for domain_event in ballot.pending_events:
                if isinstance(domain_event, Ballot.VoteCounted):
                    object.__setattr__(domain_event, META_KEY, dict(BALLOT_BOX))
            marker = DeputyBallot(ballot_id=str(ballot.id), deputy_id=deputy_id,
                                  cast_at=self.clock.now())
            try:
                self.save(ballot, marker)
            except IntegrityError:
                if voted():  # the same deputy's other ballot won: this one is refused
                    raise AlreadyVoted("this deputy has already voted in this ballot") from None
                raise  # another deputy's vote (or the close) took the ballot's version
            return {"ballot_id": str(ballot.id), "voted": True,
                    "cast_at": marker.cast_at.isoformat()}

        return self._retrying(attempt)

    def close_ballot(self, cmd: CloseBallot, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            ballot = self.ballot(cmd.ballot_id)
            results = ballot.close(self.clock.now())
            changed: list[Any] = [ballot]
            votes = {r["proposal_id"]: r["votes"] for r in results["rows"]}
            for candidate in ballot.candidates:
                proposal = self.proposal(candidate["proposal_id"])
                chosen = candidate["proposal_id"] in results["chosen"]
                proposal.decide(chosen=chosen, votes=votes[candidate["proposal_id"]])
                changed.append(proposal)
                if chosen:
                    changed.append(FollowedProject(
                        ballot_id=str(ballot.id), proposal_id=str(proposal.id),
                        title=proposal.title, unit_id=proposal.unit_id,
                        session=ballot.session, year=ballot.year,
                        votes=votes[candidate["proposal_id"]], adopted_at=self.clock.now()))
            self.save(*changed)
            return {**ballot_view(ballot),
                    "projects": [str(f.id) for f in changed if isinstance(f, FollowedProject)]}
        return self._retrying(attempt)

    # --- followed projects ----------------------------------------------------------------

    def _change(self, project_id: str, change: Callable[[FollowedProject], None]
                ) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            project = self.project(project_id)
            change(project)
            self.save(project)
            return project_view(project)
        return self._retrying(attempt)

    def assign_unit(self, cmd: AssignProjectUnit, actor: Actor) -> dict[str, Any]:
        self._unit(cmd.unit_id, "unit_id")
        return self._change(cmd.project_id, lambda p: p.assign_unit(cmd.unit_id))

    def plan_milestone(self, cmd: PlanMilestone, actor: Actor) -> dict[str, Any]:
        milestone_id = f"M-{uuid4().hex[:8]}"
        return self._change(cmd.project_id,
                            lambda p: p.plan_milestone(milestone_id, cmd.title, cmd.due))

    def report_milestone(self, cmd: ReportMilestone, actor: Actor) -> dict[str, Any]:
        return self._change(cmd.project_id, lambda p: p.report(
            cmd.milestone_id, actor.unit_id, cmd.note, cmd.done, self.clock.now(),
            self.today()))

    def complete(self, cmd: CompleteProject, actor: Actor) -> dict[str, Any]:
        return self._change(cmd.project_id, lambda p: p.complete(self.clock.now()))

    def evaluate(self, cmd: EvaluateProject, actor: Actor) -> dict[str, Any]:
        if not actor.deputy_id:
            raise Forbidden("only a deputy evaluates")
        self._change(cmd.project_id, lambda p: p.evaluate(
            actor.deputy_id, cmd.rating, cmd.comment, self.clock.now()))
        return {"project_id": cmd.project_id, "evaluated": True, "rating": cmd.rating}

    def close_evaluation(self, cmd: CloseEvaluation, actor: Actor) -> dict[str, Any]:
        return self._change(cmd.project_id, lambda p: p.close_evaluation(self.clock.now()))


__all__ = ["ProjectsApplication", "WrongState"]

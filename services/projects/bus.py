"""Projects' bus adapters: events -> integration contracts, and the registration table of the
requests it answers (shared/contracts/requests/projects.py)."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from shared.contracts import IntegrationEvent
from shared.contracts.projects import (
    BallotClosedV1,
    BallotOpenedV1,
    DeputyVotedV1,
    MilestoneReportedV1,
    ProjectEvaluatedV1,
    ProposalSubmittedV1,
)
from shared.contracts.requests import Request
from shared.contracts.requests.projects import (
    AssignProjectUnit,
    CastVote,
    CloseBallot,
    CloseEvaluation,
    CompleteProject,
    CreateBallot,
    EvaluateProject,
    GetBallot,
    GetProject,
    ListBallots,
    ListProjects,
    ListProposals,
    OpenBallot,
    PlanMilestone,
    ProposeProject,
    PublicVoteResults,
    ReportMilestone,
)
from shared.eventstore import Actor

from services.projects.domain import Ballot, DeputyBallot, FollowedProject, Proposal

SERVICE = "projects"


def translate(app: Any, event: Any, envelope: dict[str, Any]) -> IntegrationEvent | None:
    """The published fact of a recorded event; ``VoteCounted`` (the choices) is never
    published."""
    if isinstance(event, Proposal.Proposed):
        return ProposalSubmittedV1(**envelope, proposal_id=str(event.originator_id),
                                   title=event.title, year=event.year,
                                   source_kind=event.source_kind, source_id=event.source_id)
    if isinstance(event, (Ballot.Opened, Ballot.Closed)):
        ballot: Ballot = app.repository.get(event.originator_id,
                                            version=event.originator_version)
        if isinstance(event, Ballot.Opened):
            return BallotOpenedV1(**envelope, ballot_id=str(ballot.id), session=ballot.session,
                                  year=ballot.year, title=ballot.title,
                                  max_choices=ballot.max_choices, seats=ballot.seats,
                                  candidates=ballot.candidate_ids())
        results = event.results
        return BallotClosedV1(
            **envelope, ballot_id=str(ballot.id), session=ballot.session, year=ballot.year,
            title=ballot.title, ballots_cast=results["ballots_cast"], seats=results["seats"],
            results=results["rows"], chosen=results["chosen"], ties=results["ties"],
            projects=[str(FollowedProject.create_id(str(ballot.id), pid))
                      for pid in results["chosen"]])
    if isinstance(event, DeputyBallot.Cast):
        ballot = app.repository.get(UUIDof(event.ballot_id), version=1)
        return DeputyVotedV1(**{**envelope, "case_id": event.ballot_id},
                             ballot_id=event.ballot_id, deputy_id=event.deputy_id,
                             session=ballot.session, year=ballot.year)
    if isinstance(event, FollowedProject.MilestoneReported):
        project: FollowedProject = app.repository.get(event.originator_id,
                                                      version=event.originator_version)
        milestone = project.milestone(event.milestone_id) or {}
        due = date.fromisoformat(milestone["due"])
        return MilestoneReportedV1(
            **envelope, project_id=str(project.id), title=project.title,
            unit_id=project.unit_id or "", milestone_id=event.milestone_id,
            milestone_title=milestone["title"], due=due, done=event.done,
            late=event.on > due)
    if isinstance(event, FollowedProject.EvaluationClosed):
        project = app.repository.get(event.originator_id, version=event.originator_version)
        return ProjectEvaluatedV1(**envelope, project_id=str(project.id), title=project.title,
                                  unit_id=project.unit_id, year=project.year,
                                  **event.summary)
    return None


def UUIDof(text: str) -> Any:  # noqa: N802
    from uuid import UUID

    return UUID(text)


def handlers(app: Any, queries: Any) -> dict[type[Request], Callable[[Any, Actor], Any]]:
    """Every request this service answers, by contract."""
    return {
        ProposeProject: app.propose,
        CreateBallot: app.create_ballot,
        OpenBallot: app.open_ballot,
        CastVote: app.cast_vote,
        CloseBallot: app.close_ballot,
        AssignProjectUnit: app.assign_unit,
        PlanMilestone: app.plan_milestone,
        ReportMilestone: app.report_milestone,
        CompleteProject: app.complete,
        EvaluateProject: app.evaluate,
        CloseEvaluation: app.close_evaluation,
        ListProposals: queries.list_proposals,
        ListBallots: queries.list_ballots,
        GetBallot: queries.get_ballot,
        PublicVoteResults: queries.public_results,
        ListProjects: queries.list_projects,
        GetProject: queries.get_project,
    }

"""Events published by the projects service (livelihood-project voting, 民生实事项目票决).

``case_id`` is the aggregate the event is about: the proposal, the ballot or the followed
project. No event says what a deputy chose: ``deputy_voted`` says only that they voted.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent


class _Projects(IntegrationEvent):
    producer: ClassVar[str] = "projects"


class ProposalSubmittedV1(_Projects):
    name: ClassVar[str] = "proposal_submitted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A livelihood project was proposed (项目征集): by the office or a deputy, or from a "
        "citizen message or a suggestion (source_kind, source_id). case_id is the proposal.")

    proposal_id: str
    title: str
    year: int
    source_kind: str = Field(description="office, deputy, message or suggestion")
    source_id: str | None = Field(None, description="the message's or suggestion's id")


class BallotOpenedV1(_Projects):
    name: ClassVar[str] = "ballot_opened"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office opened a vote on livelihood projects for a session; deputies may vote. "
        "case_id is the ballot.")

    ballot_id: str
    session: str
    year: int
    title: str
    max_choices: int = Field(description="projects a deputy may vote for")
    seats: int = Field(description="projects chosen")
    candidates: list[str] = Field(description="the proposals on the ballot")


class BallotResultRow(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    proposal_id: str
    title: str
    votes: int
    rank: int
    chosen: bool
    tied: bool = Field(description="tied at the cut-off for the last seats (not chosen)")


class BallotClosedV1(_Projects):
    name: ClassVar[str] = "ballot_closed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A vote was closed and its results frozen and published, counted once: every "
        "candidate's votes and rank, the projects chosen (each now followed as a project) and "
        "any tie at the cut-off. case_id is the ballot.")

    ballot_id: str
    session: str
    year: int
    title: str
    ballots_cast: int
    seats: int
    results: list[BallotResultRow]
    chosen: list[str] = Field(description="the proposals chosen")
    ties: list[str] = Field(description="proposals tied at the cut-off, left to the office")
    projects: list[str] = Field(description="the followed projects made of the chosen ones")


class DeputyVotedV1(_Projects):
    name: ClassVar[str] = "deputy_voted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "A deputy cast their ballot in a vote (participation only: never what they chose). "
        "case_id is the ballot.")
    consumers: ClassVar[tuple[str, ...]] = ("points",)

    ballot_id: str
    deputy_id: str
    session: str
    year: int


class MilestoneReportedV1(_Projects):
    name: ClassVar[str] = "milestone_reported"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The responsible unit reported progress on a followed project's milestone (done: "
        "reached), with the milestone's deadline. case_id is the followed project.")

    project_id: str
    title: str
    unit_id: str
    milestone_id: str
    milestone_title: str
    due: date
    done: bool
    late: bool = Field(description="reported done after its deadline, or not done past it")


class ProjectEvaluatedV1(_Projects):
    name: ClassVar[str] = "project_evaluated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The deputies' evaluation of a completed project was closed with its summary "
        "(evaluations by rating, satisfaction rate). case_id is the followed project.")

    project_id: str
    title: str
    unit_id: str | None
    year: int
    evaluations: int
    satisfied: int
    basically_satisfied: int
    unsatisfied: int
    satisfaction_rate: float | None

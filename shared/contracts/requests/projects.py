"""The projects service's requests: livelihood-project voting (民生实事项目票决) from proposal
to the deputies' final evaluation. The office collects proposals, puts candidates on a
ballot, opens and closes the vote and follows the chosen projects; deputies propose, vote
(one ballot each, secret) and evaluate; the responsible unit reports its milestones; the
published results are public."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from shared.contracts.requests import (DEPUTY, EVERYONE, LEADER, OFFICE, STAFF, UNIT, Command,
                                       Query)
from shared.contracts.requests.limits import NOTE_MAX, REASON_MAX, RATING_PATTERN, TITLE_MAX
from shared.paging import PageQuery

ID_MAX = 100
Year = Annotated[int | None, Field(ge=2000, le=2100, description="calendar year; default this year")]


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class ProjectsCommand(Command):
    service: ClassVar[str] = "projects"


class ProjectsQuery(Query):
    service: ClassVar[str] = "projects"


# --- proposals ----------------------------------------------------------------------------------

class ProposeProject(ProjectsCommand):
    """Propose a livelihood project (项目征集): by the office or a deputy, or taken from a
    citizen message or a suggestion (``source_kind`` and its ``source_id``)."""

    name: ClassVar[str] = "propose_project"
    roles: ClassVar[frozenset[str]] = OFFICE | DEPUTY
    model_config = _example({"title": "老旧小区加装电梯", "description": "为全区 20 个老旧小区加装电梯",
                             "source_kind": "suggestion", "source_id": "S-2026-0001",
                             "unit_id": "unit-a", "year": 2026})

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(min_length=1, max_length=NOTE_MAX)
    source_kind: Literal["office", "deputy", "message", "suggestion"] = Field(
        "office", description="where the proposal comes from")
    source_id: str | None = Field(None, max_length=ID_MAX,
                                  description="the citizen message's or suggestion's id")
    unit_id: str | None = Field(None, max_length=ID_MAX,
                                description="the unit proposed to carry it out")
    year: Year = None


class ListProposals(ProjectsQuery, PageQuery):
    """Proposals of a year, newest first (``status``: proposed, listed, chosen, not_chosen)."""

    name: ClassVar[str] = "list_proposals"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER | DEPUTY

    status: Literal["proposed", "listed", "chosen", "not_chosen"] | None = None
    year: Year = None


# --- ballots ------------------------------------------------------------------------------------

class CreateBallot(ProjectsCommand):
    """Put candidates on a ballot for a session (届次/会议) of a year: each deputy may choose
    up to ``max_choices``; the ``seats`` projects with the most votes are chosen."""

    name: ClassVar[str] = "create_ballot"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"session": "区第七届人民代表大会第五次会议", "year": 2026,
                             "title": "2026 年区民生实事项目票决", "max_choices": 3, "seats": 3,
                             "proposal_ids": ["P-1", "P-2", "P-3", "P-4", "P-5"]})

    session: str = Field(min_length=1, max_length=TITLE_MAX)
    year: int = Field(ge=2000, le=2100)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    max_choices: int = Field(ge=1, le=50, description="projects a deputy may vote for")
    seats: int = Field(ge=1, le=50, description="projects chosen")
    proposal_ids: list[str] = Field(min_length=1, max_length=50,
                                    description="the candidates (proposals not yet on a ballot)")


class BallotRef(ProjectsCommand):
    ballot_id: str = Field(min_length=1, max_length=ID_MAX)


class OpenBallot(BallotRef):
    """Open the vote (a draft ballot)."""

    name: ClassVar[str] = "open_ballot"
    roles: ClassVar[frozenset[str]] = OFFICE


class CloseBallot(BallotRef):
    """Close the vote: the tally is frozen and published (once; then immutable); the chosen
    projects become followed projects."""

    name: ClassVar[str] = "close_ballot"
    roles: ClassVar[frozenset[str]] = OFFICE


class CastVote(ProjectsCommand):
    """A deputy's secret ballot: one per deputy and ballot, up to the ballot's
    ``max_choices`` projects. The answer says that the ballot was counted, not what it chose."""

    name: ClassVar[str] = "cast_vote"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"ballot_id": "B-1", "choices": ["P-1", "P-3"]})

    ballot_id: str = Field(min_length=1, max_length=ID_MAX)
    choices: list[str] = Field(min_length=1, max_length=50)


class ListBallots(ProjectsQuery, PageQuery):
    """Ballots of a year, newest first."""

    name: ClassVar[str] = "list_ballots"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER | DEPUTY

    year: Year = None


class GetBallot(ProjectsQuery):
    """A ballot: candidates, status, ballots cast, the results once closed; a deputy sees
    whether they have voted, the office who has voted (never what anyone chose)."""

    name: ClassVar[str] = "get_ballot"
    roles: ClassVar[frozenset[str]] = OFFICE | LEADER | DEPUTY

    ballot_id: str = Field(min_length=1, max_length=ID_MAX)


class PublicVoteResults(ProjectsQuery, PageQuery):
    """The published results of closed ballots (no personal data), newest first."""

    name: ClassVar[str] = "public_vote_results"
    roles: ClassVar[frozenset[str]] = EVERYONE

    year: Year = None


# --- followed projects --------------------------------------------------------------------------

class ListProjects(ProjectsQuery, PageQuery):
    """Followed projects of a year (a unit: its own), newest first."""

    name: ClassVar[str] = "list_projects"
    roles: ClassVar[frozenset[str]] = STAFF

    status: Literal["in_progress", "evaluating", "evaluated"] | None = None
    year: Year = None


class GetProject(ProjectsQuery):
    """A followed project with its milestones (deadlines, reports) and evaluation."""

    name: ClassVar[str] = "get_project"
    roles: ClassVar[frozenset[str]] = STAFF

    project_id: str = Field(min_length=1, max_length=ID_MAX)


class ProjectRef(ProjectsCommand):
    project_id: str = Field(min_length=1, max_length=ID_MAX)


class AssignProjectUnit(ProjectRef):
    """Set the unit responsible for a project."""

    name: ClassVar[str] = "assign_project_unit"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"project_id": "F-1", "unit_id": "unit-a"})

    unit_id: str = Field(min_length=1, max_length=ID_MAX)


class PlanMilestone(ProjectRef):
    """Plan a milestone of a project with its deadline."""

    name: ClassVar[str] = "plan_milestone"
    roles: ClassVar[frozenset[str]] = OFFICE
    model_config = _example({"project_id": "F-1", "title": "完成施工招标", "due": "2026-06-30"})

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    due: date


class ReportMilestone(ProjectRef):
    """The responsible unit reports progress on a milestone (``done``: it is reached)."""

    name: ClassVar[str] = "report_milestone"
    roles: ClassVar[frozenset[str]] = UNIT
    model_config = _example({"project_id": "F-1", "milestone_id": "M-1",
                             "note": "已完成招标，6 月开工", "done": True})

    milestone_id: str = Field(min_length=1, max_length=ID_MAX)
    note: str = Field(min_length=1, max_length=NOTE_MAX)
    done: bool = False


class CompleteProject(ProjectRef):
    """Mark a project completed (every milestone done): the deputies' evaluation opens."""

    name: ClassVar[str] = "complete_project"
    roles: ClassVar[frozenset[str]] = OFFICE


class EvaluateProject(ProjectRef):
    """A deputy's evaluation of a completed project (one per deputy)."""

    name: ClassVar[str] = "evaluate_project"
    roles: ClassVar[frozenset[str]] = DEPUTY
    model_config = _example({"project_id": "F-1", "rating": "satisfied",
                             "comment": "电梯已投入使用"})

    rating: str = Field(pattern=RATING_PATTERN,
                        description="satisfied, basically_satisfied or unsatisfied")
    comment: str = Field("", max_length=REASON_MAX)


class CloseEvaluation(ProjectRef):
    """Close the deputies' evaluation: its summary is final."""

    name: ClassVar[str] = "close_evaluation"
    roles: ClassVar[frozenset[str]] = OFFICE

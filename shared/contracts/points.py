"""Events published by the duty-points service."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent


class _Points(IntegrationEvent):
    producer: ClassVar[str] = "points"


class PointsAwardedV1(_Points):
    name: ClassVar[str] = "points_awarded"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "Duty points were added to a deputy's ledger, with their cause."
    consumers: ClassVar[tuple[str, ...]] = ()

    deputy_id: str
    year: int
    points: float
    cause_kind: str
    cause_ref: str
    rule_version: str


class PointsRevokedV1(_Points):
    name: ClassVar[str] = "points_revoked"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "Points were taken back from a deputy's ledger with a reason: a revocation line with a "
        "negative amount, naming the award line and cause it revokes (e.g. the registration "
        "points of a suggestion merged into another, or an office decision)."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    deputy_id: str
    year: int
    points: float = Field(description="the amount taken back, negative (e.g. -3.0)")
    cause_kind: str = Field(description="the cause of the revoked award, e.g. `suggestion_registered`")
    cause_ref: str = Field(description="what the revoked award's cause refers to, e.g. the case id")
    revoked_line: int = Field(ge=1, description="the ledger line number of the revoked award")
    reason: str = Field(description="why the points were revoked")


class PointsRecalculatedV1(_Points):
    name: ClassVar[str] = "points_recalculated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office recalculated a year's points under a rule version; this deputy's ledger got "
        "adjustment lines (one per line whose points changed). case_id is the recalculation id."
    )
    consumers: ClassVar[tuple[str, ...]] = ()

    deputy_id: str
    year: int
    recalculation_id: str = Field(description="the recorded recalculation")
    rule_version: str = Field(description="the rule version every priced line now counts under")
    delta: float = Field(description="the change of the deputy's total for the year")
    adjusted_lines: list[int] = Field(default_factory=list,
                                      description="ledger line numbers whose points changed")


class ActivityReviewedV1(_Points):
    name: ClassVar[str] = "activity_reviewed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office reviewed a deputy's self-reported activity (履职活动审核): approved (it "
        "scored, possibly capped to 0) or rejected with a reason. case_id is the activity id."
    )
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    activity_id: str = Field(description="the self-reported activity")
    deputy_id: str
    kind: str = Field(description="activity kind from config/points.yaml, e.g. `reception_day`")
    activity_date: date = Field(description="the day of the activity, China time")
    decision: Literal["approved", "rejected"]
    points: float | None = Field(None, description="points it scored when approved (0 when capped)")
    capped_by: str | None = Field(None, description="the cap that limited its points, if any")
    rule_version: str | None = Field(None, description="rule version it scored under, when approved")
    reason: str | None = Field(None, description="why it was rejected")

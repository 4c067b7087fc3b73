"""Events published by the reports service (a deputy's report to voters, 述职评议).
``case_id`` is the report."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import Field

from shared.contracts.base import IntegrationEvent


class _Reports(IntegrationEvent):
    producer: ClassVar[str] = "reports"


class ReportScheduledV1(_Reports):
    name: ClassVar[str] = "report_scheduled"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "The office scheduled a deputy's report to the voters of their constituency."

    report_id: str
    deputy_id: str
    title: str
    scheduled_on: date
    place: str


class ReportHeldV1(_Reports):
    name: ClassVar[str] = "report_held"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = ("A deputy reported to voters (述职): the meeting was held, with "
                              "its attendance; the participants' evaluation opens.")
    consumers: ClassVar[tuple[str, ...]] = ("points",)

    report_id: str
    deputy_id: str
    held_on: date
    attendance: int


class ReportEvaluatedV1(_Reports):
    name: ClassVar[str] = "report_evaluated"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The voters' evaluation of a deputy's report was closed: per question (overall, duty, "
        "contact) the counts of each answer and the share satisfied or basically satisfied; "
        "no participant is named.")
    consumers: ClassVar[tuple[str, ...]] = ("points",)

    report_id: str
    deputy_id: str
    year: int
    evaluations: int
    results: dict[str, Any] = Field(description="question -> {satisfied, basically_satisfied, "
                                                "unsatisfied, satisfaction_rate}")

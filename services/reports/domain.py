"""Reporting to voters and their evaluation (向选区选民述职并接受民主评议): the aggregates.

- ``VoterReport``: a deputy's report to the voters of their constituency, scheduled by the
  office (date, place), with the participants' codes it gave out (only their hashes are
  kept), held, and its evaluation closed with a summary.
- each participant's answers are an event of the report (``Evaluated``), under the hash of
  their code: a code evaluates once (the report knows which have), two at once are ordered
  by the store's optimistic concurrency on the report, and the close summarises exactly the
  evaluations recorded before it. No name, phone or address: the codes are handed out at the
  meeting, not to named people.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.reports.errors import AlreadyEvaluated, UnknownParticipant, WrongState

ANSWERS = ("satisfied", "basically_satisfied", "unsatisfied")
QUESTIONS = ("overall", "duty", "contact")  # 总体评价, 履职尽责, 联系群众


class VoterReport(Aggregate):
    @event("Scheduled")
    def __init__(self, deputy_id: str, title: str, scheduled_on: date, place: str,
                 year: int, code_hashes: list[str], scheduled_at: datetime) -> None:
        self.deputy_id = deputy_id
        self.title = title
        self.scheduled_on = scheduled_on
        self.place = place
        self.year = year
        self.code_hashes = list(code_hashes)
        self.scheduled_at = scheduled_at
        self.status = "scheduled"
        self.held_on: date | None = None
        self.attendance: int | None = None
        self.summary: dict[str, Any] | None = None
        self.evaluations: dict[str, dict[str, str]] = {}  # code hash -> answers

    def hold(self, held_on: date, attendance: int) -> None:
        if self.status != "scheduled":
            raise WrongState(f"the report is {self.status}: only a scheduled one is held",
                             status_now=self.status)
        self._held(held_on=held_on, attendance=attendance)

    @event("Held")
    def _held(self, held_on: date, attendance: int) -> None:
        self.status = "held"
        self.held_on = held_on
        self.attendance = attendance

    def evaluate(self, code_hash: str, answers: dict[str, str], comment: str,
                 at: datetime) -> None:
        if code_hash not in self.code_hashes:
            raise UnknownParticipant("this code was not given out for this report")
        if self.status != "held":
            raise WrongState("the evaluation is open once the report is held and until it "
                             "is closed", status_now=self.status)
        if code_hash in self.evaluations:
            raise AlreadyEvaluated("this participant's code has already evaluated the report")
        if set(answers) != set(QUESTIONS) or not set(answers.values()) <= set(ANSWERS):
            raise WrongState("every question is answered with one of the answers")
        self._evaluated(code_hash=code_hash, answers=answers, comment=comment, at=at)

    @event("Evaluated")
    def _evaluated(self, code_hash: str, answers: dict[str, str], comment: str,
                   at: datetime) -> None:
        self.evaluations = {**self.evaluations, code_hash: dict(answers)}

    def close_evaluation(self) -> dict[str, Any]:
        if self.status != "held":
            raise WrongState(f"the report is {self.status}: only a held report's evaluation "
                             "is closed", status_now=self.status)
        self._closed(summary=summarize(list(self.evaluations.values())))
        return self.summary  # type: ignore[return-value]

    @event("EvaluationClosed")
    def _closed(self, summary: dict[str, Any]) -> None:
        self.status = "evaluated"
        self.summary = summary


def summarize(evaluations: list[dict[str, str]]) -> dict[str, Any]:
    """Counts per question and answer, and the share satisfied or basically satisfied."""
    summary: dict[str, Any] = {"evaluations": len(evaluations)}
    for question in QUESTIONS:
        counts = {a: 0 for a in ANSWERS}
        for answers in evaluations:
            counts[answers[question]] += 1
        total = sum(counts.values())
        summary[question] = {**counts, "satisfaction_rate": round(
            (counts["satisfied"] + counts["basically_satisfied"]) / total, 4) if total else None}
    return summary

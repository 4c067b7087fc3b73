"""Reports' commands over its event store: schedule, hold, the participants' evaluations and
the close. One evaluation per participant's code, decided by the store: an evaluation is an
event of the report, so two at once with one code are ordered by the report's version and the
second finds the first (409); the close summarises exactly what was recorded before it."""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from shared.clock import CHINA_TZ, Clock, clock_from_settings
from shared.contracts.requests.reports import (CloseReportEvaluation, EvaluateReport,
                                               HoldReport, ScheduleReport)
from shared.eventstore import META_KEY, Actor, ServiceApplication
from shared.rpc import Invalid, NotFound
from shared.reference import ReferenceData
from shared.settings import ServiceSettings

from services.reports.domain import VoterReport
from services.reports.views import report_view

ATTEMPTS = 60
# an evaluation is recorded without the request's actor or trace (anonymous participants)
ANONYMOUS_META = {"actor": {"username": "participant", "role": "anonymous"},
                  "causation_id": None, "trace": {}}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class ReportsApplication(ServiceApplication):
    name = "reports"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.views: Any = None
        super().__init__(settings)
        # Deputies: this service's replica of the registry's records (shared/reference.py),
        # seeded from config/ and followed in its own log; updated in place.
        self.reference = ReferenceData(self, settings)
        self.deputies = self.reference.table("deputy")
        self.reference.catch_up()

    def today(self) -> date:
        return self.clock.now().astimezone(CHINA_TZ).date()

    def this_year(self) -> int:
        return self.today().year

    def report(self, report_id: str) -> VoterReport:
        try:
            aggregate = self.repository.get(UUID(report_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no report {report_id}") from None
        if not isinstance(aggregate, VoterReport):
            raise NotFound(f"no report {report_id}")
        return aggregate

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        for n in range(ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                if n == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.01 * min(n + 1, 10)))
        raise AssertionError("unreachable")

    def schedule(self, cmd: ScheduleReport, actor: Actor) -> dict[str, Any]:
        if cmd.deputy_id not in self.deputies:
            raise Invalid.field(["body", "deputy_id"], f"no deputy {cmd.deputy_id}")
        if not self.reference.active("deputy", cmd.deputy_id):
            raise Invalid.field(["body", "deputy_id"], f"deputy {cmd.deputy_id} no longer "
                                                       "serves (their record is closed)")
        codes = [secrets.token_urlsafe(9) for _ in range(cmd.participants)]
        report = VoterReport(deputy_id=cmd.deputy_id, title=cmd.title,
                             scheduled_on=cmd.scheduled_on, place=cmd.place,
                             year=cmd.scheduled_on.year,
                             code_hashes=[code_hash(c) for c in codes],
                             scheduled_at=self.clock.now())
        self.save(report)
        return {**report_view(report), "codes": codes}  # given out once, never stored

    def hold(self, cmd: HoldReport, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            report = self.report(cmd.report_id)
            report.hold(cmd.held_on, cmd.attendance)
            self.save(report)
            return report_view(report)
        return self._retrying(attempt)

    def evaluate(self, cmd: EvaluateReport, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            report = self.report(cmd.report_id)
            report.evaluate(code_hash(cmd.code), {"overall": cmd.overall, "duty": cmd.duty,
                                                  "contact": cmd.contact},
                            cmd.comment, self.clock.now())
            for domain_event in report.pending_events:
                object.__setattr__(domain_event, META_KEY, dict(ANONYMOUS_META))
            self.save(report)
            return {"report_id": cmd.report_id, "evaluated": True}
        return self._retrying(attempt)

    def close_evaluation(self, cmd: CloseReportEvaluation, actor: Actor) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            report = self.report(cmd.report_id)
            report.close_evaluation()
            self.save(report)
            return report_view(report)
        return self._retrying(attempt)

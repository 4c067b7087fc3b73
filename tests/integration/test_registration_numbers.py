"""Registration numbers stay unique and gap-free under concurrent registrations (real stores)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from services.intake.application import IntakeApplication, RegisterSuggestion, SubmitSuggestion
from shared.clock import ManualClock
from shared.eventstore import Actor
from shared.settings import ServiceSettings

DEPUTY = Actor("deputy-1", "deputy", deputy_id="deputy-1")
OFFICE = Actor("office", "office")


def test_concurrent_registrations_on_two_replicas_get_gap_free_unique_numbers(store):
    settings = ServiceSettings(service_name="intake", **store)
    clock = ManualClock()
    replicas = [IntakeApplication(settings, clock=clock), IntakeApplication(settings, clock=clock)]
    try:
        ids = [replicas[0].submit_suggestion(
            SubmitSuggestion(title=f"建议{i}", body="内容", category="livelihood"), DEPUTY)["id"]
            for i in range(24)]

        def register(i: int) -> str:
            app = replicas[i % 2]
            return app.register_suggestion(
                RegisterSuggestion(suggestion_id=ids[i], urgency="blue"), OFFICE)["number"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            numbers = list(pool.map(register, range(len(ids))))
        assert sorted(numbers) == [f"2026-{n:04d}" for n in range(1, 25)]
    finally:
        for app in replicas:
            app.close()

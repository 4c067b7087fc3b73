"""Prometheus metrics of one service process (its own registry, rendered on request).

The gateway exposes each service's metrics at ``/metrics/<service>`` (scrape each as a target).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.published = Counter(
            "duty_events_published", "Integration events published by the outbox relay",
            registry=self.registry)
        self.consumed = Counter(
            "duty_messages_consumed", "Upstream messages handled, by outcome",
            ["upstream", "outcome"], registry=self.registry)
        self.handler_seconds = Histogram(
            "duty_handler_seconds",
            "Time to process one upstream message (a batch's time shared among its messages)",
            ["upstream"], registry=self.registry)
        self.rpc_seconds = Histogram(
            "duty_request_seconds", "Time to answer one request", ["route"],
            registry=self.registry)
        self.refused = Counter(
            "duty_requests_refused", "Requests refused: no valid signed actor assertion",
            registry=self.registry)
        self.recorded = Gauge("duty_events_recorded", "Events in this service's event store",
                              registry=self.registry)
        self.outbox_lag = Gauge("duty_outbox_lag", "Recorded events not yet published",
                                registry=self.registry)

    def render(self, recorded: Callable[[], int], outbox_position: Callable[[], int]) -> str:
        total = recorded()
        self.recorded.set(total)
        self.outbox_lag.set(total - outbox_position())
        return generate_latest(self.registry).decode()

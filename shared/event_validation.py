"""Upstream events are validated before any effect (docs/security.md, "Upstream events").

A consumer's handler believes what an event says: a case id becomes an aggregate id, a deputy
id a ledger, a unit id a task. The bus only lets a service publish its own subjects
(shared/bus_auth.py), but a producer with a bug, or its stolen credential, can still publish
an event that is well-formed JSON and wrong. So every consumer checks, before its handler runs:

- the envelope: ``source_service`` is the subject's producer and ``event_id`` is
  ``<producer>:<notification id>`` (as the outbox makes it);
- ids in the form their producer makes them: case, task and suggestion ids are UUIDs
  (lower-case, hyphenated), a registration number is ``YYYY-NNNN``;
- references to reference data that exists in this service: deputies, units, stations and
  categories in the service's replica of the registry's records (shared/reference.py: the
  configuration's seed overlaid by the records replicated into its own log, read live, so a
  deputy or a category the registry added is known as soon as the replica has it; a closed
  category stays known: events of its old cases go on), plus ``EXTRA_CATEGORIES``; leaders in
  its configuration.

An event that fails raises ``InvalidEvent``, naming every problem; the consumer parks it at
once on ``duty.dlq.<service>`` with that reason (shared/consumer.py), and nothing of it is
recorded. Leaders (and, without a replica, the other kinds) are read once, when the service
starts (as its handlers read them).

A contract whose ``case_id`` does not name a case declares its form (``case_id_form``, e.g. the
registry's ``<kind>:<key>``, an account's ``account:<username>``) and the value its own fields
give (``expected_case_id``): that is what is checked for it.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.consumer import InvalidEvent
from shared.contracts import IntegrationEvent
from shared.settings import ServiceSettings, load_config

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NUMBER_RE = re.compile(r"^[0-9]{4}-[0-9]{4,6}$")

# field name -> what it refers to; a list field holds several
UUID_FIELDS = ("case_id", "task_id", "suggestion_id", "into_suggestion_id",
               "replaced_by_task_id")
UUID_LIST_FIELDS = ("task_ids",)
NUMBER_FIELDS = ("number", "source_number")
REFERENCES: dict[str, str] = {
    "lead_deputy_id": "deputy", "deputy_id": "deputy", "co_signer_ids": "deputy",
    "unit_id": "unit", "lead_unit_id": "unit", "co_unit_ids": "unit",
    "station_id": "station",
    "category": "category",
    "designee_id": "leader",
}
# Categories a producer may write beyond the configured ones (assignment files a forwarded
# message whose category is unknown or absent under "other").
EXTRA_CATEGORIES = ("other",)


@dataclass(frozen=True)
class Either:
    """Known when in one of several containers (a live replica table, a fixed set)."""

    parts: tuple[Container[str], ...]

    def __contains__(self, value: object) -> bool:
        return any(value in part for part in self.parts)


@dataclass
class EventValidator:
    """Checks one decoded upstream event; raises ``InvalidEvent`` with every problem found."""

    # kind -> the known keys: a set, or a replica's live table (key -> record)
    known: dict[str, Container[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, settings: ServiceSettings, reference: Any = None) -> EventValidator:
        """``reference``: the service's ReferenceData, whose live tables give the known
        deputies, units and stations (else the configuration files, read once)."""
        def ids(name: str, key: str = "id") -> set[str]:
            try:
                return {str(r[key]) for r in load_config(settings, name)}
            except FileNotFoundError:
                return set()

        extra = frozenset(EXTRA_CATEGORIES)
        if reference is not None:
            replicated: dict[str, Container[str]] = {
                kind: reference.table(kind) for kind in ("deputy", "unit", "station")}
            replicated["category"] = (Either((reference.table("category"), extra))
                                      if "category" in reference.kinds
                                      else ids("categories", "code") | extra)
        else:
            replicated = {"deputy": ids("deputies"), "unit": ids("units"),
                          "station": ids("stations"),
                          "category": ids("categories", "code") | extra}
        return cls({**replicated, "leader": ids("leaders")})

    def problems(self, event: IntegrationEvent) -> list[str]:
        found: list[str] = []
        producer = type(event).producer
        if event.source_service != producer:
            found.append(f"source_service {event.source_service!r} is not the subject's "
                         f"producer {producer!r}")
        if event.event_id != f"{producer}:{event.source_notification_id}":
            found.append(f"event_id {event.event_id!r} is not "
                         f"'{producer}:<source_notification_id>'")
        values: dict[str, Any] = {name: getattr(event, name)
                                  for name in type(event).model_fields}
        expected = event.expected_case_id()  # a contract that does not name a case
        if expected is not None:
            if event.case_id != expected:
                found.append(f"case_id {event.case_id!r} is not '{type(event).case_id_form}'")
            values.pop("case_id")
        for name in UUID_FIELDS:
            value = values.get(name)
            if value is not None and not UUID_RE.match(str(value)):
                found.append(f"{name} {value!r} is not an id its producer makes (a UUID)")
        for name in UUID_LIST_FIELDS:
            for value in values.get(name) or ():
                if not UUID_RE.match(str(value)):
                    found.append(f"{name} has {value!r}, not an id its producer makes (a UUID)")
        for name in NUMBER_FIELDS:
            value = values.get(name)
            if value is not None and not NUMBER_RE.match(str(value)):
                found.append(f"{name} {value!r} is not a registration number (YYYY-NNNN)")
        for name, kind in REFERENCES.items():
            if name not in values or not type(event).references_checked_by_consumers:
                continue
            for value in _as_list(values[name]):
                if kind in self.known and value not in self.known[kind]:
                    found.append(f"{name} {value!r}: unknown {kind}")
        ratings = values.get("ratings")
        if isinstance(ratings, dict):
            for deputy in ratings:
                if deputy not in self.known.get("deputy", set()):
                    found.append(f"ratings has {deputy!r}: unknown deputy")
        return found

    def __call__(self, event: IntegrationEvent) -> None:
        found = self.problems(event)
        if found:
            raise InvalidEvent("; ".join(found))


def _as_list(value: Any) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [str(value)]


def validate_consumers(runtime: Any, settings: ServiceSettings,
                       reference: Any = None) -> EventValidator:
    """Give every consumer the runtime has registered the reference-data validator (called by
    each service's ``build_runtime`` after its ``runtime.consume`` calls); ``reference``: the
    service's replica of the registry's records (shared/reference.py)."""
    validator = EventValidator.from_config(settings, reference)
    for consumer in runtime.consumers.values():
        consumer.validator = validator
    return validator

"""The registry's wiring: its application, read model and runtime (``build_runtime``); at
start each kind that has no record yet is seeded from its configuration file
(config/deputies.yaml, units.yaml, stations.yaml, terms.yaml, categories.yaml, holidays.yaml:
one calendar record per year), every record a ``Created`` event by ``system`` and every seeded
deputy without terms in the open term. A kind with records is never seeded again: its file then
matters no more (records change through the API, the 基础数据 page and imports). So a registry
seeded before categories and calendars were records gets them at its next start.
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import IntegrityError
from opentelemetry.sdk.trace import TracerProvider

from shared.calendar import config_calendar_records
from shared.clock import Clock
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings, load_config

from services.registry.application import RegistryApplication
from services.registry.bus import SERVICE, register, translate

log = logging.getLogger(__name__)
FILES = {"deputy": "deputies", "unit": "units", "station": "stations", "term": "terms",
         "category": "categories", "calendar": "holidays"}


def seed_records(settings: ServiceSettings) -> dict[str, list[dict[str, Any]]]:
    """The configuration's records by kind (a missing terms file: no terms)."""
    records: dict[str, list[dict[str, Any]]] = {}
    for kind, name in FILES.items():
        if kind == "calendar":  # a mapping year -> schedule: one record per year
            records[kind] = config_calendar_records(settings.config_dir)
        elif (settings.config_dir / f"{name}.yaml").exists():
            records[kind] = [dict(r) for r in load_config(settings, name)]
    open_terms = [str(t["id"]) for t in records.get("term", []) if not t.get("end")]
    for deputy in records.get("deputy", []):
        if not deputy.get("terms"):
            deputy["terms"] = open_terms
    return records


def seed_if_empty(app: RegistryApplication, settings: ServiceSettings) -> int:
    """Seed the kinds that have no record (all of them in an empty log)."""
    kinds = app.kinds_without_records()
    if not kinds:
        return 0
    try:
        made = app.seed(seed_records(settings), kinds)
    except IntegrityError:  # a replica starting beside this one seeded first
        return 0
    log.info("registry seeded %s from %s: %d records", ", ".join(kinds), settings.config_dir,
             made)
    return made


def build_runtime(settings: ServiceSettings | None = None, *, clock: Clock | None = None,
                  tracer_provider: TracerProvider | None = None) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = RegistryApplication(settings, clock=clock)
    seed_if_empty(app, settings)
    runtime = ServiceRuntime(settings, app, translate, projections=app.views.projections,
                             tracer_provider=tracer_provider)
    register(runtime, app)
    return runtime

"""The registry's bus adapters: every record event out as ``duty.registry.record_changed.v2``
(the whole record after the change), and beside it as v1 when its kind is one v1 knows
(deputy, unit, station, term: a category or a calendar has no v1), and the registration table of the requests it answers
(shared/contracts/requests/registry.py)."""

from __future__ import annotations

from typing import Any

from shared.contracts import IntegrationEvent
from shared.contracts.registry import KINDS_V1, RecordChangedV1, RecordChangedV2
from shared.contracts.requests.registry import (GetRecord, ListRecords, ListTerms, OpenTerm,
                                                PutRecord)
from shared.contracts.requests.registry_imports import ExportRoster, ImportRoster
from shared.runtime import ServiceRuntime

from services.registry.application import RegistryApplication
from services.registry.domain import ReferenceRecord

SERVICE = "registry"

CHANGES = {
    ReferenceRecord.Created: "created",
    ReferenceRecord.Changed: "changed",
    ReferenceRecord.Closed: "closed",
    ReferenceRecord.Reopened: "reopened",
}


def translate(app: RegistryApplication, event: Any,
              envelope: dict[str, Any]) -> list[IntegrationEvent] | None:
    change = CHANGES.get(type(event))
    if change is None:
        return None
    if isinstance(event, ReferenceRecord.Created):  # the whole record is in the event
        kind, key, record, active = event.kind, event.key, dict(event.record), True
    else:
        aggregate: ReferenceRecord = app.repository.get(event.originator_id,
                                                        version=event.originator_version)
        kind, key, record, active = (aggregate.kind, aggregate.key, dict(aggregate.record),
                                     aggregate.active)
    fields = {**envelope, "case_id": f"{kind}:{key}", "kind": kind, "key": key,
              "change": change, "record": record, "active": active}
    v2 = RecordChangedV2(**fields)
    return [RecordChangedV1(**fields), v2] if kind in KINDS_V1 else [v2]


def register(runtime: ServiceRuntime, app: RegistryApplication) -> None:
    """Every request this service answers, by contract."""
    runtime.handlers({
        ListRecords: app.list_records,
        GetRecord: app.get_record,
        PutRecord: app.put_record,
        ListTerms: app.list_terms,
        OpenTerm: app.open_term,
        ImportRoster: app.import_roster, ExportRoster: app.export_roster,  # roster_import.py
    })

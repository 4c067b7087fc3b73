"""Requests every service answers (shared/runtime.py): health and metrics, its read models,
its store's hash chains, republishing, and a case's audit history."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from shared.contracts.requests import ANY_SERVICE, EVERYONE, OPS, STAFF, SYSTEM, Query


class RuntimeQuery(Query):
    service: ClassVar[str] = ANY_SERVICE


class Health(RuntimeQuery):
    """Readiness: connected, store, outbox lag, consumers (anonymous probes too)."""

    name: ClassVar[str] = "health"
    roles: ClassVar[frozenset[str]] = EVERYONE


class Metrics(RuntimeQuery):
    """The service's Prometheus metrics (``{"text": ...}``), scraped through the gateway."""

    name: ClassVar[str] = "metrics"
    roles: ClassVar[frozenset[str]] = EVERYONE


class ReadModelsStatus(RuntimeQuery):
    """Each persisted read model's generation and build progress (ops)."""

    name: ClassVar[str] = "read_models"
    roles: ClassVar[frozenset[str]] = OPS


class RebuildReadModels(RuntimeQuery):
    """Rebuild read models from the service's event store (ops)."""

    name: ClassVar[str] = "rebuild_read_models"
    roles: ClassVar[frozenset[str]] = OPS

    background: bool = Field(False, description="start the builds and answer at once "
                             "(progress: the read_models route)")
    only: list[str] | None = Field(None, description="these read models (default: all)")


class VerifyStore(RuntimeQuery):
    """Check the hash chain of every aggregate in the service's store (ops)."""

    name: ClassVar[str] = "verify_store"
    roles: ClassVar[frozenset[str]] = OPS

    limit: int = Field(100, ge=1, description="stop after this many broken chains")


class Republish(RuntimeQuery):
    """Publish a range of the service's log again (ops)."""

    name: ClassVar[str] = "republish"
    roles: ClassVar[frozenset[str]] = OPS

    start: int = Field(ge=1, description="first notification id")
    end: int = Field(ge=1, description="last notification id (inclusive)")


class CaseHistory(RuntimeQuery):
    """A page of a case's history in this service, its chains verified."""

    name: ClassVar[str] = "case_history"
    roles: ClassVar[frozenset[str]] = STAFF | SYSTEM

    case_id: str
    as_of: AwareDatetime | None = None
    limit: int = Field(500, ge=0, le=500, description="entries (records) per page; "
                       "case_history: 0 for the chains only")
    after: list[Any] | None = Field(None, max_length=4, description="the key the page starts "
                                    "after: [time, service, aggregate id, version] of a "
                                    "history entry, [aggregate id, version] of a record")


class VerifyCase(CaseHistory):
    """A case's chains in this service, verified (``limit`` 0: no entries)."""

    name: ClassVar[str] = "verify_case"


class CaseRecords(CaseHistory):
    """A page of the raw stored records of a case's aggregates, for offline verification."""

    name: ClassVar[str] = "case_records"


class AttachmentAccess(RuntimeQuery):
    """Whether the actor may read an attachment recorded here (shared/blobs.py): the service
    that recorded it decides, by the object it is recorded on. Answers ``{recorded, allowed,
    erased, attachment}``; ``attachment`` (sha256, size, content_type, name, purpose) only
    when allowed."""

    name: ClassVar[str] = "attachment_access"
    roles: ClassVar[frozenset[str]] = STAFF | SYSTEM

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class VerifyAttachments(RuntimeQuery):
    """Every attachment recorded in the service's log against the blob store: its bytes
    still hash to the recorded SHA-256, or it is missing, or the log records its erasure (ops)."""

    name: ClassVar[str] = "verify_attachments"
    roles: ClassVar[frozenset[str]] = OPS

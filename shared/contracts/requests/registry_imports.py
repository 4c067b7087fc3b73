"""Requests of the registry's roster import and export (名册导入导出, issue 29 point 2).

A roster of about 10,000 rows is larger than a NATS message may be, so no rows travel on the
bus: the gateway stores the uploaded file in the import store (shared/blobs.py
``import_store``, by SHA-256) and names it in :class:`ImportRoster`; the registry reads the
bytes there, checks every row (services/registry/roster_import.py) and answers a bounded
report (at most 1,000 problems listed, all counted). An export is read a page of rows at a
time (:class:`ExportRoster`), in the import's columns, and streamed by the gateway.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.contracts.requests import ADMIN, OFFICE
from shared.contracts.requests.limits import SHA256_PATTERN
from shared.contracts.requests.registry import RegistryCommand, RegistryQuery, _example

RosterKind = Literal["deputies", "units", "stations"]
IMPORTERS = OFFICE | ADMIN
EXPORT_PAGE_MAX = 1000


class ImportRoster(RegistryCommand):
    """Check an uploaded roster (CSV or XLSX, stored by its SHA-256) and, unless ``dry_run``,
    apply it: every record created or changed by its stable key (``id``) in one save, or
    nothing when any row has a problem (422 with the report). The answer is the report:
    ``{kind, rows, errors: [{row, column, message, msg}], error_count, would_create,
    would_change, unchanged, created, updated, applied}``."""

    name: ClassVar[str] = "import_roster"
    roles: ClassVar[frozenset[str]] = IMPORTERS
    model_config = _example({"kind": "deputies", "sha256": "9f86d081884c7d659a2feaa0c55ad015"
                             "a3bf4f1b2b0b822cd15d6c15b0f00a08", "dry_run": True,
                             "file_name": "代表名册.xlsx"})

    kind: RosterKind
    sha256: str = Field(pattern=SHA256_PATTERN, description="the uploaded file in the import store")
    dry_run: bool = Field(True, description="check only; nothing is saved")
    file_name: str | None = Field(None, max_length=200, description="as uploaded (for the record)")


class ExportRoster(RegistryQuery):
    """A page of a kind's records as rows of the import's columns (an export imports again
    unchanged): ``{columns: [header...], rows: [[cell...]], next: key | null}``, by key."""

    name: ClassVar[str] = "export_roster"
    roles: ClassVar[frozenset[str]] = IMPORTERS
    model_config = _example({"kind": "stations", "limit": 500})

    kind: RosterKind
    after: str | None = Field(None, max_length=64, description="the last key of the previous page")
    limit: int = Field(500, ge=1, le=EXPORT_PAGE_MAX)
    active: bool | None = Field(None, description="only open (true) or closed (false) records")

    reply: ClassVar[Any] = dict[str, Any]

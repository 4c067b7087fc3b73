"""Requests of the registry service (名册 / 基础数据, services/registry/): the reference records
(deputies, handling units, liaison stations with their grids, terms 届) as data.

The office (and the office administrator) create and change records one at a time, each change
an event with its actor and the fields before and after, and open a new term (换届) with the
deputies who continue; any signed-in staff member lists the records. The import of whole
rosters is declared in registry_imports.py."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from shared.contracts.requests import ADMIN, OFFICE, STAFF, STATION, Command, Query
from shared.contracts.requests.limits import SEARCH_MAX
from shared.paging import PageQuery

RecordKind = Literal["deputy", "unit", "station", "term", "category", "calendar"]
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
KEY_MAX = 64
EDITORS = OFFICE | ADMIN  # who changes reference data
READERS = STAFF | STATION | ADMIN  # any signed-in staff member


def _example(example: dict[str, Any]) -> ConfigDict:
    # populate_by_name: a term's ``name`` is a field's alias (``name`` names the request)
    return ConfigDict(json_schema_extra={"examples": [example]}, populate_by_name=True)


class RegistryCommand(Command):
    service: ClassVar[str] = "registry"


class RegistryQuery(Query):
    service: ClassVar[str] = "registry"


class ListRecords(RegistryQuery, PageQuery):
    """The records of a kind by key, paged; ``q`` finds by id or name, ``active`` filters open
    or closed records, ``term`` the deputies of a term."""

    name: ClassVar[str] = "list_records"
    roles: ClassVar[frozenset[str]] = READERS

    kind: RecordKind
    q: str | None = Field(None, max_length=SEARCH_MAX)
    active: bool | None = None
    term: str | None = Field(None, max_length=KEY_MAX)


class GetRecord(RegistryQuery):
    """One record (whole, as after its last change) with its history, oldest first: each
    change's event, who, when, and the fields before and after."""

    name: ClassVar[str] = "get_record"
    roles: ClassVar[frozenset[str]] = EDITORS

    kind: RecordKind
    key: str = Field(pattern=KEY_PATTERN)


class PutRecord(RegistryCommand):
    """Create the record of this key, or change it to this one (only the fields that differ
    are recorded; nothing differs: no change). ``active`` false closes it, true reopens it.
    422 with each wrong field's message."""

    name: ClassVar[str] = "put_record"
    roles: ClassVar[frozenset[str]] = EDITORS
    model_config = _example({"kind": "unit", "key": "unit-e",
                             "record": {"id": "unit-e", "name": "区交通运输局",
                                        "parent": "区人民政府", "categories": ["economy"]}})

    kind: RecordKind
    key: str = Field(pattern=KEY_PATTERN)
    record: dict[str, Any]
    active: bool | None = None


class ListTerms(RegistryQuery):
    """Every term (届), the latest first, each with its number of deputies; ``current`` names
    the open one."""

    name: ClassVar[str] = "list_terms"
    roles: ClassVar[frozenset[str]] = READERS


class OpenTerm(RegistryCommand):
    """Open a new term (换届): the previous term ends the day before ``start``, the deputies in
    ``continuing`` belong to the new term too (连任), every other deputy of the previous term
    is closed (reason ``term_ended``). All at once; run again, it changes nothing."""

    name: ClassVar[str] = "open_term"
    roles: ClassVar[frozenset[str]] = EDITORS
    model_config = _example({"id": "term-18", "name": "第十八届", "number": 18,
                             "start": "2026-10-01", "continuing": ["deputy-1", "deputy-3"]})

    id: str = Field(pattern=KEY_PATTERN)
    name_: str = Field(alias="name", min_length=1, max_length=200)
    number: int = Field(ge=1, le=1000)
    start: date
    continuing: list[str] = Field(default_factory=list, max_length=20000)

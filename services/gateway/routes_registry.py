"""Gateway routes of the registry service (services/registry/, 名册 / 基础数据): the reference
records (deputies, handling units, liaison stations with their grids, terms 届, categories by
their code, the working-day calendar of each year by the year) under
``/api/v1/admin/registry/{kind}``, and the terms with 换届 under ``/api/v1/admin/terms``. The
office and the administrator change records (each change an event: who, when, before and
after); any signed-in staff member lists them. The former reference routes (``/api/v1/deputies``,
``/units``, ``/stations``, ``/categories``) answer as before (app.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request, Response

from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, paged
from shared.contracts.requests.limits import SEARCH_MAX
from shared.contracts.requests.registry import (KEY_PATTERN, GetRecord, ListRecords, ListTerms,
                                                OpenTerm, PutRecord, RecordKind)

API = "/api/v1/admin"
REGISTRY = f"{API}/registry"
TERMS = f"{API}/terms"
TAGS = ["reference data"]

Editors = admitted(PutRecord)
Readers = admitted(ListRecords)
Kind = Annotated[RecordKind, Path(description="deputy, unit, station, term, category or "
                                                  "calendar")]
Key = Annotated[str, Path(pattern=KEY_PATTERN, description="the record's stable key (id)")]

PutBody = body_of(PutRecord, "kind", "key")
OpenTermBody = body_of(OpenTerm)


def register_registry_routes(app: FastAPI) -> None:
    @app.get(f"{REGISTRY}/{{kind}}", tags=TAGS, responses=PAGED,
             openapi_extra=sends(ListRecords),
             summary="The records of a kind by key, paged; `q` finds by id or name, `active` "
                     "filters open or closed records, `term` the deputies of a term")
    async def list_records(kind: Kind, request: Request, response: Response,
                           services: ServicesDep, principal: Readers, paging: Paging,
                           q: Annotated[str | None, Query(max_length=SEARCH_MAX)] = None,
                           active: Annotated[bool | None, Query()] = None,
                           term: Annotated[str | None, Query(max_length=64)] = None,
                           ) -> list[dict[str, Any]]:
        query = {"q": q, "active": active, "term": term, **paging.payload()}
        page = await services.send(request_of(ListRecords, query={
            k: v for k, v in query.items() if v is not None}, kind=kind), principal)
        return paged(request, response, page)

    @app.get(f"{REGISTRY}/{{kind}}/{{key}}", tags=TAGS, openapi_extra=sends(GetRecord),
             summary="One record as after its last change, with its history: each change's "
                     "event, who, when, the fields before and after")
    async def get_record(kind: Kind, key: Key, services: ServicesDep,
                         principal: Editors) -> dict[str, Any]:
        return await services.send(request_of(GetRecord, kind=kind, key=key), principal)

    @app.put(f"{REGISTRY}/{{kind}}/{{key}}", tags=TAGS, openapi_extra=sends(PutRecord),
             summary="Create the record of this key or change it to the one given (only the "
                     "fields that differ are recorded); `active` false closes it, true "
                     "reopens it. 422 with each wrong field's message")
    async def put_record(kind: Kind, key: Key, body: PutBody, services: ServicesDep,
                         principal: Editors) -> dict[str, Any]:
        return await services.send(request_of(PutRecord, body, kind=kind, key=key), principal)

    @app.get(TERMS, tags=TAGS, openapi_extra=sends(ListTerms),
             summary="Every term (届), the latest first, with its number of deputies; "
                     "`current` names the open one")
    async def list_terms(services: ServicesDep, principal: Readers) -> dict[str, Any]:
        return await services.send(ListTerms(), principal)

    @app.post(TERMS, tags=TAGS, status_code=201, openapi_extra=sends(OpenTerm),
              summary="Open a new term (换届): the previous term ends the day before `start`, "
                      "the `continuing` deputies belong to the new term too, every other "
                      "deputy of the previous term is closed. Run again, it changes nothing")
    async def open_term(body: OpenTermBody, services: ServicesDep,
                        principal: Editors) -> dict[str, Any]:
        return await services.send(request_of(OpenTerm, body), principal)

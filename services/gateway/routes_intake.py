"""Gateway routes owned by the intake service (see ../shared/API.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response

from shared.contracts.requests.intake import (
    AccessLogRef,
    ListMessages,
    ListSuggestions,
    MergeMessage,
    MergeSuggestion,
    ReverseRegistration,
    SimilarMessagesRef,
    SimilarRef,
    UndoMerge,
    UndoMessageMerge,
)
from shared.contracts.requests.supervision import CaseIds
from shared.contracts.requests.limits import SEARCH_MAX, SIMILAR_DEFAULT, SIMILAR_MAX
from services.gateway.auth import Principal
from services.gateway.deps import Services, ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, PageParams, Paging, YearParam, paged, year_value

API = "/api/v1"
# The suggestions of a unit's tasks (or of overdue ones): supervision answers a page of case
# ids, intake the suggestions among them; pages of case ids are asked until a page of
# suggestions is full, at most this many times (then a shorter page with its next link).
MAX_JOIN_ROUNDS = 8

Search = Annotated[str | None, Query(max_length=SEARCH_MAX, description="a number (2026-0001) "
                                     "or words of the title or text (Chinese)")]
Similar = Annotated[int, Query(ge=1, le=SIMILAR_MAX)]

# Bodies and principals from the request contracts (shared/contracts/requests/intake.py).
MergeBody = body_of(MergeSuggestion, "suggestion_id")
UndoMergeBody = body_of(UndoMerge, "suggestion_id")
ReverseRegistrationBody = body_of(ReverseRegistration, "suggestion_id")
Staff = admitted(ListSuggestions, "office", "leader", "unit", "deputy")
StaffReading = admitted(ListMessages)
Merging = admitted(MergeSuggestion)
Undoing = admitted(UndoMerge)
Reversing = admitted(ReverseRegistration)
Comparing = admitted(SimilarRef)
ComparingMessages = admitted(SimilarMessagesRef)
ReadingTheLog = admitted(AccessLogRef)
MergeMessageBody = body_of(MergeMessage, "message_id")
UndoMessageMergeBody = body_of(UndoMessageMerge, "message_id")
MergingMessages = admitted(MergeMessage)
UndoingMessageMerges = admitted(UndoMessageMerge)


async def suggestions_of_tasks(services: Services, principal: Principal, paging: PageParams,
                               filters: dict[str, Any], year: int | str | None,
                               unit_id: str | None, overdue: bool | None) -> dict[str, Any]:
    """A page of the suggestions whose (non-withdrawn) tasks are the unit's / overdue or not:
    supervision's page of case ids in case-id order, each kept when intake has a suggestion
    of that id matching the other filters; the next cursor is supervision's. A page may be
    shorter than ``limit`` (even empty) while a next link follows; no total (supervision's
    count includes message cases and ignores intake's filters)."""
    items: list[dict[str, Any]] = []
    cursor = paging.cursor
    for _ in range(MAX_JOIN_ROUNDS):
        # Exactly as many case ids as rows are missing: every id asked is used, so the
        # cursor after them is where the next page starts.
        cases = await services.send(request_of(CaseIds, query={
            "unit_id": unit_id, "overdue": overdue, "year": year,
            "limit": paging.limit - len(items), "cursor": cursor}), principal)
        ids = [c["case_id"] for c in cases["items"]]
        if ids:
            found = await services.send(request_of(ListSuggestions, query={
                **filters, "year": "all", "ids": ids, "limit": len(ids)}), principal)
            by_id = {s["id"]: s for s in found["items"]}
            items += [by_id[i] for i in ids if i in by_id]
        cursor = cases.get("next_cursor")
        if cursor is None or len(items) >= paging.limit:
            break
    return {"items": items, "next_cursor": cursor, "total": None}


def register_intake_routes(app: FastAPI) -> None:
    """Add the intake routes to the gateway app."""
    tags = ["suggestions"]

    @app.get(f"{API}/suggestions", tags=tags, responses=PAGED,
             summary="Suggestions (staff; a deputy sees their own, a unit the registered ones "
                     "assigned to it) by status, category, "
                     "urgency, q (number or words of the title/body) and year (the "
                     "submission year; default the current one, 'all' every year), oldest "
                     "first; by handling unit and overdue (from supervision's tasks: then in "
                     "case-id order and the year is the tasks' year)",
             openapi_extra=sends(ListSuggestions))
    async def list_suggestions(request: Request, response: Response, services: ServicesDep,
                               principal: Staff, paging: Paging,  # type: ignore[valid-type]
                               status_: Annotated[str | None, Query(alias="status")] = None,
                               category: str | None = None,
                               urgency: str | None = None,
                               q: Search = None,
                               year: YearParam = None,
                               unit_id: str | None = None,
                               overdue: bool | None = None,
                               deputy_id: Annotated[str | None, Query(
                                   max_length=100, description="a deputy's suggestions (as "
                                   "lead or co-signer); a deputy sees only their own")] = None,
                               ) -> list[dict[str, Any]]:
        filters = {"status": status_, "category": category, "urgency": urgency, "q": q,
                   "deputy_id": deputy_id}
        if principal.role == "unit":
            # A unit lists the suggestions assigned to it: those of its tasks (intake refuses
            # a unit's list without them, and leaves out unregistered ones).
            if unit_id and unit_id != principal.unit_id:
                raise HTTPException(403, "a unit sees only the suggestions assigned to it")
            unit_id = principal.unit_id or ""
        if unit_id is None and overdue is None:
            found = await services.send(request_of(ListSuggestions, query={
                **filters, "year": year_value(year), **paging.payload()}), principal)
        else:
            found = await suggestions_of_tasks(services, principal, paging, filters,
                                               year_value(year), unit_id, overdue)
        return paged(request, response, found)

    @app.get(f"{API}/suggestions/{{suggestion_id}}/similar", tags=tags,
             summary="The best earlier candidates for the same matter, open or handled, "
                     "best first: [{id, kind, score, status, likely_same, title|excerpt}] "
                     "(office)",
             openapi_extra=sends(SimilarRef))
    async def similar_suggestions(suggestion_id: str, services: ServicesDep,
                                  principal: Comparing,  # type: ignore[valid-type]
                                  limit: Similar = SIMILAR_DEFAULT) -> list[dict[str, Any]]:
        return await services.send(request_of(SimilarRef, query={"limit": limit},
                                              suggestion_id=suggestion_id), principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/merge", tags=tags,
              summary="Merge a suggestion into another as the same matter (office); the source "
                      "becomes 'merged' and the target lists it",
              openapi_extra=sends(MergeSuggestion))
    async def merge_suggestion(suggestion_id: str, body: MergeBody,  # type: ignore[valid-type]
                               services: ServicesDep,
                               principal: Merging) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(MergeSuggestion, body,
                                              suggestion_id=suggestion_id), principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/merge/undo", tags=tags,
              summary="Undo a merge: the source gets back the state it had before (office)",
              openapi_extra=sends(UndoMerge))
    async def undo_merge(suggestion_id: str, body: UndoMergeBody,  # type: ignore[valid-type]
                         services: ServicesDep,
                         principal: Undoing) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(UndoMerge, body, suggestion_id=suggestion_id),
                                   principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/registration/reverse", tags=tags,
              summary="Reverse a registration (撤销立案, office): the suggestion waits for review "
                      "again, its tasks are withdrawn and its registration points revoked",
              openapi_extra=sends(ReverseRegistration))
    async def reverse_registration(suggestion_id: str,
                                   body: ReverseRegistrationBody,  # type: ignore[valid-type]
                                   services: ServicesDep,
                                   principal: Reversing) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(ReverseRegistration, body,
                                              suggestion_id=suggestion_id), principal)

    messages = ["citizen messages"]

    @app.get(f"{API}/messages", tags=messages, responses=PAGED,
             summary="Messages (staff; a unit sees those forwarded to it, a deputy those of "
                     "their stations and those they hold or held) by station, status, "
                     "q (a message id or at least 3 characters of the text) and year (the "
                     "receipt year; default the current one, 'all' every year), oldest first",
             openapi_extra=sends(ListMessages))
    async def list_messages(request: Request, response: Response, services: ServicesDep,
                            principal: StaffReading, paging: Paging,  # type: ignore[valid-type]
                            station_id: str | None = None,
                            status_: Annotated[str | None, Query(alias="status")] = None,
                            q: Search = None,
                            year: YearParam = None) -> list[dict[str, Any]]:
        found = await services.send(request_of(ListMessages, query={
            "station_id": station_id, "status": status_, "q": q, "year": year_value(year),
            **paging.payload()}), principal)
        return paged(request, response, found)

    @app.get(f"{API}/messages/{{message_id}}/access-log", tags=messages,
             summary="Who read this message's personal data unmasked, when, which fields and "
                     "why (office)",
             openapi_extra=sends(AccessLogRef))
    async def message_access_log(message_id: str, services: ServicesDep,
                                 principal: ReadingTheLog,  # type: ignore[valid-type]
                                 ) -> list[dict[str, Any]]:
        return await services.send(request_of(AccessLogRef, message_id=message_id), principal)

    @app.get(f"{API}/messages/{{message_id}}/similar", tags=messages,
             summary="The best earlier candidates for the same matter, open or handled "
                     "(office; as for a suggestion)",
             openapi_extra=sends(SimilarMessagesRef))
    async def similar_messages(message_id: str, services: ServicesDep,
                               principal: ComparingMessages,  # type: ignore[valid-type]
                               limit: Similar = SIMILAR_DEFAULT) -> list[dict[str, Any]]:
        return await services.send(request_of(SimilarMessagesRef, query={"limit": limit},
                                              message_id=message_id), principal)

    @app.post(f"{API}/messages/{{message_id}}/merge", tags=messages,
              summary="Merge a citizen message still in the pool into another as the same "
                      "matter (office): the source becomes 'merged', leaves the pool, and its "
                      "citizen follows the target's answer",
              openapi_extra=sends(MergeMessage))
    async def merge_message(message_id: str, body: MergeMessageBody,  # type: ignore[valid-type]
                            services: ServicesDep,
                            principal: MergingMessages) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(MergeMessage, body, message_id=message_id),
                                   principal)

    @app.post(f"{API}/messages/{{message_id}}/merge/undo", tags=messages,
              summary="Undo a message's merge: it goes back to the pool (office)",
              openapi_extra=sends(UndoMessageMerge))
    async def undo_message_merge(message_id: str,
                                 body: UndoMessageMergeBody,  # type: ignore[valid-type]
                                 services: ServicesDep,
                                 principal: UndoingMessageMerges  # type: ignore[valid-type]
                                 ) -> dict[str, Any]:
        return await services.send(request_of(UndoMessageMerge, body, message_id=message_id),
                                   principal)

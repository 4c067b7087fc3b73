"""Gateway routes owned by the intake service (see ../shared/API.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import Field

from services.gateway.deps import Office, ServicesDep, StrictBody, body_example

API = "/api/v1"


class MergeBody(StrictBody):
    model_config = body_example({"into": "S-2026-0001"})

    into: str = Field(min_length=1, description="the suggestion this one is merged into")


class UndoMergeBody(StrictBody):
    model_config = body_example({"reason": "两件建议所涉小区不同，不属同一事项"})

    reason: str = Field(min_length=1, max_length=2000)


class ReverseRegistrationBody(StrictBody):
    model_config = body_example({"reason": "误将司法诉讼事项立案，撤销后转为参阅件"})

    reason: str = Field(min_length=1, max_length=2000)


def register_intake_routes(app: FastAPI) -> None:
    """Add the intake routes to the gateway app."""
    tags = ["suggestions"]

    @app.get(f"{API}/suggestions/{{suggestion_id}}/similar", tags=tags,
             summary="Earlier open suggestions and citizen messages about the same matter, "
                     "most similar first: [{id, kind, score, title|excerpt}] (office)")
    async def similar_suggestions(suggestion_id: str, services: ServicesDep, principal: Office,
                                  limit: Annotated[int, Query(ge=1, le=100)] = 20,
                                  ) -> list[dict[str, Any]]:
        return await services.call("intake", "similar_suggestions",
                                   {"suggestion_id": suggestion_id, "limit": limit}, principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/merge", tags=tags,
              summary="Merge a suggestion into another as the same matter (office); the source "
                      "becomes 'merged' and the target lists it")
    async def merge_suggestion(suggestion_id: str, body: MergeBody, services: ServicesDep,
                               principal: Office) -> dict[str, Any]:
        return await services.call("intake", "merge_suggestion",
                                   {"suggestion_id": suggestion_id, "into": body.into}, principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/merge/undo", tags=tags,
              summary="Undo a merge: the source gets back the state it had before (office)")
    async def undo_merge(suggestion_id: str, body: UndoMergeBody, services: ServicesDep,
                         principal: Office) -> dict[str, Any]:
        return await services.call("intake", "undo_merge",
                                   {"suggestion_id": suggestion_id, "reason": body.reason},
                                   principal)

    @app.post(f"{API}/suggestions/{{suggestion_id}}/registration/reverse", tags=tags,
              summary="Reverse a registration (撤销立案, office): the suggestion waits for review "
                      "again, its tasks are withdrawn and its registration points revoked")
    async def reverse_registration(suggestion_id: str, body: ReverseRegistrationBody,
                                   services: ServicesDep, principal: Office) -> dict[str, Any]:
        return await services.call("intake", "reverse_registration",
                                   {"suggestion_id": suggestion_id, "reason": body.reason},
                                   principal)

    messages = ["citizen messages"]

    @app.get(f"{API}/messages/{{message_id}}/access-log", tags=messages,
             summary="Who read this message's personal data unmasked, when, which fields and "
                     "why (office)")
    async def message_access_log(message_id: str, services: ServicesDep,
                                 principal: Office) -> list[dict[str, Any]]:
        return await services.call("intake", "message_access_log", {"message_id": message_id},
                                   principal)

    @app.get(f"{API}/messages/{{message_id}}/similar", tags=messages,
             summary="Earlier open suggestions and messages about the same matter (office)")
    async def similar_messages(message_id: str, services: ServicesDep,
                               principal: Office) -> list[dict[str, Any]]:
        return await services.call("intake", "similar_messages", {"message_id": message_id},
                                   principal)

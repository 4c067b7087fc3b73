"""Events published by the intake service (suggestions and citizen messages)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import IntegrationEvent

Urgency = Literal["red", "yellow", "blue"]


class _Intake(IntegrationEvent):
    producer: ClassVar[str] = "intake"


class SuggestionSubmittedV1(_Intake):
    name: ClassVar[str] = "suggestion_submitted"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "A deputy submitted a suggestion (not yet registered)."
    consumers: ClassVar[tuple[str, ...]] = ()

    title: str
    category: str
    lead_deputy_id: str
    co_signer_ids: list[str] = Field(default_factory=list)
    station_id: str | None = None


class SuggestionRegisteredV1(_Intake):
    name: ClassVar[str] = "suggestion_registered"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = (
        "The office registered (立案) a suggestion: it has a yearly number, a category and an "
        "urgency, and is ready to be assigned."
    )
    consumers: ClassVar[tuple[str, ...]] = ("assignment", "points")

    number: str = Field(description="yearly registration number, e.g. 2026-0001")
    title: str
    category: str
    urgency: Urgency
    lead_deputy_id: str
    co_signer_ids: list[str] = Field(default_factory=list)
    station_id: str | None = None
    district: str | None = None


class SuggestionDeclinedV1(_Intake):
    name: ClassVar[str] = "suggestion_declined"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "The office did not register a suggestion; it is kept as a reference opinion."
    consumers: ClassVar[tuple[str, ...]] = ()

    reason: str
    lead_deputy_id: str

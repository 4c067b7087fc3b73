"""Events published by the supervision service."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from shared.contracts.base import IntegrationEvent


class _Supervision(IntegrationEvent):
    producer: ClassVar[str] = "supervision"


class TaskOpenedV1(_Supervision):
    name: ClassVar[str] = "task_opened"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = "Supervision opened a tracked task and started its deadline clock."
    consumers: ClassVar[tuple[str, ...]] = ()

    task_id: str
    unit_id: str
    role: Literal["lead", "co"]
    deadline: date

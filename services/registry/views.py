"""How reference records are shown: a record's view (domain.ReferenceRecord.view, and the read
model's rows of the same shape) for the API, and the Chinese labels of kinds, fields, events
and reasons for the 基础数据 pages."""

from __future__ import annotations

from services.registry.domain import EVENT_ZH, FIELD_ZH, KIND_ZH, REASON_ZH

__all__ = ["EVENT_ZH", "FIELD_ZH", "KIND_ZH", "REASON_ZH"]

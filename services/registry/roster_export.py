"""Roster export (名册导出, issue 29 point 2): the registry's records as rows of the import's
columns (services/registry/roster_import.py ``COLUMNS``), so that an exported file imports
again unchanged. Pure: records in, rows out; the gateway asks a page at a time and streams CSV
or XLSX.

A deputy's level is written as its Chinese label (``县``), which the import reads back as its
code; lists (grids, categories, a deputy's terms) are joined with ``、``; references (a
deputy's station and terms) by their ids.
"""

from __future__ import annotations

from typing import Any, Mapping

from services.registry.roster_import import LEVEL_OF, LEVELS, columns_of

JOIN = "、"


def header(kind: str) -> list[str]:
    """The export's header row: each column's Chinese name, in the import's order."""
    return [c.zh for c in columns_of(kind)]


def row(kind: str, record: Mapping[str, Any]) -> list[str]:
    """One record as a row of cells (text; empty where the record has nothing)."""
    cells: list[str] = []
    for column in columns_of(kind):
        value = record.get(column.key)
        if column.key == "level" and value in LEVELS:
            label = record.get("level_zh")
            # the record's label when it reads back as its level, else the level's own
            value = label if label and LEVEL_OF.get(label) == value else LEVELS[value]
        if value is None:
            cells.append("")
        elif isinstance(value, (list, tuple)):
            cells.append(JOIN.join(str(v) for v in value))
        else:
            cells.append(str(value))
    return cells


def page(kind: str, rows: Mapping[str, Mapping[str, Any]], after: str | None, limit: int,
         active: bool | None = None) -> dict[str, Any]:
    """A page of ``rows`` (key -> the read model's row: ``{record, active, ...}``) by key,
    after the key ``after``: ``{columns, rows, next}`` (``next``: the last key, None at the
    end)."""
    keys = sorted(k for k, r in rows.items()
                  if (after is None or k > after) and (active is None or r.get("active") == active))
    chosen = keys[:limit]
    return {"kind": kind, "columns": header(kind),
            "rows": [row(kind, rows[k]["record"]) for k in chosen],
            "next": chosen[-1] if len(keys) > limit else None}

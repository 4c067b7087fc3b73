"""Bounded answers: every list is a page.

A list query carries ``limit`` (default 50, at most 500) and an opaque ``cursor``; the service
answers ``{"items": [...], "next_cursor": str | None, "total": int | None}``. The cursor is
the sort key of the last item of the page (keyset paging: a stable order and no skipped or
repeated rows when rows are added meanwhile), encoded so that clients treat it as opaque.
The gateway turns a page into a JSON array with an RFC 8288 ``Link: <…>; rel="next"`` header
and ``X-Total-Count`` (services/gateway/paging.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.rpc import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageQuery(BaseModel):
    """Base of every list query: paging, and the search and year filters lists share."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="rows per page")
    cursor: str | None = Field(None, max_length=1000,
                               description="opaque: the previous page's next cursor")

    @field_validator("cursor")
    @classmethod
    def _decodable(cls, value: str | None) -> str | None:
        if value:
            decode_cursor(value)
        return value or None

    def after(self) -> list[Any] | None:
        """The sort key the page starts after (None: the first page)."""
        return decode_cursor(self.cursor) if self.cursor else None


Year = int | Literal["all"] | None  # a list's year: a 4-digit year, every year, or the default


def year_filter(year: Year, default: int) -> int | None:
    """The year a list selects: the given one, None for ``all``, ``default`` when absent."""
    if year == "all":
        return None
    if year is None:
        return default
    if not 1000 <= int(year) <= 9999:
        raise Invalid.field(["query", "year"], "a 4-digit year or 'all'")
    return int(year)


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, TypeError):
        raise ValueError("not a cursor this list gave out") from None
    if not isinstance(key, list) or not key:
        raise ValueError("not a cursor this list gave out")
    return key


def checked_after(query: PageQuery, width: int) -> list[Any] | None:
    """The cursor's key, refused (422) unless it has the width of this list's sort key."""
    after = query.after()
    if after is not None and len(after) != width:
        raise Invalid.field(["query", "cursor"], "not a cursor this list gave out")
    return after


def page(rows: list[Any], limit: int, key: Callable[[Any], Sequence[Any]],
         total: int | None = None, view: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """A page from ``rows`` fetched with ``limit + 1``: the extra row only tells that there is
    a next page, whose cursor is the key of this page's last row."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [view(r) for r in rows] if view else rows,
        "next_cursor": encode_cursor(key(rows[-1])) if more and rows else None,
        "total": total,
    }


def page_of_list(items: list[Any], query: PageQuery, key: Callable[[Any], Sequence[Any]],
                 count_total: bool = True) -> dict[str, Any]:
    """A page of a list already in memory, sorted by ``key`` (small lists: reference data,
    a case's own lines): the same contract as a page read from a table."""
    after = query.after()
    if after is not None:
        if len(after) != len(key(items[0])) if items else False:
            raise Invalid.field(["query", "cursor"], "not a cursor this list gave out")
        start = after
        items_after = [i for i in items if list(key(i)) > start]
    else:
        items_after = items
    return page(items_after[:query.limit + 1], query.limit, key,
                total=len(items) if count_total else None)


def empty_page() -> dict[str, Any]:
    return {"items": [], "next_cursor": None, "total": 0}

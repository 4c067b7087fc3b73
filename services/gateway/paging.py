"""Lists over HTTP: a service's page becomes a JSON array, the next page an RFC 8288 link.

Every list endpoint takes ``limit`` (default 50, at most 500) and ``cursor`` (opaque, from
the previous answer's ``Link: <…>; rel="next"``); ``X-Total-Count`` gives the number of rows
matching the filters where the service counts it cheaply. Filters stay in the next link, so
a client follows links without rebuilding queries.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from shared.paging import DEFAULT_LIMIT, MAX_LIMIT


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"limit": self.limit, "cursor": self.cursor}


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT,
                                description=f"rows per page (default {DEFAULT_LIMIT}, "
                                            f"at most {MAX_LIMIT})")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1000,
                                        description="opaque: from the previous answer's "
                                                    "Link rel=\"next\" header")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Paging = Annotated[PageParams, Depends(page_params)]

# ``year=`` on lists, the board, statistics, rankings and exports: a 4-digit year or ``all``
# (absent: the current year, as the owning service decides by its clock).
YearParam = Annotated[str | None, Query(pattern=r"^(\d{4}|all)$",
                                        description="a 4-digit year or 'all' (default: the "
                                                    "current year)")]


def year_value(year: str | None) -> int | str | None:
    """The year as the services take it: an int, ``"all"`` or None."""
    return int(year) if year and year.isdigit() else year

PAGED_HEADERS = {
    "Link": {"description": "RFC 8288: `<url>; rel=\"next\"` while there is a next page",
             "schema": {"type": "string"}},
    "X-Total-Count": {"description": "rows matching the filters (where cheap to count)",
                      "schema": {"type": "integer"}},
}
PAGED = {200: {"description": "one page of the list", "headers": PAGED_HEADERS}}


def next_link(request: Request, cursor: str) -> str:
    return f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'


def paged(request: Request, response: Response, page: dict[str, Any]) -> list[Any]:
    """The page's items; its next cursor and total go in the response's headers."""
    if page.get("next_cursor"):
        response.headers["Link"] = next_link(request, page["next_cursor"])
    if page.get("total") is not None:
        response.headers["X-Total-Count"] = str(page["total"])
    return page["items"]

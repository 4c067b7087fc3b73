"""The HTTP ceiling: a trivial FastAPI app served by uvicorn the way the gateway is
(``services/gateway/__main__.py``: ``configure_logging()``, ``uvicorn.run(..., log_level="info")``,
so with the same access log). ``python -m bench.bare_app PORT``.

GET /bare returns a constant list (like GET /api/v1/categories without auth or NATS);
POST /bare validates a pydantic body (like POST /api/v1/suggestions) and echoes an id.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="bare")

ITEMS = [{"code": f"c{i}", "name": f"类别 {i}", "active": True} for i in range(8)]


class Body(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20000)
    category: str
    co_signers: list[str] = Field(default_factory=list)
    station_id: str | None = None


@app.get("/bare")
async def bare_get() -> list[dict[str, Any]]:
    return ITEMS


_READERS: dict[str, Any] = {}


@app.get("/bare/rows/{service}/{table}")
def bare_rows(service: str, table: str) -> list[dict[str, Any]]:
    """The ceiling of a list endpoint: the first 50 rows of a service's read-model table,
    read with an indexed LIMIT (``BARE_VAR_DIR``: where the services keep their files), in a
    worker thread as the services answer."""
    import os
    import sqlite3
    import threading

    key = f"{threading.get_ident()}:{service}"
    conn = _READERS.get(key)
    if conn is None:
        db = os.path.join(os.environ["BARE_VAR_DIR"], f"{service}-views.sqlite")
        conn = _READERS[key] = sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
    known = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if table not in known:
        return []
    return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid LIMIT 50")]


@app.post("/bare", status_code=201)
async def bare_post(body: Body) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "title": body.title, "status": "submitted"}


if __name__ == "__main__":
    import uvicorn

    from shared.runtime import configure_logging

    configure_logging()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info",
                timeout_graceful_shutdown=10)

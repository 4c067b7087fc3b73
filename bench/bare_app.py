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


@app.post("/bare", status_code=201)
async def bare_post(body: Body) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "title": body.title, "status": "submitted"}


if __name__ == "__main__":
    import uvicorn

    from shared.runtime import configure_logging

    configure_logging()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info",
                timeout_graceful_shutdown=10)

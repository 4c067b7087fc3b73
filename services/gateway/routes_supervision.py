"""Gateway routes owned by the supervision service (see ../shared/API.md)."""

from __future__ import annotations

from fastapi import FastAPI

API = "/api/v1"


def register_supervision_routes(app: FastAPI) -> None:
    """Add the supervision routes to the gateway app."""

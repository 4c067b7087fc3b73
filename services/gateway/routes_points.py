"""Gateway routes owned by the points service (see ../shared/API.md)."""

from __future__ import annotations

from fastapi import FastAPI

API = "/api/v1"


def register_points_routes(app: FastAPI) -> None:
    """Add the points routes to the gateway app."""

"""Gateway routes owned by the intake service (see ../shared/API.md)."""

from __future__ import annotations

from fastapi import FastAPI

API = "/api/v1"


def register_intake_routes(app: FastAPI) -> None:
    """Add the intake routes to the gateway app."""

"""Gateway routes owned by the assignment service (see ../shared/API.md)."""

from __future__ import annotations

from fastapi import FastAPI

API = "/api/v1"


def register_assignment_routes(app: FastAPI) -> None:
    """Add the assignment routes to the gateway app."""

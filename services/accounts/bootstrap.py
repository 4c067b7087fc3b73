"""Accounts' wiring: its application, read model and runtime (``build_runtime``), and at
start an empty accounts store is seeded from the user list (``USERS_FILE``,
default config/users.yaml); a store with events is never seeded again, so the file then
matters no more (accounts are managed through the API and the 账号管理 page).

Outside development mode (``DUTY_DEV_MODE``) the service refuses to seed development users
(whose password is their username): give ``USERS_FILE`` a list of your own (docs/security.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError
from opentelemetry.sdk.trace import TracerProvider

from shared.clock import Clock
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

from services.accounts import passwords
from services.accounts.application import AccountsApplication
from services.accounts.bus import SERVICE, register, translate
from services.accounts.read_models import AccountsViews

log = logging.getLogger(__name__)


class InsecureUsers(RuntimeError):
    """The user list to seed has development users, and development mode is off."""


def users_file(settings: ServiceSettings) -> Path:
    import os

    configured = os.environ.get("USERS_FILE")
    return Path(configured) if configured else settings.config_dir / "users.yaml"


def load_users(path: Path) -> list[dict[str, Any]]:
    import yaml

    with Path(path).open(encoding="utf-8") as f:
        users = yaml.safe_load(f) or []
    if not isinstance(users, list) or not all(
            isinstance(u, dict) and "username" in u and "password_hash" in u
            and (u.get("role") or u.get("roles")) for u in users):
        raise ValueError(f"{path}: expected a list of users, each with a username, "
                         "role(s) and password_hash")
    return users


def seed_if_empty(app: AccountsApplication, settings: ServiceSettings) -> int:
    """Import the user list into an empty store; the number of accounts made (0: the store
    had accounts already)."""
    if not app.is_empty():
        return 0
    path = users_file(settings)
    users = load_users(path)
    if not settings.duty_dev_mode:
        dev = [u["username"] for u in users
               if passwords.verify_password(str(u["username"]), str(u["password_hash"]))]
        if dev:
            raise InsecureUsers(
                "the accounts service refuses to seed development users whose password is "
                f"their username ({', '.join(dev)}) outside development mode "
                "(DUTY_DEV_MODE=true); give USERS_FILE a list of your own")
    try:
        made = app.seed(users)
    except IntegrityError:  # a replica starting beside this one seeded first
        return 0
    log.info("accounts seeded from %s: %d accounts", path, made)
    return made


def build_runtime(
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ServiceRuntime:
    settings = (settings or ServiceSettings()).model_copy(update={"service_name": SERVICE})
    app = AccountsApplication(settings, clock=clock)
    views = app.views = AccountsViews(app)
    seed_if_empty(app, settings)
    runtime = ServiceRuntime(settings, app, translate, projections=views.projections,
                             tracer_provider=tracer_provider)
    register(runtime, app)
    return runtime

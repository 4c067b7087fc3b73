"""Who may do what on the bus: one NATS identity per process kind, with subject permissions.

- A service publishes only its own events (``duty.<service>.>``) and its own dead letters
  (``duty.dlq.<service>``), answers only its own requests (``duty.rpc.<service>.>``, replies
  through ``allow_responses``), declares the streams, and creates, reads and acknowledges only
  its own durable consumers (``<service>--<producer>``, of the producers in ``CONSUMES``); it
  cannot send requests to another service, publish another service's events, read through
  another consumer, or delete or purge a stream.
- The gateway sends requests (``duty.rpc.>``) and keeps its idempotency bucket (a JetStream
  key-value bucket); it publishes no event.
- ``ops`` (the operations tool) is the operator's credential: everything, as an
  administrator's account would be.
- Nobody connects anonymously: a server started with this configuration refuses a client
  without a password.

Passwords are random, one file per identity (``<identity>.password``, mode 0600) in
``NATS_CREDENTIALS_DIR``; ``make run`` and the tests generate them, production provisions
them (infra/README.md). A process puts its identity's credentials into its server URLs
(``ServiceSettings.nats_servers``). The server's configuration is rendered from the same
files (``server_config``); the production template reads them from the environment.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

SERVICES = ("intake", "assignment", "supervision", "points", "notifications", "accounts", "liaison", "projects", "reports", "registry")
IDENTITIES = (*SERVICES, "gateway", "ops")
# Whose events each service consumes (its durable consumers, ``runtime.consume``); a test
# checks every service's runtime against it (tests/integration/test_bus_authorization.py).
CONSUMES: dict[str, tuple[str, ...]] = {
    "intake": ("supervision", "registry"),
    "accounts": ("registry",),
    "assignment": ("intake", "supervision", "registry"),
    "supervision": ("assignment", "intake", "registry"),
    "points": ("intake", "supervision", "liaison", "reports", "projects", "registry"),
    "notifications": ("intake", "assignment", "supervision", "points", "liaison", "registry",
                      "accounts"),
    "liaison": ("intake", "registry"),
    "projects": ("registry",),
    "reports": ("registry",),
    "registry": (),
}
# Stream management every service does at start (shared/streams.py declares all streams).
STREAM_API = ["$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.CREATE.*",
              "$JS.API.STREAM.UPDATE.*", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"]
JS_ADMIN_DENIED = ["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>",
                   "$JS.API.STREAM.MSG.DELETE.>", "$JS.API.ACCOUNT.PURGE.>"]


def permissions(identity: str) -> dict[str, Any]:
    if identity == "ops":
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    if identity == "gateway":
        return {
            "publish": {"allow": ["duty.rpc.>", "$JS.API.>", "$KV.duty_gateway_idempotency.>",
                                  "$JS.ACK.>"],
                        "deny": JS_ADMIN_DENIED},
            # account changes: the gateway forgets the account status it keeps (auth.py)
            "subscribe": {"allow": ["_INBOX.>", "duty.accounts.>"]},
        }
    consumer_api = []
    for producer in CONSUMES.get(identity, ()):
        stream, durable = f"DUTY_{producer.upper()}", f"{identity}--{producer}"
        consumer_api += [f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
                         f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
                         f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
                         f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
                         f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
                         f"$JS.ACK.{stream}.{durable}.>"]
    return {
        # its own events and dead letters; its streams' management; only its own consumers
        "publish": {"allow": [f"duty.{identity}.>", f"duty.dlq.{identity}", *STREAM_API,
                              *consumer_api]},
        "subscribe": {"allow": [f"duty.rpc.{identity}.>", "_INBOX.>"]},
        "allow_responses": True,
    }


def generate_credentials(directory: Path) -> Path:
    """A random password per identity, kept when already there."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for identity in IDENTITIES:
        path = directory / f"{identity}.password"
        if path.exists():
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
    return directory


def password(directory: Path, identity: str) -> str | None:
    try:
        return (directory / f"{identity}.password").read_text().strip() or None
    except FileNotFoundError:
        return None


def authorization_block(directory: Path) -> str:
    """The ``authorization { users = [...] }`` block for a nats-server configuration."""
    users = []
    for identity in IDENTITIES:
        secret = password(directory, identity)
        if secret is None:
            raise FileNotFoundError(f"no NATS password for {identity} in {directory}")
        users.append({"user": identity, "password": secret,
                      "permissions": permissions(identity)})
    # JSON is valid nats-server configuration syntax
    return "authorization {\n  users = " + json.dumps(users, indent=2) + "\n}\n"


def server_config(directory: Path, *, host: str, port: int, store_dir: Path,
                  extra: str = "") -> str:
    return (f"listen: {json.dumps(f'{host}:{port}')}\n"
            f"jetstream {{ store_dir: {json.dumps(str(store_dir))} }}\n"
            f"{extra}{authorization_block(directory)}")


def write_server_config(path: Path, directory: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(server_config(directory, **kwargs))
    return path


def with_credentials(url: str, identity: str, directory: Path | None) -> str:
    """``url`` with this identity's user and password (what the URL carries otherwise is
    replaced); unchanged without a credentials directory or a password for the identity."""
    if directory is None:
        return url
    secret = password(directory, identity)
    if secret is None:
        return url
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(identity)}:{quote(secret)}@{host}"))

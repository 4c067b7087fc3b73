"""The whole system on a real HTTP port, for a browser: a nats-server, the four services
in-process (real stores) and the gateway under uvicorn, all on one event loop in a
background thread."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from services.gateway.app import GatewaySettings, create_app
from shared.clock import ManualClock
from tests.harness import ALL_SERVICES, ROOT, InProcessSystem, NatsServer, free_port


class LiveSystem:
    def __init__(self, store: dict[str, Any] | None = None,
                 manual_routing: tuple[str, ...] = (), clock: ManualClock | None = None) -> None:
        """``manual_routing``: routing rule ids made non-automatic (the office assigns).
        ``clock``: the services' clock (default: a ManualClock at 2026-03-02 09:00 China
        time); a test that owns its system may move it."""
        self.tmp = Path(tempfile.mkdtemp(prefix="browser-system-"))
        self.config_dir = self._config(manual_routing)
        self.store = store or {"event_store": "sqlite", "var_dir": self.tmp / "var"}
        self.nats = NatsServer(store_dir=self.tmp / "nats")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="live-system", daemon=True)
        self.clock = clock or ManualClock()
        self.system: InProcessSystem | None = None
        self.server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tokens: dict[str, str] = {}

    def _config(self, manual_routing: tuple[str, ...]) -> Path:
        config = self.tmp / "config"
        shutil.copytree(ROOT / "config", config)
        if manual_routing:
            path = config / "routing.yaml"
            rules = yaml.safe_load(path.read_text(encoding="utf-8"))
            for rule in rules:
                if rule["id"] in manual_routing:
                    rule["automatic"] = False
            path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
        return config

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60) -> LiveSystem:
        self.nats.start()
        self.thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the live system did not start")
        if self._error:
            raise RuntimeError("the live system failed to start") from self._error
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the gateway did not become healthy")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            self.system = InProcessSystem(self.nats.url, self.store, clock=self.clock,
                                          config_dir=self.config_dir,
                                          blob_dir=self.tmp / "blobs")
            await self.system.start(*ALL_SERVICES)  # the gateway's /health waits for all
            settings = GatewaySettings(nats_url=self.nats.url, rpc_timeout_seconds=5.0,
                                       citizen_rate_limit="off", config_dir=self.config_dir,
                                       blob_dir=self.tmp / "blobs")
            app = create_app(settings)
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                    lifespan="on")
            self.server = uvicorn.Server(config)
            self.server.install_signal_handlers = lambda: None  # not the main thread
            serving = asyncio.create_task(self.server.serve())
        except BaseException as exc:  # pragma: no cover - start-up failure
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await serving
        finally:
            await self.system.stop()

    def stop(self) -> None:
        if self.server:
            self.server.should_exit = True
        self.thread.join(30)
        self.nats.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- API helpers for arranging a scene -------------------------------------------------

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = httpx.post(f"{self.base_url}/api/v1/auth/token",
                           data={"username": username, "password": username})
            r.raise_for_status()
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def call(self, method: str, as_user: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(as_user)}"}
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=10,
                             **kwargs)

    def get(self, as_user: str, path: str, **params: Any) -> Any:
        r = self.call("GET", as_user, path, params=params)
        r.raise_for_status()
        return r.json()

    def post(self, as_user: str, path: str, json: Any = None) -> Any:
        r = self.call("POST", as_user, path, json=json)
        if r.status_code >= 400:
            raise AssertionError(f"POST {path} as {as_user}: {r.status_code} {r.text}")
        return r.json()

    def eventually(self, check, timeout: float = 20.0, interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


logging.getLogger("uvicorn.error").setLevel(logging.WARNING)

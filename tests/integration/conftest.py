from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.gateway.app import GatewaySettings, create_app
from tests.harness import InProcessSystem


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def samplers() -> dict[str, Sampler]:
    """Each process's trace sampler by name; a process not named gets the SDK's default (from
    ``OTEL_TRACES_SAMPLER``, parent-based always-on when unset). Test modules override this."""
    return {}


def _providers(exporter: InMemorySpanExporter,
               samplers: dict[str, Sampler]) -> dict[str, TracerProvider]:
    providers = {}
    for name in ("gateway", "intake", "assignment", "supervision", "points", "notifications"):
        provider = TracerProvider(resource=Resource.create({"service.name": name}),
                                  sampler=samplers.get(name))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers[name] = provider
    return providers


@pytest.fixture
async def system(request, fresh_nats, store, span_exporter, samplers,
                 ) -> AsyncIterator[InProcessSystem]:
    system = InProcessSystem(fresh_nats.url, store,
                             tracer_providers=_providers(span_exporter, samplers))
    # a module that needs every service (tests.harness.ALL_SERVICES) says SYSTEM_SERVICES
    await system.start(*getattr(request.module, "SYSTEM_SERVICES", ()))
    yield system
    await system.stop()


class Api:
    """An HTTP client for the gateway that signs in as the development users."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}

    async def login(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            r = await self.client.post("/api/v1/auth/token",
                                       data={"username": username, "password": username})
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    async def post(self, as_user: str, path: str, json: Any = None) -> httpx.Response:
        return await self.client.post(path, json=json, headers=await self.login(as_user))

    async def get(self, as_user: str, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=await self.login(as_user))


@pytest.fixture
async def api(system, span_exporter, samplers) -> AsyncIterator[Api]:
    # the services' own default (5 s): on a busy two-core machine a command's catch-up of
    # its persisted read models took over 3 s once
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=5.0)
    provider = _providers(span_exporter, samplers)["gateway"]
    app = create_app(settings, tracer_provider=provider)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            api = Api(client)
            api.app = app  # a test may give the gateway's requests more time
            yield api

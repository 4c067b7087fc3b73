"""Entry point: ``python -m services.gateway`` (uvicorn on GATEWAY_HOST:GATEWAY_PORT)."""

from __future__ import annotations

from typing import Any

import uvicorn

from shared.runtime import configure_logging
from services.gateway.app import GatewaySettings, create_app


def uvicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    """uvicorn's settings. Its proxy-header handling is off whatever ``FORWARDED_ALLOW_IPS``
    says (uvicorn's default believes X-Forwarded-For from 127.0.0.1, which let any local
    client choose its address): the gateway's TrustedProxyMiddleware reads the header only
    from ``TRUSTED_PROXIES`` (limits_middleware.py)."""
    return {"host": settings.gateway_host, "port": settings.gateway_port, "log_level": "info",
            "timeout_graceful_shutdown": 10, "proxy_headers": False,
            "forwarded_allow_ips": None}


if __name__ == "__main__":
    configure_logging()
    settings = GatewaySettings()
    uvicorn.run(create_app(settings, freeze_heap=True), **uvicorn_options(settings))

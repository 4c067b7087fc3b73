"""Entry point: ``python -m services.gateway`` (uvicorn on GATEWAY_HOST:GATEWAY_PORT)."""

import uvicorn

from shared.runtime import configure_logging
from services.gateway.app import GatewaySettings, create_app

if __name__ == "__main__":
    configure_logging()
    settings = GatewaySettings()
    uvicorn.run(create_app(settings, freeze_heap=True), host=settings.gateway_host, port=settings.gateway_port,
                log_level="info", timeout_graceful_shutdown=10)

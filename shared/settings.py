"""One settings object per service process, read from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every service process shares; each service adds its own on a subclass.

    Variables are read unprefixed (``NATS_URL``, ``EVENT_STORE`` ...) so that one environment
    configures the whole system, as ``make run`` and docker-compose do.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = Field("service", description="set by each service's entry point")
    nats_url: str = Field("nats://127.0.0.1:4222", description="comma-separated server URLs")

    event_store: Literal["sqlite", "postgres"] = "sqlite"
    var_dir: Path = Path("var")
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_dbname: str = "duty"
    postgres_user: str = "postgres"
    postgres_password: str = ""
    postgres_schema_prefix: str = "duty_"
    # Connections per service: the event store keeps ``postgres_pool_size`` open and opens up
    # to ``postgres_max_overflow`` more under load (eventsourcing's pool; its own default
    # overflow is 10), the read models' pool at most ``postgres_pool_size``. Eleven services
    # at the library's defaults could ask PostgreSQL for 176 (its default limit is 100).
    postgres_pool_size: int = 3
    postgres_max_overflow: int = 5

    config_dir: Path = Path(__file__).resolve().parent.parent / "config"

    otel_traces_exporter: Literal["none", "console", "otlp"] = "none"
    otel_exporter_otlp_endpoint: str = "http://127.0.0.1:4318"

    stream_replicas: int = 1
    rpc_timeout_seconds: float = 5.0
    # A failing message is redelivered with back-off this many times, then parked.
    max_delivery_attempts: int = 5
    retry_backoff_seconds: float = 0.5
    # A delivered message not acknowledged within this time is delivered again.
    ack_wait_seconds: float = 30.0
    relay_poll_seconds: float = 0.5
    # Staging and time-travel tests only: read "now" from this file (see shared/clock.py).
    clock_file: Path | None = None
    relay_batch_size: int = 500
    consumer_batch_size: int = 50
    # Requests (commands and queries) one process answers at a time; more wait in NATS.
    rpc_concurrency: int = Field(16, ge=1)
    # Commands recorded at the same moment share one transaction (shared/group_commit.py).
    group_commit: bool = True
    # Development mode (make run, the tests): development keys and secrets are made or
    # accepted; outside it they must be provisioned (docs/security.md).
    duty_dev_mode: bool = False
    # Where the actor-assertion keys are (shared/identity.py); default <var_dir>/keys.
    actor_keys_dir: Path | None = None
    # The bus identity's password is <nats_credentials_dir>/<identity>.password
    # (shared/bus_auth.py); identity: the service's name unless set.
    nats_credentials_dir: Path | None = None
    nats_identity: str | None = None
    # Attachments (shared/blobs.py): where files are stored by their SHA-256, and how large.
    blob_backend: Literal["filesystem", "s3"] = "filesystem"
    blob_dir: Path | None = None  # default <var_dir>/blobs
    blob_s3_bucket: str = "duty-attachments"
    blob_s3_endpoint_url: str | None = None
    blob_s3_region: str = "us-east-1"
    attachment_max_bytes: int = Field(20 * 1024 * 1024, ge=1)

    @property
    def sqlite_path(self) -> Path:
        return self.var_dir / f"{self.service_name}.sqlite"

    @property
    def postgres_schema(self) -> str:
        return f"{self.postgres_schema_prefix}{self.service_name}"

    def nats_servers(self) -> list[str]:
        """The server URLs, each carrying this process's bus identity (shared/bus_auth.py)."""
        from shared.bus_auth import with_credentials

        identity = self.nats_identity or self.service_name
        return [with_credentials(u.strip(), identity, self.nats_credentials_dir)
                for u in self.nats_url.split(",") if u.strip()]


def load_config(settings: ServiceSettings, name: str) -> list[dict]:
    """Read one reference-data file (``config/<name>.yaml``) as a list of records."""
    import yaml

    with (settings.config_dir / f"{name}.yaml").open(encoding="utf-8") as f:
        return list(yaml.safe_load(f) or [])

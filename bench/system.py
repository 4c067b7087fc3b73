"""The system under test as OS processes, started as ``make run`` starts them (infra/Procfile):
``python -m services.<name>`` for the four services and ``python -m services.gateway``
(uvicorn) for the gateway, against a throw-away nats-server; plus, for the HTTP ceiling, a
trivial FastAPI app served by uvicorn the same way (``python -m bench.bare_app``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT

SERVICES = ("intake", "assignment", "supervision", "points", "notifications")


def _gateway_only() -> tuple[str, ...]:
    from services.gateway.app import SERVICES as GATEWAY_SERVICES

    return tuple(s for s in GATEWAY_SERVICES if s not in SERVICES)


# The services the gateway also needs (its /health waits for every one; accounts signs users in
# and checks their tokens): started beside the gateway, not measured.
GATEWAY_ONLY = _gateway_only()

# The bench runs the system in development mode (development secret and users), with one set
# of actor-assertion keys for every process it starts (shared/identity.py), made here once.
os.environ.setdefault("DUTY_DEV_MODE", "true")
if "ACTOR_KEYS_DIR" not in os.environ:
    import tempfile

    from shared.identity import generate_keys

    os.environ["ACTOR_KEYS_DIR"] = tempfile.mkdtemp(prefix="bench-keys-")
    generate_keys(Path(os.environ["ACTOR_KEYS_DIR"]))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux ``/proc``; None elsewhere or once it
    has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(nats_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """As tests/harness.py process_env: SQLite stores, no tracing export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "POSTGRES_"))}
    env.update(NATS_URL=nats_url, EVENT_STORE="sqlite", VAR_DIR=str(var_dir),
               RELAY_POLL_SECONDS="0.2", RETRY_BACKOFF_SECONDS="0.1",
               OTEL_TRACES_EXPORTER="none", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Processes:
    """Started child processes, each logging to ``<log_dir>/<label>.log``; stopped with
    SIGTERM (then SIGKILL after 15 s), only the ones started here."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, label: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{label}.log").open("ab")
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=log)
        self.procs[label] = proc
        return proc

    def service(self, label: str, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self.start(label, [sys.executable, "-m", f"services.{name}"], env)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each running process, by label."""
        used = {label: cpu_seconds(p.pid) for label, p in self.procs.items() if p.poll() is None}
        return {label: t for label, t in used.items() if t is not None}

    def stop(self, label: str | None = None) -> None:
        labels = [label] if label else list(self.procs)
        for lb in labels:
            p = self.procs.get(lb)
            if p and p.poll() is None:
                p.terminate()
        for lb in labels:
            p = self.procs.pop(lb, None)
            if p is None:
                continue
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_http(url: str, timeout: float = 60.0, expect: int = 200) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == expect:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} not answering {expect} within {timeout}s: {last}")


def copy_stores(var: Path, dest: Path) -> None:
    """Consistent copies of the services' SQLite stores (sqlite3 backup API, WAL included)."""
    import sqlite3

    dest.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        src = var / f"{name}.sqlite"
        if not src.exists():
            continue
        with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as a, \
                sqlite3.connect(dest / f"{name}.sqlite") as b:
            a.backup(b)


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

"""The production nats-server configuration (infra/nats, docker-compose) is valid with the
authorization `duty-ops keys init` renders, and the server it configures refuses anonymous
clients and enforces each identity's permissions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from shared.bus_auth import with_credentials
from tests.harness import ROOT, free_port, nats_server_binary


def _keys_init(tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NATS_URL": "nats://127.0.0.1:1"}
    proc = subprocess.run([sys.executable, "-m", "ops", "keys", "init", "--var-dir",
                           str(secrets)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (secrets / "personal-data.kek").stat().st_mode & 0o077 == 0
    assert (secrets / "nats-credentials" / "authorization.conf").stat().st_mode & 0o077 == 0
    return secrets


@pytest.mark.parametrize("config", ["nats-server.conf", "cluster/nats-1.conf"])
def test_the_production_configuration_is_valid_with_the_rendered_users(tmp_path, config):
    secrets = _keys_init(tmp_path)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "nats-server.conf").write_text((ROOT / "infra" / "nats" / config).read_text())
    (etc / "authorization.conf").write_text(
        (secrets / "nats-credentials" / "authorization.conf").read_text())
    proc = subprocess.run([nats_server_binary(), "-c", str(etc / "nats-server.conf"), "-t"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


async def test_the_production_server_enforces_the_identities(tmp_path):
    secrets = _keys_init(tmp_path)
    conf = (ROOT / "infra" / "nats" / "nats-server.conf").read_text()
    port, store = free_port(), tmp_path / "js"
    conf = re.sub(r"(?m)^listen: .*$", f"listen: 127.0.0.1:{port}", conf)
    conf = re.sub(r"(?m)^http: .*$", "", conf)
    conf = conf.replace("/data/jetstream", str(store))
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "nats-server.conf").write_text(conf)
    (etc / "authorization.conf").write_text(
        (secrets / "nats-credentials" / "authorization.conf").read_text())
    server = subprocess.Popen([nats_server_binary(), "-c", str(etc / "nats-server.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"nats://127.0.0.1:{port}"
        credentials = secrets / "nats-credentials"
        for _ in range(100):
            try:
                nc = await nats.connect(with_credentials(url, "gateway", credentials),
                                        allow_reconnect=False, connect_timeout=1)
                break
            except Exception:  # not up yet
                import asyncio
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the production server did not start")
        await nc.close()
        with pytest.raises(Exception):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0,
                               connect_timeout=1)
    finally:
        server.terminate()
        server.wait(10)

"""``make bundle`` (infra/bundle.py): the archive carries everything needed to install with no
network. The test builds it, checks its checksums, installs it into a fresh virtual
environment with ``install.sh`` (``pip --no-index --find-links wheelhouse --require-hashes``)
inside a network namespace with no network (``unshare -n``, where the machine allows it), and
imports every service from the installed copy; the installed nats-server runs and the API
docs' assets are in the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.harness import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def _no_network_prefix() -> list[str]:
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        ok = False
    return ["unshare", "-n"] if ok else []


@pytest.mark.timeout(600)
def test_the_bundle_installs_with_no_network(tmp_path):
    out = tmp_path / "dist"
    subprocess.run([sys.executable, str(ROOT / "infra" / "bundle.py"), "--out", str(out)],
                   check=True, cwd=ROOT)
    [archive] = out.glob("duty-liaison-*.tar.gz")
    subprocess.run(["sha256sum", "-c", f"{archive.name}.sha256"], cwd=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    [bundle] = (tmp_path / "unpacked").iterdir()
    requirements = (bundle / "requirements.txt").read_text().splitlines()
    pinned = [r for r in requirements if r and not r.startswith("#")]
    assert len(pinned) == len(list((bundle / "wheelhouse").glob("*.whl")))
    assert all("==" in r and "--hash=sha256:" in r for r in pinned)
    assert any(r.startswith("duty-liaison==") for r in pinned)
    assert os.access(bundle / "bin" / "nats-server", os.X_OK)
    for part in ("install.sh", "SHA256SUMS", "config/users.yaml", "nats/nats-server.conf",
                 "duty.env.example"):
        assert (bundle / part).exists(), part

    prefix = tmp_path / "installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, PYTHON=sys.executable)
    done = subprocess.run([*_no_network_prefix(), "sh", str(bundle / "install.sh"), str(prefix)],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    python = prefix / "venv" / "bin" / "python"
    check = subprocess.run(
        [*_no_network_prefix(), str(python), "-c",
         "import services.gateway.app, services.intake.bus, services.assignment.bus, "
         "services.supervision.bus, services.points.bus, ops.backup, services.gateway.web as w, "
         "pathlib, sys; "
         "static = pathlib.Path(w.__file__).parent / 'static'; "
         "assert (static / 'swagger-ui' / 'swagger-ui-bundle.js').exists(); "
         "assert (static / 'redoc' / 'redoc.standalone.js').exists(); "
         "print(services.gateway.app.__file__)"],
        cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert str(prefix) in check.stdout  # the installed copy, not the work tree
    version = subprocess.run([str(prefix / "venv" / "bin" / "nats-server"), "--version"],
                             capture_output=True, text=True)
    assert version.returncode == 0 and "nats-server" in version.stdout
    ops = subprocess.run([str(prefix / "venv" / "bin" / "duty-ops"), "status"],
                         env={**env, "NATS_URL": ""}, capture_output=True, text=True)
    assert ops.returncode == 2 and "NATS_URL" in ops.stderr
    assert "CONFIG_DIR=" + str(prefix / "config") in (prefix / "duty.env").read_text()

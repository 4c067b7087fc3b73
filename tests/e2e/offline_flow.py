"""The case flow on an installed bundle, run by tests/e2e/test_offline_bundle.py with the
installed virtual environment's Python (``python -I``: nothing from the work tree) inside a
network namespace with no network but its loopback (``unshare -n``).

Usage: ``offline_flow.py PREFIX`` (the install.sh prefix). As an operator would, from the
installation only: ``duty-ops keys init``, nats-server (the installed binary) with the
platform's authorization, the five services and the gateway (``python -m services.<name>``),
then over HTTP on 127.0.0.1: a deputy submits a suggestion, the office registers it, the units'
tasks and the deputy's points arrive, /docs and its assets are served by the gateway, and
``duty-ops verify`` passes. Every process is stopped with SIGTERM; exit 0 when all held, and a
line ``OFFLINE FLOW OK`` on stdout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVICES = ("intake", "assignment", "supervision", "points", "notifications", "accounts",
            "projects", "reports", "liaison", "registry")


def wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise SystemExit(f"{what}: not within {timeout} s (last: {last!r})")


def no_outside_network() -> None:
    """This namespace reaches nothing but itself."""
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    except OSError:
        return
    raise SystemExit("an outside address answered: this is not an isolated network")


def main() -> None:
    prefix = Path(sys.argv[1]).resolve()
    venv = prefix / "venv" / "bin"
    import services

    assert Path(services.__file__).is_relative_to(prefix), services.__file__
    no_outside_network()
    var = prefix / "var"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NATS_", "POSTGRES_", "OTEL_", "PYTHON"))}
    env.update(PATH=f"{venv}{os.pathsep}{env.get('PATH', '')}", VAR_DIR=str(var),
               CONFIG_DIR=str(prefix / "config"), EVENT_STORE="sqlite",
               ACTOR_KEYS_DIR=str(var / "keys"), NATS_CREDENTIALS_DIR=str(var / "nats-credentials"),
               DUTY_DEV_MODE="true", PYTHONUNBUFFERED="1", GATEWAY_PORT="8000",
               RELAY_POLL_SECONDS="0.2")
    done = subprocess.run([venv / "duty-ops", "keys", "init", "--var-dir", str(var)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from shared.bus_auth import write_server_config

    conf = write_server_config(var / "nats" / "nats-server.conf", var / "nats-credentials",
                               host="127.0.0.1", port=4222, store_dir=var / "nats")
    env["NATS_URL"] = "nats://127.0.0.1:4222"
    logs = prefix / "logs"
    logs.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, argv: list[str]) -> None:
        log = (logs / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(argv, env=env, cwd=prefix, stdout=log,
                                       stderr=subprocess.STDOUT)

    try:
        start("nats", [str(venv / "nats-server"), "-c", str(conf)])
        wait(lambda: socket.create_connection(("127.0.0.1", 4222), timeout=1).close() or True,
             30, "nats-server listening")
        for name in SERVICES:
            start(name, [str(venv / "python"), "-m", f"services.{name}"])
        start("gateway", [str(venv / "python"), "-m", "services.gateway"])
        base = "http://127.0.0.1:8000"
        wait(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 120,
             "GET /health 200")

        def token(user: str) -> dict[str, str]:
            r = httpx.post(f"{base}/api/v1/auth/token",
                           data={"username": user, "password": user}, timeout=10)
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        r = httpx.post(f"{base}/api/v1/suggestions", headers=token("deputy-3"), timeout=10,
                       json={"title": "河道垃圾清理", "body": "菊园段河道漂浮垃圾较多。",
                             "category": "ecology"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = httpx.post(f"{base}/api/v1/suggestions/{sid}/register", headers=token("office"),
                       json={"urgency": "red"}, timeout=10)
        assert r.status_code == 200, r.text

        def settled():
            view = httpx.get(f"{base}/api/v1/suggestions/{sid}", headers=token("office"),
                             timeout=10).json()
            return view if len(view.get("tasks", [])) == 2 and view.get("points_awarded") \
                else None

        view = wait(settled, 60, "the case's tasks and points")
        assert {t["unit_id"] for t in view["tasks"]} == {"unit-a", "unit-c"}, view
        assert view["points_awarded"][0]["deputy_id"] == "deputy-3", view
        docs = httpx.get(f"{base}/docs", timeout=10)
        assert docs.status_code == 200 and "cdn.jsdelivr" not in docs.text
        import re

        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text)
        assert any(a.endswith("swagger-ui-bundle.js") for a in assets), docs.text
        for asset in assets:  # served by the gateway itself
            assert asset.startswith("/"), asset
            r = httpx.get(f"{base}{asset}", timeout=10)
            assert r.status_code == 200 and len(r.content) > 1000, (asset, r.status_code)
        verified = subprocess.run([venv / "duty-ops", "verify", "--json"], env=env,
                                  capture_output=True, text=True)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        for name in ["gateway", *SERVICES, "nats"]:
            proc = procs.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    for name in procs:
        text = (logs / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
    print(f"OFFLINE FLOW OK: case {sid} registered as {view.get('number')}, tasks for "
          f"{sorted(t['unit_id'] for t in view['tasks'])}, verify passed", flush=True)


if __name__ == "__main__":
    main()

"""``make run``'s launcher starts everything, /health turns 200, a case flows over real HTTP,
and Ctrl-C stops every process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.harness import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def test_the_launcher_runs_the_whole_system_and_stops_it(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_PORT")}
    env.update(GATEWAY_PORT=str(port), VAR_DIR=str(tmp_path / "var"))
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "infra" / "devrun.py")], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"{base}/health", timeout=2).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert status == 200, (tmp_path / "run.log").read_text()[-3000:]

        def token(user: str) -> dict[str, str]:
            r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": user})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        r = httpx.post(f"{base}/api/v1/suggestions", headers=token("deputy-3"), json={
            "title": "河道垃圾清理", "body": "菊园段河道漂浮垃圾较多。", "category": "ecology"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = httpx.post(f"{base}/api/v1/suggestions/{sid}/register", headers=token("office"),
                       json={"urgency": "red"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        view = {}
        while time.monotonic() < deadline:
            view = httpx.get(f"{base}/api/v1/suggestions/{sid}", headers=token("office")).json()
            if len(view.get("tasks", [])) == 2 and view.get("points_awarded"):
                break
            time.sleep(0.3)
        assert view["units"] == {"lead": "unit-c", "co": ["unit-a"]}
        assert {t["unit_id"] for t in view["tasks"]} == {"unit-a", "unit-c"}
        assert view["points_awarded"][0]["deputy_id"] == "deputy-3"
        assert (tmp_path / "var" / "intake.sqlite").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
    out = (tmp_path / "run.log").read_text()
    for name in ("intake", "assignment", "supervision", "points"):
        assert f"{name} ready" in out
        assert f"{name} stopped" in out
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "var")], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""

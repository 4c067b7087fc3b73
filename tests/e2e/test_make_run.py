"""``make run``'s launcher starts everything, /health turns 200, a case flows over real HTTP,
and Ctrl-C stops every process (services before nats-server), exit code 0, no traceback."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.test_supervised_processes import Launcher

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def test_the_launcher_runs_the_whole_system_and_stops_it(tmp_path):
    launcher = Launcher(tmp_path)
    base = launcher.base
    try:
        launcher.wait_healthy()
        r = httpx.post(f"{base}/api/v1/suggestions", headers=launcher.token("deputy-3"), json={
            "title": "河道垃圾清理", "body": "菊园段河道漂浮垃圾较多。", "category": "ecology"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = httpx.post(f"{base}/api/v1/suggestions/{sid}/register",
                       headers=launcher.token("office"), json={"urgency": "red"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        view = {}
        while time.monotonic() < deadline:
            view = httpx.get(f"{base}/api/v1/suggestions/{sid}",
                             headers=launcher.token("office")).json()
            if len(view.get("tasks", [])) == 2 and view.get("points_awarded"):
                break
            time.sleep(0.3)
        assert view["units"] == {"lead": "unit-c", "co": ["unit-a"]}
        assert {t["unit_id"] for t in view["tasks"]} == {"unit-a", "unit-c"}
        assert view["points_awarded"][0]["deputy_id"] == "deputy-3"
        assert (launcher.var / "intake.sqlite").exists()
        # the API documentation is served by the gateway itself (no CDN)
        docs = httpx.get(f"{base}/docs")
        assert docs.status_code == 200 and "cdn.jsdelivr" not in docs.text
    except BaseException:
        launcher.kill()
        raise
    code = launcher.interrupt()
    out = launcher.output()
    assert code == 0, out[-4000:]
    assert "Traceback" not in out, out
    for name in ("intake", "assignment", "supervision", "points"):
        assert f"{name} ready" in out
        assert f"{name} stopped" in out
    assert launcher.leftovers() == ""

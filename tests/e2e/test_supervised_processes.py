"""``make run``'s launcher (infra/devrun.py + infra/supervisor.py) supervises its processes: a
service killed with kill -9 is restarted (logged) and the system is healthy and serves again;
SIGINT (Ctrl-C) then stops every process, services before nats-server, with exit code 0 and
no traceback in the output.

The launcher is started as ``make run`` starts it (``.venv/bin/python infra/devrun.py``),
without make itself: make would first check the virtual environment's installation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


class Launcher:
    """``infra/devrun.py`` in a session of its own, its output in a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.var = tmp_path / "var"
        self.log_path = tmp_path / "run.log"
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_PORT")}
        # make run's own keys and bus passwords under its var dir, as on a fresh machine
        env = {k: v for k, v in env.items()
               if k not in ("NATS_CREDENTIALS_DIR", "ACTOR_KEYS_DIR")}
        env.update(GATEWAY_PORT=str(self.port), VAR_DIR=str(self.var))
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "infra" / "devrun.py")],
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, check, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            assert self.proc.poll() is None, f"launcher exited: {self.output()[-3000:]}"
            time.sleep(0.3)
        raise AssertionError(f"{what} not within {timeout} s:\n{self.output()[-4000:]}")

    def health(self) -> int | None:
        try:
            return httpx.get(f"{self.base}/health", timeout=2).status_code
        except httpx.HTTPError:
            return None

    def wait_healthy(self, timeout: float = 90) -> None:
        self.wait_until(lambda: self.health() == 200, timeout, "GET /health 200")

    def pid(self, name: str, after: int = 0) -> int:
        """The pid the supervisor last reported for ``name`` (one other than ``after``)."""
        found = re.findall(rf"started {name} \(pid (\d+)\)", self.output())
        pids = [int(p) for p in found if int(p) != after]
        return pids[-1] if pids else 0

    def token(self, user: str) -> dict[str, str]:
        r = httpx.post(f"{self.base}/api/v1/auth/token",
                       data={"username": user, "password": user}, timeout=10)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def interrupt(self, timeout: float = 120) -> int:
        """Ctrl-C: SIGINT to the launcher's process group, as a terminal sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()

    def leftovers(self) -> str:
        return subprocess.run(["pgrep", "-f", str(self.var)], capture_output=True,
                              text=True).stdout.strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _submit(launcher: Launcher, title: str) -> str:
    r = httpx.post(f"{launcher.base}/api/v1/suggestions", headers=launcher.token("deputy-1"),
                   json={"title": title, "body": "小区路灯不亮。", "category": "livelihood"},
                   timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.timeout(300)
def test_a_killed_service_is_restarted_and_ctrl_c_stops_everything_cleanly(tmp_path):
    launcher = Launcher(tmp_path)
    try:
        launcher.wait_healthy()
        before = _submit(launcher, "路灯维修")

        intake = launcher.pid("intake")
        assert intake and _alive(intake)
        os.kill(intake, signal.SIGKILL)
        launcher.wait_until(lambda: "intake killed by SIGKILL" in launcher.output(), 30,
                            "the supervisor noticing intake's death")
        restarted = launcher.wait_until(lambda: launcher.pid("intake", after=intake), 30,
                                        "intake restarted")
        assert restarted != intake and _alive(restarted)
        assert re.search(r"intake killed by SIGKILL after [\d.]+ s; restarting in 1 s",
                         launcher.output())
        launcher.wait_healthy(90)
        # the restarted intake serves: what it stored before, and new commands
        r = httpx.get(f"{launcher.base}/api/v1/suggestions/{before}",
                      headers=launcher.token("office"), timeout=10)
        assert r.status_code == 200, r.text
        _submit(launcher, "路灯维修二")
        # the others were left running
        assert not re.search(r"supervisor\s*\| (assignment|supervision|points|gateway|nats) "
                             r"(killed|exited)", launcher.output())
    except BaseException:
        launcher.kill()
        raise
    code = launcher.interrupt()
    out = launcher.output()
    assert code == 0, out[-4000:]
    assert "Traceback" not in out, out
    assert "Application shutdown failed" not in out
    for name in ("intake", "assignment", "supervision", "points"):
        assert f"{name} stopped" in out
    # nats-server stopped last, after every service had stopped
    order = [m.group(1) for m in re.finditer(r"supervisor\s*\| (\w+) stopped", out)]
    assert order[-1] == "nats" and order.index("gateway") == 0, order
    assert "all processes stopped" in out
    assert launcher.leftovers() == ""

"""``make run``: the whole system on the embedded default, under honcho.

Starts a local nats-server (JetStream, store under var/nats, a free port) unless NATS_URL is
given, the four services (SQLite stores under var/) and the gateway on 127.0.0.1:8000
(GATEWAY_PORT overrides). Logs are interleaved with a coloured prefix per process; Ctrl-C
stops them all.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("VAR_DIR", str(ROOT / "var"))
    env.setdefault("PYTHONUNBUFFERED", "1")
    # development secret and users, open /metrics: the gateway refuses them otherwise
    env.setdefault("DUTY_DEV_MODE", "true")
    Path(env["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    processes = ["intake", "assignment", "supervision", "points", "gateway"]
    if not env.get("NATS_URL"):
        env["NATS_PORT"] = str(free_port())
        env["NATS_URL"] = f"nats://127.0.0.1:{env['NATS_PORT']}"
        processes.insert(0, "nats")
    port = env.setdefault("GATEWAY_PORT", "8000")
    print(f"duty-liaison: NATS at {env['NATS_URL']}, stores under {env['VAR_DIR']}, "
          f"gateway on http://127.0.0.1:{port} (Ctrl-C stops everything)", flush=True)
    honcho = str(Path(bin_dir) / "honcho")
    os.chdir(ROOT)
    os.execvpe(honcho, [honcho, "-f", str(ROOT / "infra" / "Procfile"), "-d", str(ROOT),
                        "start", *processes], env)


if __name__ == "__main__":
    main()

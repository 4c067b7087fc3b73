"""``make run``: the whole system on the embedded default, under a small supervisor
(infra/supervisor.py).

Starts a local nats-server (JetStream, store under var/nats, a free port) unless NATS_URL is
given, the four services (SQLite stores under var/) and the gateway on 127.0.0.1:8000
(GATEWAY_PORT overrides), as infra/Procfile declares them. Logs are interleaved with a
prefix per process. A process that dies is restarted with back-off (1 s, 2 s ... 30 s) and
the supervisor says so. Ctrl-C (or SIGTERM) stops the gateway, then the services (they drain
and close their stores while the bus is still up), then nats-server, and exits 0.
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
    processes = ["intake", "assignment", "supervision", "points", "notifications", "accounts",
                 "projects", "reports", "registry",
                 "liaison", "gateway"]
    # The keys the gateway and ops sign actor assertions with (shared/identity.py), made
    # once here before any process would race to make them.
    sys.path.insert(0, str(ROOT))
    from shared.identity import generate_keys

    generate_keys(Path(env.setdefault("ACTOR_KEYS_DIR", str(Path(env["VAR_DIR"]) / "keys"))))
    if not env.get("NATS_URL"):
        # The bus with its authorization (shared/bus_auth.py): a password per process kind,
        # made on the first run under var/ (mode 0600), and the server's configuration.
        from shared.bus_auth import generate_credentials, write_server_config

        var = Path(env["VAR_DIR"])
        credentials = generate_credentials(Path(env.setdefault(
            "NATS_CREDENTIALS_DIR", str(var / "nats-credentials"))))
        env["NATS_PORT"] = str(free_port())
        env["NATS_CONFIG"] = str(write_server_config(
            var / "nats" / "nats-server.conf", credentials, host="127.0.0.1",
            port=int(env["NATS_PORT"]), store_dir=var / "nats"))
        env["NATS_URL"] = f"nats://127.0.0.1:{env['NATS_PORT']}"
        processes.insert(0, "nats")
    port = env.setdefault("GATEWAY_PORT", "8000")
    print(f"duty-liaison: NATS at {env['NATS_URL']}, stores under {env['VAR_DIR']}, "
          f"gateway on http://127.0.0.1:{port} (Ctrl-C stops everything)", flush=True)
    os.chdir(ROOT)
    from infra.supervisor import Supervisor, read_procfile

    commands = read_procfile(ROOT / "infra" / "Procfile", env)
    supervisor = Supervisor(
        {name: commands[name] for name in processes}, env=env, cwd=ROOT,
        stop_order=[["gateway"], ["intake", "assignment", "supervision", "points",
                                 "notifications", "accounts", "projects", "reports", "liaison",
                                 "registry"],
                    ["nats"]],
        wait_for_port={"nats": int(env["NATS_PORT"])} if "nats" in processes else None)
    sys.exit(supervisor.run())


if __name__ == "__main__":
    main()

"""City scale (issue 23): start-up and memory against the history, and lists through the
gateway at the largest store, each beside a bare ceiling of the same run.

- **Start-up.** For each service and each size, the template's log amplified to N events
  (bench/growth.py ``amplify``: new cases per copy); the service process is started once
  (it builds its persisted read models from the whole log) and stopped, then started again:
  seconds from spawn to its first ``health`` answer with ``ready``, and its peak RSS
  (``VmHWM``) once ready. Ratios: the largest size to 10^4 events (targets <= 1.5 and <= 1.2).
- **Lists.** The four stores amplified to N events each (the same UUID remapping in every
  store, so the copies are whole cases across services), the system and the gateway as
  processes, read models built; ``wrk`` (or the httpx fallback) on each list endpoint with
  ``limit=50``: p99 and requests/s, beside the bare ceiling: a trivial FastAPI app answering
  the same rows from the service's read-model SQLite file with an indexed ``LIMIT 50``
  (``bench/bare_app.py`` ``/bare/rows``). Targets: p99 <= 100 ms; requests/s ratio >= 0.3.
- **Pages.** The first page of each role's work in the web application (``PAGES``), with the
  session cookie, on the same system: p99 (target <= 300 ms, issue 26) and requests/s beside
  the bare query of the rows the page lists.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import NatsServer
from bench.growth import _health_of, amplify
from bench.http import issue_token, load
from bench.system import (GATEWAY_ONLY, SERVICES, Processes, free_port, rmtree, service_env,
                          wait_http)


def _vmhwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def startup(template: Path, service: str, n_events: int,
                  timeout: float = 1800) -> dict[str, Any]:
    """Start ``service`` twice on a store of ``n_events``: the first start builds the read
    models, the second is measured (time to ready, peak RSS)."""
    import nats

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-scale-{service}-"))
    procs = Processes(tmp)
    out: dict[str, Any] = {"service": service}
    try:
        out["events"] = amplify(template / f"{service}.sqlite",
                                tmp / "var" / f"{service}.sqlite", n_events)
        with NatsServer() as server:
            nc = await nats.connect(server.url)
            try:
                for label in ("build", "restart"):
                    t0 = time.perf_counter()
                    proc = procs.service(label, service, service_env(server.url, tmp / "var"))
                    ready = await _health_of(nc, service, proc.pid, timeout)
                    out[f"{label}_seconds"] = None if ready is None else ready - t0
                    await asyncio.sleep(0.5)  # what it holds once answering
                    out[f"{label}_rss_mib"] = _vmhwm_mib(proc.pid)
                    procs.stop(label)
            finally:
                await nc.close()
                procs.stop()
    finally:
        rmtree(tmp)
    return out


def _views_table(db: Path, prefix: str) -> str | None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? "
            "ORDER BY name", (f"{prefix}_v%",))]
    names = [n for n in names if "_fts" not in n and not n.endswith(("_data", "_idx",
                                                                       "_content", "_docsize",
                                                                       "_config"))]
    return names[0] if names else None


# endpoint label, path (limit=50 added), who asks, the read-model table of the bare ceiling
ENDPOINTS = [
    ("GET /suggestions?limit=50", "/api/v1/suggestions?year=all", "office",
     ("intake", "suggestions")),
    ("GET /tasks?limit=50 as a unit", "/api/v1/tasks?year=all", "unit-a",
     ("supervision", "supervision_tasks")),
    ("GET /board", "/api/v1/board?year=all", "office", ("supervision", "supervision_tasks")),
    ("GET /rankings", "/api/v1/rankings", "office", ("points", "Rankings_totals")),
    ("GET /deputies/deputy-1/points", "/api/v1/deputies/deputy-1/points", "office",
     ("points", "LedgerLines_lines")),
    ("GET /suggestions?q= (search)", "/api/v1/suggestions?year=all&q=%E7%94%B5%E6%A2%AF",
     "office", ("intake", "suggestions")),
    # the web application's export (session cookie), streamed a page of 500 lines at a time
    ("GET /app/exports/points.csv (the whole export, streamed)",
     "/app/exports/points.csv?year=all", "office", ("points", "LedgerLines_lines")),
]

# The web application's pages each role opens first (issue 26: within 300 ms at city scale),
# with the session cookie, each beside the bare query of the rows it lists.
PAGES = [
    ("GET /app/office/inbox (建议案件)", "/app/office/inbox?status=all", "office",
     ("intake", "suggestions")),
    ("GET /app/board (进度看板)", "/app/board", "office", ("supervision", "supervision_tasks")),
    ("GET /app/stats (办理统计)", "/app/stats", "office", ("supervision", "supervision_tasks")),
    ("GET /app/unit (承办单位待办)", "/app/unit", "unit-a", ("supervision", "supervision_tasks")),
    ("GET /app/deputy (代表首页)", "/app/deputy", "deputy-1", ("intake", "suggestions")),
    ("GET /app/rankings (积分排名)", "/app/rankings", "office", ("points", "Rankings_totals")),
]

USERS = {"office": ("office", {}), "unit-a": ("unit", {"unit_id": "unit-a"}),
         "deputy-1": ("deputy", {"deputy_id": "deputy-1"})}


def gateway_lists(template: Path, n_events: int, seconds: float,
                  log=print) -> list[dict[str, Any]]:
    """Every service on a store of ``n_events`` and the gateway; each list endpoint under wrk
    beside the bare indexed query of the same read-model rows."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-lists-"))
    procs = Processes(tmp)
    var = tmp / "var"
    rows: list[dict[str, Any]] = []
    try:
        for service in SERVICES:
            amplify(template / f"{service}.sqlite", var / f"{service}.sqlite", n_events)
        with NatsServer() as server:
            env = service_env(server.url, var)
            for service in SERVICES:
                procs.service(service, service, env)
            port, bare_port = free_port(), free_port()
            for service in GATEWAY_ONLY:  # accounts checks tokens; /health waits for all
                procs.service(service, service, env)
            procs.start("gateway", [sys.executable, "-m", "services.gateway"],
                        {**env, "GATEWAY_PORT": str(port), "GATEWAY_HOST": "127.0.0.1"})
            base = f"http://127.0.0.1:{port}"
            log(f"  lists: waiting for the system on {n_events:,} events per store ...")
            wait_http(f"{base}/health", timeout=1800)
            procs.start("bare", [sys.executable, "-m", "bench.bare_app", str(bare_port)],
                        {**env, "BARE_VAR_DIR": str(var)})
            bare = f"http://127.0.0.1:{bare_port}"
            wait_http(f"{bare}/bare")
            for label, path, user, (service, prefix) in [*ENDPOINTS, *PAGES]:
                role, ids = USERS[user]
                token = issue_token(user, role, **ids)
                probe = None
                if path.startswith("/app/"):  # the web application: its session cookie
                    url, headers = f"{base}{path}", {"Cookie": f"duty_session={token}"}
                    import httpx

                    # a page, not a redirect to sign in (wrk counts a 3xx as an answer)
                    answer = httpx.get(url, headers=headers, timeout=30)
                    probe = answer.status_code
                else:
                    url = f"{base}{path}{'&' if '?' in path else '?'}limit=50"
                    headers = {"Authorization": f"Bearer {token}"}
                got = load(url, headers=headers, seconds=seconds)
                table = _views_table(var / f"{service}-views.sqlite", prefix)
                ceiling = load(f"{bare}/bare/rows/{service}/{table}", seconds=seconds) \
                    if table else None
                rows.append({"endpoint": label, "gateway": got, "bare": ceiling, "probe": probe,
                             "bare_table": table, "page": (label, path, user,
                                                           (service, prefix)) in PAGES})
                log(f"    {label}: {got.get('rps', 0):.0f}/s p99 {got.get('p99_ms')} ms; "
                    f"bare {ceiling and ceiling.get('rps')}")
    finally:
        procs.stop()
        rmtree(tmp)
    return rows


def run_startup(template: Path, sizes: list[int], log=print) -> list[dict[str, Any]]:
    out = []
    for service in SERVICES:
        for n in sizes:
            log(f"  start-up of {service} on {n:,} events ...")
            out.append(asyncio.run(startup(template, service, n)))
    return out


if __name__ == "__main__":  # python -m bench.scale TEMPLATE_DIR N
    print(json.dumps(gateway_lists(Path(sys.argv[1]), int(sys.argv[2]), 3.0), indent=1))

"""HTTP load: ``wrk`` (Debian package) with a Lua script for the method, body and headers,
or, without wrk, a closed-loop httpx driver with the same number of connections.

Each measurement: 1 s warm-up, then ``seconds`` of load; returns requests/s, the number of
non-2xx answers and socket errors, and p99 latency (wrk's, ms)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def issue_token(username: str, role: str, **ids: str) -> str:
    """A bearer token as the gateway issues it (development secret, see services/gateway)."""
    from datetime import timedelta

    from services.gateway.app import GatewaySettings
    from services.gateway.auth import Authenticator, Principal

    from shared.settings import load_config

    s = GatewaySettings()
    # the users' list: a token carries its user's version (services/gateway/auth.py)
    auth = Authenticator(load_config(s, "users"), s.jwt_secret, s.jwt_issuer, s.jwt_audience,
                         timedelta(minutes=s.jwt_ttl_minutes))
    # the accounts service (the gateway's default) seeds each user at token version 1
    return auth.issue(Principal(username=username, role=role, **ids), ver="1")


def _lua(method: str, body: bytes | None, headers: dict[str, str]) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = [==[{body.decode()}]==]")  # long bracket: raw UTF-8
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    # the first answer of each non-2xx status, to stderr (wrk counts them but not which)
    lines += ["seen = {}", "function response(status, headers, body)",
              "  if status >= 300 and not seen[status] then seen[status] = true",
              "    io.stderr:write(status .. ' ' .. string.sub(body or '', 1, 160) .. '\\n') end",
              "end"]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk(url: str, method: str, body: bytes | None, headers: dict[str, str], seconds: float,
         connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(method, body, headers))
        script = f.name
    try:
        def run(d: float) -> str:
            proc = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(d))}s",
                                   "--timeout", "10s", "--latency", "-s", script, url],
                                  capture_output=True, text=True, timeout=d + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"wrk failed: {proc.stderr[-500:]}")
            return proc.stdout + "\n##stderr\n" + proc.stderr

        run(1)  # warm-up: connections, caches, first-request imports
        out = run(seconds)
    finally:
        Path(script).unlink(missing_ok=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s|m)\b", out)
    return {"rps": rps, "requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, sock.groups())) if sock else 0,
            "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else None,
            "tool": "wrk", "statuses": out.split("##stderr", 1)[1].strip()[:300]}


async def _httpx_async(url: str, method: str, body: bytes | None, headers: dict[str, str],
                       seconds: float, connections: int) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        async def load(d: float) -> tuple[int, int, list[float]]:
            done = bad = 0
            lat: list[float] = []
            stop = time.perf_counter() + d

            async def worker() -> None:
                nonlocal done, bad
                while time.perf_counter() < stop:
                    t = time.perf_counter()
                    try:
                        r = await client.request(method, url, content=body, headers=headers)
                        bad += r.status_code >= 300
                    except Exception:  # noqa: BLE001
                        bad += 1
                    lat.append(time.perf_counter() - t)
                    done += 1

            await asyncio.gather(*(worker() for _ in range(connections)))
            return done, bad, lat

        await load(1)
        start = time.perf_counter()
        done, bad, lat = await load(seconds)
        elapsed = time.perf_counter() - start
    lat.sort()
    return {"rps": done / elapsed, "requests": done, "non2xx": bad, "socket_errors": 0,
            "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1000 if lat else None, "tool": "httpx"}


def load(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None, seconds: float = 5,
         connections: int = 50) -> dict[str, Any]:
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    if shutil.which("wrk"):
        return _wrk(url, method, body, headers, seconds, connections)
    return asyncio.run(_httpx_async(url, method, body, headers, seconds, connections))


SUGGESTION = json.dumps({"title": "小区路灯长期不亮", "body": "夜间出行不便，建议尽快维修。",
                         "category": "livelihood"}, ensure_ascii=False).encode()


def gateway_benchmark(gateway: str, bare: str, seconds: float,
                      connections: int = 50) -> dict[str, Any]:
    """Bare GET, gateway GET /api/v1/categories (office), bare POST, gateway POST
    /api/v1/suggestions (deputy-1): requests/s under ``connections`` closed-loop clients."""
    office = {"Authorization": f"Bearer {issue_token('office', 'office')}"}
    deputy = {"Authorization": "Bearer "
              + issue_token("deputy-1", "deputy", deputy_id="deputy-1")}
    import httpx

    probes = {}
    for key, method, url, body, hdrs in (
            ("gw_get", "GET", f"{gateway}/api/v1/categories", None, office),
            ("gw_post", "POST", f"{gateway}/api/v1/suggestions", SUGGESTION, deputy)):
        r = httpx.request(method, url, content=body, timeout=10,
                          headers={**hdrs, "Content-Type": "application/json"})
        probes[key] = f"{r.status_code} {r.text[:160]}"
    return {
        "probes": probes,
        "bare_get": load(f"{bare}/bare", seconds=seconds, connections=connections),
        "gw_get": load(f"{gateway}/api/v1/categories", headers=office, seconds=seconds,
                       connections=connections),
        "bare_post": load(f"{bare}/bare", "POST", SUGGESTION, seconds=seconds,
                          connections=connections),
        "gw_post": load(f"{gateway}/api/v1/suggestions", "POST", SUGGESTION, headers=deputy,
                        seconds=seconds, connections=connections),
    }

"""``python -m bench``: bare ceilings, end to end, replay -> one table, appended to
docs/benchmarks.md with the date and the machine."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

from bench.ceilings import nats_ceilings, postgres_ceilings, sqlite_ceilings
from bench.common import ROOT, percentile, rate
from bench.e2e import run_e2e
from bench.growth import CONSUMERS, replica_catchup, run_growth
from bench.replay import run as run_replay
from bench.scale import gateway_lists, run_startup
from bench.system import rmtree

DOC = ROOT / "docs" / "benchmarks.md"

DOC_HEADER = """# Benchmarks

`make bench` (or `python -m bench`, `--quick` for a short run, `--cases N`) measures on the
machine it runs on, in one run, and appends its table here with the date and the machine.
It is not part of the test suite and asserts nothing.

## How to read the table

- **Bare ceilings** are measured in the same run against a nats-server and stores the bench
  starts itself: nats-py JetStream publish awaited one by one, pipelined (gather of 500), pull
  consume with ack (fetch 500); the service's store configuration (`ServiceApplication`,
  metadata mapper, process recorder) on a SQLite file saving one new one-event aggregate per
  transaction, and reading + decoding its notification log; the same on PostgreSQL when
  127.0.0.1:5432 answers (database `test`, throw-away schema dropped afterwards).
- **End to end** runs the four services and the gateway as separate OS processes (SQLite
  stores) and drives the gateway's HTTP API with aiohttp, as staff clients do: `POST
  /api/v1/suggestions` with a deputy's bearer token, then `POST .../register` as the office,
  with bounded concurrency (`--via nats` sends the same two commands straight to intake over
  NATS request/reply instead). *cases/s* runs from the first request to the last downstream
  effect (supervision's `SupervisedTask.Opened` and points' `DutyLedger.PointsAwarded` rows,
  after a warm-up). *Latency* is from the gateway's register answer to the
  `duty.supervision.task_opened.v1` message of the case (three hops: intake relay ->
  assignment -> supervision). *events/s* counts every row recorded in all four stores. The
  driver runs on the same two cores as the system: aiohttp, at about 0.4 ms of CPU per request
  (httpx took 1.3 ms, as much as the gateway itself).
- **End to end on PostgreSQL** (`e2e-pg`, when 127.0.0.1:5432 answers): the same closed
  loop and open loop at 50 % and 80 %, with the four services on PostgreSQL
  (`EVENT_STORE=postgres`, database `test`, throw-away schemas `bench_<pid>_e2e_<service>`
  dropped afterwards; effects counted in the services' events tables). Ratios: cases/s to the
  SQLite end to end of the same run, events/s to the bare PostgreSQL save.
- **Replay** rebuilds intake's suggestion index (`LogProjection.catch_up`) from a SQLite store
  of N events, in a fresh interpreter; peak RSS (`VmHWM`; `ru_maxrss` on Linux keeps the
  forked parent's peak across exec) before and after the rebuild.
- **Latency** (open loop): after the closed-loop run, a fixed-rate driver offers cases at 50 %,
  80 % and 100 % of the closed-loop *cases/s* for a window each (a new case every 1/rate s,
  whatever is still in flight), and reports p50 / p95 / p99 from the register answer to the
  *last* downstream effect of the case (the later of `task_opened` and `points_awarded` on the
  bus). The ratio column is p99 / 100 ms (the target at 80 %: <= 1). For the closed loop and
  each level, the CPU the system's processes used (services, gateway, nats-server; not the
  driver; Linux `/proc`) per case, and how many cores that kept busy: on two cores every
  process competes for the same CPU, and the cost per case falls as load grows and batches
  fill.
- **Gateway** runs `python -m services.gateway` (uvicorn, as `make run`: access log on, OTel
  instrumentation, no export) against the same services, and a trivial FastAPI app served by
  uvicorn the same way (`bench/bare_app.py`). `wrk -t1 -c50` (Debian's `wrk`; an httpx
  closed-loop driver otherwise), 1 s warm-up then a few seconds per endpoint: GET
  `/api/v1/categories` with an office bearer token vs bare GET, POST `/api/v1/suggestions` as
  deputy-1 vs a bare POST validating the same pydantic body. Non-2xx answers are counted and
  the first of each status is shown.
- **Replay of every service** and **growth**: the four stores of the e2e run are the template;
  a store of N events repeats the template's log with every UUID remapped per copy (new
  cases, not overwrites), outbox position at the end. In fresh interpreters: bare read +
  decode, the service's own runtime (`build_runtime`, not started) rebuilding *all* its read
  models (`ServiceRuntime.catch_up`, what a process does before it is ready), and saving
  one-event aggregates at the end of the store. Sizes 10^4 and 10^5 (quick: 10^4, 3·10^4;
  `--growth-max` adds 10^6). The growth table follows the main table.
- **Replica**: on one nats-server, a consumer service started on an empty store, then replica 1
  on a store of N events, then replica 2 on the *same* store while replica 1 runs; seconds
  from spawn to the first `health` answer of that instance with `ready` (a process is ready
  only after its read models caught up). Ratio: to the empty-store start.
- **Scale** (`bench/scale.py`, issue 23): each service on a store amplified to 10^4 and to
  the largest size (10^5; `--growth-max` 10^6) events, started once (it builds its persisted
  read models) and started again: seconds from spawn to its first `health` answer with
  `ready`, and its peak RSS (`VmHWM`) once ready. Ratios: largest size to 10^4 (targets
  <= 1.5 and <= 1.2).
- **Lists**: the four stores amplified to the largest size (the copies are whole cases across
  services), the system and the gateway as processes; `wrk` on each list endpoint with
  `limit=50` (suggestions, a unit's tasks, the board, rankings, a deputy's points, a Chinese
  search, the first page of an export): p99 (target <= 100 ms) and requests/s beside a bare
  FastAPI app answering the first 50 rows of the same read-model table with an indexed
  `LIMIT 50` in the same run (target ratio >= 0.3).
- **Ratios are the output**: they compare the system with the ceilings measured minutes apart
  on the same machine, so they travel between machines better than the absolute numbers.
  A ratio of e2e events/s to the bare save rate above 1 is possible: services save several
  events per transaction and four processes write four files in parallel.

## Not yet measured (open items)

- PostgreSQL end to end with several replicas per service (one process per service here);
  JetStream with `sync_interval: always`.
- 10^6-event growth runs only with `--growth-max` (not in the default run: it takes long);
  growth of save and query times through the real processes (the growth table measures the
  stores and rebuilds offline).
"""


def machine() -> tuple[str, int]:
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001
        uname = platform.platform()
    return uname, os.cpu_count() or 0


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (about a minute)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes: checks that every part runs (the test suite's "
                             "tests/integration/test_bench_smoke.py); its numbers mean nothing")
    parser.add_argument("--cases", type=int, default=None, help="end-to-end cases (500; quick 100)")
    parser.add_argument("--concurrency", type=int, default=16, help="cases in flight (16)")
    parser.add_argument("--replay-events", type=int, default=None, help="events in the replay store (100k; quick 20k)")
    parser.add_argument("--window", type=float, default=None,
                        help="seconds per open-loop load level (10; quick 5)")
    parser.add_argument("--http-seconds", type=float, default=None,
                        help="seconds of wrk load per HTTP endpoint (5; quick 3); 0 skips")
    parser.add_argument("--via", choices=("gateway", "nats"), default="gateway",
                        help="end to end through the gateway's HTTP API (default) or straight "
                             "to intake over NATS request/reply")
    parser.add_argument("--growth-max", action="store_true",
                        help="growth and replay up to 10^6 events per store (long)")
    parser.add_argument("--no-doc", action="store_true", help="do not append to docs/benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the table's rows to FILE as JSON (title, machine, rows)")
    args = parser.parse_args()
    quick = args.quick or args.smoke
    smoke = args.smoke
    cases = args.cases or (20 if smoke else 100 if quick else 500)
    replay_events = args.replay_events or (2_000 if smoke else 20_000 if quick else 100_000)
    n_seq, n_pipe = (200, 1000) if smoke else (1000, 5000) if quick else (5000, 20000)
    n_save, n_save_pg = (200, 50) if smoke else (1000, 300) if quick else (3000, 1000)
    window = args.window or (1.0 if smoke else 5.0 if quick else 10.0)
    http_seconds = args.http_seconds if args.http_seconds is not None else (
        1.0 if smoke else 3.0 if quick else 5.0)
    sizes = [1_000, 2_000] if smoke else [10_000, 30_000] if quick else [10_000, 100_000]
    if args.growth_max:
        sizes.append(1_000_000)
    template = Path(tempfile.mkdtemp(prefix="bench-template-"))

    started = time.perf_counter()
    rows: list[tuple[str, str, str, str, str]] = []  # section, metric, value, unit, ratio

    def add(section: str, metric: str, value: Any, unit: str, ratio: Any = None, digits: int = 0) -> None:
        rows.append((section, metric, fmt(value, digits), unit,
                     "" if ratio is None else fmt(ratio, 3 if ratio < 10 else 1)))

    print("bare ceilings: NATS ...", flush=True)
    nats_r = asyncio.run(nats_ceilings(n_seq, n_pipe))
    print("bare ceilings: SQLite, PostgreSQL ...", flush=True)
    sqlite_r = sqlite_ceilings(n_save)
    pg_r, pg_skip = postgres_ceilings(n_save_pg)
    r = {k: rate(n, s) for k, (n, s) in {**nats_r, **sqlite_r, **pg_r}.items()}
    awaited = r["js_publish_awaited"]
    save = r["sqlite_save_one_per_txn"]
    decode = r["sqlite_read_decode"]
    add("ceiling", f"JS publish awaited ({nats_r['js_publish_awaited'][0]})", awaited, "msg/s", 1.0)
    add("ceiling", f"JS publish pipelined, 500 in flight ({nats_r['js_publish_pipelined'][0]})",
        r["js_publish_pipelined"], "msg/s", r["js_publish_pipelined"] / awaited)
    add("ceiling", f"JS pull consume + ack, fetch 500 ({nats_r['js_pull_consume_ack'][0]})",
        r["js_pull_consume_ack"], "msg/s", r["js_pull_consume_ack"] / awaited)
    add("ceiling", f"SQLite save, 1 aggregate/txn ({n_save})", save, "events/s", 1.0)
    add("ceiling", "SQLite read + decode log", decode, "events/s", decode / save)
    if pg_r:
        add("ceiling", f"PostgreSQL save, 1 aggregate/txn ({n_save_pg})",
            r["postgres_save_one_per_txn"], "events/s", r["postgres_save_one_per_txn"] / save)
        add("ceiling", "PostgreSQL read + decode log", r["postgres_read_decode"], "events/s",
            r["postgres_read_decode"] / save)
    else:
        add("ceiling", "PostgreSQL", "skipped", pg_skip or "")

    print(f"end to end: {cases} cases, concurrency {args.concurrency}; open loop "
          f"{window:.0f} s per level; gateway {http_seconds:.0f} s per endpoint ...", flush=True)
    e = asyncio.run(run_e2e(cases, args.concurrency, window=window, http_seconds=http_seconds,
                            template=template, via=args.via))
    lat = e["latencies"]
    cases_s = rate(e["registered"], e["seconds"])
    total_events = sum(e["events"].values())
    events_s = rate(total_events, e["seconds"])
    add("e2e", f"cases/s, first request -> last effect ({e['registered']}/{cases} cases)",
        cases_s, "cases/s", digits=1)
    add("e2e", f"commands/s through {'the gateway (HTTP)' if e.get('via') == 'gateway' else 'NATS'}"
        " (submit + register answers)",
        rate(2 * e["registered"], e["intake_seconds"]), "req/s",
        rate(2 * e["registered"], e["intake_seconds"]) / save, digits=1)
    add("e2e", "events recorded, all 4 stores "
        + "/".join(str(e["events"][s]) for s in ("intake", "assignment", "supervision", "points")),
        events_s, "events/s", events_s / save)
    c = e["consumers"]
    commits = c["batches"] + c["processed"] - c["batched"]
    add("e2e", f"upstream messages per consumer commit ({c['processed']} messages, "
        f"{c['batched']} of them in {c['batches']} batches)",
        c["processed"] / commits if commits else float("nan"), "msg/txn", digits=2)
    if c.get("transactions"):
        add("e2e", f"command recordings per transaction, group commit ({c['commands']} "
            f"recordings in {c['transactions']} transactions, since start)",
            c["commands"] / c["transactions"], "rec/txn", digits=2)
    add("e2e", "bus messages published (4 per case) / awaited publish",
        rate(4 * e["registered"], e["seconds"]), "msg/s",
        rate(4 * e["registered"], e["seconds"]) / awaited)
    for p in (50, 95, 99):
        add("e2e", f"latency p{p}, register answer -> task_opened ({len(lat)} cases)",
            percentile(lat, p) * 1000, "ms", digits=1)
    add("e2e", "last task_opened after last register answer",
        (e["last_opened_lag"] or float("nan")) * 1000, "ms", digits=1)
    for p in (50, 95, 99):
        add("e2e", f"latency p{p}, register answer -> last effect (task_opened and points_awarded)",
            percentile(e["last_latencies"], p) * 1000, "ms", digits=1)
    def add_cpu(section: str, label: str, cpu: dict[str, Any] | None) -> None:
        if cpu:
            add(section, f"{label}: CPU per case of the system's processes, "
                f"{cpu['cores']:.2f} of {os.cpu_count()} cores busy ("
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu["ms"].items())) + ")",
                cpu["total_ms"], "ms", digits=1)

    add_cpu("e2e", "closed loop", e.get("cpu"))

    def add_open_loop(section: str, label: str, o: dict[str, Any]) -> None:
        last = o["last_latencies"]
        add(section, f"{label}open loop {o['fraction']:.0%} of sustained: {o['rate']:.1f} cases/s "
            f"offered for {window:.0f} s, {len(last)}/{o['issued']} done"
            + ("" if o["complete"] and not o["errors"] else f", {o['errors']} errors, incomplete")
            + "; p50 / p95 / p99 register answer -> last effect (ratio: p99 / 100 ms)",
            " / ".join(f"{percentile(last, q) * 1000:,.0f}" for q in (50, 95, 99)), "ms",
            percentile(last, 99) * 1000 / 100)

    for o in e.get("open_loop", []):
        add_open_loop("latency", "", o)
    for o in e.get("open_loop", []):
        add_cpu("latency", f"open loop {o['fraction']:.0%}", o.get("cpu"))
    if e["error_count"] or not e["completed"]:
        add("e2e", "errors / incomplete", f"{e['error_count']} / {not e['completed']}",
            "; ".join(e["errors"][:2])[:120] + (f" logs: {e.get('logs')}" if e.get("logs") else ""))

    ep: dict[str, Any] | None = None
    if pg_r:
        print(f"end to end on PostgreSQL: {cases} cases; open loop at 50 % and 80 % ...",
              flush=True)
        pg_save = r["postgres_save_one_per_txn"]
        try:
            ep = asyncio.run(run_e2e(cases, args.concurrency, loads=(0.5, 0.8), window=window,
                                     http_seconds=0, store="postgres", via=args.via))
        except Exception as exc:  # noqa: BLE001 - reported in the table; SQLite results stand
            ep = None
            add("e2e-pg", "PostgreSQL stores: failed", f"{type(exc).__name__}", str(exc)[:120])
    if ep is not None:
        pg_events_s = rate(sum(ep["events"].values()), ep["seconds"])
        add("e2e-pg", f"PostgreSQL stores: cases/s, first request -> last effect "
            f"({ep['registered']}/{cases} cases); ratio to the SQLite e2e",
            rate(ep["registered"], ep["seconds"]), "cases/s",
            rate(ep["registered"], ep["seconds"]) / cases_s, digits=1)
        add("e2e-pg", "PostgreSQL stores: events recorded, all 4 stores; ratio to the bare "
            "PostgreSQL save", pg_events_s, "events/s", pg_events_s / pg_save)
        add("e2e-pg", "PostgreSQL stores: p50 / p95 / p99 register answer -> last effect, "
            "closed loop", " / ".join(f"{percentile(ep['last_latencies'], q) * 1000:,.0f}"
                                      for q in (50, 95, 99)), "ms")
        for o in ep.get("open_loop", []):
            add_open_loop("e2e-pg", "PostgreSQL stores: ", o)
        if ep["error_count"] or not ep["completed"]:
            add("e2e-pg", "errors / incomplete", f"{ep['error_count']} / {not ep['completed']}",
                "; ".join(ep["errors"][:2])[:120]
                + (f" logs: {ep.get('logs')}" if ep.get("logs") else ""))

    print(f"replay: {replay_events} events ...", flush=True)
    rp = run_replay(replay_events)
    d, m = rp["decode"], rp["project"]
    bare = rate(d["decoded"], d["seconds"])
    proj = rate(m["applied"], m["seconds"])
    add("replay", f"generate store ({rp['generate']['events']} events, 500 aggregates/txn)",
        rate(rp["generate"]["events"], rp["generate"]["seconds"]), "events/s",
        rate(rp["generate"]["events"], rp["generate"]["seconds"]) / save)
    add("replay", "bare read + decode, same store (fresh process)", bare, "events/s", 1.0)
    add("replay", "intake's read models rebuilt from the first event (persisted tables into a "
        "new generation, similarity index in memory; fresh process)",
        proj, "events/s", proj / bare)
    add("replay", "rebuild time", m["seconds"], "s", digits=2)
    add("replay", "peak RSS of the rebuild process, before -> after",
        f"{m['rss_before_mib']:.0f} -> {m['rss_after_mib']:.0f}", "MiB",
        m["rss_after_mib"] / m["rss_before_mib"])
    add("replay", "peak RSS of the bare decode process (after)", d["rss_after_mib"], "MiB")

    http = e.get("http")
    if http:
        tool = http["bare_get"]["tool"]

        def note(h: dict[str, Any]) -> str:
            bad = h["non2xx"] + h["socket_errors"]
            return (f", p99 {h['p99_ms']:,.0f} ms" if h.get("p99_ms") is not None else "") + (
                f", {bad}/{h['requests']} not 2xx: {h.get('statuses', '')[:60]}" if bad else "")

        bg, bp = http["bare_get"]["rps"], http["bare_post"]["rps"]
        add("gateway", f"bare FastAPI GET, uvicorn, 50 clients ({tool}{note(http['bare_get'])})",
            bg, "req/s", 1.0)
        add("gateway", "gateway GET /api/v1/categories, bearer token, NATS -> intake"
            + note(http["gw_get"]), http["gw_get"]["rps"], "req/s", http["gw_get"]["rps"] / bg)
        add("gateway", f"bare FastAPI POST, pydantic body{note(http['bare_post'])}", bp, "req/s",
            1.0)
        add("gateway", "gateway POST /api/v1/suggestions as deputy-1 (target ratio >= 0.3)"
            + note(http["gw_post"]), http["gw_post"]["rps"], "req/s",
            http["gw_post"]["rps"] / bp)

    print(f"growth and replay of every service's read models: {sizes} events per store ...",
          flush=True)
    growth: list[dict[str, Any]] = []
    replicas: list[dict[str, Any]] = []
    startups: list[dict[str, Any]] = []
    lists: list[dict[str, Any]] = []
    try:
        if e.get("completed"):
            growth = run_growth(template, sizes, log=lambda m: print(m, flush=True))
            n_rep = sizes[-1] if sizes[-1] <= 100_000 else sizes[-2]
            for svc in CONSUMERS:
                print(f"  new replica of {svc} on {n_rep:,} events ...", flush=True)
                replicas.append(asyncio.run(replica_catchup(template, svc, n_rep)))
            print(f"city scale: start-up and memory at {sizes} events; lists through the "
                  f"gateway at {sizes[-1]:,} events per store ...", flush=True)
            startups = run_startup(template, sizes, log=lambda m: print(m, flush=True))
            lists = gateway_lists(template, sizes[-1], http_seconds or 1.0,
                                  log=lambda m: print(m, flush=True)) if http_seconds else []
    finally:
        rmtree(template)
    largest = [g for g in growth if g["events"] == max(x["events"] for x in growth)]
    for g in largest:
        gd, gp = g["decode"], g["project"]
        dec = rate(gd["decoded"], gd["seconds"])
        proj = rate(gp["events"], gp["seconds"])
        add("replay", f"{g['service']}: all read models ({', '.join(gp['per_projection'])}) "
            f"from {g['events']:,} events; ratio to bare decode of the same store",
            proj, "events/s", proj / dec)
        add("replay", f"{g['service']}: rebuild time / peak RSS before -> after", 
            f"{gp['seconds']:.1f} s / {gp['rss_before_mib']:.0f} -> {gp['rss_after_mib']:.0f}",
            "s / MiB", gp["rss_after_mib"] / gp["rss_before_mib"])
    for svc in sorted({g["service"] for g in growth}):
        rows_s = sorted((g for g in growth if g["service"] == svc), key=lambda g: g["events"])
        a, b = rows_s[0], rows_s[-1]
        if a is b:
            continue
        k = b["events"] / a["events"]
        add("growth", f"{svc}: {a['events']:,} -> {b['events']:,} events (x{k:.0f}): rebuild time "
            "x, peak RSS of rebuild x (ratio: RSS growth / log growth)",
            f"x{b['project']['seconds'] / a['project']['seconds']:.1f}, "
            f"x{b['project']['rss_after_mib'] / a['project']['rss_after_mib']:.2f}", "",
            (b["project"]["rss_after_mib"] / a["project"]["rss_after_mib"]) / k)
    for rp_ in replicas:
        if rp_.get("replica2") is None:
            add("replica", f"{rp_['service']}: new replica", "not ready", "")
            continue
        add("replica", f"{rp_['service']}: new replica ready (health) on the store of a running one, "
            f"{rp_['events']:,} events; ratio to a start on an empty store "
            f"({rp_['empty']:.1f} s; first replica {rp_['replica1']:.1f} s)",
            rp_["replica2"], "s", rp_["replica2"] / rp_["empty"], digits=1)
    for svc in sorted({s_["service"] for s_ in startups}):
        rows_s = sorted((s_ for s_ in startups if s_["service"] == svc), key=lambda s_: s_["events"])
        a, b = rows_s[0], rows_s[-1]
        if a is b or not a.get("restart_seconds") or not b.get("restart_seconds"):
            add("scale", f"{svc}: start-up", "not ready", "")
            continue
        add("scale", f"{svc}: restart to ready on {b['events']:,} events "
            f"(first start, building the read models: {b['build_seconds']:.1f} s); ratio to "
            f"{a['events']:,} events ({a['restart_seconds']:.2f} s; target <= 1.5)",
            b["restart_seconds"], "s", b["restart_seconds"] / a["restart_seconds"], digits=2)
        add("scale", f"{svc}: peak RSS once ready on {b['events']:,} events; ratio to "
            f"{a['events']:,} events ({a['restart_rss_mib']:.0f} MiB; target <= 1.2)",
            b["restart_rss_mib"], "MiB", b["restart_rss_mib"] / a["restart_rss_mib"])
    for li in lists:
        g, bare = li["gateway"], li["bare"]
        note = "" if not (g.get("non2xx") or g.get("socket_errors")) else \
            f" ({g.get('non2xx')} non-2xx, {g.get('socket_errors')} socket errors: {g.get('statuses')})"
        if li.get("probe") not in (None, 200):
            note += f" (the page answered {li['probe']}, not 200)"
        if not g.get("requests"):  # wrk then says 0 ms: there is no figure, not a fast one
            g = {**g, "p99_ms": None}
            note += " (no request completed in the window)"
        if li.get("page"):
            add("pages", f"{li['endpoint']} at {sizes[-1]:,} events per store: p99 (target "
                f"<= 300 ms){note}", g.get("p99_ms"), "ms",
                (g["p99_ms"] / 300) if g.get("p99_ms") else None, digits=1)
            add("pages", f"{li['endpoint']}: requests/s; ratio to the bare indexed query of "
                f"{li['bare_table']}", g.get("rps"), "req/s",
                (g["rps"] / bare["rps"]) if bare and bare.get("rps") else None)
            continue
        add("lists", f"{li['endpoint']} at {sizes[-1]:,} events per store: p99 (target <= 100 ms)"
            f"{note}", g.get("p99_ms"), "ms", (g["p99_ms"] / 100) if g.get("p99_ms") else None,
            digits=1)
        add("lists", f"{li['endpoint']}: requests/s; ratio to the bare indexed query of "
            f"{li['bare_table']} (target >= 0.3)", g.get("rps"), "req/s",
            (g["rps"] / bare["rps"]) if bare and bare.get("rps") else None)

    print("similar matters: sentence model, encoding, search at "
          f"{'1,000' if smoke else '10^4 and 10^5'} documents ...", flush=True)
    sim_sizes = "1000,2000" if smoke else "10000,100000"
    done = subprocess.run([sys.executable, "-m", "bench.similar", "--sizes", sim_sizes,
                           "--queries", "30" if smoke else "300"],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode == 0:
        sim = json.loads(done.stdout.strip().splitlines()[-1])
        add("similar", "sentence model (USE) load, fresh process", sim["load_seconds"], "s",
            digits=2)
        add("similar", "process RSS with the model loaded (before import: "
            f"{sim['rss_before_mib']:.0f} MiB)", sim["rss_model_mib"], "MiB")
        add("similar", "encode, ms per text in a batch of 1000 (a rebuild)",
            sim["encode_batch_ms"], "ms", digits=2)
        add("similar", f"encode one text (a command), p50 {sim['encode_one_ms_p50']:.1f} ms; p99",
            sim["encode_one_ms_p99"], "ms", digits=1)
        for size, q in sim["search"].items():
            add("similar", f"search p99 at {int(size):,} documents (p50 {q['p50_ms']:.1f} ms, "
                f"CPU p50 {q['cpu_p50_ms']:.1f} ms; vectors {q['index_mib']:.0f} MiB, RSS "
                f"{q['rss_mib']:.0f} MiB; target <= 100 ms)", q["p99_ms"], "ms",
                q["p99_ms"] / 100, digits=1)
    else:
        add("similar", "bench.similar failed", done.stderr.strip().splitlines()[-1:], "")

    elapsed = time.perf_counter() - started
    uname, ncpu = machine()
    when = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %z")
    mode = "smoke" if smoke else "quick" if quick else "default"
    title = f"{when} · {mode} · {cases} cases · concurrency {args.concurrency} · {elapsed:.0f} s"
    print_table(title, rows, uname, ncpu)
    gtable = growth_table(growth)
    print(gtable)
    if args.json:
        args.json.write_text(json.dumps({
            "title": title, "machine": uname, "cpus": ncpu, "growth": growth,
            "rows": [dict(zip(("section", "measure", "value", "unit", "ratio"), row))
                     for row in rows]}, ensure_ascii=False, indent=1, default=str))
    if not args.no_doc:
        append_doc(title, rows, uname, ncpu, gtable)
        print(f"appended to {DOC.relative_to(ROOT)}")


def print_table(title: str, rows: list[tuple[str, ...]], uname: str, ncpu: int) -> None:
    headers = ("section", "measure", "value", "unit", "ratio")
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, caption=f"{uname} · nproc {ncpu}")
        for h in headers:
            table.add_column(h, justify="right" if h in ("value", "ratio") else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        print(title)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        print(f"{uname} · nproc {ncpu}")


def growth_table(growth: list[dict[str, Any]]) -> str:
    """Growth per service and log length: save rate at the end of the store, bare decode,
    rebuild of all read models (rate, time), peak RSS of decode and of rebuild."""
    if not growth:
        return ""
    lines = ["Growth (same run; each store = the e2e stores' log repeated with new ids):", "",
             "| service | events | save 1/txn at end, /s | bare decode, /s | rebuild all read "
             "models, /s (ratio) | rebuild s | peak RSS decode MiB | peak RSS rebuild MiB |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for g in sorted(growth, key=lambda g: (g["service"], g["events"])):
        d, p, sv = g["decode"], g["project"], g["save"]
        dec, proj = rate(d["decoded"], d["seconds"]), rate(p["events"], p["seconds"])
        lines.append(f"| {g['service']} | {g['events']:,} | {rate(sv['saved'], sv['seconds']):,.0f} | "
                     f"{dec:,.0f} | {proj:,.0f} ({proj / dec:.2f}) | {p['seconds']:.1f} | "
                     f"{d['rss_after_mib']:.0f} | {p['rss_after_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def append_doc(title: str, rows: list[tuple[str, ...]], uname: str, ncpu: int,
               extra: str = "") -> None:
    if not DOC.exists():
        DOC.write_text(DOC_HEADER, encoding="utf-8")
    lines = ["", f"## {title}", "", f"`{uname}` · nproc {ncpu}", "",
             "| section | measure | value | unit | ratio |", "|---|---|--:|---|--:|"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    if extra:
        lines += ["", extra]
    with DOC.open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

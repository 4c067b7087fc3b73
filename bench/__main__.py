"""``python -m bench``: bare ceilings, end to end, replay -> one table, appended to
docs/benchmarks.md with the date and the machine."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from typing import Any

from bench.ceilings import nats_ceilings, postgres_ceilings, sqlite_ceilings
from bench.common import ROOT, percentile, rate
from bench.e2e import run_e2e
from bench.replay import run as run_replay

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
- **End to end** runs the four services as separate OS processes (SQLite stores) and drives
  intake over NATS request/reply (submit, then register) with bounded concurrency. *cases/s*
  runs from the first request to the last downstream effect (supervision's
  `SupervisedTask.Opened` and points' `DutyLedger.PointsAwarded` rows, after a warm-up).
  *Latency* is from the register reply to the `duty.supervision.task_opened.v1` message of the
  case (three hops: intake relay -> assignment -> supervision). *events/s* counts every row
  recorded in all four stores.
- **Replay** rebuilds intake's suggestion index (`LogProjection.catch_up`) from a SQLite store
  of N events, in a fresh interpreter; peak RSS (`VmHWM`; `ru_maxrss` on Linux keeps the
  forked parent's peak across exec) before and after the rebuild.
- **Ratios are the output**: they compare the system with the ceilings measured minutes apart
  on the same machine, so they travel between machines better than the absolute numbers.
  A ratio of e2e events/s to the bare save rate above 1 is possible: services save several
  events per transaction and four processes write four files in parallel.

## Not yet measured (open items)

- The gateway over HTTP (JWT, FastAPI, NATS request/reply) under `wrk`/`oha` load.
- Growth from 10^4 to 10^6 events per store: save, replay and query times as the logs grow.
- Latency at 50 %, 80 % and 100 % of the sustained rate (an open-loop, fixed-rate driver);
  today's driver is closed-loop, so its latency is the latency at saturation.
- PostgreSQL end to end (`EVENT_STORE=postgres`), `sync_interval: always`, three replicas.
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
    parser.add_argument("--cases", type=int, default=None, help="end-to-end cases (500; quick 100)")
    parser.add_argument("--concurrency", type=int, default=16, help="cases in flight (16)")
    parser.add_argument("--replay-events", type=int, default=None, help="events in the replay store (100k; quick 20k)")
    parser.add_argument("--no-doc", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args()
    quick = args.quick
    cases = args.cases or (100 if quick else 500)
    replay_events = args.replay_events or (20_000 if quick else 100_000)
    n_seq, n_pipe = (1000, 5000) if quick else (5000, 20000)
    n_save, n_save_pg = (1000, 300) if quick else (3000, 1000)

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

    print(f"end to end: {cases} cases, concurrency {args.concurrency} ...", flush=True)
    e = asyncio.run(run_e2e(cases, args.concurrency))
    lat = e["latencies"]
    cases_s = rate(e["registered"], e["seconds"])
    total_events = sum(e["events"].values())
    events_s = rate(total_events, e["seconds"])
    add("e2e", f"cases/s, first request -> last effect ({e['registered']}/{cases} cases)",
        cases_s, "cases/s", digits=1)
    add("e2e", "intake commands/s (submit + register replies)",
        rate(2 * e["registered"], e["intake_seconds"]), "req/s",
        rate(2 * e["registered"], e["intake_seconds"]) / save, digits=1)
    add("e2e", "events recorded, all 4 stores "
        + "/".join(str(e["events"][s]) for s in ("intake", "assignment", "supervision", "points")),
        events_s, "events/s", events_s / save)
    add("e2e", "bus messages published (4 per case) / awaited publish",
        rate(4 * e["registered"], e["seconds"]), "msg/s",
        rate(4 * e["registered"], e["seconds"]) / awaited)
    for p in (50, 95, 99):
        add("e2e", f"latency p{p}, register reply -> task_opened ({len(lat)} cases)",
            percentile(lat, p) * 1000, "ms", digits=1)
    add("e2e", "last task_opened after last register reply",
        (e["last_opened_lag"] or float("nan")) * 1000, "ms", digits=1)
    if e["error_count"] or not e["completed"]:
        add("e2e", "errors / incomplete", f"{e['error_count']} / {not e['completed']}",
            "; ".join(e["errors"][:2])[:120] + (f" logs: {e.get('logs')}" if e.get("logs") else ""))

    print(f"replay: {replay_events} events ...", flush=True)
    rp = run_replay(replay_events)
    d, m = rp["decode"], rp["project"]
    bare = rate(d["decoded"], d["seconds"])
    proj = rate(m["applied"], m["seconds"])
    add("replay", f"generate store ({rp['generate']['events']} events, 500 aggregates/txn)",
        rate(rp["generate"]["events"], rp["generate"]["seconds"]), "events/s",
        rate(rp["generate"]["events"], rp["generate"]["seconds"]) / save)
    add("replay", "bare read + decode, same store (fresh process)", bare, "events/s", 1.0)
    add("replay", f"LogProjection.catch_up (SuggestionIndex, {m['rows']} rows, fresh process)",
        proj, "events/s", proj / bare)
    add("replay", "rebuild time", m["seconds"], "s", digits=2)
    add("replay", "peak RSS of the rebuild process, before -> after",
        f"{m['rss_before_mib']:.0f} -> {m['rss_after_mib']:.0f}", "MiB",
        m["rss_after_mib"] / m["rss_before_mib"])
    add("replay", "peak RSS of the bare decode process (after)", d["rss_after_mib"], "MiB")

    elapsed = time.perf_counter() - started
    uname, ncpu = machine()
    when = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %z")
    mode = "quick" if quick else "default"
    title = f"{when} · {mode} · {cases} cases · concurrency {args.concurrency} · {elapsed:.0f} s"
    print_table(title, rows, uname, ncpu)
    if not args.no_doc:
        append_doc(title, rows, uname, ncpu)
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


def append_doc(title: str, rows: list[tuple[str, ...]], uname: str, ncpu: int) -> None:
    if not DOC.exists():
        DOC.write_text(DOC_HEADER, encoding="utf-8")
    lines = ["", f"## {title}", "", f"`{uname}` · nproc {ncpu}", "",
             "| section | measure | value | unit | ratio |", "|---|---|--:|---|--:|"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    with DOC.open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

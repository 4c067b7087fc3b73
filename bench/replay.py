"""Replay: rebuild a service's read model from a large SQLite store.

Run in fresh subprocesses (``python -m bench.replay generate|decode|project DIR [N]``) so that the peak
RSS measured is that of the rebuild, not of the benchmark driver or of the generation.
The store is intake's: N events = N/2 suggestions, each Submitted + Registered, written with the
service's own application and mapper, 500 aggregates per transaction.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path


def _app(var_dir: Path):
    from services.intake.application import IntakeApplication
    from shared.settings import ServiceSettings

    return IntakeApplication(ServiceSettings(service_name="intake", var_dir=var_dir))


def _rss_mib() -> float:
    """Peak RSS of this process in MiB.

    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` on Linux keeps the high-water mark of the
    image *before* exec, i.e. of the forked benchmark driver, so a small child reports the
    parent's peak. ``VmHWM`` in /proc/self/status is the peak of this image only; getrusage
    is the fallback elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generate(var_dir: Path, n_events: int) -> dict:
    from services.intake.domain import Suggestion
    from shared.clock import CHINA_TZ
    from shared.eventstore import Actor, recording_as

    app = _app(var_dir)
    base = datetime(2026, 1, 5, 9, 0, tzinfo=CHINA_TZ)
    start = time.perf_counter()
    n_cases = n_events // 2
    try:
        with recording_as(Actor("office", "office")):
            for chunk in range(0, n_cases, 500):
                batch = []
                for i in range(chunk, min(chunk + 500, n_cases)):
                    s = Suggestion(title=f"第{i}号建议：完善社区养老服务", body="建议增加日间照料中心。" * 5,
                                   category="livelihood", lead_deputy_id=f"deputy-{i % 5 + 1}",
                                   co_signer_ids=["deputy-2"] if i % 3 == 0 else [],
                                   station_id="station-fengjie",
                                   submitted_at=base + timedelta(minutes=i))
                    s.register(number=f"2026-{i + 1:06d}", category="livelihood", urgency="blue",
                               registered_at=base + timedelta(minutes=i, seconds=30))
                    batch.append(s)
                app.save(*batch)
        return {"events": app.max_notification_id(), "seconds": time.perf_counter() - start}
    finally:
        app.close()


def decode(var_dir: Path) -> dict:
    """The bare ceiling: read and decode the whole notification log, keep nothing."""
    from bench.common import read_and_decode

    app = _app(var_dir)
    try:
        start = time.perf_counter()
        decoded = read_and_decode(app)
        return {"decoded": decoded, "seconds": time.perf_counter() - start,
                "rss_after_mib": _rss_mib()}
    finally:
        app.close()


def project(var_dir: Path) -> dict:
    """A service's rebuild: every read model of intake built from the first event (the
    persisted ones into a new generation, as ``duty-ops rebuild`` does)."""
    from bench.growth import _runtime, rebuild_all

    runtime = _runtime("intake", var_dir)
    try:
        rss_before = _rss_mib()
        start = time.perf_counter()
        applied = rebuild_all(runtime)
        seconds = time.perf_counter() - start
        return {"applied": applied, "seconds": seconds,
                "rss_before_mib": rss_before, "rss_after_mib": _rss_mib()}
    finally:
        runtime.app.close()
        if runtime.read_models is not None:
            runtime.read_models.store.close()


def main(argv: list[str]) -> None:
    command, var_dir = argv[0], Path(argv[1])
    if command == "generate":
        result = generate(var_dir, int(argv[2]))
    elif command == "decode":
        result = decode(var_dir)
    elif command == "project":
        result = project(var_dir)
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])


def run(n_events: int, timeout: float = 300) -> dict:
    """Generate, decode, project: each in its own interpreter (so each peak RSS is its own)."""
    import shutil
    import subprocess
    import tempfile

    from bench.common import ROOT

    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        results = {}
        for step, extra in (("generate", [str(n_events)]), ("decode", []), ("project", [])):
            proc = subprocess.run([sys.executable, "-m", "bench.replay", step, str(tmp), *extra],
                                  cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"replay {step} failed:\n{proc.stderr[-3000:]}")
            results[step] = json.loads(proc.stdout.strip().splitlines()[-1])
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

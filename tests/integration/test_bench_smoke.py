"""`make bench` keeps working: the benchmark is not a test and asserts no speed, but every part
of it (ceilings, end to end through the gateway, open-loop latency, replay, the gateway
against bare FastAPI, growth, a new replica) must run to the end with every case completed.
Tiny sizes (``--smoke``): the numbers mean nothing, only that they are there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import postgres_available

ROOT = Path(__file__).resolve().parents[2]

# its PostgreSQL part (e2e-pg) keeps it with the PostgreSQL tests (tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


# Every part of the benchmark, with nine services, takes 4-7 minutes on a busy 2-core machine:
# more than the suite's 300 s per test.
@pytest.mark.timeout(900)
def test_every_part_of_the_benchmark_runs_to_the_end(tmp_path):
    out = tmp_path / "bench.json"
    doc = ROOT / "docs" / "benchmarks.md"
    doc_before = doc.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--no-doc", "--json",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert doc.read_bytes() == doc_before  # --no-doc: the record is left alone

    report = json.loads(out.read_text())
    rows = report["rows"]
    sections = {r["section"] for r in rows}
    expected = {"ceiling", "e2e", "latency", "replay", "gateway", "growth", "replica", "scale",
                "lists", "pages", "similar"}
    if postgres_available() is None:
        expected.add("e2e-pg")
    assert expected <= sections, sections

    assert not [r for r in rows if r["measure"].startswith("errors / incomplete")]
    cases = next(r for r in rows if r["measure"].startswith("cases/s, first request"))
    assert "(20/20 cases)" in cases["measure"]
    open_loop = [r for r in rows if "open loop" in r["measure"] and " done" in r["measure"]]
    assert len(open_loop) >= 3  # 50 %, 80 % and 100 % (and PostgreSQL's)
    for row in open_loop:
        done, issued = map(int, re.search(r"(\d+)/(\d+) done", row["measure"]).groups())
        assert done == issued > 0, row
        assert "incomplete" not in row["measure"], row
    cpu = [r for r in rows if "CPU per case" in r["measure"]]
    assert cpu and all(float(r["value"]) > 0 for r in cpu)
    gateway = {r["measure"].split(",")[0]: r for r in rows if r["section"] == "gateway"}
    assert len(gateway) == 4 and all(float(r["value"].replace(",", "")) > 0
                                     for r in gateway.values())
    assert {g["events"] for g in report["growth"]} == {1_000, 2_000}
    # city scale: every service restarted to ready on both sizes, every list answered 2xx
    scale = [r for r in rows if r["section"] == "scale"]
    assert len(scale) == 2 * 5 and not [r for r in scale if r["value"] == "not ready"], scale
    lists = [r for r in rows if r["section"] == "lists"]
    assert len(lists) == 2 * 7, lists
    similar = [r for r in rows if r["section"] == "similar"]
    assert len(similar) == 6 and all(float(r["value"]) > 0 for r in similar), similar
    assert not [r for r in lists if "non-2xx" in r["measure"]], lists
    # each role's first page in the web application, at the same size (issue 26)
    pages = [r for r in rows if r["section"] == "pages"]
    assert len(pages) == 2 * 6, pages
    assert not [r for r in pages if "non-2xx" in r["measure"] or "not 200" in r["measure"]], pages

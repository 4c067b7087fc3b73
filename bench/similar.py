"""Similar matters (``python -m bench.similar``, a row group of ``make bench``), in a fresh
process of its own: the sentence model's load time and the process's memory with it loaded,
encoding (ms a text, in a batch as a rebuild encodes and one at a time as a command does),
and the nearest-neighbour search p99 at 10^4 and 10^5 documents.

The search is the service's own (``similar_matters.rank``: one matrix-vector product over all
vectors, then the character features of the best 50 read from a SQLite table by id, as the
read model reads them). The index is filled with the vectors of the station corpus's 1000
hand-written messages, each copy turned a little at random (the cost of a scan does not
depend on what the vectors say); encoding 10^5 texts would take minutes and measure nothing
more. Prints one JSON object."""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    out: dict = {"rss_before_mib": round(rss_mib(), 1)}
    from services.intake.encoder import get_encoder
    from services.intake.similar_matters import MatterIndex, Shingler, rank

    with (ROOT / "tests" / "data" / "one_station_messages.tsv").open(encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f, delimiter="\t")]
    encoder = get_encoder()
    started = time.perf_counter()
    encoder.load()
    out["load_seconds"] = round(time.perf_counter() - started, 2)
    out["rss_model_mib"] = round(rss_mib(), 1)
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    out["encode_batch_ms"] = round((time.perf_counter() - started) * 1000 / len(texts), 2)
    singles = []
    for text in texts[:100]:
        started = time.perf_counter()
        encoder.encode([text])
        singles.append(time.perf_counter() - started)
    out["encode_one_ms_p50"] = round(float(np.percentile(singles, 50)) * 1000, 2)
    out["encode_one_ms_p99"] = round(float(np.percentile(singles, 99)) * 1000, 2)
    features = Shingler(b"bench").features(texts)
    out["rss_encoded_mib"] = round(rss_mib(), 1)

    rng = np.random.default_rng(7)
    out["search"] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        index = MatterIndex(encoder.dim)
        with tempfile.TemporaryDirectory() as tmp:
            db = sqlite3.connect(Path(tmp) / "similar.sqlite", check_same_thread=False)
            db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, features BLOB, counts BLOB)")
            rows = []
            for i in range(size):
                k = i % len(texts)
                v = vectors[k] + rng.normal(0, 0.02, encoder.dim).astype(np.float32)
                v /= np.linalg.norm(v)
                index.put(f"d{i}", "message", i, "open", v, features[k], i)
                rows.append((f"d{i}", features[k][0].tobytes(), features[k][1].tobytes()))
            db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
            db.commit()

            def features_of(ids: list[str]) -> dict:
                marks = ", ".join("?" for _ in ids)
                found = db.execute(f"SELECT id, features, counts FROM t WHERE id IN ({marks})",
                                   ids).fetchall()
                return {i: (np.frombuffer(f, dtype=np.int32), np.frombuffer(c, dtype=np.uint16))
                        for i, f, c in found}

            took, cpu = [], []
            for q in rng.integers(size // 2, size, args.queries):
                started, cpu_started = time.perf_counter(), time.process_time()
                rank(index, f"d{q}", features_of)
                took.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            db.close()
        out["search"][str(size)] = {
            "p50_ms": round(float(np.percentile(took, 50)) * 1000, 2),
            "p99_ms": round(float(np.percentile(took, 99)) * 1000, 2),
            # CPU time of this process (all its threads): what the search costs on a machine
            # busy with other work, where the wall time measures the wait for a core
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)) * 1000, 2),
            "index_mib": round(size * encoder.dim * 4 / 2**20, 1),
            "rss_mib": round(rss_mib(), 1)}
        del index
    print(json.dumps(out))


if __name__ == "__main__":
    main()

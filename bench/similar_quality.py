"""``python -m bench.similar_quality``: the similar-matters scores on the hand-written corpus
(tests/data/similar_pairs.tsv, similar_distractors.tsv), how the meaning weight and the
``likely_same`` threshold were chosen (on the tuning part), and what they give on the held-out
part. Offline, through the same ranking as the service (services/intake/similar_matters.py).

Arrival order as in the gateway test: the distractors, every pair's original, then every
reworded text; each reworded text asks for its earlier candidates (the original must be
among them, the other pairs and the distractors are the confusions)."""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.intake.encoder import get_encoder
from services.intake.similar_matters import (LIKELY_SAME, MEANING_WEIGHT, MatterIndex, Shingler,
                                              rank)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


@dataclass
class Doc:
    id: str
    text: str
    pair: str | None  # the pair an original or a reworded text belongs to
    part: str | None  # tuning or heldout


def corpus() -> list[Doc]:
    with (DATA / "similar_pairs.tsv").open(encoding="utf-8") as f:
        pairs = list(csv.DictReader(f, delimiter="\t"))
    with (DATA / "similar_distractors.tsv").open(encoding="utf-8") as f:
        distractors = list(csv.DictReader(f, delimiter="\t"))
    return ([Doc(d["id"], d["text"], None, None) for d in distractors]
            + [Doc(f"{p['pair']}a", p["original"], p["pair"], p["part"]) for p in pairs]
            + [Doc(f"{p['pair']}b", p["reworded"], p["pair"], p["part"]) for p in pairs])


def build(docs: list[Doc], model: str | None = None):
    encoder = get_encoder(model)
    vectors = encoder.encode([d.text for d in docs])
    features = Shingler(b"offline tuning").features([d.text for d in docs])
    index = MatterIndex(encoder.dim)
    for position, (d, v, f) in enumerate(zip(docs, vectors, features)):
        index.put(d.id, "message", position, "open", v, f, position)
    by_id = {d.id: f for d, f in zip(docs, features)}
    return index, (lambda ids: {i: by_id[i] for i in ids if i in by_id})


def evaluate(docs, index, features_of, part: str, weight: float, limit: int = 5):
    """(recall@1, recall@5, [(score, is the original)] of every candidate shown)."""
    r1 = r5 = n = 0
    shown = []
    for d in docs:
        if d.part != part or not d.id.endswith("b"):
            continue
        found = rank(index, d.id, features_of, limit=limit, weight=weight, threshold=2.0)
        ids = [c.id for c in found]
        n += 1
        r1 += bool(ids) and ids[0] == f"{d.pair}a"
        r5 += f"{d.pair}a" in ids
        shown += [(c.score, c.id == f"{d.pair}a") for c in found]
    return r1 / n, r5 / n, shown


def precision_recall_at(shown, threshold: float, pairs: int) -> tuple[float, float]:
    flagged = [same for score, same in shown if score >= threshold]
    tp = sum(flagged)
    return (tp / len(flagged) if flagged else 1.0), tp / pairs


def lowest_threshold(shown, target: float = 0.9, margin: float = 0.0) -> float:
    """The lowest threshold whose precision on these candidates is at least target (+margin)."""
    for t in sorted({round(s, 3) for s, _ in shown}):
        flagged = [same for s, same in shown if s >= t]
        if flagged and sum(flagged) / len(flagged) >= target + margin:
            return t
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    docs = corpus()
    index, features_of = build(docs, args.model)
    pairs = {p: sum(1 for d in docs if d.part == p and d.id.endswith("b"))
             for p in ("tuning", "heldout")}
    # The weight: the best tuning recall of likely_same (at precision >= 0.95 on tuning)
    # among the weights that rank the original first about as often as the best.
    print("weight  tuning r@1 r@5  heldout r@1 r@5  threshold(p>=0.95 tuning)  "
          "tuning recall  heldout precision recall")
    for weight in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0):
        t1, t5, tshown = evaluate(docs, index, features_of, "tuning", weight)
        h1, h5, hshown = evaluate(docs, index, features_of, "heldout", weight)
        threshold = lowest_threshold(tshown, 0.9, 0.05)
        hp, hr = precision_recall_at(hshown, threshold, pairs["heldout"])
        _, tr = precision_recall_at(tshown, threshold, pairs["tuning"])
        mark = "  <- chosen" if weight == MEANING_WEIGHT else ""
        print(f"{weight:5.2f}   {t1:10.3f} {t5:.3f}  {h1:11.3f} {h5:.3f}  {threshold:25.3f}  "
              f"{tr:13.3f}  {hp:17.3f} {hr:.3f}{mark}")
    _, _, hshown = evaluate(docs, index, features_of, "heldout", MEANING_WEIGHT)
    hp, hr = precision_recall_at(hshown, LIKELY_SAME, pairs["heldout"])
    print(f"configured: weight {MEANING_WEIGHT}, likely_same >= {LIKELY_SAME}: held-out "
          f"precision {hp:.3f}, recall {hr:.3f}")


if __name__ == "__main__":
    main()

"""Similar matters (从“一件事”到“一类事”): which earlier open suggestions and citizen messages
speak of the same matter as a given one.

Chinese has no spaces between words, so texts are compared by their character shingles:
every run of 2 and 3 characters (after Unicode normalisation, without punctuation and
spaces), hashed into a fixed feature space by scikit-learn's ``HashingVectorizer``. Each
shingle is weighted by TF-IDF over the documents indexed so far (a shingle every message
has, such as 希望 or 小区, says little; a place name or a rare object says much), and two
documents score the cosine of their weighted vectors (0 … 1).

Texts are shingled in batches: ``add`` only queues the text, and the queue is turned into
shingle counts by one vectorizer call when the index is next read (``similar``, ``score``,
``get``) or flushed (the projection flushes after each page of the log it applies). A rebuild
from the log thus pays the vectorizer's per-call overhead once per page, not once per text.

The index lives in memory only. It is a read model (see ``SimilarityProjection`` in
application.py): rebuilt from intake's log at start, the text of a message decrypted while it
is indexed, and a document dropped as soon as its poster's personal data is erased.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize as l2_normalize

# Scores at or above this are reported as the same matter. Chosen on the generated corpus
# of tests/unit/test_intake_similarity.py (precision and recall both above 0.9 there).
DEFAULT_THRESHOLD = 0.30
N_FEATURES = 2**20
NGRAMS = (2, 3)
EXCERPT_CHARS = 60

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, punctuation and whitespace removed."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text).lower())


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


_VECTORIZER = HashingVectorizer(
    analyzer="char",
    ngram_range=NGRAMS,
    preprocessor=normalize,
    n_features=N_FEATURES,
    alternate_sign=False,
    norm=None,
    dtype=np.float64,
)


def shingle_counts(texts: list[str]) -> sp.csr_matrix:
    """len(texts) × N_FEATURES counts of each text's hashed 2- and 3-character shingles."""
    return _VECTORIZER.transform(texts).tocsr()


@dataclass
class Document:
    id: str
    kind: str  # "suggestion" or "message"
    position: int  # order of arrival (intake's notification id): "earlier" means smaller
    # the text's hashed shingles (sorted feature indices) and how often each occurs; None
    # while the text waits in the queue to be shingled
    shingles: np.ndarray | None
    counts: np.ndarray | None
    label: str  # a suggestion's title, a message's excerpt
    open: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class SimilarityIndex:
    """Documents by id, with the document frequencies of their shingles; thread-safe."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._docs: dict[str, Document] = {}
        self._df = np.zeros(N_FEATURES, dtype=np.int64)
        self._lock = threading.RLock()
        self._matrix: sp.csr_matrix | None = None  # stacked counts, rows in _order
        self._weighted: tuple[np.ndarray, sp.csc_matrix] | None = None  # (idf, weighted rows)
        self._order: list[str] = []
        self._queued: dict[str, str] = {}  # doc id -> text not yet shingled

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._docs

    @property
    def queued(self) -> int:
        """How many texts wait to be shingled (``flush``)."""
        return len(self._queued)

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
            self._df[:] = 0
            self._matrix = self._weighted = None
            self._order = []
            self._queued.clear()

    # --- changes ------------------------------------------------------------------------

    def add(self, doc_id: str, kind: str, text: str, position: int, label: str | None = None,
            open_: bool = True) -> None:
        with self._lock:
            if doc_id in self._docs:
                self.remove(doc_id)
            self._docs[doc_id] = Document(doc_id, kind, position, None, None,
                                          label if label is not None else excerpt(text), open_)
            self._queued[doc_id] = text

    def flush(self) -> None:
        """Shingle every queued text (one vectorizer call) and count its shingles."""
        with self._lock:
            if not self._queued:
                return
            ids = list(self._queued)
            batch = shingle_counts(list(self._queued.values()))
            self._queued.clear()
            batch.sort_indices()
            ptr = batch.indptr
            for row, doc_id in enumerate(ids):  # views of the batch's arrays, no copies
                doc = self._docs[doc_id]
                doc.shingles = batch.indices[ptr[row]:ptr[row + 1]]
                doc.counts = batch.data[ptr[row]:ptr[row + 1]]
            self._df += np.bincount(batch.indices, minlength=N_FEATURES)
            self._matrix = self._weighted = None

    def remove(self, doc_id: str) -> None:
        with self._lock:
            doc = self._docs.pop(doc_id, None)
            if doc is None:
                return
            if doc.shingles is None:
                del self._queued[doc_id]
            else:
                self._df[doc.shingles] -= 1
                self._matrix = self._weighted = None

    def set_open(self, doc_id: str, open_: bool) -> None:
        with self._lock:
            doc = self._docs.get(doc_id)
            if doc is not None:
                doc.open = open_

    def get(self, doc_id: str) -> Document | None:
        self.flush()
        return self._docs.get(doc_id)

    # --- scoring ------------------------------------------------------------------------

    def _idf(self) -> np.ndarray:
        n = len(self._docs)
        return np.log((1.0 + n) / (1.0 + self._df)) + 1.0

    @staticmethod
    def _weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
        """Sub-linear term frequency × idf, rows scaled to unit length."""
        weighted = counts.astype(np.float64, copy=True)
        weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
        return l2_normalize(weighted, norm="l2", copy=False)

    @staticmethod
    def _weigh_one(doc: Document, idf: np.ndarray) -> np.ndarray:
        """One document's weights (as ``_weigh``), aligned with ``doc.shingles``."""
        weights = (1.0 + np.log(doc.counts)) * idf[doc.shingles]
        norm = np.sqrt(weights @ weights)
        return weights / norm if norm else weights

    def _stacked(self) -> tuple[np.ndarray, sp.csc_matrix, list[str]]:
        """(idf, TF-IDF rows of every document, their ids), recomputed after a change."""
        if self._weighted is None:
            self._order = list(self._docs)
            docs = [self._docs[i] for i in self._order]
            indptr = np.zeros(len(docs) + 1, dtype=np.int64)
            np.cumsum([len(d.shingles) for d in docs], out=indptr[1:])
            self._matrix = sp.csr_matrix(
                (np.concatenate([d.counts for d in docs]) if docs else np.zeros(0),
                 np.concatenate([d.shingles for d in docs]) if docs else np.zeros(0, np.int32),
                 indptr), shape=(len(docs), N_FEATURES))
            idf = self._idf()
            # by columns: a query reads only the columns of its own shingles
            self._weighted = (idf, self._weigh(self._matrix, idf).tocsc())
        return self._weighted[0], self._weighted[1], self._order

    def score(self, a: str, b: str) -> float | None:
        """The similarity of two indexed documents (None if either is not indexed)."""
        with self._lock:
            self.flush()
            da, db = self._docs.get(a), self._docs.get(b)
            if da is None or db is None:
                return None
            idf = self._idf()
            _, ia, ib = np.intersect1d(da.shingles, db.shingles, assume_unique=True,
                                       return_indices=True)
            return float(self._weigh_one(da, idf)[ia] @ self._weigh_one(db, idf)[ib])

    def similar(self, doc_id: str, *, threshold: float | None = None, limit: int = 20,
                exclude: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """Earlier open documents scoring at least the threshold, most similar first."""
        threshold = self.threshold if threshold is None else threshold
        with self._lock:
            self.flush()
            doc = self._docs.get(doc_id)
            if doc is None:
                return []
            idf, weighted, order = self._stacked()
            if not order:
                return []
            scores = weighted[:, doc.shingles] @ self._weigh_one(doc, idf)
            found = []
            for i in np.flatnonzero(scores >= threshold):
                other = self._docs[order[i]]
                if (other.id == doc_id or not other.open or other.position >= doc.position
                        or other.id in exclude):
                    continue
                found.append((float(scores[i]), other))
        found.sort(key=lambda pair: (-pair[0], pair[1].position))
        return [{"id": d.id, "kind": d.kind, "score": round(s, 4),
                 ("title" if d.kind == "suggestion" else "excerpt"): d.label}
                for s, d in found[:limit]]

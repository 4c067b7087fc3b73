"""Intake's persisted read models: suggestions and citizen messages as tables.

Both are ``TableProjection``s in intake's read-model database (shared/read_store.py): a
process that starts reads only the events recorded since the stored position, and neither
grows in memory with the history.

- **Suggestions** (``suggestions``): one row per suggestion with the columns its list filters
  on, a deputy table (lead and co-signers) for a deputy's own list, and the search index: on
  SQLite an FTS5 table (trigram tokenizer) over number, title and body, on PostgreSQL
  ``pg_trgm`` indexes on the number and on title + body. A body sealed under a citizen's key
  (a message converted without the deputy's own words) is never indexed.
- **Messages** (``messages``): one row per citizen message with its filters, the claim's
  expiry (the claim sweep is an indexed query) and, for showing a page, the sealed content and
  the poster's key reference — never the text: the text is decrypted at query time through
  the key store, so an erased poster's text shows as erased. Text search uses a blind index
  (``messages_tokens``): each character trigram of the text, HMAC-SHA256'd with intake's
  index key (kept beside the per-person keys) and cut to 8 bytes (a 64-bit integer, beside
  the message's row number: two integers a row); a query's trigrams must all be there.
  Erasing the poster deletes the message's tokens. ``messages_holders``: every deputy who
  ever held (claimed) a message, for a deputy's list (their stations' pools and what they hold
  or held; version 3 of the definition).

The year of a suggestion is its submission year, of a message its receipt year (China time).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Literal
from uuid import UUID


from shared.clock import CHINA_TZ
from shared.contracts.requests.intake import (  # noqa: F401  (names kept)
    ListMessages,
    ListSuggestions,
    year_field,
)
from shared.paging import checked_after, page
from shared.projection import key_of
from shared.read_store import TableProjection, Tx, fts_match_sqlite, like_pattern
from shared.rpc import Invalid

from services.intake.domain import CitizenMessage, Suggestion
from services.intake.personal_data import ERASED, unseal

Year = int | Literal["all"] | None
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")
# A query's blind-index tokens: at most this many of its trigrams are asked (spread over it).
MAX_QUERY_TOKENS = 24


def sort_key(when: datetime) -> str:
    """A timestamp as text that sorts in time order whatever offset it was recorded with."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def year_of(when: datetime) -> int:
    return when.astimezone(CHINA_TZ).year


_year_field = year_field


# The list queries (ListSuggestions, ListMessages) are declared in
# shared/contracts/requests/intake.py.


def chosen_year(year: Year, now: datetime) -> int | None:
    """The year a list is restricted to (None: every year)."""
    if year == "all":
        return None
    return year if isinstance(year, int) else year_of(now)


def _words(text: str) -> list[str]:
    return [w for w in text.split() if w]


def _in(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


# --- suggestions ------------------------------------------------------------------------------


class SuggestionsView(TableProjection):
    """Suggestions by status, category, urgency, deputy, year and words (no citizen text)."""

    name = "suggestions"
    version = 1
    tables = ("suggestions", "suggestions_deputies", "suggestions_fts")

    def create(self, tx: Tx) -> None:
        s, d = self.t("suggestions"), self.t("suggestions_deputies")
        tx.execute(f"CREATE TABLE {s} (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, "
                   "number TEXT, title TEXT NOT NULL, category TEXT NOT NULL, "
                   "status TEXT NOT NULL, urgency TEXT, lead_deputy_id TEXT NOT NULL, "
                   "deputy_ids TEXT NOT NULL, submitted_at TEXT NOT NULL, "
                   "sort_key TEXT NOT NULL, year INTEGER NOT NULL, merged_into TEXT, "
                   "merged_sources TEXT NOT NULL, search TEXT)")
        tx.execute(f"CREATE UNIQUE INDEX {s}_seq ON {s} (seq)")
        for column in ("year", "status", "category", "urgency"):
            order = "year, sort_key, id" if column == "year" else \
                f"{column}, year, sort_key, id"
            tx.execute(f"CREATE INDEX {s}_{column} ON {s} ({order})")
        tx.execute(f"CREATE INDEX {s}_number ON {s} (number)")
        tx.execute(f"CREATE TABLE {d} (deputy_id TEXT NOT NULL, suggestion_id TEXT NOT NULL, "
                   "PRIMARY KEY (deputy_id, suggestion_id))")
        if tx.dialect == "sqlite":
            tx.execute(f"CREATE VIRTUAL TABLE {self.t('suggestions_fts')} USING fts5("
                       "number, title, body, tokenize='trigram')")
        else:
            tx.execute(f"CREATE INDEX {s}_search ON {s} USING gin (search gin_trgm_ops)")
            tx.execute(f"CREATE INDEX {s}_number_trgm ON {s} USING gin (number gin_trgm_ops)")

    # --- applying ----------------------------------------------------------------------

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, Suggestion.Event):
            return
        tx = self.tx
        assert tx is not None
        s = self.t("suggestions")
        key = key_of(domain_event.originator_id)
        if isinstance(domain_event, Suggestion.Submitted):
            self._submitted(tx, key, domain_event, notification_id)
            return
        row = tx.one(f"SELECT seq, status, number, merged_sources FROM {s} WHERE id = ?",
                     (key,))
        if row is None:
            return
        if isinstance(domain_event, Suggestion.Registered):
            self._update(tx, key, status="registered", number=domain_event.number,
                         category=domain_event.category, urgency=domain_event.urgency)
            self._number(tx, row["seq"], domain_event.number)
        elif isinstance(domain_event, Suggestion.Declined):
            self._update(tx, key, status="declined")
        elif isinstance(domain_event, Suggestion.RegistrationReversed):
            self._update(tx, key, status="submitted", number=None, urgency=None)
            self._number(tx, row["seq"], None)
        elif isinstance(domain_event, Suggestion.MergedInto):
            self._update(tx, key, status="merged", merged_into=domain_event.into_suggestion_id)
        elif isinstance(domain_event, Suggestion.MergeUndone):
            self._update(tx, key, status=domain_event.restored_status, merged_into=None)
        elif isinstance(domain_event, Suggestion.SourceMerged):
            sources = [*json.loads(row["merged_sources"]), domain_event.source_id]
            self._update(tx, key, merged_sources=json.dumps(sources))
        elif isinstance(domain_event, Suggestion.SourceUnmerged):
            sources = [x for x in json.loads(row["merged_sources"])
                       if x != domain_event.source_id]
            self._update(tx, key, merged_sources=json.dumps(sources))
        elif isinstance(domain_event, Suggestion.CaseClosed):
            if row["status"] == "registered":
                self._update(tx, key, status="closed")

    def _submitted(self, tx: Tx, key: str, e: Any, notification_id: int) -> None:
        # The deputy's own body is searchable; a citizen's text sealed under their key is not.
        body = e.body if e.sealed_body is None else ""  # v1 events: upcast (no sealed body)
        s = self.t("suggestions")
        search = f"{e.title}\n{body}" if tx.dialect == "postgres" else None
        tx.execute(f"INSERT INTO {s} (id, seq, number, title, category, status, urgency, "
                   "lead_deputy_id, deputy_ids, submitted_at, sort_key, year, merged_into, "
                   "merged_sources, search) VALUES (?, ?, NULL, ?, ?, 'submitted', NULL, ?, ?, "
                   "?, ?, ?, NULL, '[]', ?)",
                   (key, notification_id, e.title, e.category, e.lead_deputy_id,
                    json.dumps([e.lead_deputy_id, *e.co_signer_ids]),
                    e.submitted_at.isoformat(), sort_key(e.submitted_at),
                    year_of(e.submitted_at), search))
        tx.executemany(f"INSERT INTO {self.t('suggestions_deputies')} (deputy_id, "
                       "suggestion_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                       [(d, key) for d in dict.fromkeys([e.lead_deputy_id, *e.co_signer_ids])])
        if tx.dialect == "sqlite":
            tx.execute(f"INSERT INTO {self.t('suggestions_fts')} (rowid, number, title, body) "
                       "VALUES (?, '', ?, ?)", (notification_id, e.title, body))

    def _update(self, tx: Tx, key: str, **columns: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        tx.execute(f"UPDATE {self.t('suggestions')} SET {sets} WHERE id = ?",
                   (*columns.values(), key))

    def _number(self, tx: Tx, seq: int, number: str | None) -> None:
        if tx.dialect == "sqlite":
            tx.execute(f"UPDATE {self.t('suggestions_fts')} SET number = ? WHERE rowid = ?",
                       (number or "", seq))

    # --- queries -----------------------------------------------------------------------

    def rows_by_id(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Rows of these suggestions (similar matters labels its candidates with them)."""
        self.require_ready()
        with self.store.read() as tx:
            return tx.all(f"SELECT id, number, title, status, merged_into FROM "
                          f"{self.t('suggestions')} WHERE id IN ({_in(ids)})", list(ids))

    def query(self, q: ListSuggestions, now: datetime) -> dict[str, Any]:
        self.require_ready()
        after = checked_after(q, 2)
        s = self.t("suggestions")
        joins, where, params = "", [], []
        if q.deputy_id is not None:
            joins = (f" JOIN {self.t('suggestions_deputies')} dj ON dj.suggestion_id = s.id "
                     "AND dj.deputy_id = ?")
            params.append(q.deputy_id)
        year = chosen_year(q.year, now)
        if year is not None:
            where.append("s.year = ?")
            params.append(year)
        for column in ("status", "category", "urgency"):
            value = getattr(q, column)
            if value is not None:
                where.append(f"s.{column} = ?")
                params.append(value)
        if q.registered_only:
            where.append("s.status NOT IN ('submitted', 'declined')")
        if q.ids is not None:
            if not q.ids:
                return {"items": [], "next_cursor": None, "total": 0}
            where.append(f"s.id IN ({_in(q.ids)})")
            params.extend(q.ids)
        if q.q:
            for word in _words(q.q):
                condition, values = self._word(word)
                where.append(condition)
                params.extend(values)
        filters = (" WHERE " + " AND ".join(where)) if where else ""
        keyset = ""
        if after:
            keyset = (" AND " if where else " WHERE ") + "(s.sort_key, s.id) > (?, ?)"
        with self.store.read() as tx:
            rows = tx.all(f"SELECT s.* FROM {s} s{joins}{filters}{keyset} "
                          "ORDER BY s.sort_key, s.id LIMIT ?",
                          (*params, *(after or ()), q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM {s} s{joins}{filters}", params)
        return page(rows, q.limit, key=lambda r: (r["sort_key"], r["id"]), total=total,
                    view=_suggestion_row)

    def _word(self, word: str) -> tuple[str, list[Any]]:
        pattern = like_pattern(word)
        if self.store.dialect == "postgres":
            return ("(s.number ILIKE ? OR s.search ILIKE ?)", [pattern, pattern])
        fts = self.t("suggestions_fts")
        if len(word) >= 3:
            return (f"s.seq IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)",
                    [fts_match_sqlite(word)])
        # Shorter than a trigram: the FTS table read with LIKE (a scan).
        return (f"s.seq IN (SELECT rowid FROM {fts} WHERE number LIKE ? ESCAPE '\\' OR "
                "title LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\')",
                [pattern, pattern, pattern])


def _suggestion_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "title": r["title"],
        "category": r["category"],
        "status": r["status"],
        "urgency": r["urgency"],
        "number": r["number"],
        "lead_deputy_id": r["lead_deputy_id"],
        "deputy_ids": json.loads(r["deputy_ids"]),
        "submitted_at": r["submitted_at"],
        "merged_into": r["merged_into"],
        "merged_sources": json.loads(r["merged_sources"]),
    }


# --- messages ---------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Text as the blind index sees it: lower case, runs of white space as one space."""
    return " ".join(text.lower().split())


def trigrams(text: str) -> list[str]:
    text = normalise(text)
    return list(dict.fromkeys(text[i:i + 3] for i in range(len(text) - 2)))


class BlindIndex:
    """HMAC-SHA256 with one key over many short texts: the key's inner and outer pads are
    hashed once and copied for each text (RFC 2104, the same digests as ``hmac``; a third
    of the time of ``hmac.digest`` per trigram)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def token(self, text: str) -> int:
        inner = self._inner.copy()
        inner.update(text.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return int.from_bytes(outer.digest()[:8], "big", signed=True)

    def tokens(self, text: str) -> list[int]:
        """The text's trigrams, each HMAC-SHA256'd with the index key, the first 8 bytes as
        a signed 64-bit integer."""
        return [self.token(t) for t in trigrams(text)]


class MessagesView(TableProjection):
    """Citizen messages by station, status, unit, year, id and (blind-indexed) words."""

    name = "messages"
    version = 4  # 3: messages_holders; 4: merged_into
    tables = ("messages", "messages_tokens", "messages_holders")

    def create(self, tx: Tx) -> None:
        m, t = self.t("messages"), self.t("messages_tokens")
        tx.execute(f"CREATE TABLE {m} (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, "
                   "station_id TEXT NOT NULL, "
                   "grid TEXT, category TEXT, status TEXT NOT NULL, claimed_by TEXT, "
                   "claimed_at TEXT, claim_expires_at TEXT, claim_expires_key TEXT, "
                   "suggestion_id TEXT, unit_id TEXT, rating TEXT, "
                   "received_at TEXT NOT NULL, sort_key TEXT NOT NULL, year INTEGER NOT NULL, "
                   "subject_id TEXT, sealed_content TEXT, legacy INTEGER NOT NULL, "
                   "erased INTEGER NOT NULL, merged_into TEXT)")
        tx.execute(f"CREATE UNIQUE INDEX {m}_seq ON {m} (seq)")
        tx.execute(f"CREATE INDEX {m}_year ON {m} (year, sort_key, id)")
        for column in ("station_id", "status", "unit_id", "category"):
            tx.execute(f"CREATE INDEX {m}_{column} ON {m} ({column}, year, sort_key, id)")
        tx.execute(f"CREATE INDEX {m}_order ON {m} (sort_key, id)")
        tx.execute(f"CREATE INDEX {m}_claims ON {m} (status, claim_expires_key)")
        # SQLite: the table is its primary key's b-tree (no rowid table beside it)
        tx.execute(f"CREATE TABLE {t} (token BIGINT NOT NULL, seq BIGINT NOT NULL, "
                   "PRIMARY KEY (token, seq))"
                   + (" WITHOUT ROWID" if tx.dialect == "sqlite" else ""))
        tx.execute(f"CREATE INDEX {t}_seq ON {t} (seq)")
        h = self.t("messages_holders")
        tx.execute(f"CREATE TABLE {h} (deputy_id TEXT NOT NULL, seq BIGINT NOT NULL, "
                   "PRIMARY KEY (deputy_id, seq))")

    def flush(self) -> None:
        self.app.keys.forget()

    _blind_index: BlindIndex | None = None

    def _blind(self) -> BlindIndex:
        """The blind index under the key store's index key (the same for every generation
        and replica)."""
        if self._blind_index is None:
            self._blind_index = BlindIndex(self.app.keys.index_key())
        return self._blind_index

    # --- applying ----------------------------------------------------------------------

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, CitizenMessage.Event):
            return
        tx = self.tx
        assert tx is not None
        key = key_of(domain_event.originator_id)
        e = domain_event
        if isinstance(e, CitizenMessage.Received):
            sealed = e.sealed_content  # v1 events: upcast (plain content, none sealed)
            legacy = sealed is None and e.content is not None
            tx.execute(f"INSERT INTO {self.t('messages')} (id, seq, station_id, grid, "
                       "category, status, received_at, sort_key, year, subject_id, "
                       "sealed_content, legacy, erased) VALUES (?, ?, ?, ?, ?, 'received', ?, "
                       "?, ?, ?, ?, ?, 0)",
                       (key, notification_id, e.station_id, e.grid, e.category, e.received_at.isoformat(),
                        sort_key(e.received_at), year_of(e.received_at), e.personal_data_ref,
                        sealed, 1 if legacy else 0))
            text = self.app.content_of(e.personal_data_ref, sealed, e.content, remembered=True)
            if text and text != ERASED:
                tx.executemany(f"INSERT INTO {self.t('messages_tokens')} (token, seq) "
                               "VALUES (?, ?)",
                               [(token, notification_id)
                                for token in self._blind().tokens(text)])
        elif isinstance(e, CitizenMessage.Claimed):
            self._update(tx, key, status="claimed", claimed_by=e.deputy_id,
                         claimed_at=e.claimed_at.isoformat(),
                         claim_expires_at=e.claim_expires_at.isoformat(),
                         claim_expires_key=sort_key(e.claim_expires_at))
            tx.execute(f"INSERT INTO {self.t('messages_holders')} (deputy_id, seq) "
                       f"SELECT ?, seq FROM {self.t('messages')} WHERE id = ? "
                       "ON CONFLICT DO NOTHING", (e.deputy_id, key))
        elif isinstance(e, CitizenMessage.ClaimReleased):
            self._update(tx, key, status="received", claimed_by=None, claimed_at=None,
                         claim_expires_at=None, claim_expires_key=None)
        elif isinstance(e, CitizenMessage.Answered):
            self._update(tx, key, status="answered", claim_expires_at=None,
                         claim_expires_key=None)
        elif isinstance(e, CitizenMessage.Converted):
            self._update(tx, key, status="converted", suggestion_id=e.suggestion_id,
                         claim_expires_at=None, claim_expires_key=None)
        elif isinstance(e, CitizenMessage.Forwarded):
            self._update(tx, key, status="forwarded", unit_id=e.unit_id,
                         claim_expires_at=None, claim_expires_key=None)
        elif isinstance(e, CitizenMessage.Rated):
            self._update(tx, key, status="closed", rating=e.rating)
        elif isinstance(e, CitizenMessage.MergedInto):
            self._update(tx, key, status="merged", merged_into=e.into_message_id)
        elif isinstance(e, CitizenMessage.MergeUndone):
            self._update(tx, key, status=e.restored_status, merged_into=None)
        elif isinstance(e, CitizenMessage.PersonalDataErased):
            self._update(tx, key, erased=1, sealed_content=None)
            tx.execute(f"DELETE FROM {self.t('messages_tokens')} WHERE seq = "
                       f"(SELECT seq FROM {self.t('messages')} WHERE id = ?)", (key,))

    def _update(self, tx: Tx, key: str, **columns: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        tx.execute(f"UPDATE {self.t('messages')} SET {sets} WHERE id = ?",
                   (*columns.values(), key))

    # --- queries -----------------------------------------------------------------------

    def claims_expired_by(self, now: datetime, limit: int = 1000) -> list[str]:
        """Claimed messages whose claim lapsed by ``now`` (an indexed range)."""
        self.require_ready()
        m = self.t("messages")
        with self.store.read() as tx:
            rows = tx.all(f"SELECT id FROM {m} WHERE status = 'claimed' AND "
                          "claim_expires_key <= ? ORDER BY claim_expires_key LIMIT ?",
                          (sort_key(now), limit))
        return [r["id"] for r in rows]

    def rows_by_id(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """These messages as a list shows them, the text decrypted (similar matters)."""
        self.require_ready()
        with self.store.read() as tx:
            rows = tx.all(f"SELECT * FROM {self.t('messages')} WHERE id IN ({_in(ids)})",
                          list(ids))
        return self._views(rows)

    def held_by(self, deputy_id: str, message_id: str) -> bool:
        """Whether the deputy ever held (claimed) the message."""
        self.require_ready()
        with self.store.read() as tx:
            return tx.one(f"SELECT 1 AS x FROM {self.t('messages_holders')} h JOIN "
                          f"{self.t('messages')} m ON m.seq = h.seq WHERE h.deputy_id = ? "
                          "AND m.id = ?", (deputy_id, message_id)) is not None

    def query(self, q: ListMessages, now: datetime, unit_id: str | None = None,
              deputy_id: str | None = None, stations: Sequence[str] = ()) -> dict[str, Any]:
        """A page of messages; ``unit_id``: only those forwarded to the unit; ``deputy_id``:
        only those of ``stations`` and those the deputy holds or held."""
        self.require_ready()
        after = checked_after(q, 2)
        m = self.t("messages")
        where, params = [], []
        if deputy_id is not None:
            held = f"seq IN (SELECT seq FROM {self.t('messages_holders')} WHERE deputy_id = ?)"
            if stations:
                where.append(f"(station_id IN ({_in(stations)}) OR {held})")
                params += [*stations, deputy_id]
            else:
                where.append(held)
                params.append(deputy_id)
        year = chosen_year(q.year, now)
        if year is not None:
            where.append("year = ?")
            params.append(year)
        for column, value in (("station_id", q.station_id), ("status", q.status),
                              ("claimed_by", q.claimed_by), ("unit_id", unit_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        for column, values in (("status", q.statuses), ("category", q.categories)):
            if values:
                where.append(f"{column} IN ({_in(values)})")
                params.extend(values)
        if q.received_from is not None:
            where.append("sort_key >= ?")
            params.append(sort_key(q.received_from))
        if q.received_to is not None:
            where.append("sort_key <= ?")
            params.append(sort_key(q.received_to))
        if q.q:
            condition, values = self._search(q.q)
            where.append(condition)
            params.extend(values)
        filters = " AND ".join(where)
        order, compare = ("DESC", "<") if q.newest_first else ("ASC", ">")
        paged = [*where, f"(sort_key, id) {compare} (?, ?)"] if after else where
        with self.store.read() as tx:
            rows = tx.all(f"SELECT * FROM {m}"
                          + (" WHERE " + " AND ".join(paged) if paged else "")
                          + f" ORDER BY sort_key {order}, id {order} LIMIT ?",
                          (*params, *(after or ()), q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS n FROM {m}"
                              + (f" WHERE {filters}" if filters else ""), params)
        result = page(rows, q.limit, key=lambda r: (r["sort_key"], r["id"]), total=total)
        result["items"] = self._views(result["items"])
        return result

    def _search(self, text: str) -> tuple[str, list[Any]]:
        """By id (whole, or its first characters) or by the blind index of the text."""
        needle = text.strip().lower()
        if UUID_TEXT.match(needle):
            return "id = ?", [needle]
        conditions, params = [], []
        if ID_PREFIX.match(needle):
            conditions.append("(id >= ? AND id < ?)")
            params += [needle, needle + "~"]
        tokens = self._blind().tokens(text)
        if tokens:
            if len(tokens) > MAX_QUERY_TOKENS:  # spread over the query
                step = len(tokens) / MAX_QUERY_TOKENS
                tokens = [tokens[int(i * step)] for i in range(MAX_QUERY_TOKENS)]
            conditions.append(f"seq IN (SELECT seq FROM {self.t('messages_tokens')} "
                              f"WHERE token IN ({_in(tokens)}) GROUP BY seq "
                              "HAVING COUNT(*) = ?)")
            params += [*tokens, len(tokens)]
        if not conditions:
            raise Invalid.field(["query", "q"], "a message is found by its id or by at least "
                                                "3 characters of its text")
        return "(" + " OR ".join(conditions) + ")", params

    def _views(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page's rows as the list shows them, the text decrypted now (one key lookup
        for the page)."""
        subjects = {r["subject_id"] for r in rows
                    if r["sealed_content"] is not None and r["subject_id"] and not r["erased"]}
        keys = self.app.keys.get_many(subjects) if subjects else {}
        return [_message_row(r, self._content(r, keys)) for r in rows]

    def _content(self, r: dict[str, Any], keys: dict[str, bytes]) -> str:
        if r["erased"]:
            return ERASED
        if r["sealed_content"] is not None:
            key = keys.get(r["subject_id"] or "")
            if key is None:
                return ERASED
            text = unseal(key, r["subject_id"], r["sealed_content"], "content")
            return text if isinstance(text, str) else ERASED
        if r["legacy"]:  # recorded before contents were sealed: the text is in the event
            message = self.app.repository.get(UUID(r["id"]))
            return message.content or ""
        return ""


def _message_row(r: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "id": r["id"],
        "station_id": r["station_id"],
        "grid": r["grid"],
        "category": r["category"],
        "content": content,
        "status": r["status"],
        "claimed_by": r["claimed_by"],
        "claimed_at": r["claimed_at"],
        "claim_expires_at": r["claim_expires_at"],
        "suggestion_id": r["suggestion_id"],
        "unit_id": r["unit_id"],
        "rating": r["rating"],
        "received_at": r["received_at"],
        "merged_into": r["merged_into"],
    }

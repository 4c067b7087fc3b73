"""The registry's read model: every record's current state by (kind, key), in memory,
projected from the service's own log (a city's roster is about ten thousand deputies, a few
hundred units and stations). Rebuilt from the log at start. It answers the paged and
searchable lists, and tells an upsert which keys exist and their current record, so that only
the records that change are read from the store."""

from __future__ import annotations

from typing import Any

from shared.projection import LogProjection

from services.registry.domain import ReferenceRecord


class RecordDirectory(LogProjection):
    name = "record_directory"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}  # kind -> key -> row
        self._by_id: dict[Any, tuple[str, str]] = {}

    def clear(self) -> None:
        self.rows.clear()
        self._by_id.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, ReferenceRecord.Event):
            return
        if isinstance(domain_event, ReferenceRecord.Created):
            e = domain_event
            self._by_id[e.originator_id] = (e.kind, e.key)
            self.rows.setdefault(e.kind, {})[e.key] = {
                "kind": e.kind, "key": e.key, "record": dict(e.record), "active": True,
                "closed_reason": None, "closed_term": None,
                "version": e.originator_version, "changed_at": e.at.isoformat()}
            return
        found = self._by_id.get(domain_event.originator_id)
        if found is None:
            return
        row = self.rows[found[0]][found[1]]
        if isinstance(domain_event, ReferenceRecord.Changed):
            row["record"] = {**row["record"], **domain_event.after}
        elif isinstance(domain_event, ReferenceRecord.Closed):
            row.update(active=False, closed_reason=domain_event.reason,
                       closed_term=domain_event.term)
        elif isinstance(domain_event, ReferenceRecord.Reopened):
            row.update(active=True, closed_reason=None, closed_term=None)
        row["version"] = domain_event.originator_version
        at = getattr(domain_event, "at", None)
        if at is not None:
            row["changed_at"] = at.isoformat()

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.rows.get(kind, {})

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self.of(kind).get(key)

    def matching(self, kind: str, q: str | None, active: bool | None,
                 term: str | None) -> list[dict[str, Any]]:
        words = (q or "").strip().lower()
        rows = []
        for key in sorted(self.of(kind)):
            row = self.of(kind)[key]
            record = row["record"]
            if words and words not in key.lower() and \
                    words not in str(record.get("name") or record.get("name_zh") or ""
                                     ).lower():
                continue
            if active is not None and row["active"] != active:
                continue
            if term is not None and term not in (record.get("terms") or []) \
                    and not (kind == "term" and key == term):
                continue
            rows.append(row)
        return rows


class RegistryViews:
    def __init__(self, app: Any) -> None:
        self.directory = RecordDirectory(app)

    @property
    def projections(self) -> list[LogProjection]:
        return [self.directory]

    def catch_up(self) -> int:
        return self.directory.catch_up()

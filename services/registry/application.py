"""The registry's commands and queries over its event store.

- ``put_record``: create or change one record (the office, through the API and the 基础数据
  page); ``upsert``: many records of a kind at once (an import), all saved in ONE
  ``save(...)`` — every change or none. The read model tells which keys exist and their
  current record: only the aggregates that change are read from the store, a new key is
  created without a read, an unchanged record costs nothing. A record created meanwhile by
  another process makes the save fail on the store's optimistic concurrency: the read model
  catches up and the upsert is worked out again.
- ``open_term``: 换届, in one save (see ``_term_change``).
- ``seed``: the configuration files, recorded as ``Created`` events by ``system`` into an
  empty log (services/registry/bootstrap.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from shared.audit import history_entry
from shared.clock import Clock, clock_from_settings
from shared.contracts.requests.registry import (GetRecord, ListRecords, ListTerms, OpenTerm,
                                                PutRecord)
from shared.eventstore import Actor, ServiceApplication
from shared.paging import page_of_list
from shared.rpc import Invalid, NotFound
from shared.settings import ServiceSettings

from services.registry.domain import (EVENT_ZH, KEY_FIELD, KINDS, ReferenceRecord, check_key,
                                      key_of, normalize, record_id)
from services.registry.errors import InvalidRecord, RecordRefused
from services.registry.read_models import RegistryViews

ATTEMPTS = 20
SYSTEM = "system"


def invalid(exc: InvalidRecord, loc: list[str | int]) -> Invalid:
    """The 422 answer: each wrong field at its location."""
    return Invalid("the record has invalid fields: " + str(exc),
                   errors=[{"loc": [*loc, e["field"]], "msg": e["msg"]} for e in exc.errors])


def row_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "record": dict(row["record"])}


class RegistryApplication(ServiceApplication):
    name = "registry"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        super().__init__(settings)
        self.views = RegistryViews(self)

    def is_empty(self) -> bool:
        return self.max_notification_id() == 0

    def aggregate(self, kind: str, key: str) -> ReferenceRecord | None:
        try:
            found = self.repository.get(record_id(kind, key))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, ReferenceRecord) else None

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        for n in range(ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:  # another process changed one of these records first
                if n == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.01 * min(n + 1, 10)))
                self.views.catch_up()
        raise AssertionError("unreachable")

    # --- for an import (services/registry/roster_import.py) -------------------------------------

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """The current records of a kind by key (closed ones included)."""
        self.views.catch_up()
        return {key: dict(row["record"]) for key, row in self.views.directory.of(kind).items()}

    def upsert(self, kind: str, records: list[dict[str, Any]], actor: str,
               ) -> dict[str, int]:
        """Create the records whose key is new, change those that differ, in one save (all or
        nothing). InvalidRecord (its fields prefixed by the row's index) when any is wrong."""
        check_key(kind, "x")
        canonical: dict[str, dict[str, Any]] = {}
        rows: dict[str, int] = {}  # key -> index of its row
        errors: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            try:
                one = normalize(kind, None, record)
            except InvalidRecord as exc:
                errors += [{"field": f"{index}.{e['field']}", "msg": e["msg"]}
                           for e in exc.errors]
                continue
            key = key_of(kind, one)
            if key in canonical:
                errors.append({"field": f"{index}.{KEY_FIELD.get(kind, 'id')}",
                               "msg": f"编号 {key} 重复"})
            canonical[key] = one
            rows[key] = index
        if kind == "deputy":
            self.views.catch_up()
            terms = self.views.directory.of("term")
            for key, one in canonical.items():
                unknown = [t for t in one["terms"] if t not in terms]
                if unknown:
                    errors.append({"field": f"{rows[key]}.terms",
                                   "msg": f"没有届次 {', '.join(unknown)}"})
        if errors:
            raise InvalidRecord(errors)

        def attempt() -> dict[str, int]:
            self.views.catch_up()
            known = self.views.directory.of(kind)
            now = self.clock.now()
            counts = {"created": 0, "changed": 0, "unchanged": 0}
            changed: list[ReferenceRecord] = []
            for key, record in canonical.items():
                row = known.get(key)
                if row is None:
                    changed.append(ReferenceRecord.create(kind, record, actor, now, key=key))
                    counts["created"] += 1
                elif row["record"] == record:
                    counts["unchanged"] += 1
                else:
                    aggregate = self.aggregate(kind, key)
                    if aggregate is None or not aggregate.change(record, actor, now):
                        counts["unchanged"] += 1
                        continue
                    changed.append(aggregate)
                    counts["changed"] += 1
            if changed:
                self.save(*changed)
            return counts
        return self._retrying(attempt)

    # --- one record ---------------------------------------------------------------------------

    def put_record(self, cmd: PutRecord, actor: Actor) -> dict[str, Any]:
        try:
            record = normalize(cmd.kind, cmd.key, cmd.record)
        except InvalidRecord as exc:
            raise invalid(exc, ["body", "record"]) from None
        self._check_terms(cmd.kind, [record])

        def attempt() -> dict[str, Any]:
            now = self.clock.now()
            aggregate = self.aggregate(cmd.kind, cmd.key)
            created = aggregate is None
            if aggregate is None:
                aggregate = ReferenceRecord.create(cmd.kind, record, actor.username, now,
                                                   key=cmd.key)
            else:
                aggregate.change(record, actor.username, now)
            if cmd.active is False:
                aggregate.close("closed_by_office", None, actor.username, now)
            elif cmd.active is True:
                aggregate.reopen("reopened_by_office", actor.username, now)
            changed = bool(aggregate.pending_events)
            if changed:
                self.save(aggregate)
            return {**aggregate.view(), "created": created, "changed": changed}
        return self._retrying(attempt)

    def _check_terms(self, kind: str, records: list[dict[str, Any]]) -> None:
        if kind != "deputy":
            return
        self.views.catch_up()
        terms = self.views.directory.of("term")
        unknown = sorted({t for r in records for t in r["terms"] if t not in terms})
        if unknown:
            raise Invalid.field(["body", "record", "terms"], f"没有届次 {', '.join(unknown)}")

    # --- queries ------------------------------------------------------------------------------

    def list_records(self, q: ListRecords, actor: Actor) -> dict[str, Any]:
        rows = self.views.directory.matching(q.kind, q.q, q.active, q.term)
        page = page_of_list(rows, q, key=lambda r: [r["key"]])
        return {**page, "items": [row_view(r) for r in page["items"]]}

    def get_record(self, q: GetRecord, actor: Actor) -> dict[str, Any]:
        aggregate = self.aggregate(q.kind, q.key)
        if aggregate is None:
            raise NotFound(f"no {q.kind} {q.key}")
        history = []
        for stored in self.stored_records(aggregate.id):
            entry = history_entry(self.name, stored, chain_ok=True)
            data = entry["data"]
            history.append({
                "version": entry["version"], "time": entry["time"],
                "event_type": entry["event_type"],
                "label": EVENT_ZH.get(entry["event_type"], entry["event_type"]),
                "actor": data.get("actor") or (entry["actor"] or {}).get("username"),
                "before": data.get("before") if entry["event_type"] == "Changed" else None,
                "after": (data.get("after") if entry["event_type"] == "Changed"
                          else data.get("record")),
                "reason": data.get("reason"), "term": data.get("term")})
        return {**aggregate.view(), "history": history}

    def list_terms(self, q: ListTerms, actor: Actor) -> dict[str, Any]:
        terms = sorted(self.views.directory.of("term").values(),
                       key=lambda r: (r["record"]["start"], r["key"]), reverse=True)
        counts: dict[str, int] = {}
        for row in self.views.directory.of("deputy").values():
            for term in row["record"].get("terms") or []:
                counts[term] = counts.get(term, 0) + 1
        current = next((r["key"] for r in terms if r["record"]["end"] is None), None)
        return {"current": current,
                "items": [{**row_view(r), "deputies": counts.get(r["key"], 0)} for r in terms]}

    # --- 换届 ---------------------------------------------------------------------------------

    def open_term(self, cmd: OpenTerm, actor: Actor) -> dict[str, Any]:
        try:
            term = normalize("term", cmd.id, {"id": cmd.id, "name": cmd.name_,
                                              "number": cmd.number,
                                              "start": cmd.start.isoformat(), "end": None})
        except InvalidRecord as exc:
            raise invalid(exc, ["body"]) from None

        def attempt() -> dict[str, Any]:
            self.views.catch_up()
            changed, summary = self._term_change(term, list(dict.fromkeys(cmd.continuing)),
                                                 actor.username)
            if changed:
                self.save(*changed)
            return {"term": term, **summary}
        return self._retrying(attempt)

    def _term_change(self, term: dict[str, Any], continuing: list[str], actor: str,
                     ) -> tuple[list[ReferenceRecord], dict[str, Any]]:
        """The aggregates a term change changes: the new term created (or left as it is), the
        previous term (the latest one starting before it) ended the day before, the continuing
        deputies given the new term (reopened if closed), every other deputy of the previous
        term closed. Worked out on the current records: run again, it changes nothing."""
        directory = self.views.directory
        deputies = directory.of("deputy")
        unknown = [d for d in continuing if d not in deputies]
        if unknown:
            raise Invalid.field(["body", "continuing"], f"没有代表 {', '.join(unknown)}")
        terms = directory.of("term")
        later = [k for k, r in terms.items()
                 if k != term["id"] and r["record"]["start"] >= term["start"]]
        if later:
            raise RecordRefused(f"届次 {', '.join(sorted(later))} 的开始日期不早于新届次：只能在最新"
                                "一届之后换届")
        earlier = sorted((r["record"]["start"], k) for k, r in terms.items()
                         if r["record"]["start"] < term["start"])
        previous = earlier[-1][1] if earlier else None
        now = self.clock.now()
        changed: list[ReferenceRecord] = []
        summary: dict[str, Any] = {"previous": previous, "continued": [], "closed": []}

        def touched(aggregate: ReferenceRecord, did: bool) -> None:
            if did and aggregate not in changed:
                changed.append(aggregate)

        existing = self.aggregate("term", term["id"])
        if existing is None:
            changed.append(ReferenceRecord.create("term", term, actor, now, key=term["id"]))
        elif {k: v for k, v in existing.record.items() if k != "end"} != \
                {k: v for k, v in term.items() if k != "end"}:
            touched(existing, existing.change_fields(
                {k: v for k, v in term.items() if k != "end"}, actor, now))
        if previous is not None:
            end = (date.fromisoformat(term["start"]) - timedelta(days=1)).isoformat()
            if terms[previous]["record"]["end"] != end:
                prev = self.aggregate("term", previous)
                assert prev is not None
                touched(prev, prev.change_fields({"end": end}, actor, now))
        for key in continuing:
            row = deputies[key]
            if term["id"] in row["record"]["terms"] and row["active"]:
                continue
            deputy = self.aggregate("deputy", key)
            assert deputy is not None
            touched(deputy, deputy.change_fields(
                {"terms": [*deputy.record["terms"], term["id"]]}, actor, now))
            touched(deputy, deputy.reopen("reelected", actor, now))
            summary["continued"].append(key)
        if previous is not None:
            staying = set(continuing)
            for key, row in sorted(deputies.items()):
                if key in staying or not row["active"] or \
                        previous not in row["record"]["terms"]:
                    continue
                deputy = self.aggregate("deputy", key)
                assert deputy is not None
                touched(deputy, deputy.close("term_ended", previous, actor, now))
                summary["closed"].append(key)
        summary["events"] = sum(len(a.pending_events) for a in changed)
        return changed, summary

    # --- seeding ------------------------------------------------------------------------------

    def kinds_without_records(self) -> list[str]:
        self.views.catch_up()
        return [kind for kind in KINDS if not self.views.directory.of(kind)]

    def seed(self, records: dict[str, list[dict[str, Any]]],
             kinds: tuple[str, ...] | list[str] = KINDS) -> int:
        """Record the configuration's records of ``kinds`` as ``Created`` by ``system`` in
        one save (kinds without any record only: a replica starting beside this one finds
        them there)."""
        now = self.clock.now()
        aggregates = [ReferenceRecord.create(kind, record, SYSTEM, now)
                      for kind in kinds for record in records.get(kind, [])]
        if aggregates:
            self.save(*aggregates)
        return len(aggregates)

    # --- roster import and export (services/registry/roster_import.py, roster_export.py) ------

    def import_roster(self, cmd: Any, actor: Actor) -> dict[str, Any]:
        """Check an uploaded roster (read from the import store by its SHA-256) and, unless a
        dry run, apply it with ``upsert`` (one save). The report; 422 with it when any row has
        a problem and the import is not a dry run, or when the file cannot be read."""
        import hashlib

        from shared import blobs
        from services.registry import roster_import as ri

        kind = ri.RECORD_KIND[cmd.kind]
        data = blobs.import_store(self.settings).get(cmd.sha256)
        if data is None or hashlib.sha256(data).hexdigest() != cmd.sha256:
            raise Invalid.field(["body", "sha256"], "未找到上传的名册文件，请重新上传。")
        self.views.catch_up()
        directory = self.views.directory
        known = ri.Known(*({k: str(r["record"].get("name") or "")
                            for k, r in directory.of(of).items()} for of in ("station", "term")))
        try:
            checked = ri.check(cmd.kind, data, known)
        except ri.UnreadableFile as exc:
            report = ri.refused(cmd.kind, exc)
            raise Invalid(exc.message_zh, errors=[{**e, "loc": ["body", "file"]}
                                                  for e in report.pop("errors")], **report)
        existing = {k: r["record"] for k, r in directory.of(kind).items()}
        plan = ri.compare(checked, existing, lambda r: normalize(kind, None, r))
        report = ri.report(checked, plan)
        if cmd.dry_run:
            return report
        if report["error_count"]:
            errors = [{**e, "loc": ["body", "file", e["row"], e["column"]]}
                      for e in report.pop("errors")]
            raise Invalid(f"名册有 {report['error_count']} 处问题，未导入任何记录。",
                          errors=errors, **report)
        counts = self.upsert(kind, plan.records, actor.username)
        return {**report, "created": counts["created"], "updated": counts["changed"],
                "unchanged": report["unchanged"] + counts["unchanged"], "applied": True}

    def export_roster(self, q: Any, actor: Actor) -> dict[str, Any]:
        """A page of a kind's records in the import's columns."""
        from services.registry import roster_export, roster_import

        rows = self.views.directory.of(roster_import.RECORD_KIND[q.kind])
        return roster_export.page(q.kind, rows, q.after, q.limit, q.active)

"""Projects' read models (persisted tables, shared/read_store.py).

- ``ProjectDocs``: one row per proposal, ballot and followed project with its view (views.py)
  as of its last event, by kind, year, status and unit. A ballot's row never holds its
  running tally (``VoteCounted`` is not applied): only the frozen results after the close.
- ``Voters``: who has voted in which ballot and when (participation), never what they chose.
"""

from __future__ import annotations

import json
from typing import Any

from shared.paging import checked_after, page
from shared.projection import catch_up_all, key_of
from shared.read_store import ReadModels, TableProjection, Tx, ViewStore
from shared.rpc import NotFound

from services.projects.domain import Ballot, DeputyBallot, FollowedProject, Proposal
from services.projects.views import (ballot_view, project_view, proposal_view,
                                     public_results_view, shown)

KINDS = {Proposal: ("proposal", proposal_view), Ballot: ("ballot", ballot_view),
         FollowedProject: ("project", project_view)}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class ProjectDocs(TableProjection):
    name = "ProjectDocs"
    tables = ("ProjectDocs_rows",)

    def create(self, tx: Tx) -> None:
        rows = self.t("ProjectDocs_rows")
        tx.execute(f"CREATE TABLE {rows} (kind TEXT NOT NULL, id TEXT NOT NULL, year INTEGER "
                   "NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL, unit_id TEXT, "
                   "data TEXT NOT NULL, PRIMARY KEY (kind, id))")
        tx.execute(f"CREATE INDEX {rows}_list ON {rows} (kind, year, created_at, id)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if isinstance(domain_event, Ballot.VoteCounted) or \
                isinstance(domain_event, DeputyBallot.Event):
            return  # the running tally is not shown; voters are the Voters read model's
        for cls, (kind, view) in KINDS.items():
            if isinstance(domain_event, cls.Event):
                break
        else:
            return
        assert self.tx is not None
        aggregate = self.app.repository.get(domain_event.originator_id,
                                            version=domain_event.originator_version)
        data = view(aggregate)
        created = data.get("proposed_at") or data.get("drafted_at") or data.get("adopted_at")
        self.tx.execute(
            f"INSERT INTO {self.t('ProjectDocs_rows')} (kind, id, year, created_at, status, "
            "unit_id, data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
            "status = excluded.status, unit_id = excluded.unit_id, data = excluded.data",
            (kind, key_of(domain_event.originator_id), data["year"], created, data["status"],
             data.get("unit_id"), _json(data)))

    def get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        self.require_ready()
        with self.store.read() as tx:
            row = tx.one(f"SELECT data FROM {self.t('ProjectDocs_rows')} WHERE kind = ? "
                         "AND id = ?", (kind, doc_id))
        return json.loads(row["data"]) if row else None

    def query(self, kind: str, q: Any, year: int | None, *, status: str | None = None,
              unit_id: str | None = None) -> dict[str, Any]:
        """A page of one kind's rows, newest first."""
        self.require_ready()
        after = checked_after(q, 2)
        rows_t = self.t("ProjectDocs_rows")
        where, params = ["kind = ?"], [kind]
        if year is not None:
            where.append("year = ?")
            params.append(year)
        if status:
            where.append("status = ?")
            params.append(status)
        if unit_id:
            where.append("unit_id = ?")
            params.append(unit_id)
        filters, filter_params = " AND ".join(where), list(params)
        if after:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [str(after[0]), str(after[0]), str(after[1])]
        with self.store.read() as tx:
            rows = tx.all(f"SELECT created_at, id, data FROM {rows_t} WHERE "
                          f"{' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
                          (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {rows_t} WHERE {filters}",
                              filter_params)
        return page(rows, q.limit, key=lambda r: (r["created_at"], r["id"]), total=total,
                    view=lambda r: json.loads(r["data"]))


class Voters(TableProjection):
    name = "Voters"
    tables = ("Voters_rows",)

    def create(self, tx: Tx) -> None:
        rows = self.t("Voters_rows")
        tx.execute(f"CREATE TABLE {rows} (ballot_id TEXT NOT NULL, deputy_id TEXT NOT NULL, "
                   "cast_at TEXT NOT NULL, PRIMARY KEY (ballot_id, deputy_id))")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if not isinstance(domain_event, DeputyBallot.Cast):
            return
        assert self.tx is not None
        self.tx.execute(f"INSERT INTO {self.t('Voters_rows')} (ballot_id, deputy_id, cast_at) "
                        "VALUES (?, ?, ?) ON CONFLICT (ballot_id, deputy_id) DO NOTHING",
                        (domain_event.ballot_id, domain_event.deputy_id,
                         domain_event.cast_at.isoformat()))

    def voters(self, ballot_id: str) -> list[dict[str, Any]]:
        self.require_ready()
        with self.store.read() as tx:
            return tx.all(f"SELECT deputy_id, cast_at FROM {self.t('Voters_rows')} WHERE "
                          "ballot_id = ? ORDER BY deputy_id", (ballot_id,))

    def has_voted(self, ballot_id: str, deputy_id: str) -> bool:
        self.require_ready()
        with self.store.read() as tx:
            return tx.one(f"SELECT 1 AS x FROM {self.t('Voters_rows')} WHERE ballot_id = ? "
                          "AND deputy_id = ?", (ballot_id, deputy_id)) is not None

    def count(self, ballot_id: str) -> int:
        self.require_ready()
        with self.store.read() as tx:
            return int(tx.scalar(f"SELECT COUNT(*) AS c FROM {self.t('Voters_rows')} WHERE "
                                 "ballot_id = ?", (ballot_id,)) or 0)


class ProjectsViews:
    def __init__(self, app: Any, store: ViewStore | None = None) -> None:
        self.app = app
        self.store = store or ViewStore(app.settings)
        self.docs = ProjectDocs(app, self.store)
        self.voters = Voters(app, self.store)
        self.read_models = ReadModels(app, self.store, [self.docs, self.voters])

    def catch_up(self) -> int:
        return catch_up_all(self.read_models.projections)


class ProjectsQueries:
    """The queries, answered from the read models (who sees what is decided here)."""

    def __init__(self, app: Any, views: ProjectsViews) -> None:
        self.app = app
        self.views = views

    def _year(self, year: int | None) -> int:
        return year or self.app.this_year()

    def list_proposals(self, q: Any, actor: Any) -> dict[str, Any]:
        return self.views.docs.query("proposal", q, self._year(q.year), status=q.status)

    def list_ballots(self, q: Any, actor: Any) -> dict[str, Any]:
        result = self.views.docs.query("ballot", q, self._year(q.year))
        if actor.role == "deputy":
            for item in result["items"]:
                item["you_voted"] = self.views.voters.has_voted(item["ballot_id"],
                                                                actor.deputy_id or "")
        return result

    def get_ballot(self, q: Any, actor: Any) -> dict[str, Any]:
        ballot = self.views.docs.get("ballot", q.ballot_id)
        if ballot is None:
            raise NotFound(f"no ballot {q.ballot_id}")
        ballot["voters_count"] = self.views.voters.count(q.ballot_id)
        if actor.role == "deputy":
            ballot["you_voted"] = self.views.voters.has_voted(q.ballot_id, actor.deputy_id or "")
        elif actor.role in ("office", "system"):
            ballot["voters"] = self.views.voters.voters(q.ballot_id)  # who, never what
        return ballot

    def public_results(self, q: Any, actor: Any) -> dict[str, Any]:
        result = self.views.docs.query("ballot", q, q.year, status="closed")
        result["items"] = [public_results_view(b) for b in result["items"]]
        return result

    def list_projects(self, q: Any, actor: Any) -> dict[str, Any]:
        unit_id = None
        if actor.role == "unit":
            unit_id = actor.unit_id or "-"
        result = self.views.docs.query("project", q, self._year(q.year), status=q.status,
                                       unit_id=unit_id)
        today = self.app.today()
        result["items"] = [shown(p, today, role=actor.role, deputy_id=actor.deputy_id)
                           for p in result["items"]]
        return result

    def get_project(self, q: Any, actor: Any) -> dict[str, Any]:
        project = self.views.docs.get("project", q.project_id)
        if project is None or (actor.role == "unit" and project.get("unit_id") != actor.unit_id):
            raise NotFound(f"no project {q.project_id}")  # a unit sees only its own
        return shown(project, self.app.today(), role=actor.role, deputy_id=actor.deputy_id)


__all__ = ["ProjectDocs", "ProjectsQueries", "ProjectsViews", "Voters"]

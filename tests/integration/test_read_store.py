"""Persisted read models (shared/read_store.py) on SQLite and PostgreSQL: rows and position
commit together, a restart reads only the tail of the log, a rebuild builds a new generation
while the live one keeps answering, a new definition version is built once, and lists page
with opaque cursors."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event

from shared.eventstore import ServiceApplication
from shared.paging import PageQuery, checked_after, page
from shared.read_store import ReadModels, Rebuilding, TableProjection, ViewStore
from shared.rpc import Invalid
from tests.harness import scratch_settings


class Item(Aggregate):
    @event("Created")
    def __init__(self, title: str, n: int) -> None:
        self.title = title
        self.n = n

    @event("Renamed")
    def rename(self, title: str) -> None:
        self.title = title


class Items(TableProjection):
    name = "items"
    tables = ("items",)
    applied: list[int]

    def create(self, tx: Any) -> None:
        tx.execute(f"CREATE TABLE {self.t('items')} (id TEXT PRIMARY KEY, title TEXT, n INTEGER)")
        tx.execute(f"CREATE INDEX {self.t('items')}_n ON {self.t('items')} (n, id)")

    def apply(self, domain_event: Any, notification_id: int) -> None:
        self.seen = getattr(self, "seen", 0) + 1
        assert self.tx is not None
        if isinstance(domain_event, Item.Created):
            self.tx.execute(f"INSERT INTO {self.t('items')} (id, title, n) VALUES (?, ?, ?)",
                            (str(domain_event.originator_id), domain_event.title,
                             domain_event.n))
        elif isinstance(domain_event, Item.Renamed):
            self.tx.execute(f"UPDATE {self.t('items')} SET title = ? WHERE id = ?",
                            (domain_event.title, str(domain_event.originator_id)))

    def list(self, q: PageQuery) -> dict[str, Any]:
        self.require_ready()
        after = checked_after(q, 2)
        where, params = "", []
        if after:
            where, params = "WHERE (n, id) > (?, ?)", list(after)
        with self.store.read() as tx:
            rows = tx.all(f"SELECT id, title, n FROM {self.t('items')} {where} "
                          "ORDER BY n, id LIMIT ?", (*params, q.limit + 1))
            total = tx.scalar(f"SELECT COUNT(*) AS c FROM {self.t('items')}")
        return page(rows, q.limit, key=lambda r: (r["n"], r["id"]), total=total)


class ItemsV2(Items):
    version = 2


def _system(store: dict[str, Any], name: str) -> Any:
    return scratch_settings(store, name)


def _save(app: ServiceApplication, count: int, start: int = 0) -> list[Item]:
    items = [Item(title=f"第{i}件", n=i) for i in range(start, start + count)]
    app.save(*items)
    return items


def test_rows_and_position_persist_and_a_restart_reads_only_the_tail(store):
    settings = _system(store, "rs")
    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        items = Items(app, views)
        models = ReadModels(app, views, [items])
        models.start()  # a new definition on a short log: built at once
        assert items.ready
        _save(app, 30)
        assert items.catch_up() == 30
        first = items.list(PageQuery(limit=12))
        assert len(first["items"]) == 12 and first["total"] == 30 and first["next_cursor"]
        seen, cursor = [r["n"] for r in first["items"]], first["next_cursor"]
        while cursor:
            nxt = items.list(PageQuery(limit=12, cursor=cursor))
            seen += [r["n"] for r in nxt["items"]]
            cursor = nxt["next_cursor"]
        assert seen == list(range(30))  # every row once, in a stable order
    finally:
        views.close()
        app.close()

    # A new process on the same stores: the position was stored with the rows.
    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        again = Items(app, views)
        assert again.ready and again.position == 30
        ReadModels(app, views, [again]).start()
        _save(app, 2, start=30)
        assert again.catch_up() == 2 and again.seen == 2  # the tail only
        assert again.list(PageQuery(limit=500))["total"] == 32
    finally:
        views.close()
        app.close()


def test_a_failed_page_leaves_rows_and_position_as_they_were(store):
    settings = _system(store, "rf")
    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        items = Items(app, views)
        ReadModels(app, views, [items]).start()
        _save(app, 3)
        real = items.apply
        calls = {"n": 0}

        def failing(event: Any, nid: int) -> None:
            calls["n"] += 1
            real(event, nid)
            if calls["n"] == 2:
                raise RuntimeError("boom")

        items.apply = failing  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            items.catch_up()
        assert items.position == 0
        assert items.list(PageQuery())["total"] == 0  # the first row was rolled back too
        items.apply = real  # type: ignore[method-assign]
        assert items.catch_up() == 3
        assert items.list(PageQuery())["total"] == 3
    finally:
        views.close()
        app.close()


def test_a_rebuild_builds_a_new_generation_while_the_live_one_answers(store):
    settings = _system(store, "rg")
    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        items = Items(app, views)
        models = ReadModels(app, views, [items])
        models.start()
        _save(app, 50)
        items.catch_up()
        generation = items.generation
        gate, answered = threading.Event(), []
        real_catch_up_some = TableProjection.catch_up_some

        def slow(self: TableProjection) -> int:  # the builder pauses after its first pages
            n = real_catch_up_some(self)
            gate.wait(10)
            return n

        TableProjection.catch_up_some = slow  # type: ignore[method-assign]
        try:
            builder = threading.Thread(target=models.rebuild, args=(items,))
            builder.start()
            # meanwhile the live generation answers, and follows the log
            _save(app, 5, start=50)
            items.catch_up()
            answered.append(items.list(PageQuery(limit=500))["total"])
            gate.set()
            builder.join(20)
        finally:
            TableProjection.catch_up_some = real_catch_up_some  # type: ignore[method-assign]
        assert answered == [55]
        assert items.generation == generation + 1 and items.ready
        assert items.list(PageQuery(limit=500))["total"] == 55
        assert not any(t.endswith(f"_v1g{generation}") for t in views.table_names())
        assert models.status()["items"]["build"]["done"] is True
    finally:
        views.close()
        app.close()


def test_a_new_definition_version_is_built_once_and_answers_503_meanwhile(store):
    settings = _system(store, "rv")
    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        items = Items(app, views)
        ReadModels(app, views, [items]).start()
        _save(app, 40)
        items.catch_up()
    finally:
        views.close()
        app.close()

    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        v2 = ItemsV2(app, views)
        assert not v2.ready  # the stored generation is of version 1
        with pytest.raises(Rebuilding):
            v2.list(PageQuery())
        models = ReadModels(app, views, [v2], sync_build_limit=10)  # 40 events: background
        models.start()
        for thread in models._threads:
            thread.join(20)
        assert v2.ready and v2.list(PageQuery(limit=500))["total"] == 40
        assert not any("_v1g" in t for t in views.table_names() if t.startswith("items"))
    finally:
        views.close()
        app.close()

    app = ServiceApplication(settings)
    views = ViewStore(settings)
    try:
        again = ItemsV2(app, views)
        assert again.ready and again.position == 40  # built once: not again at the next start
    finally:
        views.close()
        app.close()


def test_a_cursor_of_another_list_is_refused():
    with pytest.raises(ValueError):
        PageQuery(cursor="not a cursor")
    q = PageQuery(cursor=page([{"a": 1}, {"a": 2}], 1, key=lambda r: (r["a"],))["next_cursor"])
    with pytest.raises(Invalid):
        checked_after(q, 2)


def test_replicas_starting_together_build_a_new_definition_once(store):
    """Two processes' read models on one store, started at the same moment with a definition
    that has no live generation: one builds it, the other adopts it (no two builders
    dropping each other's tables)."""
    settings = _system(store, "rr")
    seed = ServiceApplication(settings)
    _save(seed, 60)
    seed.close()
    replicas = []
    for _ in range(2):
        app = ServiceApplication(settings)
        views = ViewStore(settings)
        replicas.append((app, views, Items(app, views)))
    try:
        go = threading.Barrier(2)
        results: list[Any] = []

        def start(app: Any, views: Any, items: Items) -> None:
            go.wait()
            models = ReadModels(app, views, [items])
            models.start()
            results.append(items.generation)

        threads = [threading.Thread(target=start, args=r) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [1, 1]  # one generation, built once
        for _, _, items in replicas:
            assert items.ready and items.list(PageQuery(limit=500))["total"] == 60
    finally:
        for app, views, _ in replicas:
            views.close()
            app.close()

"""A ranking of 300 deputies against a hand-computed fixture: the registrations are published on
a real nats-server as intake's outbox publishes them, consumed by the running points service
(SQLite and PostgreSQL) and the ranking read over request/reply; the same ranking after the
read model is dropped and rebuilt.

Fixture (2026 rules: a registered suggestion gives its lead deputy 3 points and each co-signer
1 point): deputy d{i:03}, i = 1..300, leads i % 5 registered suggestions and co-signs
i % 3 + 1 more, each led by the helper deputy "zz-lead". So d{i}'s total is
3·(i % 5) + (i % 3) + 1, from 1 to 15, and zz-lead's is 3 · Σ(i % 3 + 1) = 3 · 600 = 1800."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from itertools import count

import nats
import pytest

from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.base import ActorRef
from shared.contracts.intake import SuggestionRegisteredV1
from shared.streams import stream_name
from tests.harness import build, eventually, rpc, service_settings

pytestmark = pytest.mark.slow  # about 1,200 events over JetStream, recorded per store


@pytest.fixture
def config_dir(tmp_path):
    """The configuration with the fixture's 300 deputies, zz-lead and zz-sentinel added
    (upstream events naming an unknown deputy are parked, shared/event_validation.py)."""
    import shutil

    import yaml

    from shared.settings import ServiceSettings

    target = tmp_path / "config"
    shutil.copytree(ServiceSettings().config_dir, target)
    deputies = yaml.safe_load((target / "deputies.yaml").read_text(encoding="utf-8"))
    deputies += [{"id": d, "name": d, "level": "district", "group": "城建环保组"}
                 for d in [f"d{i:03}" for i in range(1, 301)] + ["zz-lead", "zz-sentinel"]]
    (target / "deputies.yaml").write_text(yaml.safe_dump(deputies, allow_unicode=True),
                                          encoding="utf-8")
    return target


@pytest.fixture
async def points(fresh_nats, store, config_dir):
    """The points service alone, on its own nats-server and store."""
    runtime = build("points", service_settings(fresh_nats.url, store, config_dir=config_dir),
                    clock=ManualClock(datetime(2026, 12, 1, 9, tzinfo=CHINA_TZ)))
    await runtime.start()
    yield runtime
    await runtime.stop()


def registered(n: int, lead: str, co: list[str]) -> SuggestionRegisteredV1:
    return SuggestionRegisteredV1(
        event_id=f"intake:{n}", case_id=f"00000000-0000-0000-0000-{n:012d}",
        actor=ActorRef(username="office", role="office"),
        occurred_at=datetime(2026, 6, 1, 10, tzinfo=CHINA_TZ), source_service="intake",
        source_notification_id=n, number=f"2026-{n:04d}", title="建议", category="livelihood",
        urgency="blue", lead_deputy_id=lead, co_signer_ids=co)


async def publish_all(url: str, events: list[SuggestionRegisteredV1],
                      msg_id_suffix: str = "") -> None:
    """Publish on intake's stream exactly as intake's outbox would (pipelined in batches)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for i in range(0, len(events), 100):
            await asyncio.gather(*(
                js.publish(e.subject(), e.to_bytes(), stream=stream_name("intake"),
                           headers={"Nats-Msg-Id": e.event_id + msg_id_suffix})
                for e in events[i:i + 100]))
    finally:
        await nc.close()


async def ranking(url: str) -> list[dict]:
    reply = await rpc(url, "points", "rankings", {"year": 2026, "limit": 500}, timeout=30)
    assert reply["ok"], reply
    return reply["result"]["rows"]


async def test_a_ranking_of_300_deputies_matches_the_hand_computed_fixture(points, fresh_nats):
    n = count(1)
    events = []
    for i in range(1, 301):
        deputy = f"d{i:03}"
        events += [registered(next(n), deputy, []) for _ in range(i % 5)]
        events += [registered(next(n), "zz-lead", [deputy]) for _ in range(i % 3 + 1)]
    await publish_all(fresh_nats.url, events)
    # A redelivery under new message ids (JetStream cannot de-duplicate it): still counted once.
    await publish_all(fresh_nats.url, events[:50], msg_id_suffix=":again")
    # Published last: once it counts, everything before it has been consumed.
    await publish_all(fresh_nats.url, [registered(next(n), "zz-sentinel", [])])

    async def all_counted():
        rows = await ranking(fresh_nats.url)
        return any(r["deputy_id"] == "zz-sentinel" and r["total"] == 3.0 for r in rows)

    await eventually(all_counted, timeout=180, interval=1.0)
    all_rows = await ranking(fresh_nats.url)
    rows = [r for r in all_rows if r["deputy_id"] == "zz-lead" or re.fullmatch(r"d\d{3}", r["deputy_id"])]
    assert len(rows) == 301
    assert (rows[0]["deputy_id"], rows[0]["total"], rows[0]["rank"]) == ("zz-lead", 1800.0, 1)
    # 15 points: i % 5 == 4 and i % 3 == 2, i.e. i % 15 == 14: d014, d029, ..., d299 (20 deputies),
    # tied on points: they share rank 2 (并列) and are listed by id.
    top = rows[1:21]
    assert [r["deputy_id"] for r in top] == [f"d{i:03}" for i in range(14, 300, 15)]
    assert all(r["total"] == 15.0 and r["tied_on_points"] for r in top)
    assert [r["rank"] for r in top] == [2] * 20
    # 14 points: i % 15 == 4 (i % 5 == 4, i % 3 == 1): d004, d019, ... (20 deputies), rank 22
    assert [r["deputy_id"] for r in rows[21:41]] == [f"d{i:03}" for i in range(4, 300, 15)]
    assert [r["rank"] for r in rows[21:41]] == [22] * 20
    # 1 point: i % 15 == 0: d015, d030, ..., d300 — last of the fixture, by id.
    assert [r["deputy_id"] for r in rows[-20:]] == [f"d{i:03}" for i in range(15, 301, 15)]
    assert all(r["total"] == 1.0 for r in rows[-20:])
    # Every total from 1 to 15 occurs for exactly 20 deputies (15 residues of i mod 15).
    totals = [r["total"] for r in rows[1:]]
    assert sorted(set(totals)) == [float(t) for t in range(1, 16)]
    assert all(totals.count(float(t)) == 20 for t in range(1, 16))
    # d123: 123 % 5 = 3 leads, 123 % 3 = 0 → 1 co-sign → 10 points, rank among all rows
    d123 = next(r for r in rows if r["deputy_id"] == "d123")
    assert d123["total"] == 10.0
    # ahead of it: zz-lead, 5 totals above 10 × 20 deputies, and d{i} with 10 points and a
    # smaller id: 10 points = i % 15 == 3 (3+0+1... 3·3+0+1) → d003, d018, ..., d108 (8 of them)
    assert [r["deputy_id"] for r in all_rows].index("d123") == 1 + 5 * 20 + 8

    # The ranking is a projection: dropped and rebuilt from the ledgers' events, the same.
    before = await ranking(fresh_nats.url)
    assert (await rpc(fresh_nats.url, "points", "rebuild_read_models", timeout=60))["ok"]
    assert await ranking(fresh_nats.url) == before

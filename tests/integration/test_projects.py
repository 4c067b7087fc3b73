"""Livelihood-project voting (民生实事项目票决) through the gateway, against the projects
service in-process with a real nats-server: proposals, a ballot, 30 deputies voting at once
with duplicates sent concurrently, the frozen results, the followed project's milestones and
the deputies' evaluation."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager

from services.gateway.app import GatewaySettings, create_app
from services.gateway.passwords import hash_password
from tests.harness import ROOT, InProcessSystem, build, eventually, rpc

DEPUTIES = [f"voter-{n:02d}" for n in range(1, 31)]
PROJECTS = "/api/v1/projects"


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> Path:
    """The development users and 30 more deputies (password: the username)."""
    users = yaml.safe_load((ROOT / "config" / "users.yaml").read_text(encoding="utf-8"))
    one_hash = hash_password("voter")  # the same password for every voter: one scrypt
    users += [{"username": d, "role": "deputy", "deputy_id": d, "password_hash": one_hash}
              for d in DEPUTIES]
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    path.write_text(yaml.safe_dump(users, allow_unicode=True), encoding="utf-8")
    return path


class Client:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.tokens: dict[str, dict[str, str]] = {}

    async def auth(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            password = "voter" if user.startswith("voter-") else user
            r = await self.http.post("/api/v1/auth/token",
                                     data={"username": user, "password": password})
            assert r.status_code == 200, r.text
            self.tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self.tokens[user]

    async def post(self, user: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=await self.auth(user))

    async def put(self, user: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.put(path, json=body, headers=await self.auth(user))

    async def get(self, user: str | None, path: str, **params: Any) -> httpx.Response:
        headers = await self.auth(user) if user else {}
        return await self.http.get(path, params=params, headers=headers)


@pytest.fixture
async def system(fresh_nats, store) -> AsyncIterator[InProcessSystem]:
    system = InProcessSystem(fresh_nats.url, store)
    await system.start("projects", "points")  # points keeps the deputies' participation
    yield system
    await system.stop()


@pytest.fixture
async def client(system, users_file) -> AsyncIterator[Client]:
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=10.0,
                               users_file=users_file, citizen_rate_limit="off",
                               accounts_source="file")  # the users of users_file sign in
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Client(http)


async def propose(client: Client, title: str, **extra: Any) -> str:
    r = await client.post("office", f"{PROJECTS}/proposals",
                          {"title": title, "description": f"{title}：惠及全区居民",
                           "unit_id": "unit-a", **extra})
    assert r.status_code == 201, r.text
    return r.json()["proposal_id"]


async def open_ballot(client: Client, titles: list[str], *, max_choices: int = 2,
                      seats: int = 2) -> tuple[str, list[str]]:
    ids = [await propose(client, t) for t in titles]
    r = await client.post("office", f"{PROJECTS}/ballots", {
        "session": "区第七届人民代表大会第五次会议", "year": 2026,
        "title": "2026 年区民生实事项目票决", "max_choices": max_choices, "seats": seats,
        "proposal_ids": ids})
    assert r.status_code == 201, r.text
    ballot_id = r.json()["ballot_id"]
    r = await client.post("office", f"{PROJECTS}/ballots/{ballot_id}/open")
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    return ballot_id, ids


async def published(system: InProcessSystem, subject: str) -> list[dict[str, Any]]:
    """The messages of one subject in the projects stream."""
    import nats

    nc = await nats.connect(system.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True)
        found = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:
                return found
            found.append(json.loads(msg.data))
    finally:
        await nc.close()


async def test_a_vote_from_proposal_to_evaluation(client, system):
    # a proposal from a suggestion records its source; a deputy proposes too
    r = await client.post("deputy-1", f"{PROJECTS}/proposals", {
        "title": "社区食堂", "description": "为老年人开办社区食堂", "source_kind": "suggestion",
        "source_id": "S-2026-0007", "unit_id": "unit-b"})
    assert r.status_code == 201, r.text
    assert r.json()["source_kind"] == "suggestion" and r.json()["source_id"] == "S-2026-0007"
    r = await client.post("office", f"{PROJECTS}/proposals", {
        "title": "x", "description": "y", "source_kind": "message"})
    assert r.status_code == 422  # a proposal from a message names it
    assert (await client.post("unit-a", f"{PROJECTS}/proposals",
                              {"title": "x", "description": "y"})).status_code == 403

    ballot_id, ids = await open_ballot(client, ["老旧小区加装电梯", "口袋公园", "背街小巷整治"],
                                       max_choices=2, seats=1)
    lift, park, lanes = ids
    assert (await client.post("deputy-1", f"{PROJECTS}/ballots/{ballot_id}/votes",
                              {"choices": [lift, park, lanes]})).status_code == 409  # over 2
    assert (await client.post("office", f"{PROJECTS}/ballots/{ballot_id}/votes",
                              {"choices": [lift]})).status_code == 403
    for deputy, choices in (("deputy-1", [lift, park]), ("deputy-2", [lift]),
                            ("deputy-3", [park, lift])):
        r = await client.post(deputy, f"{PROJECTS}/ballots/{ballot_id}/votes",
                              {"choices": choices})
        assert r.status_code == 201, r.text
        assert r.json()["voted"] is True and "choices" not in r.json()
    r = await client.get("deputy-1", f"{PROJECTS}/ballots/{ballot_id}")
    assert r.json()["you_voted"] is True and r.json()["results"] is None  # no running tally
    r = await client.post("office", f"{PROJECTS}/ballots/{ballot_id}/close")
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results["ballots_cast"] == 3 and results["chosen"] == [lift]
    assert {row["proposal_id"]: row["votes"] for row in results["rows"]} == \
        {lift: 3, park: 2, lanes: 0}
    [project_id] = r.json()["projects"]
    # closed once: again 409, a vote now 409
    assert (await client.post("office", f"{PROJECTS}/ballots/{ballot_id}/close")).status_code == 409
    r = await client.post("deputy-1", f"{PROJECTS}/ballots/{ballot_id}/votes", {"choices": [lanes]})
    assert r.status_code == 409, r.text

    r = await client.get("leader", f"{PROJECTS}/proposals", year=2026, status="chosen")
    assert [p["proposal_id"] for p in r.json()] == [lift]

    # the followed project: milestones with deadlines, reported by its unit only
    r = await client.post("office", f"{PROJECTS}/{project_id}/milestones",
                          {"title": "完成施工招标", "due": "2026-06-30"})
    assert r.status_code == 201, r.text
    milestone_id = r.json()["milestones"][0]["milestone_id"]
    report = {"note": "已完成招标", "done": True}
    r = await client.post("unit-b", f"{PROJECTS}/{project_id}/milestones/{milestone_id}/reports",
                          report)
    assert r.status_code == 403, r.text  # not its unit
    assert (await client.get("unit-b", f"{PROJECTS}/{project_id}")).status_code == 404
    assert (await client.get("unit-b", PROJECTS, year=2026)).json() == []
    r = await client.post("unit-a", f"{PROJECTS}/{project_id}/milestones/{milestone_id}/reports",
                          report)
    assert r.status_code == 201, r.text
    r = await client.get("unit-a", PROJECTS, year=2026)
    assert [p["project_id"] for p in r.json()] == [project_id]
    assert r.json()[0]["milestones"][0]["status"] == "done"

    # completed, then one evaluation per deputy (two at once from one deputy: one counts)
    assert (await client.post("deputy-1", f"{PROJECTS}/{project_id}/evaluations",
                              {"rating": "satisfied"})).status_code == 409  # not completed
    assert (await client.post("office", f"{PROJECTS}/{project_id}/complete")).status_code == 200
    twice = await asyncio.gather(*(client.post("deputy-1", f"{PROJECTS}/{project_id}/evaluations",
                                               {"rating": "satisfied"}) for _ in range(2)))
    assert sorted(r.status_code for r in twice) == [201, 409]
    r = await client.post("deputy-2", f"{PROJECTS}/{project_id}/evaluations",
                          {"rating": "unsatisfied", "comment": "进度偏慢"})
    assert r.status_code == 201, r.text
    r = await client.post("office", f"{PROJECTS}/{project_id}/evaluation/close")
    assert r.status_code == 200, r.text
    assert r.json()["evaluation"] == {"evaluations": 2, "satisfied": 1, "basically_satisfied": 0,
                                      "unsatisfied": 1, "satisfaction_rate": 0.5}

    # published as versioned integration events
    async def closed_event():
        return await published(system, "duty.projects.ballot_closed.v1")
    [event] = await eventually(closed_event)
    assert event["ballot_id"] == ballot_id and event["chosen"] == [lift]
    assert event["projects"] == [project_id] and event["ballots_cast"] == 3
    reported = await eventually(lambda: published(system, "duty.projects.milestone_reported.v1"))
    assert reported[0]["unit_id"] == "unit-a" and reported[0]["done"] is True
    voted = await eventually(lambda: published(system, "duty.projects.deputy_voted.v1"))
    assert sorted(e["deputy_id"] for e in voted) == ["deputy-1", "deputy-2", "deputy-3"]
    # points keeps the participation (never the choice) in the deputy's record
    async def participation():
        r = await client.get("deputy-2", "/api/v1/deputies/deputy-2/record", year=2026)
        return r.status_code == 200 and r.json()["project_votes"]
    [vote] = await eventually(participation)
    assert vote["ballot_id"] == ballot_id and vote["session"] == "区第七届人民代表大会第五次会议"
    assert set(vote) == {"ballot_id", "on", "session"}
    assert await eventually(lambda: published(system, "duty.projects.project_evaluated.v1"))

    # public results without login, without personal data
    r = await client.get(None, f"{PROJECTS}/results", year=2026)
    assert r.status_code == 200 and r.json()[0]["results"]["chosen"] == [lift]
    page = await client.http.get("/public/projects")
    assert page.status_code == 200 and "老旧小区加装电梯" in page.text and "当选" in page.text
    for text in (r.text, page.text):
        assert "deputy-" not in text and "voters" not in text


async def test_thirty_deputies_vote_at_once_with_duplicates_counted_exactly_once(client, system):
    # a second replica of the service on the same store: the bus's queue group shares the
    # requests between the two, so a deputy's two ballots are often decided by two processes
    replica = build("projects", system.settings(), clock=system.clock)
    await replica.start()
    try:
        await _thirty_deputies(client, system, replica)
    finally:
        await replica.stop()


async def _thirty_deputies(client, system, replica) -> None:
    ballot_id, ids = await open_ballot(client, ["甲项目", "乙项目", "丙项目", "丁项目"],
                                       max_choices=2, seats=2)
    for deputy in DEPUTIES:  # sign in first: the votes race each other, not the sign-ins
        await client.auth(deputy)
    choices = {d: [ids[n % 4], ids[(n * 3 + 1) % 4]] if n % 3 else [ids[n % 4]]
               for n, d in enumerate(DEPUTIES)}
    choices = {d: sorted(set(c)) for d, c in choices.items()}
    # every deputy sends their ballot twice at the same moment (a double tap, two replicas)
    sends = [client.post(d, f"{PROJECTS}/ballots/{ballot_id}/votes", {"choices": choices[d]})
             for d in DEPUTIES for _ in range(2)]
    answers = await asyncio.gather(*sends)
    by_deputy: dict[str, list[int]] = {}
    for (deputy, _), r in zip([(d, n) for d in DEPUTIES for n in range(2)], answers):
        by_deputy.setdefault(deputy, []).append(r.status_code)
    assert all(sorted(codes) == [201, 409] for codes in by_deputy.values()), by_deputy

    r = await client.get("office", f"{PROJECTS}/ballots/{ballot_id}")
    assert r.json()["voters_count"] == 30
    assert sorted(v["deputy_id"] for v in r.json()["voters"]) == DEPUTIES
    r = await client.post("office", f"{PROJECTS}/ballots/{ballot_id}/close")
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = Counter(p for c in choices.values() for p in c)
    assert results["ballots_cast"] == 30
    assert {row["proposal_id"]: row["votes"] for row in results["rows"]} == \
        {pid: expected.get(pid, 0) for pid in ids}
    # frozen: the same results afterwards, and a late ballot is refused
    again = (await client.get("deputy-1", f"{PROJECTS}/ballots/{ballot_id}")).json()["results"]
    assert again == results
    r = await client.post("deputy-1", f"{PROJECTS}/ballots/{ballot_id}/votes",
                          {"choices": [ids[0]]})
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    # both replicas answered votes, and every hash chain of the store holds
    served = [rt.metrics.rpc_seconds.labels("cast_vote")._sum.get() > 0
              for rt in (system.runtimes["projects"], replica)]
    assert all(served), served
    verified = await rpc(system.nats_url, "projects", "verify_store", {})
    assert verified["ok"] and verified["result"]["ok"], verified


async def test_no_answer_links_a_deputy_to_their_choice(client, system):
    ballot_id, ids = await open_ballot(client, ["甲项目", "乙项目", "丙项目"],
                                       max_choices=1, seats=1)
    r = await client.post("deputy-2", f"{PROJECTS}/ballots/{ballot_id}/votes",
                          {"choices": [ids[2]]})
    assert r.status_code == 201
    assert ids[2] not in r.text  # the answer does not repeat the choice
    answers = [r]
    for user in ("office", "leader", "deputy-2"):
        answers.append(await client.get(user, f"{PROJECTS}/ballots/{ballot_id}"))
        answers.append(await client.get(user, f"{PROJECTS}/ballots", year=2026))
    answers.append(await client.get(None, f"{PROJECTS}/results", year=2026))
    for answer in answers:
        assert answer.status_code == 200 or answer.status_code == 201, answer.text
        body = answer.json()
        text = json.dumps(body, ensure_ascii=False)
        assert '"choices"' not in text and "tally" not in text
        # who voted is known (participation), but no answer has a count or a choice while
        # the vote is open
        for item in body if isinstance(body, list) else [body]:
            assert item.get("results") is None
            for voter in item.get("voters") or []:
                assert set(voter) == {"deputy_id", "cast_at"}
    # the stored vote carries the ballot box as its actor, never the deputy
    app = system.app("projects")
    from services.projects.domain import Ballot
    counted = [n for n in app.recorder.select_notifications(start=1, limit=1000)
               if n.topic.endswith("Ballot.VoteCounted")]
    assert len(counted) == 1
    state = app.mapper.raw_state(counted[0])
    assert state["_meta"]["actor"]["username"] == "ballot-box"
    assert "deputy-2" not in json.dumps(state, ensure_ascii=False)
    assert Ballot  # the class the topic names

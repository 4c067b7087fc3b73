"""Poison messages under a workload of a thousand suggestions (POISON_TEST_SUGGESTIONS): while
the suggestions flow, 20 poison messages are published on upstream subjects the consumers read,
spread over the run — 10 that do not decode as their contract (not JSON, truncated JSON, a JSON
array, an empty object, a registration with an impossible urgency) and 10 well-formed ones whose
handler fails every time (a citizen message answered in 2019, when no scoring rule was in force;
a task whose case id is not an id).

Proven, at the end of the run:
- every poison message is parked on ``duty.dlq.<consumer>`` (stream DUTY_DLQ) exactly once by
  each service that consumes its subject, with the right error, attempt count (1: a message that
  does not decode is parked at once; ``max_delivery_attempts``: a failing handler is retried
  first) and original stream and sequence, and its body unchanged;
- nothing else is parked: the dead-letter stream holds exactly the expected entries, and each
  consumer counted exactly its own;
- ``duty-ops dlq list`` lists exactly those entries (and filters them by consumer);
- every good suggestion reached every service exactly once: exact counts in each event store,
  and no effect of any poison message in any of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import nats
import pytest

from shared.contracts import decode_event
from shared.contracts.assignment import TaskAssignedV1
from shared.contracts.intake import MessageAnsweredV1, SuggestionRegisteredV1
from shared.contracts.supervision import CaseClosedV1
from shared.streams import DLQ_STREAM, dlq_subject
from tests.e2e.cluster import OFFICE, Workload, settled, topic_counts
from tests.harness import ROOT, InProcessSystem, eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

N = int(os.environ.get("POISON_TEST_SUGGESTIONS", "1000"))
MALFORMED = 10
FAILING = 10
MAX_ATTEMPTS = 5  # the default; retries back off from 0.1 s (tests/harness.py)

# Subjects the malformed messages go to: between them, every consuming service reads one.
MALFORMED_SUBJECTS = (
    SuggestionRegisteredV1.subject(),  # assignment, points, supervision
    TaskAssignedV1.subject(),  # supervision
    MessageAnsweredV1.subject(),  # points
    CaseClosedV1.subject(),  # assignment, intake, points
)


def malformed_body(i: int) -> bytes:
    variants = [
        b"\xff\xfe not json at all",
        b'{"event_id": "intake:1", "case_id": "00000000-0000-0000-0000-0000000000',  # truncated
        b"[1, 2, 3]",
        b"{}",
        json.dumps({  # looks like a registration, but no such urgency
            "event_id": f"intake:{800000 + i}", "case_id": f"00000000-0000-0000-0000-{i:012d}",
            "actor": OFFICE, "occurred_at": "2026-03-02T01:00:00+00:00",
            "source_service": "intake", "source_notification_id": 800000 + i,
            "number": "2026-9999", "title": "紧急", "category": "livelihood",
            "urgency": "purple", "lead_deputy_id": "deputy-1"}).encode(),
    ]
    return variants[i % len(variants)]


def failing_event(i: int) -> tuple[str, str, bytes, str, frozenset[str] | None]:
    """A well-formed event (it decodes as its contract) that no retry can help: (kind, subject,
    body, what the parked error names, who parks it (None: every reader)). ``failing``: a
    handler raises every time, retried then parked; ``invalid``: it fails the validation of
    upstream events (shared/event_validation.py) and is parked at once."""
    position = 900000 + i  # far beyond any real notification id: never taken for a duplicate
    envelope = {"actor": OFFICE, "source_notification_id": position}
    if i % 2 == 0:
        # Points has no scoring rule in force in 2019 (config/points.yaml): retried, then parked.
        event = MessageAnsweredV1(
            **envelope, event_id=f"intake:{position}", source_service="intake",
            case_id=f"00000000-0000-0000-0001-{i:012d}",
            occurred_at=datetime(2019, 5, 1, 2, 0, tzinfo=timezone.utc),
            deputy_id="deputy-1", station_id="station-fengjie")
        return ("failing", event.subject(), event.to_bytes(), "no scoring rule is in force",
                frozenset({"points"}))
    # A case id is a UUID as intake makes them: a registration number there is refused.
    event = TaskAssignedV1(
        **envelope, event_id=f"assignment:{position}", source_service="assignment",
        case_id=f"2019-{i:04d}", occurred_at=datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc),
        task_id=f"00000000-0000-0000-0002-{i:012d}", unit_id="unit-b", role="lead",
        assigned_at=datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc), deadline=date(2026, 6, 2),
        title="旧案", category="livelihood", urgency="blue", number=f"2019-{i:04d}")
    return ("invalid", event.subject(), event.to_bytes(), "is not an id its producer makes",
            None)


@dataclass
class Poison:
    kind: str  # "malformed", "failing" or "invalid"
    subject: str
    body: bytes
    cause: str  # what the parked error must say
    parked_by: frozenset[str] | None = None  # None: every service that reads the subject
    stream: str = ""
    sequence: int = 0  # the original stream sequence, from the publish acknowledgement


def poison_messages() -> list[Poison]:
    """MALFORMED + FAILING poison messages, the two kinds alternating."""
    malformed = [Poison("malformed", MALFORMED_SUBJECTS[i % len(MALFORMED_SUBJECTS)],
                        malformed_body(i), "malformed: ") for i in range(MALFORMED)]
    failing = [Poison(*failing_event(i)) for i in range(FAILING)]
    mixed: list[Poison] = []
    for i in range(max(MALFORMED, FAILING)):
        mixed += malformed[i:i + 1] + failing[i:i + 1]
    return mixed


async def ops(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``duty-ops`` as in tests/integration/test_ops_cli.py (wide, so a table row is one line)."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ops", *args, "--nats-url", url],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})


async def dead_letters(url: str) -> list[Any]:
    """Every message in the dead-letter stream (subject, headers, body)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=10)
        info = await js.stream_info(DLQ_STREAM)
        if not info.state.messages:
            return []
        return [await js.get_msg(DLQ_STREAM, seq)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


async def test_poison_messages_under_load_are_all_parked_and_every_good_case_goes_through(
        fresh_nats, sqlite_store):
    url = fresh_nats.url
    system = InProcessSystem(url, sqlite_store, max_delivery_attempts=MAX_ATTEMPTS)
    await system.start()
    try:
        # Who consumes what, from the services' own wiring.
        readers = {}
        for service, runtime in system.runtimes.items():
            for consumer in runtime.consumers.values():
                for subject in consumer.subjects:
                    readers.setdefault(subject, set()).add(service)
        poison = poison_messages()
        for p in poison:
            assert readers.get(p.subject), f"no service consumes {p.subject}"
            if p.kind != "malformed":
                decode_event(p.subject, p.body)  # well-formed: it decodes as its contract
        # every consuming service (notifications too) reads some of them (accounts consumes
        # only the registry's records, which no service started here publishes)
        consuming = {name for name, runtime in system.runtimes.items()
                     if set(runtime.consumers) - {"registry"}}
        assert "notifications" in consuming and "accounts" not in consuming
        assert {s for p in poison for s in readers[p.subject]} == consuming

        async def inject(workload: Workload) -> None:
            """One poison message each time the workload has registered another 1/21 of N."""
            nc = await nats.connect(url)
            try:
                js = nc.jetstream(timeout=30)
                for k, p in enumerate(poison):
                    threshold = (k + 1) * N // (len(poison) + 1)
                    while len(workload.registered) < threshold:
                        await asyncio.sleep(0.05)
                    ack = await js.publish(p.subject, p.body, headers={"Nats-Msg-Id": f"poison-{k}"})
                    assert not ack.duplicate, ack
                    p.stream, p.sequence = ack.stream, ack.seq
            finally:
                await nc.close()

        async with Workload([url]) as workload:
            await asyncio.gather(workload.run(N), inject(workload))
        assert len(set(workload.registered)) == N
        assert all(p.sequence for p in poison)

        expected = {(service, p.stream, p.sequence): p for p in poison
                    for service in readers[p.subject] if not p.parked_by or service in p.parked_by}

        await eventually(settled(system.runtimes, [url]), timeout=900, interval=0.5)

        # --- the dead-letter stream holds exactly the poison, once per consuming service ---
        parked: dict[tuple[str, str, int], Any] = {}
        for m in await dead_letters(url):
            h = m.headers or {}
            key = (h.get("Duty-Consumer"), h.get("Duty-Original-Stream"),
                   int(h.get("Duty-Original-Sequence", "0")))
            assert key not in parked, f"parked twice: {key} {h}"
            parked[key] = m
        missing = sorted(set(expected) - set(parked))
        unexpected = {k: (m.headers or {}).get("Duty-Error") for k, m in parked.items() if k not in expected}
        assert not missing, f"{len(missing)} poison deliveries not parked: {missing}"
        assert not unexpected, f"parked though not poison: {unexpected}"
        assert len(parked) == len(expected)
        for (service, stream, sequence), m in parked.items():
            p = expected[(service, stream, sequence)]
            h = m.headers
            where = f"{service} parked {p.kind} {p.subject} seq {sequence}: {h}"
            assert m.subject == dlq_subject(service), where
            assert h["Duty-Original-Subject"] == p.subject, where
            assert m.data == p.body, where
            if p.kind in ("malformed", "invalid"):
                assert h["Duty-Error"].startswith(f"{p.kind}: "), where
                assert p.kind == "malformed" or p.cause in h["Duty-Error"], where
                assert h["Duty-Attempts"] == "1", where  # retrying cannot fix it: parked at once
            else:
                assert h["Duty-Error"].startswith(f"failed after {MAX_ATTEMPTS} attempts: "), where
                assert p.cause in h["Duty-Error"], where
                assert h["Duty-Attempts"] == str(MAX_ATTEMPTS), where
                assert "Traceback" in h.get("Duty-Traceback", ""), where
        for service, runtime in system.runtimes.items():
            counted = sum(c.stats.parked for c in runtime.consumers.values())
            assert counted == sum(1 for k in expected if k[0] == service), (
                service, {u: vars(c.stats) for u, c in runtime.consumers.items()})

        # --- the ops CLI lists the same entries ---
        listed = await ops(url, "dlq", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        entries = json.loads(listed.stdout)
        assert len(entries) == len(expected)
        assert sorted((e["consumer"], e["original_subject"], e["original_sequence"], e["attempts"],
                       e["error"]) for e in entries) == sorted(
            (service, p.subject, sequence,
             MAX_ATTEMPTS if p.kind == "failing" else 1,
             parked[(service, stream, sequence)].headers["Duty-Error"])
            for (service, stream, sequence), p in expected.items())
        assert sorted(e["sequence"] for e in entries) == sorted(m.seq for m in parked.values())
        for service in system.runtimes:
            one = await ops(url, "dlq", "list", "--json", "--consumer", service)
            assert one.returncode == 0, one.stderr
            assert sorted(e["sequence"] for e in json.loads(one.stdout)) == sorted(
                m.seq for k, m in parked.items() if k[0] == service)
        table = await ops(url, "dlq", "list")
        assert table.returncode == 0, table.stderr
        rows = sorted(tuple(cell.strip() for cell in line.split("│")[1:5])
                      for line in table.stdout.splitlines() if line.count("│") >= 6)
        assert rows == sorted((str(m.seq), k[0], m.headers["Duty-Original-Subject"], str(k[2]))
                              for k, m in parked.items()), table.stdout

        # --- every good suggestion reached every service exactly once; no poison had an effect ---
        counts = {s: topic_counts(system.app(s)) for s in ("intake", "assignment", "supervision", "points")}
        assert counts["intake"]["Suggestion.Registered"] == (N, N), counts["intake"]
        assert counts["assignment"]["Assignment.Assigned"] == (N, N), counts["assignment"]
        assert counts["assignment"]["Task.Assigned"] == (N, N), counts["assignment"]
        assert counts["supervision"]["SupervisedTask.Opened"] == (N, N), counts["supervision"]
        assert counts["points"]["DutyLedger.PointsAwarded"][0] == N, counts["points"]
        # Every event in every store is one of the good suggestions' (no poison left a trace:
        # no 2019 ledger, no task or case from the task with a bad case id).
        submitted = counts["intake"].pop("Suggestion.Submitted")
        assert submitted[0] == submitted[1] and (submitted[0] == N or workload.retries), submitted
        assert counts == {
            "intake": {"RegistrationSequence.Started": (1, 1),
                       "RegistrationSequence.NumberAllocated": (N, 1),
                       "Suggestion.Registered": (N, N)},
            # (the routing rule book, seeded from config/routing.yaml at the first routing)
            "assignment": {"RoutingRuleBook.Seeded": (1, 1), "Assignment.Opened": (N, N),
                           "Assignment.Assigned": (N, N), "Task.Assigned": (N, N)},
            "supervision": {"SupervisedCase.Opened": (N, N), "SupervisedCase.DeputiesKnown": (N, N),
                            "SupervisedTask.Opened": (N, N), "SupervisedCase.TaskLinked": (N, N)},
            "points": {"DutyLedger.Opened": (1, 1), "DutyLedger.FactRecorded": (N, 1),
                       "DutyLedger.PointsAwarded": (N, 1)},
        }
    finally:
        await system.stop()

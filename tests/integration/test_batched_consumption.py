"""A consumer with a backlog records several upstream messages per transaction: each effect
exactly once, each event with its own cause and trace, and a failing message taken out of the
batch without holding back the others (real nats-server, real stores)."""

from __future__ import annotations

from shared.audit import verify_chain
from shared.consumer import PermanentFailure
from shared.contracts.intake import SuggestionRegisteredV1
from shared.streams import stream_name
from tests.harness import InProcessSystem, build, eventually, rpc
from tests.integration.test_delivery import register_one, stream_messages

BACKLOG = 12


def recorded(app, topic_suffix: str) -> list[dict]:
    """Raw stored states (with ``_meta``) of the events whose topic ends so, in log order."""
    return [app.mapper.raw_state(n) for n in app.recorder.select_notifications(start=1, limit=10_000)
            if n.topic.endswith(topic_suffix)]


def trace_id(carrier: dict) -> str:
    return carrier["traceparent"].split("-")[1]


async def backlog_for_points(system: InProcessSystem) -> list[str]:
    """Stop points, register BACKLOG suggestions by one deputy (all of them scoring on the same
    duty ledger), and wait until intake has published them all."""
    await system.stop("points")
    ids = [await register_one(system.nats_url, title=f"背景事项 {i}") for i in range(BACKLOG)]

    async def published():
        msgs = await stream_messages(system.nats_url, stream_name("intake"))
        return len([m for m in msgs if m.subject.endswith("suggestion_registered.v1")]) == BACKLOG

    await eventually(published)
    return ids


async def start_points(system: InProcessSystem, fail_case: str | None = None):
    runtime = build("points", system.settings(), clock=system.clock,
                    tracer_provider=system.tracer_providers.get("points"))
    consumer = runtime.consumers["intake"]
    if fail_case:
        award = consumer.handlers[SuggestionRegisteredV1]

        def award_unless_failing(event):
            if event.case_id == fail_case:
                raise PermanentFailure("this suggestion cannot be scored (test)")
            return award(event)

        consumer.handlers[SuggestionRegisteredV1] = award_unless_failing
    await runtime.start()
    system.runtimes["points"] = runtime
    return runtime


async def points_total(url: str) -> float:
    r = await rpc(url, "points", "deputy_points", {"deputy_id": "deputy-1"})
    return r["result"]["total"]


async def test_a_backlog_is_recorded_in_batches_each_effect_once_with_its_own_cause(
        system: InProcessSystem):
    await backlog_for_points(system)
    runtime = await start_points(system)
    consumer = runtime.consumers["intake"]

    async def all_scored():
        return await points_total(system.nats_url) == 3.0 * BACKLOG

    await eventually(all_scored)
    assert consumer.stats.processed == BACKLOG
    assert consumer.stats.batches >= 1, vars(consumer.stats)  # not one commit per message
    assert consumer.stats.batched >= 2 * consumer.stats.batches
    assert consumer.stats.unbatched == 0
    r = await rpc(system.nats_url, "points", "deputy_points", {"deputy_id": "deputy-1"})
    assert len(r["result"]["lines"]) == BACKLOG

    # Each award names the registration that caused it, and continues that request's trace.
    intake_events = {f"intake:{i + 1}": state for i, state in enumerate(
        system.app("intake").mapper.raw_state(n)
        for n in system.app("intake").recorder.select_notifications(start=1, limit=10_000))}
    awards = recorded(system.app("points"), "PointsAwarded")
    assert len(awards) == BACKLOG
    causes = [a["_meta"]["causation_id"] for a in awards]
    assert len(set(causes)) == BACKLOG
    for award in awards:
        cause = intake_events[award["_meta"]["causation_id"]]
        assert cause["_meta"]["trace"] and award["_meta"]["trace"]
        assert trace_id(award["_meta"]["trace"]) == trace_id(cause["_meta"]["trace"])
    assert len({trace_id(a["_meta"]["trace"]) for a in awards}) == BACKLOG

    # One ledger changed by twelve messages in a few transactions: its hash chain is intact.
    ledger_id = system.app("points").recorder.select_notifications(start=1, limit=1)[0].originator_id
    assert verify_chain(system.app("points").stored_records(ledger_id))["ok"]

    # Redelivered after a restart, the same backlog changes nothing.
    await system.stop("points")
    runtime = await start_points(system)
    assert await points_total(system.nats_url) == 3.0 * BACKLOG


async def test_a_failing_message_is_taken_out_of_its_batch_and_the_rest_recorded(
        system: InProcessSystem):
    ids = await backlog_for_points(system)
    runtime = await start_points(system, fail_case=ids[5])
    consumer = runtime.consumers["intake"]

    async def rest_scored():
        return (await points_total(system.nats_url) == 3.0 * (BACKLOG - 1)
                and consumer.stats.parked == 1)

    await eventually(rest_scored)
    assert consumer.stats.unbatched >= 1, vars(consumer.stats)
    assert consumer.stats.processed == BACKLOG - 1
    r = await rpc(system.nats_url, "points", "case_points", {"case_id": ids[5]})
    assert r["result"] == []
    r = await rpc(system.nats_url, "points", "case_points", {"case_id": ids[6]})
    assert [line["points"] for line in r["result"]] == [3.0]

"""SIGTERM while requests are in flight: every request that was answered is in the store and
on the stream; nothing is left half-done."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import nats
import pytest

from shared.identity import signed_request
from tests.harness import ServiceProcess, eventually, process_env, rpc

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

DEPUTY = {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"}


async def test_sigterm_drains_in_flight_requests_and_the_outbox(fresh_nats, tmp_path):
    var = tmp_path / "var"
    env = process_env(fresh_nats.url, {"EVENT_STORE": "sqlite", "VAR_DIR": str(var)},
                      RELAY_POLL_SECONDS="5")  # leave the relay to the shutdown flush
    intake = ServiceProcess("intake", env, tmp_path)
    intake.start()

    async def ready():
        try:
            return (await rpc(fresh_nats.url, "intake", "health", timeout=1))["result"]["ready"]
        except Exception:
            return False

    await eventually(ready, timeout=60)
    nc = await nats.connect(fresh_nats.url)

    async def submit(i: int) -> str | None:
        body = signed_request("intake", {"title": f"建议{i}", "body": "内容", "category": "ecology"},
                              DEPUTY)
        try:
            msg = await nc.request("duty.rpc.intake.submit_suggestion", body, timeout=10)
        except Exception:
            return None  # not taken: refused at the door, which is fine
        reply = json.loads(msg.data)
        assert reply["ok"], reply  # taken requests are completed, never cut off
        return reply["result"]["id"]

    tasks = [asyncio.create_task(submit(i)) for i in range(60)]
    await asyncio.sleep(0.05)
    intake.proc.terminate()  # SIGTERM
    answered = {sid for sid in await asyncio.gather(*tasks) if sid}
    assert intake.proc.wait(30) == 0
    assert answered, "no request was answered before the shutdown"

    with sqlite3.connect(var / "intake.sqlite") as conn:
        stored = {row[0] for row in conn.execute(
            "SELECT originator_id FROM stored_events WHERE topic LIKE '%Suggestion.Submitted'")}
    assert {s.replace("-", "") for s in answered} <= {s.replace("-", "") for s in stored}

    js = nc.jetstream()
    info = await js.stream_info("DUTY_INTAKE")
    on_stream = set()
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else []:
        on_stream.add(json.loads((await js.get_msg("DUTY_INTAKE", seq)).data)["case_id"])
    await nc.close()
    assert len(on_stream) == len(stored)  # the outbox was flushed before exit
    assert answered <= on_stream

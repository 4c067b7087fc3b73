"""Who gets what: a table of the upstream events issue 27 names, each published on a real
nats-server on its producer's subject (as the producer's outbox publishes it) and consumed by
the notifications service on a real store. Each row must make exactly the notifications it
names (recipient and kind; the notification's id derived from the upstream event) and nothing
else; then the service restarts and every event is published again under new message ids (a
replay beyond the stream's duplicate window) and nothing new is made.

Only the notifications service runs: the producers' events are the input, so each row states
exactly what the service is given. Reminders the service raises itself (a claim about to
lapse, a message waiting too long, a rating due) are rows too: the clock moves past their due
time. Every round replied to here is rated, lapsed or reminded in the table, since the replay
below moves the clock past every rating period."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import nats
import pytest

from services.notifications.domain import Notification
from shared.contracts import IntegrationEvent
from shared.contracts.assignment import (
    LeadershipDesignatedV1,
    TaskAssignedV1,
    TaskReturnRefusedV1,
    TaskReturnRequestedV1,
    TaskWithdrawnV1,
)
from shared.contracts.intake import (
    CitizenMessageReceivedV1,
    MessageAnsweredV1,
    MessageClaimedV1,
    MessageForwardedV1,
    MessageMergedV1,
    MessageMergeUndoneV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
)
from shared.contracts.points import ActivityReviewedV1, PointsRevokedV1
from shared.contracts.supervision import (
    CaseEscalatedV1,
    DeadlineWarningV1,
    FollowUpReviewScheduledV1,
    RatingLapsedV1,
    RehandlingStartedV1,
    ReplySubmittedV1,
    SuggestionRatedV1,
)
from shared.clock import CHINA_TZ
from shared.streams import declare_streams, stream_name
from tests.harness import eventually, rpc

SUGGESTION = str(uuid4())   # deputy-1 (lead) and deputy-2 (co-signer); unit-b leads
OTHER = str(uuid4())        # deputy-3 only; unit-c
MESSAGE = str(uuid4())      # a citizen's message at station-fengjie, forwarded by deputy-1
ANSWERED = str(uuid4())     # a citizen's message claimed and answered by deputy-2
WAITING = str(uuid4())      # a citizen's message claimed and left to lapse
IGNORED = str(uuid4())      # a citizen's message nobody claims
RATED = str(uuid4())        # deputy-1 (lead), deputy-2 and deputy-3; only deputy-2 rates
TARGET, SOURCE = str(uuid4()), str(uuid4())  # deputy-2's; deputy-3's, merged into it, undone
T_TARGET = str(uuid4())
# citizens' messages: M_SOURCE merged into M_TARGET; M_UNDONE merged into it, then undone
M_TARGET, M_SOURCE, M_UNDONE = (str(uuid4()) for _ in range(3))
T_SUG, T_CO, T_OTHER, T_MSG = (str(uuid4()) for _ in range(4))
START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)
USERS = ("office", "leader", "unit-a", "unit-b", "unit-c", "unit-d",
         "deputy-1", "deputy-2", "deputy-3", "office-deputy-3")
_ids = itertools.count(1)


def ev(contract: type[IntegrationEvent], case_id: str, **fields: Any) -> IntegrationEvent:
    n = next(_ids) + 1000
    return contract(event_id=f"{contract.producer}:{n}", source_service=contract.producer,
                    source_notification_id=n, case_id=case_id, occurred_at=START,
                    actor={"username": "someone", "role": "office"}, **fields)


@dataclass
class Row:
    name: str
    event: IntegrationEvent | None  # None: the clock moves (a reminder falls due)
    told: dict[str, str]             # recipient -> kind
    advance: timedelta = field(default_factory=timedelta)


def task(task_id: str, unit: str, role: str, case_id: str = SUGGESTION,
         kind: str = "suggestion", number: str | None = "2026-0001") -> TaskAssignedV1:
    return ev(TaskAssignedV1, case_id, task_id=task_id, unit_id=unit, role=role,
              assigned_at=START, deadline=date(2026, 6, 1), title="加装电梯",
              category="livelihood", urgency="yellow", number=number, case_kind=kind)


def office(kind: str) -> dict[str, str]:
    """The office's users (office-deputy-3 is a clerk of the office who is also a deputy)."""
    return {"office": kind, "office-deputy-3": kind}


TABLE: list[Row] = [
    # what the service learns first (nobody is told of a registration)
    Row("suggestion registered", ev(SuggestionRegisteredV1, SUGGESTION, number="2026-0001",
        title="加装电梯", category="livelihood", urgency="yellow", lead_deputy_id="deputy-1",
        co_signer_ids=["deputy-2"]), {}),
    Row("other suggestion registered", ev(SuggestionRegisteredV1, OTHER, number="2026-0002",
        title="河道清理", category="ecology", urgency="blue", lead_deputy_id="deputy-3"), {}),
    # a unit
    Row("new task (lead)", task(T_SUG, "unit-b", "lead"), {"unit-b": "task_assigned"}),
    Row("new task (co-unit)", task(T_CO, "unit-a", "co"), {"unit-a": "task_assigned"}),
    Row("new task of another case", task(T_OTHER, "unit-c", "lead", OTHER, number="2026-0002"),
        {"unit-c": "task_assigned"}),
    Row("return requested: the office", ev(TaskReturnRequestedV1, SUGGESTION, task_id=T_SUG,
        unit_id="unit-b", reason="不属于本单位职责", window_end=date(2026, 3, 9)),
        office("return_requested")),
    Row("return refused", ev(TaskReturnRefusedV1, SUGGESTION, task_id=T_SUG, unit_id="unit-b",
        reason="由贵单位牵头办理"), {"unit-b": "return_refused"}),
    Row("reassignment", ev(TaskWithdrawnV1, SUGGESTION, task_id=T_CO, unit_id="unit-a",
        reason="改由其他单位协办", replaced_by_task_id=str(uuid4())),
        {"unit-a": "task_withdrawn"}),
    Row("yellow warning", ev(DeadlineWarningV1, SUGGESTION, task_id=T_SUG, unit_id="unit-b",
        level="yellow", deadline=date(2026, 6, 1)), {"unit-b": "deadline_warning"}),
    Row("red warning", ev(DeadlineWarningV1, SUGGESTION, task_id=T_SUG, unit_id="unit-b",
        level="red", deadline=date(2026, 6, 1)), {"unit-b": "deadline_warning"}),
    # a leader or a committee
    Row("designated to a leader", ev(LeadershipDesignatedV1, SUGGESTION, designee_id="leader-1",
        designee_name="常委会副主任", designee_kind="leader", mode="supervise"),
        {"leader": "leadership_designated"}),
    # nobody acts for committee-2 (the development leader account is leader-1's): nobody told
    Row("designated to a committee", ev(LeadershipDesignatedV1, OTHER, designee_id="committee-2",
        designee_name="社会建设委员会", designee_kind="committee", mode="lead"), {}),
    Row("escalated to the office", ev(CaseEscalatedV1, OTHER, reason="overdue",
        escalated_to="office", task_id=T_OTHER), office("case_escalated")),
    Row("escalated to a leader", ev(CaseEscalatedV1, SUGGESTION, reason="overdue",
        escalated_to="leader-1", task_id=T_SUG),
        {**office("case_escalated"), "leader": "case_escalated"}),
    # the deputies: the reply (their rating is due)
    Row("reply to a suggestion", ev(ReplySubmittedV1, SUGGESTION, task_id=T_SUG, unit_id="unit-b",
        result_class="B", commitment_date=date(2026, 9, 1), round=1, on_time=True),
        {"deputy-1": "reply_submitted", "deputy-2": "reply_submitted"}),
    Row("one deputy rated: nobody", ev(SuggestionRatedV1, SUGGESTION, deputy_id="deputy-2",
        rating="satisfied", round=1, result_class="B"), {}),
    Row("unsatisfied: a new round for the unit", ev(RehandlingStartedV1, SUGGESTION, round=2,
        task_id=T_SUG, unit_id="unit-b", deadline=date(2026, 7, 1), reason="unsatisfied"),
        {"unit-b": "rehandling_started"}),
    Row("second round's reply", ev(ReplySubmittedV1, SUGGESTION, task_id=T_SUG, unit_id="unit-b",
        result_class="B", commitment_date=date(2026, 9, 1), round=2, on_time=True),
        {"deputy-1": "reply_submitted", "deputy-2": "reply_submitted"}),
    Row("second round: one rated", ev(SuggestionRatedV1, SUGGESTION, deputy_id="deputy-1",
        rating="satisfied", round=2, result_class="B"), {}),
    Row("second round: the other's period lapsed: close-out waits (the office)",
        ev(RatingLapsedV1, SUGGESTION, deputy_ids=["deputy-2"], round=2),
        office("close_out_waiting")),
    Row("follow-up review due", ev(FollowUpReviewScheduledV1, SUGGESTION, review_id="r-1",
        due_on=date(2026, 9, 1), reason="class_b_commitment"), {"unit-b": "follow_up_review"}),
    # the deputies: the station's pool; a citizen's forwarded message
    Row("message in the station's pool", ev(CitizenMessageReceivedV1, MESSAGE,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("forwarded by a deputy", ev(MessageForwardedV1, MESSAGE, unit_id="unit-a",
        station_id="station-fengjie", deputy_id="deputy-1"), {}),
    Row("the message's task", task(T_MSG, "unit-a", "lead", MESSAGE, "message", None),
        {"unit-a": "task_assigned"}),
    Row("the unit's feedback: the forwarding deputy and the citizen",
        ev(ReplySubmittedV1, MESSAGE, task_id=T_MSG, unit_id="unit-a", result_class="A",
           round=1, on_time=True),
        {"deputy-1": "reply_submitted", f"citizen:{MESSAGE}": "citizen_reply"}),
    # a message claimed, answered; a claim about to lapse; a message waiting too long
    Row("message to be answered", ev(CitizenMessageReceivedV1, ANSWERED,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("claimed", ev(MessageClaimedV1, ANSWERED, deputy_id="deputy-2",
        station_id="station-fengjie", claimed_at=START, claim_expires_at=START + timedelta(days=3)),
        {}),
    Row("answered by the deputy: the citizen", ev(MessageAnsweredV1, ANSWERED,
        deputy_id="deputy-2", station_id="station-fengjie"), {f"citizen:{ANSWERED}": "citizen_reply"}),
    Row("a message to be left", ev(CitizenMessageReceivedV1, WAITING,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("claimed by deputy-1", ev(MessageClaimedV1, WAITING, deputy_id="deputy-1",
        station_id="station-fengjie", claimed_at=START, claim_expires_at=START + timedelta(days=3)),
        {}),
    Row("two days on: deputy-1's claim is about to lapse (the answered one is not)", None,
        {"deputy-1": "claim_lapsing"}, timedelta(days=2, hours=1)),
    # the same matter from several citizens: merged messages wait no more; the answer
    # reaches the merged ones' citizens too, not one whose merge was undone
    Row("a message many write about", ev(CitizenMessageReceivedV1, M_TARGET,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("the same matter from another citizen", ev(CitizenMessageReceivedV1, M_SOURCE,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("merged into the first: nobody", ev(MessageMergedV1, M_SOURCE, into_message_id=M_TARGET,
        station_id="station-fengjie"), {}),
    Row("a third citizen's", ev(CitizenMessageReceivedV1, M_UNDONE,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("merged too: nobody", ev(MessageMergedV1, M_UNDONE, into_message_id=M_TARGET,
        station_id="station-fengjie"), {}),
    Row("that merge undone: nobody", ev(MessageMergeUndoneV1, M_UNDONE, into_message_id=M_TARGET,
        station_id="station-fengjie", reason="不是同一事项"), {}),
    Row("the first answered: its citizen and the merged one's",
        ev(MessageAnsweredV1, M_TARGET, deputy_id="deputy-2", station_id="station-fengjie"),
        {f"citizen:{M_TARGET}": "citizen_reply", f"citizen:{M_SOURCE}": "citizen_reply"}),
    Row("the unmerged one answered on its own", ev(MessageAnsweredV1, M_UNDONE,
        deputy_id="deputy-1", station_id="station-fengjie"),
        {f"citizen:{M_UNDONE}": "citizen_reply"}),
    Row("another message nobody claims", ev(CitizenMessageReceivedV1, IGNORED,
        station_id="station-fengjie"),
        {"deputy-1": "message_waiting", "deputy-2": "message_waiting"}),
    Row("three days on: the office is told it waits", None,
        office("message_waiting_long"), timedelta(days=3, hours=1)),
    # a suggestion merged into another: its deputies rate the target's replies, until undone
    Row("a suggestion to merge into", ev(SuggestionRegisteredV1, TARGET, number="2026-0004",
        title="增设公交站", category="livelihood", urgency="blue", lead_deputy_id="deputy-2"), {}),
    Row("deputy-3's suggestion merged into it: nobody", ev(SuggestionMergedV1, SOURCE,
        into_suggestion_id=TARGET, lead_deputy_id="deputy-3"), {}),
    Row("its reply: its deputy and the merged one's", ev(ReplySubmittedV1, TARGET,
        task_id=T_TARGET, unit_id="unit-c", result_class="A", round=1, on_time=True),
        {"deputy-2": "reply_submitted", "deputy-3": "reply_submitted"}),
    Row("its own deputy rated: the close-out waits for the other", ev(SuggestionRatedV1, TARGET,
        deputy_id="deputy-2", rating="satisfied", round=1, result_class="A"), {}),
    Row("the merged one's deputy rated: close-out waiting", ev(SuggestionRatedV1, TARGET,
        deputy_id="deputy-3", rating="satisfied", round=1, result_class="A"),
        office("close_out_waiting")),
    Row("the merge undone: nobody", ev(SuggestionMergeUndoneV1, SOURCE,
        into_suggestion_id=TARGET, lead_deputy_id="deputy-3", reason="并非同一事项"), {}),
    Row("a second round's reply: only its own deputy now", ev(ReplySubmittedV1, TARGET,
        task_id=T_TARGET, unit_id="unit-c", result_class="A", round=2, on_time=True),
        {"deputy-2": "reply_submitted"}),
    Row("its own deputy rated: close-out waiting", ev(SuggestionRatedV1, TARGET,
        deputy_id="deputy-2", rating="satisfied", round=2, result_class="A"),
        office("close_out_waiting")),
    # a rating due (rating_period_days 30 in config/supervision.yaml; NOTIFY_RATING_WARNING_DAYS
    # 5): the suggestion's deputies who have neither rated nor let it lapse, before it lapses
    Row("a suggestion of three deputies", ev(SuggestionRegisteredV1, RATED, number="2026-0003",
        title="修缮老旧小区", category="livelihood", urgency="blue", lead_deputy_id="deputy-1",
        co_signer_ids=["deputy-2", "deputy-3"]), {}),
    Row("its reply", ev(ReplySubmittedV1, RATED, task_id=str(uuid4()), unit_id="unit-d",
        result_class="A", round=1, on_time=True),
        {"deputy-1": "reply_submitted", "deputy-2": "reply_submitted",
         "deputy-3": "reply_submitted"}),
    Row("deputy-2 rates it: nobody", ev(SuggestionRatedV1, RATED, deputy_id="deputy-2",
        rating="satisfied", round=1, result_class="A"), {}),
    Row("24 days after the replies: no rating due yet (nor for the rounds rated or lapsed)",
        None, {}, timedelta(days=19)),
    Row("25 days after: the two who have not rated (not deputy-2) are told",
        None, {"deputy-1": "rating_due", "deputy-3": "rating_due", "deputy-2": None},
        timedelta(days=1)),
    # the deputies: points
    Row("activity approved", ev(ActivityReviewedV1, SUGGESTION, activity_id=str(uuid4()),
        deputy_id="deputy-3", kind="reception_day", activity_date=date(2026, 2, 27),
        decision="approved", points=2.0, rule_version="2026.1"),
        {"deputy-3": "activity_reviewed", "office-deputy-3": None}),
    Row("activity rejected", ev(ActivityReviewedV1, SUGGESTION, activity_id=str(uuid4()),
        deputy_id="deputy-1", kind="reception_day", activity_date=date(2026, 2, 27),
        decision="rejected", reason="佐证材料不足"), {"deputy-1": "activity_reviewed"}),
    Row("points revoked", ev(PointsRevokedV1, OTHER, deputy_id="deputy-3", year=2026,
        points=-3.0, cause_kind="suggestion_registered", cause_ref=OTHER, revoked_line=1,
        reason="撤销立案"), {"deputy-3": "points_revoked"}),
]
for row in TABLE:  # a None kind only says "not this one" (office-deputy-3 is not a deputy user)
    row.told = {r: k for r, k in row.told.items() if k is not None}


async def publish(js, event: IntegrationEvent, msg_id: str | None = None) -> None:
    await js.publish(event.subject(), event.to_bytes(), stream=stream_name(event.producer),
                     headers={"Nats-Msg-Id": msg_id or event.message_id(),
                              "content-type": "application/json"})


def all_notifications(runtime) -> dict[str, tuple[str, str]]:
    """Every notification the service holds: id -> (recipient, kind), read from its inbox
    read model (every notification here is in-app)."""
    runtime.catch_up()
    views = runtime.app.views
    with views.store.read() as tx:
        rows = tx.all(f"SELECT id, recipient, data FROM {views.inbox.t('Inbox_items')}")
    return {r["id"]: (r["recipient"], json.loads(r["data"])["kind"]) for r in rows}


async def run_reminders(runtime) -> None:
    await asyncio.to_thread(runtime.app.deliver_due, runtime.catch_up)


@pytest.fixture
async def notifications_only(fresh_nats, store):
    from tests.harness import InProcessSystem
    system = InProcessSystem(fresh_nats.url, store)
    system.clock.set(START)
    nc = await nats.connect(fresh_nats.url)
    await declare_streams(nc.jetstream())
    await system.start("notifications")
    yield system, nc.jetstream()
    await system.stop()
    await nc.close()


async def test_each_event_tells_exactly_the_right_people_once(notifications_only):
    system, js = notifications_only
    runtime = system.runtimes["notifications"]
    seen: dict[str, tuple[str, str]] = {}
    wrong: list[str] = []
    for row in TABLE:
        if row.event is not None:
            await publish(js, row.event)
            expected_ids = {str(Notification.create_id(r, k, row.event.event_id)): (r, k)
                            for r, k in row.told.items()}
        else:
            system.clock.advance(row.advance)
            await run_reminders(runtime)
            expected_ids = None

        async def settled(row=row):
            now = all_notifications(runtime)
            new = {i: v for i, v in now.items() if i not in seen}
            return len(new) >= len(row.told) and new

        new = await eventually(settled, timeout=10) if row.told else {}
        await asyncio.sleep(0.3)  # anything extra would have arrived by now
        now = all_notifications(runtime)
        new = {i: v for i, v in now.items() if i not in seen}
        made = sorted(new.values())
        if made != sorted(row.told.items()):
            wrong.append(f"{row.name}: expected {sorted(row.told.items())}, made {made}")
        elif expected_ids is not None and set(new) != set(expected_ids):
            wrong.append(f"{row.name}: notification ids not derived from the event")
        seen.update(now)
    assert not wrong, "\n".join(wrong)

    # restart; then every event again under new message ids (beyond the stream's duplicate
    # window, as a replay from the producers' logs is): nothing new, nothing twice
    await system.stop("notifications")
    await system.start("notifications")
    runtime = system.runtimes["notifications"]
    assert all_notifications(runtime) == seen
    for row in TABLE:
        if row.event is not None:
            await publish(js, row.event, msg_id=f"{row.event.message_id()}.replay")
    system.clock.advance(timedelta(days=30))
    await run_reminders(runtime)

    async def replayed():
        stats = [c.stats for c in runtime.consumers.values()]
        return sum(s.duplicates for s in stats) >= sum(1 for r in TABLE if r.event) and stats

    await eventually(replayed, timeout=20)
    await asyncio.sleep(0.3)
    assert all_notifications(runtime) == seen
    # each user's inbox, through the service's route, holds exactly the table's rows for them
    roles = {"office": "office", "office-deputy-3": "office", "leader": "leader"}
    for user in USERS:
        expected = sorted(k for row in TABLE for r, k in row.told.items() if r == user)
        answer = await rpc(system.nats_url, "notifications", "list_notifications",
                           {"limit": 100}, actor={"username": user, "role": roles.get(
                               user, user.split("-")[0])})
        assert answer["ok"], answer
        assert sorted(n["kind"] for n in answer["result"]["items"]) == expected, user
        assert answer["result"]["unread"] == len(expected)
        for item in answer["result"]["items"]:
            if item["kind"] == "rating_due":  # the case and the last day to rate (30 days)
                assert "2026-0003「修缮老旧小区」" in item["title"], item
                assert "测评截止日期 2026年04月01日" in item["title"], item
                assert item["case_id"] == RATED

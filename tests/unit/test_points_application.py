"""Duty points: the application's commands, queries and upstream handlers on a real SQLite
store (handlers are called directly, as the runtime's consumer would)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

import pytest

from services.points.application import (
    ActivitiesQuery,
    ActivityRef,
    PointsApplication,
    RankingsQuery,
    Recalculate,
    RejectActivity,
    RevokePoints,
    ScoringRules,
    SubmitActivity,
)
from services.points.bus import translate
from services.points.domain import DutyLedger
from services.points.read_models import PointsViews
from services.points.record import deputy_record
from services.points.report import render_report
from services.points.views import deputy_points
from shared.contracts.requests.points import DeputyPoints
from shared.clock import CHINA_TZ, ManualClock
from shared.contracts.intake import (
    MessageAnsweredV1,
    MessageRatedV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
    SuggestionRegistrationReversedV1,
)
from shared.contracts.supervision import CaseClosedV1
from shared.eventstore import Actor
from shared.outbox import envelope_for
from services.points.errors import LineNotRevocable, NotPending, SelfReviewRefused
from shared.rpc import Forbidden, Invalid, NotFound
from shared.runtime import refusal_reply
from shared.settings import ServiceSettings

OFFICE = Actor("office", "office")
LEADER = Actor("leader", "leader")
UNIT = Actor("unit-a", "unit", unit_id="unit-a")
D1 = Actor("deputy-1", "deputy", deputy_id="deputy-1")
D2 = Actor("deputy-2", "deputy", deputy_id="deputy-2")
AT = datetime(2026, 3, 10, 9, 0, tzinfo=CHINA_TZ)
positions = count(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 20, 9, 0, tzinfo=CHINA_TZ))


@pytest.fixture
def app(tmp_path, clock):
    settings = ServiceSettings(service_name="points", event_store="sqlite", var_dir=tmp_path)
    app = PointsApplication(settings, clock=clock)
    app.views = PointsViews(app)  # its read models, as the runtime attaches them
    app.views.start()
    yield app
    app.views.close()
    app.close()


def envelope(case_id: str, at: datetime = AT, producer: str = "intake") -> dict:
    n = next(positions)
    return {"event_id": f"{producer}:{n}", "case_id": case_id, "source_service": producer,
            "source_notification_id": n, "occurred_at": at,
            "actor": {"username": "office", "role": "office"}}


def registered(case_id: str, lead: str = "deputy-1", co: tuple = ("deputy-2",),
               at: datetime = AT) -> SuggestionRegisteredV1:
    return SuggestionRegisteredV1(**envelope(case_id, at), number="2026-0001", title="加装电梯",
                                  category="livelihood", urgency="blue", lead_deputy_id=lead,
                                  co_signer_ids=list(co))


def handle(app: PointsApplication, handler, event) -> list[DutyLedger]:
    ledgers = handler(event)
    app.save(*ledgers)
    return ledgers


def points(app, deputy_id: str, year: int = 2026) -> dict:
    app.views.catch_up()  # as the runtime does before every query
    return deputy_points(app, DeputyPoints(deputy_id=deputy_id, year=year), OFFICE)


def submit(app, kind="reception_day", on=date(2026, 3, 16), actor=D1, **extra) -> dict:
    return app.submit_activity(SubmitActivity(deputy_id=actor.deputy_id, kind=kind, date=on,
                                              description="进站接待群众", **extra), actor)


# --- automatic points --------------------------------------------------------------------

def test_registration_awards_lead_and_co_signers_once(app):
    event = registered("case-1")
    handle(app, app.on_suggestion_registered, event)
    assert handle(app, app.on_suggestion_registered, event) == []  # idempotent
    lead, co = points(app, "deputy-1"), points(app, "deputy-2")
    assert lead["total"] == 3.0 and co["total"] == 1.0
    [line] = lead["lines"]
    assert (line["cause_kind"], line["cause_ref"], line["event_id"]) == (
        "suggestion_registered", "case-1", event.event_id)
    assert line["rule_version"] == "2026.1" and line["details"]["role"] == "lead"


def test_a_merge_revokes_registration_points_with_a_reason_and_undo_awards_them_again(app):
    handle(app, app.on_suggestion_registered, registered("case-1"))
    merged = SuggestionMergedV1(**envelope("case-1", AT + timedelta(days=1)),
                                into_suggestion_id="case-9", lead_deputy_id="deputy-1",
                                co_signer_ids=["deputy-2"], source_number="2026-0001")
    handle(app, app.on_suggestion_merged, merged)
    assert handle(app, app.on_suggestion_merged, merged) == []  # idempotent
    lead = points(app, "deputy-1")
    assert lead["total"] == 0.0
    revocation = lead["lines"][-1]
    assert revocation["type"] == "revocation" and revocation["points"] == -3.0
    assert "case-9" in revocation["reason"] and revocation["event_id"] == merged.event_id
    assert points(app, "deputy-2")["total"] == 0.0

    undone = SuggestionMergeUndoneV1(**envelope("case-1", AT + timedelta(days=2)),
                                     into_suggestion_id="case-9", lead_deputy_id="deputy-1",
                                     co_signer_ids=["deputy-2"], reason="误合并")
    handle(app, app.on_suggestion_merge_undone, undone)
    assert handle(app, app.on_suggestion_merge_undone, undone) == []
    assert points(app, "deputy-1")["total"] == 3.0 and points(app, "deputy-2")["total"] == 1.0
    restored = points(app, "deputy-1")["lines"][-1]
    assert restored["type"] == "award" and restored["details"]["restores_line"] == 1


def test_a_reversed_registration_revokes_its_points_and_a_new_registration_scores_again(app):
    handle(app, app.on_suggestion_registered, registered("case-1"))
    reversed_ = SuggestionRegistrationReversedV1(
        **envelope("case-1", AT + timedelta(days=1)), number="2026-0001",
        reason="误将诉讼事项立案", lead_deputy_id="deputy-1", co_signer_ids=["deputy-2"])
    handle(app, app.on_suggestion_registration_reversed, reversed_)
    assert handle(app, app.on_suggestion_registration_reversed, reversed_) == []  # idempotent
    lead = points(app, "deputy-1")
    assert lead["total"] == 0.0 and points(app, "deputy-2")["total"] == 0.0
    revocation = lead["lines"][-1]
    assert revocation["type"] == "revocation" and revocation["points"] == -3.0
    assert "2026-0001" in revocation["reason"] and "误将诉讼事项立案" in revocation["reason"]
    assert revocation["event_id"] == reversed_.event_id

    app.views.catch_up()

    def suggestions_counted() -> int:
        record = deputy_record(app, app.views, "deputy-1", 2026)
        [count_] = [i for i in record["indicators"] if i["code"] == "suggestions"]
        return count_["value"]

    record = deputy_record(app, app.views, "deputy-1", 2026)
    assert record["suggestions"][0]["reversed_on"] == "2026-03-11"
    assert record["suggestions"][0]["reversal_reason"] == "误将诉讼事项立案"
    assert suggestions_counted() == 0

    # Registered again (a new event, a new number): scored again, once.
    again = SuggestionRegisteredV1(**envelope("case-1", AT + timedelta(days=2)),
                                   number="2026-0007", title="加装电梯", category="livelihood",
                                   urgency="blue", lead_deputy_id="deputy-1",
                                   co_signer_ids=["deputy-2"])
    handle(app, app.on_suggestion_registered, again)
    assert handle(app, app.on_suggestion_registered, again) == []
    assert points(app, "deputy-1")["total"] == 3.0 and points(app, "deputy-2")["total"] == 1.0
    assert points(app, "deputy-1")["lines"][-1]["event_id"] == again.event_id
    app.views.catch_up()
    record = deputy_record(app, app.views, "deputy-1", 2026)
    assert record["suggestions"][0]["number"] == "2026-0007"
    assert record["suggestions"][0]["reversed_on"] is None
    assert suggestions_counted() == 1


def test_a_case_closed_resolved_and_satisfied_awards_per_split(app):
    handle(app, app.on_suggestion_registered, registered("case-1"))
    closed = CaseClosedV1(**envelope("case-1", AT + timedelta(days=30), "supervision"),
                          result_class="A", lead_deputy_id="deputy-1", co_signer_ids=["deputy-2"],
                          ratings={"deputy-1": "satisfied", "deputy-2": "satisfied"},
                          all_satisfied=True, rounds=1, replied_on_time=True)
    handle(app, app.on_case_closed, closed)
    assert handle(app, app.on_case_closed, closed) == []
    assert points(app, "deputy-1")["total"] == 3.0 + 4.0
    assert points(app, "deputy-2")["total"] == 1.0 + 2.0
    assert points(app, "deputy-1")["lines"][-1]["cause_kind"] == "suggestion_resolved"
    # A class-B close scores nothing but is on the record.
    handle(app, app.on_suggestion_registered, registered("case-2"))
    closed_b = CaseClosedV1(**envelope("case-2", AT + timedelta(days=31), "supervision"),
                            result_class="B", lead_deputy_id="deputy-1", all_satisfied=True,
                            rounds=1, replied_on_time=True)
    handle(app, app.on_case_closed, closed_b)
    assert points(app, "deputy-1")["total"] == 3.0 + 4.0 + 3.0
    ledger = app.ledger("deputy-1", 2026)
    assert ledger.has_fact("case_closed", "case-2")


def test_answered_messages_score_up_to_the_monthly_cap(app):
    for i in range(12):
        event = MessageAnsweredV1(**envelope(f"msg-{i}"), deputy_id="deputy-1",
                                  station_id="station-fengjie")
        handle(app, app.on_message_answered, event)
    lines = points(app, "deputy-1")["lines"]
    assert len(lines) == 12 and points(app, "deputy-1")["total"] == 10.0
    assert lines[-1]["points"] == 0.0 and "message_answered" in lines[-1]["capped_by"]
    rated = MessageRatedV1(**envelope("msg-0"), rating="satisfied", station_id="station-fengjie",
                           handled_by="deputy", deputy_id="deputy-1")
    handle(app, app.on_message_rated, rated)
    handle(app, app.on_message_rated, rated)
    assert points(app, "deputy-1")["total"] == 10.5


def test_an_event_before_any_rule_cannot_be_scored(app):
    with pytest.raises(LookupError, match="no scoring rule"):
        app.on_suggestion_registered(registered("old", at=datetime(2019, 5, 1, tzinfo=CHINA_TZ)))


# --- self-reported activities --------------------------------------------------------------

def test_an_approved_activity_scores_and_a_second_in_the_month_is_capped(app):
    first = submit(app)
    assert first["status"] == "pending"
    assert points(app, "deputy-1")["total"] == 0.0  # pending does not score
    approved = app.approve_activity(ActivityRef(activity_id=first["id"]), OFFICE)
    assert approved["status"] == "approved" and approved["points"] == 2.0
    second = submit(app, on=date(2026, 3, 18))
    capped = app.approve_activity(ActivityRef(activity_id=second["id"]), OFFICE)
    assert capped["points"] == 0.0 and "reception_day" in capped["capped_by"]
    lines = points(app, "deputy-1")["lines"]
    assert [(l["cause_kind"], l["cause_ref"], l["points"]) for l in lines] == [
        ("activity", first["id"], 2.0), ("activity", second["id"], 0.0)]
    assert lines[1]["capped_by"] == capped["capped_by"]
    with pytest.raises(NotPending, match="already approved") as refused:
        app.approve_activity(ActivityRef(activity_id=first["id"]), OFFICE)
    assert refusal_reply(refused.value).status == 409


def test_rejection_needs_a_reason_and_scores_nothing(app):
    activity = submit(app)
    with pytest.raises(Invalid) as exc:
        app.reject_activity(RejectActivity(activity_id=activity["id"], reason=""), OFFICE)
    assert exc.value.errors[0]["loc"] == ["body", "reason"]
    rejected = app.reject_activity(RejectActivity(activity_id=activity["id"], reason="无佐证材料"),
                                   OFFICE)
    assert rejected["status"] == "rejected" and rejected["reason"] == "无佐证材料"
    assert points(app, "deputy-1")["lines"] == []


def test_self_approval_and_other_reviewers_are_refused(app):
    activity = submit(app)
    with pytest.raises(SelfReviewRefused, match="own") as refused:
        app.approve_activity(ActivityRef(activity_id=activity["id"]),
                             Actor("deputy-1-admin", "office", deputy_id="deputy-1"))
    assert refusal_reply(refused.value).status == 403
    for actor in (D1, D2, LEADER, UNIT):
        with pytest.raises(Forbidden):
            app.approve_activity(ActivityRef(activity_id=activity["id"]), actor)
    with pytest.raises(NotFound):
        app.approve_activity(ActivityRef(activity_id="not-an-id"), OFFICE)


def test_submission_is_validated_field_by_field(app, clock):
    with pytest.raises(Invalid) as exc:
        app.submit_activity(SubmitActivity(deputy_id="deputy-1", kind="dancing",
                                           date=date(2026, 3, 21), description="  "), D1)
    errors = {tuple(e["loc"]): e["msg"] for e in exc.value.errors}
    assert set(errors) == {("body", "date"), ("body", "description")}
    assert "future" in errors[("body", "date")]
    with pytest.raises(Invalid) as exc:
        submit(app, kind="dancing")
    assert exc.value.errors[0]["loc"] == ["body", "kind"] and "reception_day" in exc.value.errors[0]["msg"]
    with pytest.raises(Forbidden):
        app.submit_activity(SubmitActivity(deputy_id="deputy-2", kind="training",
                                           date=date(2026, 3, 1), description="x"), D1)
    with pytest.raises(Forbidden):
        app.submit_activity(SubmitActivity(deputy_id="deputy-1", kind="training",
                                           date=date(2026, 3, 1), description="x"), OFFICE)


def test_points_are_seen_by_their_deputy_the_office_and_leaders_only(app):
    deputy_points(app, DeputyPoints(deputy_id="deputy-1"), D1)
    deputy_points(app, DeputyPoints(deputy_id="deputy-1"), LEADER)
    for actor in (D2, UNIT):
        with pytest.raises(Forbidden):
            deputy_points(app, DeputyPoints(deputy_id="deputy-1"), actor)
    with pytest.raises(NotFound):
        deputy_points(app, DeputyPoints(deputy_id="deputy-99"), OFFICE)


# --- rule versions, recalculation, revocation ------------------------------------------------

def with_second_version(app) -> None:
    base = app.rules.version("2026.1")
    app.rules = ScoringRules([*app.rules.versions, {
        **base, "version": "2026.2", "effective_from": "2026-03-15",
        "activities": {**base["activities"],
                       "reception_day": {"points": 3.0, "cap": {"period": "month", "max_points": 3.0}}},
        "automatic": {**base["automatic"], "suggestion_registered": {"lead": 5.0, "co_signer": 2.0}},
    }])


def test_points_keep_the_rule_they_were_earned_under_until_an_explicit_recalculation(app):
    with_second_version(app)
    handle(app, app.on_suggestion_registered, registered("case-1"))  # 2026-03-10: 2026.1
    early = submit(app, on=date(2026, 3, 10))
    late = submit(app, on=date(2026, 4, 16) - timedelta(days=30))  # 2026-03-17: 2026.2
    app.approve_activity(ActivityRef(activity_id=early["id"]), OFFICE)
    late = app.approve_activity(ActivityRef(activity_id=late["id"]), OFFICE)
    assert late["rule_version"] == "2026.2" and late["points"] == 1.0  # 3.0 cap, 2.0 used
    before = points(app, "deputy-1")
    assert [l["rule_version"] for l in before["lines"]] == ["2026.1", "2026.1", "2026.2"]
    assert before["total"] == 3.0 + 2.0 + 1.0

    with pytest.raises(Invalid) as exc:
        app.recalculate(Recalculate(year=2026, rule_version="2030.9"), OFFICE)
    assert exc.value.errors[0]["loc"] == ["body", "rule_version"]
    with pytest.raises(Forbidden):
        app.recalculate(Recalculate(year=2026, rule_version="2026.2"), LEADER)

    record = app.recalculate(Recalculate(year=2026, rule_version="2026.2", reason="新规则追溯"),
                             OFFICE)
    by_deputy = {l["deputy_id"]: l for l in record["ledgers"]}
    after = points(app, "deputy-1")
    # registration 3 -> 5; early reception day 2 -> 3 (the cap); the later one 1 -> 0.
    assert after["total"] == 5.0 + 3.0 + 0.0
    assert by_deputy["deputy-1"]["delta"] == 2.0 and by_deputy["deputy-2"]["delta"] == 1.0
    adjustments = [l for l in after["lines"] if l["type"] == "adjustment"]
    assert {a["refers_to_line"]: a["points"] for a in adjustments} == {1: 2.0, 2: 1.0, 3: -1.0}
    assert all(a["recalculation_id"] == record["id"] for a in adjustments)
    assert [l["rule_version"] for l in after["lines"][:3]] == ["2026.1", "2026.1", "2026.2"]
    # Once more under the same version: recorded, but no new lines.
    again = app.recalculate(Recalculate(year=2026, rule_version="2026.2"), OFFICE)
    assert again["total_delta"] == 0 and points(app, "deputy-1")["lines"] == after["lines"]


def test_the_office_revokes_a_line_with_a_reason(app):
    handle(app, app.on_suggestion_registered, registered("case-1"))
    with pytest.raises(Invalid):
        app.revoke_points(RevokePoints(deputy_id="deputy-1", year=2026, line_no=1, reason=""), OFFICE)
    with pytest.raises(Forbidden):
        app.revoke_points(RevokePoints(deputy_id="deputy-1", year=2026, line_no=1, reason="x"), D1)
    line = app.revoke_points(RevokePoints(deputy_id="deputy-1", year=2026, line_no=1,
                                          reason="建议内容抄袭"), OFFICE)
    assert line["points"] == -3.0 and line["reason"] == "建议内容抄袭"
    with pytest.raises(LineNotRevocable) as refused:
        app.revoke_points(RevokePoints(deputy_id="deputy-1", year=2026, line_no=1, reason="x"), OFFICE)
    assert refusal_reply(refused.value).status == 409
    assert points(app, "deputy-1")["total"] == 0.0


# --- rebuilt from events; read models; outbox; record and report -------------------------------

def test_ledgers_and_read_models_are_rebuilt_from_events(app, tmp_path, clock):
    handle(app, app.on_suggestion_registered, registered("case-1"))
    handle(app, app.on_suggestion_registered, registered("case-2", lead="deputy-3", co=()))
    for actor in (D1, D2):
        activity = submit(app, kind="training", actor=actor)
        app.approve_activity(ActivityRef(activity_id=activity["id"]), OFFICE)
    submit(app, kind="training", actor=D2)
    views = app.views
    views.catch_up()

    def ranking(group: str | None = None) -> list[dict]:
        return views.rankings.ranking(RankingsQuery(limit=500, group=group), 2026)["items"]

    ranked = ranking()
    # deputy-1 4.5; deputy-3 3.0 and deputy-2 2.5.
    assert [(r["deputy_id"], r["total"]) for r in ranked][:3] == [
        ("deputy-1", 4.5), ("deputy-3", 3.0), ("deputy-2", 2.5)]
    assert [r["deputy_id"] for r in ranking(group="城建环保组")] == [
        "deputy-1", "deputy-3"]
    assert len(views.activities.query(ActivitiesQuery(status="pending"), None, 2026)["items"]) == 1

    views.read_models.rebuild(views.rankings), views.read_models.rebuild(views.activities)
    views.catch_up()
    assert ranking() == ranked
    again = PointsApplication(app.settings, clock=clock)
    try:
        assert again.ledger("deputy-1", 2026).lines == app.ledger("deputy-1", 2026).lines
    finally:
        again.close()


def test_the_outbox_translates_awards_revocations_and_reviews(app):
    handle(app, app.on_suggestion_registered, registered("case-1", co=()))
    merged = SuggestionMergedV1(**envelope("case-1"), into_suggestion_id="case-9",
                                lead_deputy_id="deputy-1")
    handle(app, app.on_suggestion_merged, merged)
    activity = submit(app)
    app.approve_activity(ActivityRef(activity_id=activity["id"]), OFFICE)
    rejected = submit(app, on=date(2026, 3, 1))
    app.reject_activity(RejectActivity(activity_id=rejected["id"], reason="重复"), OFFICE)
    app.recalculate(Recalculate(year=2026, rule_version="2026.1"), OFFICE)
    published = []
    for n in app.recorder.select_notifications(start=1, limit=1000):
        event = app.mapper.to_domain_event(n)
        out = translate(app, event, envelope_for("points", event, n.id))
        if out is not None:
            published.append(out)
    names = [type(e).__name__ for e in published]
    assert names == ["PointsAwardedV1", "PointsRevokedV1", "ActivityReviewedV1",
                     "PointsAwardedV1", "ActivityReviewedV1", "PointsRecalculatedV1"]
    revoked = published[1]
    assert revoked.points == -3.0 and revoked.case_id == "case-1" and "case-9" in revoked.reason
    approved, rejected_event = published[2], published[4]
    assert published[3].cause_ref == activity["id"] and published[3].cause_kind == "activity"
    assert approved.decision == "approved" and approved.points == 2.0
    assert approved.case_id == activity["id"] == approved.activity_id
    assert rejected_event.decision == "rejected" and rejected_event.reason == "重复"


def test_the_duty_record_and_annual_report(app):
    handle(app, app.on_suggestion_registered, registered("case-1"))
    activity = submit(app, kind="inspection_research", on=date(2026, 3, 5))
    app.approve_activity(ActivityRef(activity_id=activity["id"]), OFFICE)
    app.views.catch_up()
    record = deputy_record(app, app.views, "deputy-1", 2026)
    assert record["total"] == 6.0 and record["rank"] == 1 and record["group_rank"] == 1
    assert record["activities"][0]["date"] == "2026-03-05"
    assert record["activities"][0]["kind_zh"] == "视察调研"
    assert record["suggestions"][0]["number"] == "2026-0001"
    assert record["suggestions"][0]["registered_on"] == "2026-03-10"
    assert record["suggestions"][0]["points"] == 3.0
    assert len(record["indicators"]) == 8
    html = render_report(record, generated_at=AT)
    assert html.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in html
    assert "2026年度履职报告" in html and "王建国" in html and "视察调研" in html
    assert "http" not in html and "<script" not in html and "<link" not in html
    record["activities"][0]["description"] = "<b>注入</b>"
    assert "&lt;b&gt;注入&lt;/b&gt;" in render_report(record)


def test_a_long_ledger_loads_from_its_snapshot_with_the_same_lines(app, clock):
    for i in range(60):  # snapshots every 50 events
        handle(app, app.on_message_answered,
               MessageAnsweredV1(**envelope(f"m-{i}", AT + timedelta(days=i)), deputy_id="deputy-1",
                                 station_id="station-fengjie"))
    live = app.ledger("deputy-1", 2026)
    assert app.snapshots is not None and list(app.snapshots.get(live.id))
    again = PointsApplication(app.settings, clock=clock)
    try:
        loaded = again.ledger("deputy-1", 2026)
        assert loaded.lines == live.lines and loaded.facts == live.facts
        assert loaded.total == 10.0 + 10.0 + 8.0  # March and April capped at 10; May 1-8
    finally:
        again.close()


def test_undoing_a_merge_does_not_restore_points_the_office_revoked(app):
    handle(app, app.on_suggestion_registered, registered("case-1", co=()))
    app.revoke_points(RevokePoints(deputy_id="deputy-1", year=2026, line_no=1, reason="抄袭"), OFFICE)
    undone = SuggestionMergeUndoneV1(**envelope("case-1"), into_suggestion_id="case-9",
                                     lead_deputy_id="deputy-1", reason="误合并")
    handle(app, app.on_suggestion_merge_undone, undone)
    assert points(app, "deputy-1")["total"] == 0.0

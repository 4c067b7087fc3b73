"""Notifications' handlers, commands and delivery over its event store.

Who must know (``on_*`` handlers, one per upstream integration event, each run exactly once
with the upstream tracking row by the runtime's consumer):

- a unit: a new task (``task_assigned``), its task withdrawn or reassigned
  (``task_withdrawn``), a return refused, yellow and red deadline warnings, a re-handling
  round after an unsatisfied rating (or a review not kept), a follow-up review scheduled;
- a deputy: a citizen message waiting in their station's pool, the reply to their suggestion
  (or to the message they forwarded), which is also when their rating is due, a suggestion's
  rating due before its period lapses (to those of the round who have not rated), a self-reported
  activity approved or rejected, points revoked;
- a leader: a case designated to them, an escalation addressed to them;
- the office: every escalation, a unit's return request.

Recipients are the accounts (services/accounts), replicated in this service's log from
``account_changed.v2`` and seeded from the users' list (services/notifications/recipients.py):
a unit's users (role unit, ``unit_id``), a deputy's users (role deputy, ``deputy_id``), leaders
(role leader; one with ``leader_id`` only for that designee), the office (role office);
disabled accounts are told nothing. E-mail addresses
are in config/notifications.yaml. The channels of each notification are chosen from the
recipient's preferences when it is made and recorded with it.

Preferences per user: per kind in-app, e-mail and a unit's webhook (a kind with none of them
is off: no notification is made); e-mail immediate or as a daily digest at the user's hour
(channel ``digest``: the item is deferred to that time, and one mail carries every item due
then); quiet hours (immediate mail due inside them is deferred to their end, China time).

Reminders: a deputy's claim of a citizen message about to lapse, a message nobody claims
for ``notify_message_waiting_hours`` and a suggestion's rating due (``notify_rating_warning_days``
before the rating period of config/supervision.yaml ends, to each deputy of the round who has
neither rated nor let it lapse) are raised by the delivery job from the ``Reminders`` read
model, each once (an id derived from the case, the reminder and its due time).

Delivery (``deliver_due``, a periodic job): each pending (notification, channel) is tried;
success is recorded as ``Delivered``, a failure as ``DeliveryFailed`` with the next attempt
after an exponential back-off, and after ``notify_max_attempts`` as ``DeliveryParked``. A
delivery recorded as delivered is never sent again (a restart or a replay reads it from the
log). Replicas: before sending, a replica records ``DeliveryClaimed`` (optimistic: a replica
whose claim conflicts, or that finds a live claim, leaves the delivery), so two replicas'
jobs send each once. A crash between sending and recording the outcome can send one more
copy after the claim's lease ends: each mail carries the
notification's Message-ID and each webhook call the ``X-Duty-Delivery`` id for receivers to
drop a repeat.
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import Field

from shared.clock import CHINA_TZ, Clock, clock_from_settings
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
    MessageConvertedV1,
    MessageForwardedV1,
    MessageMergedV1,
    MessageMergeUndoneV1,
    SuggestionMergedV1,
    SuggestionMergeUndoneV1,
    SuggestionRegisteredV1,
)
from shared.contracts.base import IntegrationEvent
from shared.contracts.liaison import ObligationBehindV1
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
from shared.eventstore import Actor, ServiceApplication
from shared.contracts.requests.notifications import (
    KindPreference,
    ListNotifications,
    MarkRead,
    QuietHours,
    SetPreferences,
)
from shared.rpc import Invalid, NotFound
from shared.reference import ReferenceData
from shared.settings import ServiceSettings, load_config

from services.notifications.delivery import Delivery, next_at, verify_webhook
from services.notifications.domain import KINDS, CaseFile, Notification, Preferences
from services.notifications.read_models import NotificationViews
from services.notifications.recipients import Recipients
from services.notifications.views import preferences_of

log = logging.getLogger(__name__)

CITIZEN = "citizen:"  # a citizen's inbox: "citizen:<message id>", read through the token


def citizens_of(case: CaseFile) -> list[str]:
    """A message's citizen, and the citizens of the messages merged into it (the same
    matter: the answer is theirs too)."""
    return [CITIZEN + case.case_id, *(CITIZEN + source for source in case.merged_sources)]


class Reminder:
    """What a reminder's notification is caused by (in place of an upstream event): its id is
    derived from the case, the reminder and its due time, so it is made once."""

    def __init__(self, case_id: str, name: str, due_at: str) -> None:
        self.case_id = case_id
        self.event_id = f"notifications:reminder:{case_id}:{name}:{due_at}"
        self.occurred_at = datetime.fromisoformat(due_at)


class NotificationSettings(ServiceSettings):
    # Users' list (recipients) and e-mail addresses (config/notifications.yaml).
    users_file: Path | None = None
    # SMTP: no host, no e-mail channel.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "duty-liaison@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    # Webhook calls carry X-Duty-Signature: sha256=HMAC(secret, body).
    notify_webhook_secret: str = ""
    notify_delivery_seconds: float = 2.0
    notify_retry_seconds: float = 30.0
    notify_max_attempts: int = Field(5, ge=1)
    notify_timeout_seconds: float = 10.0
    # a deputy is reminded this long before their claim of a citizen message lapses
    notify_claim_warning_hours: float = 24.0
    # the office is told of a citizen message nobody claimed or forwarded for this long
    notify_message_waiting_hours: float = 72.0
    # a suggestion's deputies who have not rated a reply are reminded this many days before
    # the rating period (config/supervision.yaml, rating_period_days) ends
    notify_rating_warning_days: int = Field(5, ge=0)

    def webhook_secret(self) -> bytes:
        if self.notify_webhook_secret:
            return self.notify_webhook_secret.encode()
        if self.duty_dev_mode or os.environ.get("DUTY_DEV_MODE"):
            return b"duty-dev-webhook-secret"
        return b""


# The requests (ListNotifications, SetPreferences...) are declared in
# shared/contracts/requests/notifications.py.


def _label(case: CaseFile | None, fallback: str = "") -> str:
    return case.label() if case is not None else (fallback or "案件")


class NotificationsApplication(Delivery, ServiceApplication):
    name = "notifications"

    def __init__(self, settings: NotificationSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.delivery = settings
        try:
            contacts = load_config(settings, "notifications")
        except FileNotFoundError:
            contacts = []
        self.emails = {c["username"]: c["email"] for c in contacts if c.get("email")}
        self.leaders = {l["id"]: l for l in load_config(settings, "leaders")}
        # the rating period is supervision's rule: read from the same file supervision reads
        with (settings.config_dir / "supervision.yaml").open(encoding="utf-8") as f:
            rules = yaml.safe_load(f) or {}
        self.rating_period_days = int(rules.get("rating_period_days", 30))
        super().__init__(settings)
        # Stations (who a message at a station reaches): this service's replica of the
        # registry's records (shared/reference.py), seeded from config/ and followed in its
        # own log; updated in place.
        self.reference = ReferenceData(self, settings)
        self.stations = self.reference.table("station")
        self.reference.catch_up()
        # Who is told: the accounts (services/accounts) replicated in this log, seeded from
        # the users' list (services/notifications/recipients.py)
        self.recipients = Recipients(
            self, settings.users_file or settings.config_dir / "users.yaml")
        self.recipients.directory.catch_up()
        self.views = NotificationViews(self)  # its read models (the delivery job's work)

    # --- recipients ---------------------------------------------------------------------

    def unit_users(self, unit_id: str) -> list[str]:
        return self.recipients.unit_users(unit_id)

    def deputy_users(self, deputy_id: str) -> list[str]:
        return self.recipients.deputy_users(deputy_id)

    def leader_users(self, designee_id: str) -> list[str]:
        return self.recipients.leader_users(designee_id)

    def office_users(self) -> list[str]:
        return self.recipients.office_users()

    # --- loading ------------------------------------------------------------------------

    def case_file(self, case_id: str) -> CaseFile | None:
        try:
            return self.repository.get(CaseFile.create_id(case_id))
        except AggregateNotFoundError:
            return None

    def _note(self, case_id: str, changed: dict[UUID, Any], **facts: Any) -> CaseFile:
        key = CaseFile.create_id(case_id)
        case = changed.get(key) or self.case_file(case_id) or CaseFile(case_id=case_id)
        case.note(facts)
        changed[key] = case
        return case

    def preferences(self, username: str) -> dict[str, dict[str, Any]]:
        try:
            prefs: Preferences = self.repository.get(Preferences.create_id(username))
            return prefs.kinds
        except AggregateNotFoundError:
            return {}

    def options(self, username: str) -> dict[str, Any]:
        try:
            prefs: Preferences = self.repository.get(Preferences.create_id(username))
            return prefs.options
        except AggregateNotFoundError:
            return {}

    def notification(self, notification_id: str) -> Notification:
        try:
            aggregate = self.repository.get(UUID(notification_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no notification {notification_id}") from None
        if not isinstance(aggregate, Notification):
            raise NotFound(f"no notification {notification_id}")
        return aggregate

    # --- making notifications -----------------------------------------------------------

    def _tell(self, changed: dict[UUID, Any], recipients: list[str], kind: str,
                event: IntegrationEvent, title: str, body: str = "", **refs: Any) -> None:
        for recipient in dict.fromkeys(recipients):
            key = Notification.create_id(recipient, kind, event.event_id)
            if key in changed or key in self.repository:
                continue
            prefs = {} if recipient.startswith(CITIZEN) else self.preferences(recipient)
            options = {} if recipient.startswith(CITIZEN) else self.options(recipient)
            chosen = {**prefs.get("*", {}), **prefs.get(kind, {})}
            if not chosen.get("in_app", True) and not chosen.get("email", True) \
                    and not chosen.get("webhook_url"):
                continue  # the kind is off for this user
            deliveries: dict[str, str] = {}
            address = self.emails.get(recipient)
            digest = options.get("email_mode") == "daily_digest"
            if address and self.delivery.smtp_host and chosen.get("email", True):
                deliveries["digest" if digest else "email"] = address
            if chosen.get("webhook_url"):
                deliveries["webhook"] = chosen["webhook_url"]
            notification = Notification(
                recipient=recipient, kind=kind, title=title, body=body or title,
                created_at=event.occurred_at, source_event_id=event.event_id,
                in_app=chosen.get("in_app", True), deliveries=deliveries,
                case_id=refs.get("case_id", event.case_id), task_id=refs.get("task_id"),
                message_id=refs.get("message_id"))
            assert notification.id == key  # derived (create_id): one per recipient, kind, event
            if "digest" in deliveries:  # waits for the day's digest
                notification.delivery_deferred(
                    channel="digest", why="digest",
                    until=next_at(self.clock.now(), options.get("digest_at") or "08:00"))
            changed[key] = notification

    # --- upstream handlers: intake ------------------------------------------------------

    def on_suggestion_registered(self, event: SuggestionRegisteredV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        deputies = [event.lead_deputy_id, *event.co_signer_ids]
        self._note(event.case_id, changed, kind="suggestion", number=event.number,
                   title=event.title, deputies=list(dict.fromkeys(deputies)))
        return list(changed.values())

    def on_suggestion_merged(self, event: SuggestionMergedV1) -> list[Any]:
        """The source's deputies rate the target's replies from now on."""
        changed: dict[UUID, Any] = {}
        self._note(event.into_suggestion_id, changed, merged_source={
            event.case_id: [event.lead_deputy_id, *event.co_signer_ids]})
        return list(changed.values())

    def on_suggestion_merge_undone(self, event: SuggestionMergeUndoneV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        self._note(event.into_suggestion_id, changed, merged_source={event.case_id: None})
        return list(changed.values())

    def on_message_received(self, event: CitizenMessageReceivedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        self._note(event.case_id, changed, kind="message")
        station = self.stations.get(event.station_id) or {}
        recipients = [u for d in station.get("deputies", []) for u in self.deputy_users(d)]
        self._tell(changed, recipients, "message_waiting", event,
                     f"{station.get('name', event.station_id)}有新的群众留言待认领",
                     message_id=event.case_id)
        due = event.occurred_at + timedelta(hours=self.delivery.notify_message_waiting_hours)
        self._note(event.case_id, changed, reminders={"message_waiting_long": {
            "due_at": due.isoformat(), "station_id": event.station_id}})
        return list(changed.values())

    def on_message_claimed(self, event: MessageClaimedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        due = max(event.claimed_at, event.claim_expires_at
                  - timedelta(hours=self.delivery.notify_claim_warning_hours))
        self._note(event.case_id, changed, kind="message", reminders={
            "message_waiting_long": None,
            "claim_lapsing": {"due_at": due.isoformat(), "deputy_id": event.deputy_id,
                              "expires_at": event.claim_expires_at.isoformat()}})
        return list(changed.values())

    def _message_handled(self, event: IntegrationEvent, changed: dict[UUID, Any],
                         **facts: Any) -> CaseFile:
        return self._note(event.case_id, changed, kind="message", **facts, reminders={
            "message_waiting_long": None, "claim_lapsing": None})

    def on_message_forwarded(self, event: MessageForwardedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        self._message_handled(event, changed, forwarded_by=event.deputy_id)
        return list(changed.values())

    def on_message_converted(self, event: MessageConvertedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        self._message_handled(event, changed)
        return list(changed.values())

    def on_message_answered(self, event: MessageAnsweredV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self._message_handled(event, changed)
        self._tell(changed, citizens_of(case), "citizen_reply", event,
                   "代表已答复您的留言，请查看并评价", message_id=event.case_id)
        return list(changed.values())

    def on_message_merged(self, event: MessageMergedV1) -> list[Any]:
        """The source is handled with the target: nobody is reminded it waits, and its citizen
        is told of the target's answer or feedback (the target's file lists the source)."""
        changed: dict[UUID, Any] = {}
        self._message_handled(event, changed)
        self._note(event.into_message_id, changed, kind="message",
                   merged_source={event.case_id: []})
        return list(changed.values())

    def on_message_merge_undone(self, event: MessageMergeUndoneV1) -> list[Any]:
        """The source is back in the pool: waiting again, on its own."""
        changed: dict[UUID, Any] = {}
        self._note(event.into_message_id, changed, merged_source={event.case_id: None})
        due = event.occurred_at + timedelta(hours=self.delivery.notify_message_waiting_hours)
        self._note(event.case_id, changed, kind="message", reminders={"message_waiting_long": {
            "due_at": due.isoformat(), "station_id": event.station_id}})
        return list(changed.values())

    # --- assignment ---------------------------------------------------------------------

    def on_task_assigned(self, event: TaskAssignedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self._note(event.case_id, changed, kind=event.case_kind, number=event.number,
                          title=event.title, task_id=event.task_id, unit_id=event.unit_id,
                          lead_unit=event.unit_id if event.role == "lead" else None)
        role = "主办" if event.role == "lead" else "协办"
        self._tell(changed, self.unit_users(event.unit_id), "task_assigned", event,
                     f"新交办任务（{role}）：{case.label()}，办理时限 {event.deadline}",
                     task_id=event.task_id)
        return list(changed.values())

    def on_task_withdrawn(self, event: TaskWithdrawnV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        what = "已改派其他单位" if event.replaced_by_task_id else "已撤回"
        self._tell(changed, self.unit_users(event.unit_id), "task_withdrawn", event,
                     f"任务{what}：{_label(case)}", f"原因：{event.reason}",
                     task_id=event.task_id)
        return list(changed.values())

    def on_return_refused(self, event: TaskReturnRefusedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        self._tell(changed, self.unit_users(event.unit_id), "return_refused", event,
                     f"退回申请未获同意，请继续办理：{_label(case)}", f"理由：{event.reason}",
                     task_id=event.task_id)
        return list(changed.values())

    def on_return_requested(self, event: TaskReturnRequestedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        self._tell(changed, self.office_users(), "return_requested", event,
                     f"承办单位 {event.unit_id} 申请退回：{_label(case)}",
                     f"理由：{event.reason}；退回期限至 {event.window_end}",
                     task_id=event.task_id)
        return list(changed.values())

    def on_leadership_designated(self, event: LeadershipDesignatedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        # a leader's or a committee's (专工委) designation: their users (role leader)
        case = self.case_file(event.case_id)
        mode = "领衔督办" if event.mode == "lead" else "重点督办"
        self._tell(changed, self.leader_users(event.designee_id),
                   "leadership_designated", event,
                   f"{_label(case)} 由{event.designee_name}{mode}")
        return list(changed.values())

    # --- supervision --------------------------------------------------------------------

    def on_deadline_warning(self, event: DeadlineWarningV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        level = "黄牌" if event.level == "yellow" else "红牌"
        self._tell(changed, self.unit_users(event.unit_id), "deadline_warning", event,
                     f"{level}预警：{_label(case)}，办理时限 {event.deadline}",
                     task_id=event.task_id)
        return list(changed.values())

    def on_rehandling_started(self, event: RehandlingStartedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        why = "代表测评不满意" if event.reason == "unsatisfied" else "跟踪回访未落实"
        if case is not None and case.reminders.get("rating_due"):
            # a new round: the last round's ratings are over (its reply is being redone)
            case = self._note(event.case_id, changed, reminders={"rating_due": None})
        self._tell(changed, self.unit_users(event.unit_id), "rehandling_started", event,
                     f"{why}，重新办理（第{event.round}轮）：{_label(case)}，"
                     f"时限 {event.deadline}", task_id=event.task_id)
        return list(changed.values())

    def on_follow_up_review_scheduled(self, event: FollowUpReviewScheduledV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        if case is not None and case.lead_unit:
            self._tell(changed, self.unit_users(case.lead_unit), "follow_up_review", event,
                         f"跟踪回访：{case.label()}，请于 {event.due_on} 前落实承诺事项")
        return list(changed.values())

    def on_reply_submitted(self, event: ReplySubmittedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        if case is None:
            return []
        deputies = case.raters() if case.kind == "suggestion" else \
            [case.forwarded_by] if case.forwarded_by else []
        recipients = [u for d in deputies for u in self.deputy_users(d)]
        what = "第{}轮答复".format(event.round) if event.round > 1 else "答复"
        self._note(event.case_id, changed, result_class=event.result_class)
        if case.kind == "suggestion" and case.raters():
            # the deputies rate it (a message's reply is rated by its citizen, not by the
            # deputy who forwarded it): remind those who have not rated before the period
            # ends; a new round's reply replaces the reminder of the last
            replied_on = event.occurred_at.astimezone(CHINA_TZ).date()
            period = self.rating_period_days
            warning = min(self.delivery.notify_rating_warning_days, period)
            due = event.occurred_at + timedelta(days=period - warning)
            self._note(event.case_id, changed, reminders={"rating_due": {
                "due_at": due.isoformat(), "round": event.round, "deputies": case.raters(),
                "last_day": (replied_on + timedelta(days=period)).isoformat(),
                "task_id": event.task_id}})
        ask = "请测评" if case.kind == "suggestion" else "请查看"  # a message: its citizen rates
        self._tell(changed, recipients, "reply_submitted", event,
                     f"{case.label()} 已{what}（{event.result_class}类），{ask}",
                     task_id=event.task_id)
        if case.kind == "message" and event.unit_id == case.lead_unit:
            # the citizen's own message: the lead unit's feedback reaches them
            self._tell(changed, citizens_of(case), "citizen_reply", event,
                       "承办单位已反馈您的留言，请查看并评价", message_id=event.case_id)
        return list(changed.values())

    def _rated(self, event: IntegrationEvent, round_: int, rated: dict[str, str]) -> list[Any]:
        """The deputies' ratings of a round; once every deputy of the case has rated (or let
        the period lapse) and none is unsatisfied, the office is told the case waits for its
        close-out (销号). An unsatisfied rating starts a new round instead."""
        changed: dict[UUID, Any] = {}
        case = self._note(event.case_id, changed, rated={str(round_): rated})
        ratings = case.ratings.get(str(round_), {})
        due = case.reminders.get("rating_due")
        if due is not None and due["round"] == round_ and \
                all(d in ratings for d in due["deputies"]):
            self._note(event.case_id, changed, reminders={"rating_due": None})  # none left
        if case.kind == "suggestion" and case.raters() and \
                all(d in ratings for d in case.raters()) and \
                "unsatisfied" not in ratings.values():
            self._tell(changed, self.office_users(), "close_out_waiting", event,
                       f"{case.label()} 测评已完成，待销号")
        return list(changed.values())

    def on_suggestion_rated(self, event: SuggestionRatedV1) -> list[Any]:
        if self.case_file(event.case_id) is None:
            return []
        return self._rated(event, event.round, {event.deputy_id: event.rating})

    def on_rating_lapsed(self, event: RatingLapsedV1) -> list[Any]:
        if self.case_file(event.case_id) is None:
            return []
        return self._rated(event, event.round, {d: "lapsed" for d in event.deputy_ids})

    # --- reminders (the service's own clock) ---------------------------------------------

    def remind(self, case_key: str, name: str, due_at: str) -> bool:
        """Raise a reminder that is due (the delivery job finds it in the read model by the
        case file's id); once."""
        try:
            case = self.repository.get(UUID(case_key))
        except AggregateNotFoundError:
            return False
        reminder = case.reminders.get(name) if isinstance(case, CaseFile) else None
        if reminder is None or reminder["due_at"] != due_at:
            return False
        case_id = case.case_id
        changed: dict[UUID, Any] = {}
        cause = Reminder(case_id, name, due_at)
        if name == "claim_lapsing":
            expires = datetime.fromisoformat(reminder["expires_at"]).astimezone(CHINA_TZ)
            self._tell(changed, self.deputy_users(reminder["deputy_id"]), name, cause,
                       f"您认领的群众留言将于 {expires:%m月%d日 %H:%M} 到期，请及时答复或转交",
                       message_id=case_id)
        elif name == "rating_due":
            ratings = case.ratings.get(str(reminder["round"]), {})
            raters = case.raters()  # a merge undone since the reply: its deputies no longer
            unrated = [d for d in reminder["deputies"] if d not in ratings and d in raters]
            last_day = date.fromisoformat(reminder["last_day"])
            what = f"第{reminder['round']}轮答复" if reminder["round"] > 1 else "答复"
            self._tell(changed, [u for d in unrated for u in self.deputy_users(d)], name, cause,
                       f"{case.label()} 的{what}尚待您测评，"
                       f"测评截止日期 {last_day:%Y年%m月%d日}（含当日）",
                       f"请于 {last_day:%Y年%m月%d日} 当日结束前完成测评，逾期记为未测评。",
                       task_id=reminder.get("task_id"))
        elif name == "message_waiting_long":
            station = self.stations.get(reminder.get("station_id")) or {}
            hours = self.delivery.notify_message_waiting_hours
            self._tell(changed, self.office_users(), name, cause,
                       f"{station.get('name', '联络站')}的群众留言已 {hours:g} 小时无人认领",
                       message_id=case_id)
        self._note(case_id, changed, reminders={name: None})
        try:
            self.save(*changed.values())
        except IntegrityError:  # another replica raised it first
            return False
        return True

    def on_case_escalated(self, event: CaseEscalatedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        case = self.case_file(event.case_id)
        why = "超期未办结" if event.reason == "overdue" else "多轮办理仍不满意"
        recipients = self.office_users()
        if event.escalated_to in self.leaders:  # a designated leader or committee
            recipients += self.leader_users(event.escalated_to)
        self._tell(changed, recipients, "case_escalated", event,
                     f"升级督办（{why}）：{_label(case)}", task_id=event.task_id)
        return list(changed.values())

    # --- points -------------------------------------------------------------------------

    def on_activity_reviewed(self, event: ActivityReviewedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        if event.decision == "approved":
            title = f"履职活动（{event.activity_date}）审核通过，积分 {event.points or 0:g}"
            body = title
        else:
            title = f"履职活动（{event.activity_date}）审核未通过"
            body = f"{title}：{event.reason or ''}"
        self._tell(changed, self.deputy_users(event.deputy_id), "activity_reviewed", event,
                     title, body, case_id=None)
        return list(changed.values())

    def on_points_revoked(self, event: PointsRevokedV1) -> list[Any]:
        changed: dict[UUID, Any] = {}
        self._tell(changed, self.deputy_users(event.deputy_id), "points_revoked", event,
                     f"履职积分撤销 {event.points:g} 分（{event.year} 年第 {event.revoked_line} 条）",
                     f"原因：{event.reason}")
        return list(changed.values())

    def on_obligation_behind(self, event: ObligationBehindV1) -> list[Any]:
        """A contact obligation behind the year's pace (liaison's periodic check): its
        holder is told whom they still have to contact."""
        changed: dict[UUID, Any] = {}
        who = "、".join(f"{b.name}（已联系 {b.done} 次，全年至少 {b.required} 次）"
                       for b in event.behind)
        self._tell(changed, self.deputy_users(event.holder_id), "obligation_behind", event,
                   f"{event.year} 年联系任务进度落后", f"尚需联系：{who}")
        return list(changed.values())

    # --- commands -----------------------------------------------------------------------

    def mark_read(self, ref: MarkRead, actor: Actor) -> dict[str, Any]:
        notification = self.notification(ref.notification_id)
        if notification.recipient != actor.username:
            raise NotFound(f"no notification {ref.notification_id}")
        for _ in range(5):  # a delivery recorded meanwhile: mark the new version
            if not notification.mark_read(self.clock.now()):
                break
            try:
                self.save(notification)
                break
            except IntegrityError:
                notification = self.notification(ref.notification_id)
        return notification.as_item()

    def set_preferences(self, cmd: SetPreferences, actor: Actor) -> dict[str, Any]:
        Preferences.check_holder(actor.role)
        errors = [{"loc": ["body", "kinds", k], "msg": f"unknown kind {k!r}"}
                  for k in cmd.kinds if k != "*" and (k not in KINDS or KINDS[k][0] == "citizen")]
        if actor.role != "unit":
            errors += [{"loc": ["body", "kinds", k, "webhook_url"],
                        "msg": "a webhook is a unit's channel (its group robot)"}
                       for k, p in cmd.kinds.items() if p.webhook_url]
        if errors:
            raise Invalid("the preferences have invalid fields", errors)
        try:
            prefs = self.repository.get(Preferences.create_id(actor.username))
        except AggregateNotFoundError:
            prefs = Preferences(username=actor.username)
        if cmd.kinds:
            prefs.set({k: p.model_dump() for k, p in cmd.kinds.items()})
        options: dict[str, Any] = {}
        if cmd.email_mode:
            options["email_mode"] = cmd.email_mode
        if cmd.digest_at:
            options["digest_at"] = cmd.digest_at
        if cmd.quiet_hours is not None:
            options["quiet_hours"] = cmd.quiet_hours.model_dump()
        elif cmd.quiet_hours_off:
            options["quiet_hours"] = None
        if options:
            prefs.set_options(options)
        self.save(prefs)
        return preferences_of(self, actor.username)


__all__ = ["KINDS", "NotificationSettings", "NotificationsApplication", "ListNotifications",
           "MarkRead", "SetPreferences", "KindPreference", "QuietHours", "verify_webhook"]

"""Notifications' delivery (see application.py's docstring, "Delivery"): the periodic job that
raises due reminders and tries each due (notification, channel) once, by e-mail (SMTP, one mail
or the daily digest) or a unit's webhook (signed: ``verify_webhook``), recording each outcome,
a back-off after a failure, and the claim that keeps two replicas from sending one twice.
``NotificationsApplication`` is a ``Delivery``."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import socket
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Callable

from eventsourcing.persistence import IntegrityError

from shared.clock import CHINA_TZ

from services.notifications.domain import Notification

log = logging.getLogger("services.notifications.application")
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"  # which replica claimed a delivery


def next_at(now: datetime, hhmm: str) -> datetime:
    """The next moment at ``hhmm`` (China time) after ``now``."""
    local = now.astimezone(CHINA_TZ)
    hour, minute = (int(x) for x in hhmm.split(":"))
    moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment > local else moment + timedelta(days=1)


def quiet_until(now: datetime, quiet: dict[str, str] | None) -> datetime | None:
    """The end of the quiet hours ``now`` falls in, or None outside them."""
    if not quiet:
        return None
    t = now.astimezone(CHINA_TZ).strftime("%H:%M")
    start, end = quiet["start"], quiet["end"]
    inside = start <= t < end if start < end else (t >= start or t < end)
    return next_at(now, end) if inside else None


class Delivery:
    """The delivery job's part of the notifications application (its settings are
    ``self.delivery``; notifications, options and reminders are the application's)."""

    delivery: Any
    views: Any
    clock: Any

    def deliver_due(self, catch_up: Callable[[], Any]) -> int:
        """The delivery job: each reminder that is due raised, then each delivery that is due
        tried once now (its outcome recorded); ``catch_up`` brings the read models up to date
        between rounds. Publishes nothing (0)."""
        catch_up()
        while reminders := self.views.reminders.due(self.clock.now()):
            for row in reminders:
                self.remind(row["case_id"], row["name"], row["due_at"])
            catch_up()
            if len(reminders) < 100:
                break
        while rows := self.views.deliveries.due(self.clock.now()):
            for row in rows:
                self.deliver_one(row["id"], row["channel"])
            catch_up()
            if len(rows) < 100:
                break
        return 0

    def deliver_one(self, notification_id: str, channel: str) -> str:
        """Try one pending delivery now; record its outcome. Returns the outcome."""
        notification = self.notification(notification_id)
        if not notification.pending(channel):
            return "done"
        now = self.clock.now()
        if channel == "digest":
            return self.deliver_digest(notification.recipient)
        if channel == "email":
            until = quiet_until(now, self.options(notification.recipient).get("quiet_hours"))
            if until is not None:  # the recipient's quiet hours: after them
                self._change(notification_id, lambda n: n.delivery_deferred(
                    channel=channel, until=until, why="quiet_hours"))
                return "deferred"
        if not self._claim(notification, channel, now):
            return "claimed"  # another replica's attempt
        try:
            if channel == "email":
                self._send_mail(notification)
            else:
                self._call_webhook(notification)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
            return self._outcome([notification_id], channel, exc)
        return self._outcome([notification_id], channel, None)

    def deliver_digest(self, recipient: str) -> str:
        """One mail with each of the recipient's digest items that are due (their daily
        digest), then each item recorded delivered; a failure is retried for all of them."""
        items = [self.notification(i) for i in self.views.deliveries.digest_items(
            recipient, self.clock.now())]
        now = self.clock.now()
        items = [n for n in items if n.pending("digest") and self._claim(n, "digest", now)]
        if not items:
            return "done"
        try:
            self._send_digest(recipient, items)
        except Exception as exc:  # noqa: BLE001
            return self._outcome([str(n.id) for n in items], "digest", exc)
        return self._outcome([str(n.id) for n in items], "digest", None)

    def _claim(self, notification: Notification, channel: str, now: datetime) -> bool:
        """Record that this process attempts the delivery now, before it sends: a replica
        whose claim conflicts (another recorded something first) or that finds a live claim
        leaves it. After a crash the claim's lease ends and the delivery is tried again."""
        if notification.claimed(channel, now):
            return False
        lease = timedelta(seconds=3 * self.delivery.notify_timeout_seconds + 30)
        notification.delivery_claimed(channel=channel, at=now, until=now + lease,
                                      instance=INSTANCE)
        try:
            self.save(notification)
        except IntegrityError:
            return False
        return True

    def _outcome(self, ids: list[str], channel: str, exc: Exception | None) -> str:
        now = self.clock.now()
        outcome = "delivered"
        for notification_id in ids:
            attempt = self.notification(notification_id).delivery_state[channel]["attempts"] + 1
            if exc is None:
                self._change(notification_id, lambda n, a=attempt: n.delivered(
                    channel=channel, at=now, attempt=a))
                continue
            error = f"{type(exc).__name__}: {exc}"[:500]
            if attempt >= self.delivery.notify_max_attempts:
                log.warning("notification %s %s parked after %d attempts: %s",
                            notification_id, channel, attempt, error)
                outcome = "parked"
                self._change(notification_id, lambda n, a=attempt: n.delivery_parked(
                    channel=channel, at=now, attempt=a, error=error))
            else:
                outcome = "failed"
                delay = min(self.delivery.notify_retry_seconds * 2 ** (attempt - 1), 3600.0)
                self._change(notification_id, lambda n, a=attempt, d=delay: n.delivery_failed(
                    channel=channel, at=now, attempt=a, error=error,
                    next_attempt_at=now + timedelta(seconds=d)))
        return outcome

    def _change(self, notification_id: str, change: Any) -> Notification:
        """Apply ``change`` to the latest version and save it; a read mark or another
        outcome recorded meanwhile is a conflict: again on the new version."""
        for _ in range(5):
            notification = self.notification(notification_id)
            change(notification)
            try:
                self.save(notification)
                return notification
            except IntegrityError:
                continue
        raise RuntimeError(f"notification {notification_id} kept changing")

    def _smtp_send(self, msg: EmailMessage) -> None:
        s = self.delivery
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(msg)

    def _send_digest(self, recipient: str, items: list[Notification]) -> None:
        ids = sorted(str(n.id) for n in items)
        digest_id = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        day = self.clock.now().astimezone(CHINA_TZ)
        msg = EmailMessage()
        msg["From"] = self.delivery.smtp_from
        msg["To"] = items[0].deliveries["digest"]
        msg["Subject"] = f"代表联络平台每日通知摘要（{day:%Y-%m-%d}，共 {len(items)} 条）"
        msg["Date"] = formatdate(localtime=False)
        # the same items make the same Message-ID: a receiver drops a repeat after a crash
        msg["Message-ID"] = f"<digest-{digest_id}@duty-liaison>"
        msg["X-Duty-Digest"] = ",".join(ids)
        lines = [f"{i}. {n.title}" + (f"\n   {n.body}" if n.body != n.title else "")
                 + f"\n   （{n.created_at.astimezone(CHINA_TZ):%m-%d %H:%M}）"
                 for i, n in enumerate(sorted(items, key=lambda n: n.created_at), 1)]
        msg.set_content("您有以下新通知：\n\n" + "\n".join(lines)
                        + "\n\n（代表联络平台每日摘要；在“通知设置”中可改为即时发送）\n")
        self._smtp_send(msg)

    def _send_mail(self, n: Notification) -> None:
        s = self.delivery
        msg = EmailMessage()
        msg["From"] = s.smtp_from
        msg["To"] = n.deliveries["email"]
        msg["Subject"] = n.title
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{n.id}@duty-liaison>"
        msg["X-Duty-Notification"] = str(n.id)
        msg.set_content(f"{n.body}\n\n（代表联络平台通知，种类：{n.kind}）\n")
        self._smtp_send(msg)

    def webhook_body(self, n: Notification) -> bytes:
        """企业微信 / 钉钉 group-robot style text message, with the notification itself."""
        return json.dumps({
            "msgtype": "text",
            "text": {"content": f"{n.title}\n{n.body}" if n.body != n.title else n.title},
            "notification": {**n.as_item(), "recipient": n.recipient},
        }, ensure_ascii=False).encode()

    def _call_webhook(self, n: Notification) -> None:
        import httpx

        body = self.webhook_body(n)
        timestamp = str(int(self.clock.now().timestamp()))
        signature = hmac.new(self.delivery.webhook_secret(), timestamp.encode() + b"." + body,
                             hashlib.sha256).hexdigest()
        response = httpx.post(n.deliveries["webhook"], content=body,
                              timeout=self.delivery.notify_timeout_seconds, headers={
                                  "content-type": "application/json; charset=utf-8",
                                  "X-Duty-Delivery": str(n.id),
                                  "X-Duty-Timestamp": timestamp,
                                  "X-Duty-Signature": f"sha256={signature}"})
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered {response.status_code}")


def verify_webhook(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver checks: ``X-Duty-Signature`` = sha256=HMAC(secret, timestamp "." body)."""
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)

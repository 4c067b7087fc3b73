"""Who notifications addresses: the accounts the administrator manages (services/accounts).

Notifications keeps its own replica of the accounts' roles and links, recorded in ITS OWN log
from ``duty.accounts.account_changed.v2`` (one ``ReferenceRecord`` of kind ``account`` per
username, shared/reference.py), seeded from the users' list (``USERS_FILE``, default
config/users.yaml: the accounts service seeds itself from the same file). So an account the
administrator creates, links to a unit or deputy, or disables changes who is told at the next
event, without restarting anything, and the directory is rebuilt from the service's log.

- a unit's users: enabled accounts holding the role ``unit`` linked to the unit;
- a deputy's users: enabled accounts holding the role ``deputy`` linked to the deputy;
- a leader's or committee's users: enabled leaders linked to them (a leader account linked to
  none is told of every designation, as before accounts had links);
- the office: enabled accounts holding the role ``office``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from eventsourcing.application import AggregateNotFoundError

from shared.contracts.accounts import AccountChangedV2
from shared.reference import ReferenceData, ReferenceRecord, follow_replica

ACCOUNT = "account"
LINKS = ("deputy_id", "unit_id", "leader_id")


def seed_accounts(users_file: Path) -> list[dict[str, Any]]:
    """The users' list as account records (the system before any account event)."""
    with Path(users_file).open(encoding="utf-8") as f:
        users = [u for u in (yaml.safe_load(f) or []) if isinstance(u, dict)]
    return [{"id": u["username"], "username": u["username"],
             "roles": list(u.get("roles") or [u["role"]]), "enabled": True,
             **{k: u.get(k) for k in LINKS}} for u in users if u.get("username")]


def on_account_changed(app: Any, event: AccountChangedV2) -> list[ReferenceRecord]:
    """The accounts consumer's handler: the replica of the account after ``event``, or
    nothing when it already holds this change or a later one."""
    record_id = ReferenceRecord.create_id(ACCOUNT, event.username)
    try:
        replica: ReferenceRecord = app.repository.get(record_id)
    except AggregateNotFoundError:
        replica = ReferenceRecord(kind=ACCOUNT, key=event.username)
    if replica.source_position >= event.source_notification_id:
        return []
    record = {"id": event.username, "username": event.username, "roles": list(event.roles),
              "enabled": event.enabled, "deputy_id": event.deputy_id,
              "unit_id": event.unit_id, "leader_id": event.leader_id}
    replica.replicate(kind=ACCOUNT, key=event.username, record=record, active=event.enabled,
                      source_event_id=event.event_id,
                      source_position=event.source_notification_id,
                      changed_at=event.occurred_at)
    return [replica]


class Recipients:
    """The usernames told about a unit, a deputy, a leader or the office, as of now."""

    def __init__(self, app: Any, users_file: Path) -> None:
        self.directory = ReferenceData(app, kinds=(ACCOUNT,),
                                       seed={ACCOUNT: seed_accounts(users_file)})
        self.accounts = self.directory.table(ACCOUNT)

    def _holding(self, role: str, **links: str | None) -> list[str]:
        return [a["username"] for a in list(self.accounts.values())
                if a.get("enabled", True) and role in a.get("roles", ())
                and all(a.get(k) == v for k, v in links.items())]

    def unit_users(self, unit_id: str) -> list[str]:
        return self._holding("unit", unit_id=unit_id)

    def deputy_users(self, deputy_id: str) -> list[str]:
        return self._holding("deputy", deputy_id=deputy_id)

    def leader_users(self, designee_id: str) -> list[str]:
        return [u for u in self._holding("leader")
                if self.accounts[u].get("leader_id") in (None, designee_id)]

    def office_users(self) -> list[str]:
        return self._holding("office")


def consume_accounts(runtime: Any, app: Any, recipients: Recipients,
                     poll_seconds: float = 2.0) -> None:
    """Register the accounts consumer (accounts replicated into ``app``'s log) and keep the
    directory up to date (shared/reference.py ``follow_replica``). Its events are validated
    as every other (the contract says its links are the accounts service's to check)."""
    runtime.consume("accounts", {AccountChangedV2: lambda e: on_account_changed(app, e)})
    follow_replica(runtime, "accounts", recipients.directory, poll_seconds)

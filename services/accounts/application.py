"""Accounts' commands and queries over its event store.

- Single sign-on (OpenID Connect, ``login_external``): the gateway checks the provider's ID
  token; this service decides which account the identity is (the one linked to it, else at
  the first sign-in the account named by the provider's username claim, then linked).
- Signing in checks the password here (argon2; an imported scrypt hash is rehashed with argon2
  on a successful sign-in); the gateway is told the principal and the account's
  ``token_version``, never a hash.
- The administrator (role ``admin``) creates accounts, grants and revokes roles, links an
  account to a deputy, unit or leader, disables, enables and resets passwords; every change is
  an event of the account (who: the event's actor; when: its timestamp; what: before/after).
- Authorization is decided here: the contracts admit the roles, and an administrator may not
  lock themselves out (disable their own account, revoke their own admin role).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from shared.audit import history_entry
from shared.clock import Clock, clock_from_settings
from shared.contracts.requests.accounts import (
    AccountHistory,
    ActAs,
    ChangeOwnPassword,
    CreateAccount,
    DisableAccount,
    EnableAccount,
    GetAccount,
    GrantRoles,
    LinkAccount,
    ListAccounts,
    Login,
    LoginExternal,
    ResetPassword,
    RevokeRoles,
)
from shared.eventstore import Actor, ServiceApplication
from shared.paging import page_of_list
from shared.reference import ReferenceData
from shared.rpc import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from shared.settings import ServiceSettings, load_config

from services.accounts import passwords
from services.accounts.domain import EVENT_ZH, SECRET_FIELDS, Account, password_problems
from services.accounts.errors import SelfLockoutRefused
from services.accounts.read_models import AccountsViews

WRONG_CREDENTIALS = "wrong username or password (or the account is disabled)"
NO_ACCOUNT_FOR_IDENTITY = "no enabled account for this single sign-on identity"
GATEWAY = "gateway"  # the actor the gateway asks as (services/gateway/accounts.py)


class AccountsApplication(ServiceApplication):
    name = "accounts"

    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.clock = clock or clock_from_settings(settings)
        self.views: AccountsViews | None = None
        super().__init__(settings)
        # The deputies, units and stations an account may be linked to: this service's replica
        # of the registry's records (shared/reference.py); leaders from the configuration.
        self.reference = ReferenceData(self, settings, kinds=("deputy", "unit", "station"))
        self.reference.catch_up()
        try:
            self.leaders = {str(r["id"]) for r in load_config(settings, "leaders")}
        except FileNotFoundError:
            self.leaders = set()

    def check_links(self, links: dict[str, str | None]) -> None:
        """A link names an open deputy, an open unit or station (a station's staff act for
        their station) and a configured leader or committee; else a 422 naming the field."""
        problems = []
        for field, value in links.items():
            if value is None:
                continue
            if field == "deputy_id" and not self.reference.active("deputy", value):
                problems.append((field, f"没有在任的代表 {value}（不存在，或其名册记录已关闭）"))
            elif field == "unit_id" and not (self.reference.active("unit", value)
                                             or self.reference.active("station", value)):
                problems.append((field, f"没有在用的承办单位或联络站 {value}"))
            elif field == "leader_id" and value not in self.leaders:
                problems.append((field, f"没有领导或专门委员会 {value}"))
        if problems:
            raise Invalid("账号关联的对象不存在或已关闭", [
                {"loc": ["body", field], "msg": msg, "type": "value_error"}
                for field, msg in problems])

    # --- loading ----------------------------------------------------------------------------

    def find(self, username: str) -> Account | None:
        try:
            account = self.repository.get(Account.create_id(username))
        except AggregateNotFoundError:
            return None
        return account if isinstance(account, Account) else None

    def account(self, username: str) -> Account:
        account = self.find(username)
        if account is None:
            raise NotFound(f"no account {username}")
        return account

    def is_empty(self) -> bool:
        return self.max_notification_id() == 0

    # --- signing in ---------------------------------------------------------------------------

    def login(self, q: Login, actor: Actor) -> dict[str, Any]:
        account = self.find(q.username)
        known = account is not None and account.enabled
        # an unknown or disabled user costs one argon2 verification like a known one
        if not passwords.verify_or_dummy(q.password, account.password_hash if known else None):
            raise Unauthenticated(WRONG_CREDENTIALS)
        assert account is not None
        if passwords.needs_rehash(account.password_hash):
            account.rehash(passwords.hash_password(q.password))
            self.save(account)
        return self.principal_of(account, q.role)

    def login_external(self, q: LoginExternal, actor: Actor) -> dict[str, Any]:
        """Single sign-on: the account of an identity the gateway verified with the office's
        OpenID provider. The account linked to (issuer, subject); else, at the identity's
        first sign-in, the enabled account named by the provider's username claim, linked to
        the identity from then on (an event of the account, in its history). A disabled or
        unknown account is refused (401), so is an account already linked to another identity
        of the provider (409): a renamed user at the provider does not take over another
        account."""
        if actor.username != GATEWAY:
            raise Forbidden("single sign-on is asked by the gateway only")
        assert self.views is not None
        linked = self.views.directory.linked(q.issuer, q.sub)
        account = self.find(linked) if linked else None
        if account is not None and account.external_subject(q.issuer) == q.sub:
            if not account.enabled:
                raise Unauthenticated(NO_ACCOUNT_FOR_IDENTITY)
            return self.principal_of(account, None)
        account = self.find(q.username) if q.username else None
        if account is None or not account.enabled:
            raise Unauthenticated(NO_ACCOUNT_FOR_IDENTITY)
        current = account.external_subject(q.issuer)
        if current is None:
            account.link_external(q.issuer, q.sub, self.clock.now())
            self.save(account)
        elif current != q.sub:
            raise Conflict(f"the account {account.username} is linked to another identity "
                           "of this provider")
        return self.principal_of(account, None)

    def principal_of(self, account: Account, role: str | None) -> dict[str, Any]:
        return {"principal": account.acting_as(role), "roles": list(account.roles),
                "token_version": account.token_version,
                "must_change_password": account.must_change_password}

    def account_status(self, q: Any, actor: Actor) -> dict[str, Any]:
        return self.account(q.username).status()

    def act_as(self, q: ActAs, actor: Actor) -> dict[str, Any]:
        account = self.account(actor.username)
        if not account.enabled:
            raise Unauthenticated(WRONG_CREDENTIALS)
        return self.principal_of(account, q.role)

    # --- a user's own -----------------------------------------------------------------------

    def my_account(self, _q: Any, actor: Actor) -> dict[str, Any]:
        return self.account(actor.username).status()

    def change_own_password(self, q: ChangeOwnPassword, actor: Actor) -> dict[str, Any]:
        account = self.account(actor.username)
        if not passwords.verify_password(q.old_password, account.password_hash):
            raise Invalid.field(["body", "old_password"], "原密码不正确")
        if q.new_password == q.old_password:
            raise Invalid.field(["body", "new_password"], "新密码不能与原密码相同")
        self._check_strength(q.new_password, account.username, "new_password")
        account.change_password(passwords.hash_password(q.new_password), self.clock.now())
        self.save(account)
        return self.principal_of(account, actor.role)

    # --- the administrator's ------------------------------------------------------------------

    def create_account(self, q: CreateAccount, actor: Actor) -> dict[str, Any]:
        if self.find(q.username) is not None:
            raise Conflict(f"the username {q.username} is taken")
        self._check_strength(q.password, q.username, "password")
        links = {"deputy_id": q.deputy_id, "unit_id": q.unit_id, "leader_id": q.leader_id}
        self.check_links(links)
        account = Account.open(q.username, q.display_name or q.username, list(q.roles_), links,
                               passwords.hash_password(q.password), self.clock.now(),
                               must_change_password=q.must_change_password)
        self.save(account)
        return account.status()

    def grant_roles(self, q: GrantRoles, actor: Actor) -> dict[str, Any]:
        return self._change(q.username, lambda a: a.grant_roles(list(q.roles_), self.clock.now()))

    def revoke_roles(self, q: RevokeRoles, actor: Actor) -> dict[str, Any]:
        if q.username == actor.username and "admin" in q.roles_:
            raise SelfLockoutRefused("an administrator does not revoke their own admin role")
        return self._change(q.username, lambda a: a.revoke_roles(list(q.roles_),
                                                                 self.clock.now()))

    def link_account(self, q: LinkAccount, actor: Actor) -> dict[str, Any]:
        changes = {k: getattr(q, k) for k in ("deputy_id", "unit_id", "leader_id")
                   if k in q.model_fields_set}
        if not changes:
            raise Invalid.field(["body"], "name at least one of deputy_id, unit_id, leader_id")
        self.check_links(changes)
        return self._change(q.username, lambda a: a.link(changes, self.clock.now()))

    def disable_account(self, q: DisableAccount, actor: Actor) -> dict[str, Any]:
        if q.username == actor.username:
            raise SelfLockoutRefused("an administrator does not disable their own account")
        return self._change(q.username, lambda a: a.disable(q.reason, self.clock.now()))

    def enable_account(self, q: EnableAccount, actor: Actor) -> dict[str, Any]:
        return self._change(q.username, lambda a: a.enable(self.clock.now()))

    def reset_password(self, q: ResetPassword, actor: Actor) -> dict[str, Any]:
        self._check_strength(q.new_password, q.username, "new_password")
        return self._change(q.username, lambda a: a.reset_password(
            passwords.hash_password(q.new_password), self.clock.now()))

    def get_account(self, q: GetAccount, actor: Actor) -> dict[str, Any]:
        return self.account(q.username).status()

    def list_accounts(self, q: ListAccounts, actor: Actor) -> dict[str, Any]:
        assert self.views is not None
        rows = self.views.directory.matching(q.q, q.role, q.enabled)
        return page_of_list(rows, q, key=lambda r: [r["username"]])

    def account_history(self, q: AccountHistory, actor: Actor) -> dict[str, Any]:
        """The account's events, oldest first: each with who, when, what changed."""
        account = self.account(q.username)
        entries = []
        for record in self.stored_records(account.id):
            entry = history_entry(self.name, record, chain_ok=True)
            data = {k: v for k, v in entry["data"].items()
                    if k not in (*SECRET_FIELDS, "originator_topic")}
            entries.append({"version": entry["version"], "time": entry["time"],
                            "event_type": entry["event_type"],
                            "label": EVENT_ZH.get(entry["event_type"], entry["event_type"]),
                            "actor": entry["actor"], "data": data})
        return page_of_list(entries, q, key=lambda e: [e["version"]])

    # --- helpers ------------------------------------------------------------------------------

    def _check_strength(self, password: str, username: str, field: str) -> None:
        problems = password_problems(password, username)
        if problems:
            raise Invalid("the password is too weak: " + "; ".join(problems),
                          errors=[{"loc": ["body", field], "msg": p} for p in problems])

    def _change(self, username: str, change: Any) -> dict[str, Any]:
        account = self.account(username)
        change(account)
        self.save(account)
        return account.status()

    def seed(self, users: list[dict[str, Any]]) -> int:
        """Import the user list of config/users.yaml into an empty store, in one transaction
        (replicas starting together: the second finds the accounts there). Hashes are kept as
        they are (scrypt), rehashed with argon2 at each user's next sign-in."""
        accounts = []
        now = self.clock.now()
        for user in users:
            roles = list(user.get("roles") or [user["role"]])
            accounts.append(Account.open(
                str(user["username"]), str(user.get("display_name") or user["username"]),
                roles, {k: user.get(k) for k in ("deputy_id", "unit_id", "leader_id")},
                str(user["password_hash"]), now, seeded=True))
        if accounts:
            self.save(*accounts)
        return len(accounts)


def account_id(username: str) -> UUID:
    return Account.create_id(username)

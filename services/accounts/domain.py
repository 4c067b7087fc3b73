"""The accounts service's aggregate: one ``Account`` per user (its id derived from the
username, so a username is taken once).

An account holds one or more roles (``office``, ``leader``, ``unit``, ``deputy``, and
``admin``: the office administrator who manages accounts), the links that say who the person
is elsewhere (a deputy, a unit, a leader), whether it is enabled, its password hash and
whether the password must be changed at the next sign-in (after an administrator's reset),
and the identities at the office's single sign-on provider linked to it (issuer: subject).

``token_version`` counts the changes that withdraw the tokens issued before them: a role
revoked, a link changed, the account disabled, the password changed or reset. The gateway
refuses a token whose ``ver`` is not the account's current ``token_version``. Granting a role
or enabling an account withdraws nothing.

Every change is an event carrying what it changed (before and after); who made it and when
are the event's metadata and timestamp (shared/eventstore.py), so an account's history is
its event log. Password hashes never leave the service (the history leaves them out).
The domain is pure: the application hashes passwords and checks their strength with
``password_problems`` before calling it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.accounts.errors import AccountRefused, NothingToChange

ROLES = ("office", "leader", "unit", "deputy", "station", "admin")
ROLE_ZH = {"office": "人大办公室", "leader": "领导", "unit": "承办单位", "deputy": "人大代表",
           "station": "联络站工作人员", "admin": "账号管理员"}
# The link a role needs: a unit account names its unit, a deputy account its deputy, a
# liaison station's staff account its station (as unit_id, as the liaison service reads it).
ROLE_NEEDS = {"unit": "unit_id", "deputy": "deputy_id", "station": "unit_id"}
LINKS = ("deputy_id", "unit_id", "leader_id")
MIN_PASSWORD_LENGTH = 10


def password_problems(password: str, username: str) -> list[str]:
    """What is wrong with a new password (empty: nothing), in Chinese for the person typing it:
    at least 10 characters, not the username, not only one class of characters (digits,
    lower case, upper case, others)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    if password.strip().lower() == username.strip().lower() or (
            len(username) >= 4 and username.lower() in password.lower()):
        problems.append("密码不能是用户名，也不能包含用户名")
    classes = {("digit" if c.isdigit() else "lower" if c.islower() else
                "upper" if c.isupper() else "other") for c in password}
    if password and len(classes) < 2:
        problems.append("密码不能只由一类字符组成（请混合使用字母、数字或符号）")
    return problems


class Account(Aggregate):
    @staticmethod
    def create_id(username: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"duty:accounts:{username}")

    @classmethod
    def open(cls, username: str, display_name: str, roles: list[str], links: dict[str, Any],
             password_hash: str, at: datetime, must_change_password: bool = False,
             seeded: bool = False) -> Account:
        roles = _known_roles(roles)
        if not roles:
            raise AccountRefused("an account holds at least one role")
        links = {k: links.get(k) or None for k in LINKS}
        _check_links(roles, links)
        return cls(username=username, display_name=display_name, roles=roles, links=links,
                   password_hash=password_hash, at=at,
                   must_change_password=must_change_password, seeded=seeded)

    @event("Created")
    def __init__(self, username: str, display_name: str, roles: list[str],
                 links: dict[str, Any], password_hash: str, at: datetime,
                 must_change_password: bool, seeded: bool) -> None:
        self.username = username
        self.display_name = display_name
        self.roles = list(roles)
        self.links = dict(links)
        self.password_hash = password_hash
        self.created_at = at
        self.must_change_password = must_change_password
        self.enabled = True
        self.token_version = 1
        self.changed_at = at

    # --- what the rest of the service reads ------------------------------------------------

    @property
    def deputy_id(self) -> str | None:
        return self.links.get("deputy_id")

    @property
    def unit_id(self) -> str | None:
        return self.links.get("unit_id")

    @property
    def leader_id(self) -> str | None:
        return self.links.get("leader_id")

    def status(self) -> dict[str, Any]:
        """Everything but the password hash: what the gateway checks tokens against and the
        administrator sees."""
        return {"username": self.username, "display_name": self.display_name,
                "roles": list(self.roles), **self.links, "enabled": self.enabled,
                "must_change_password": self.must_change_password,
                "token_version": self.token_version, "version": self.version,
                "created_at": self.created_at.isoformat(),
                "changed_at": self.changed_at.isoformat()}

    def acting_as(self, role: str | None) -> dict[str, Any]:
        """The principal of this account acting in ``role`` (its first role when None): the
        unit for a unit, the deputy wherever the person is one (an office clerk who is a deputy
        carries it, so the self-review rule holds in every role)."""
        chosen = role or self.roles[0]
        if chosen not in self.roles:
            raise AccountRefused(f"the account {self.username} does not hold the role {chosen}")
        principal: dict[str, Any] = {"username": self.username, "role": chosen}
        if chosen in ("unit", "station"):  # a station's staff: unit_id names the station
            principal["unit_id"] = self.unit_id
        if chosen == "leader" and self.leader_id:  # whose cases are "my cases" (领导领办)
            principal["leader_id"] = self.leader_id
        if self.deputy_id:
            principal["deputy_id"] = self.deputy_id
        return principal

    # --- changes -----------------------------------------------------------------------------

    def grant_roles(self, roles: list[str], at: datetime) -> None:
        new = [r for r in _known_roles(roles) if r not in self.roles]
        if not new:
            raise NothingToChange(f"{self.username} already holds {', '.join(roles)}")
        _check_links(self.roles + new, self.links)
        self._roles_granted(roles=new, before=list(self.roles), after=self.roles + new, at=at)

    @event("RolesGranted")
    def _roles_granted(self, roles: list[str], before: list[str], after: list[str],
                       at: datetime) -> None:
        self.roles = list(after)
        self.changed_at = at

    def revoke_roles(self, roles: list[str], at: datetime) -> None:
        gone = [r for r in self.roles if r in roles]
        if not gone:
            raise NothingToChange(f"{self.username} holds none of {', '.join(roles)}")
        after = [r for r in self.roles if r not in gone]
        if not after:
            raise AccountRefused("an account keeps at least one role: disable it instead")
        self._roles_revoked(roles=gone, before=list(self.roles), after=after, at=at)

    @event("RolesRevoked")
    def _roles_revoked(self, roles: list[str], before: list[str], after: list[str],
                       at: datetime) -> None:
        self.roles = list(after)
        self.token_version += 1
        self.changed_at = at

    def link(self, changes: dict[str, Any], at: datetime) -> None:
        """Link the account to a deputy, unit or leader (a value None removes the link)."""
        after = {**self.links, **{k: v or None for k, v in changes.items() if k in LINKS}}
        if after == self.links:
            raise NothingToChange(f"{self.username} is already linked so")
        _check_links(self.roles, after)
        self._linked(before=dict(self.links), after=after, at=at)

    @event("Linked")
    def _linked(self, before: dict[str, Any], after: dict[str, Any], at: datetime) -> None:
        self.links = dict(after)
        self.token_version += 1
        self.changed_at = at

    def disable(self, reason: str, at: datetime) -> None:
        if not self.enabled:
            raise NothingToChange(f"{self.username} is already disabled")
        self._disabled(reason=reason, at=at)

    @event("Disabled")
    def _disabled(self, reason: str, at: datetime) -> None:
        self.enabled = False
        self.token_version += 1
        self.changed_at = at

    def enable(self, at: datetime) -> None:
        if self.enabled:
            raise NothingToChange(f"{self.username} is already enabled")
        self._enabled(at=at)

    @event("Enabled")
    def _enabled(self, at: datetime) -> None:
        self.enabled = True
        self.changed_at = at

    def change_password(self, password_hash: str, at: datetime) -> None:
        """The user chose a new password (having proved the old one)."""
        if not self.enabled:
            raise AccountRefused("a disabled account's password is not changed")
        self._password_changed(password_hash=password_hash, at=at)

    @event("PasswordChanged")
    def _password_changed(self, password_hash: str, at: datetime) -> None:
        self.password_hash = password_hash
        self.must_change_password = False
        self.token_version += 1
        self.changed_at = at

    def reset_password(self, password_hash: str, at: datetime) -> None:
        """An administrator set a new password: the user must change it at the next sign-in."""
        self._password_reset(password_hash=password_hash, at=at)

    @event("PasswordReset")
    def _password_reset(self, password_hash: str, at: datetime) -> None:
        self.password_hash = password_hash
        self.must_change_password = True
        self.token_version += 1
        self.changed_at = at

    # --- single sign-on (OpenID Connect) ------------------------------------------------------

    def external_subject(self, issuer: str) -> str | None:
        """The subject of the identity at ``issuer`` linked to this account (None: none yet).
        (An account made before single sign-on has no ``external`` until its first link.)"""
        return getattr(self, "external", {}).get(issuer)

    def link_external(self, issuer: str, subject: str, at: datetime) -> None:
        """Record that the identity ``subject`` at the provider ``issuer`` is this account's:
        its later sign-ins find the account by it. One identity per provider: an account
        linked to another subject of the same provider is refused (the administrator sees the
        link in the history). Nothing a token stands for changes."""
        if not self.enabled:
            raise AccountRefused(f"{self.username} is disabled: no identity is linked to it")
        current = self.external_subject(issuer)
        if current == subject:
            raise NothingToChange(f"{self.username} is already linked to that identity")
        if current is not None:
            raise AccountRefused(f"{self.username} is already linked to another identity "
                                 f"of {issuer}")
        self._external_linked(issuer=issuer, subject=subject, at=at)

    @event("ExternalIdentityLinked")
    def _external_linked(self, issuer: str, subject: str, at: datetime) -> None:
        self.external = {**getattr(self, "external", {}), issuer: subject}
        self.changed_at = at

    def rehash(self, password_hash: str) -> None:
        """The same password, hashed again with the current scheme (argon2) at a sign-in:
        nothing a token stands for changes."""
        self._rehashed(password_hash=password_hash)

    @event("PasswordRehashed")
    def _rehashed(self, password_hash: str) -> None:
        self.password_hash = password_hash


# What each event says in an account's history (Chinese, for the administrator's page).
EVENT_ZH = {"Created": "创建账号", "RolesGranted": "授予角色", "RolesRevoked": "撤销角色",
            "Linked": "关联代表、单位或领导", "Disabled": "停用账号", "Enabled": "启用账号",
            "PasswordChanged": "本人修改密码", "PasswordReset": "管理员重置密码",
            "PasswordRehashed": "密码哈希升级为 argon2",
            "ExternalIdentityLinked": "关联统一身份认证账号"}
SECRET_FIELDS = ("password_hash",)


def _known_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise AccountRefused(f"unknown role {', '.join(unknown)}")
    return list(dict.fromkeys(roles))


def _check_links(roles: list[str], links: dict[str, Any]) -> None:
    for role, link in ROLE_NEEDS.items():
        if role in roles and not links.get(link):
            raise AccountRefused(f"a {role} account must be linked to its {role} ({link})")

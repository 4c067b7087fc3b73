"""The accounts service's requests: signing in (the password is checked inside the service;
the gateway never sees a hash), the status the gateway checks each token against, a user's own
account and password, and the office administrator's account management (role ``admin``:
create, list and search, grant and revoke roles, link to a deputy, unit or leader, disable,
enable, reset a password, an account's history)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from shared.contracts.requests import ADMIN, ANONYMOUS, SIGNED_IN, SYSTEM, Command, Query
from shared.contracts.requests.limits import REASON_MAX, SEARCH_MAX
from shared.paging import PageQuery

ACCOUNT_HOLDERS = SIGNED_IN | ADMIN  # whoever signs in with an account
Role = Literal["office", "leader", "unit", "deputy", "station", "admin"]
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
PASSWORD_MAX = 200
ID_MAX = 100


def _example(example: dict[str, Any]) -> ConfigDict:
    # populate_by_name: ``roles`` is a field's alias (``roles`` names the admitted roles)
    return ConfigDict(json_schema_extra={"examples": [example]}, populate_by_name=True)


class AccountsCommand(Command):
    service: ClassVar[str] = "accounts"


class AccountsQuery(Query):
    service: ClassVar[str] = "accounts"


# --- signing in and the gateway's checks ------------------------------------------------------

class Login(AccountsCommand):
    """Check a username and password (an unknown user costs the same); the account's
    principal in the role chosen (its first role when none is), its ``token_version`` and
    whether the password must be changed. A command: an old scrypt hash is rehashed with
    argon2 on a successful sign-in. 401 for a wrong password, an unknown or disabled user."""

    name: ClassVar[str] = "login"
    roles: ClassVar[frozenset[str]] = ANONYMOUS | SYSTEM

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    role: Role | None = None


class LoginExternal(AccountsCommand):
    """Single sign-on (OpenID Connect): the account of an identity the gateway has verified
    with the office's provider (``issuer``, ``sub``). The account linked to that identity;
    at its first sign-in, the enabled account whose username is ``username`` (the provider's
    username claim), to which the identity is then linked (``ExternalIdentityLinked``). The
    answer is as Login's (the first role). 401 for an identity without an enabled account,
    409 for an account already linked to another identity of the same provider. Asked only by
    the gateway, as the system, after checking the provider's ID token."""

    name: ClassVar[str] = "login_external"
    roles: ClassVar[frozenset[str]] = SYSTEM

    issuer: str = Field(min_length=1, max_length=500)
    # the ID token's ``sub`` (a field named ``subject`` would hide the contract's NATS subject)
    sub: str = Field(min_length=1, max_length=255)
    username: str | None = Field(None, max_length=100)


class AccountStatus(AccountsQuery):
    """An account's status without its hash (roles, links, enabled, ``token_version``): what
    the gateway checks a token against. Asked by the gateway as the system."""

    name: ClassVar[str] = "account_status"
    roles: ClassVar[frozenset[str]] = SYSTEM

    username: str = Field(min_length=1, max_length=100)


class ActAs(AccountsQuery):
    """The signed-in user's principal in another of their roles (switching roles)."""

    name: ClassVar[str] = "act_as"
    roles: ClassVar[frozenset[str]] = ACCOUNT_HOLDERS
    model_config = _example({"role": "office"})

    role: Role


# --- a user's own account ---------------------------------------------------------------------

class MyAccount(AccountsQuery):
    """The signed-in user's own account (roles, links, must the password be changed)."""

    name: ClassVar[str] = "my_account"
    roles: ClassVar[frozenset[str]] = ACCOUNT_HOLDERS


class ChangeOwnPassword(AccountsCommand):
    """Change your own password: the old one, and a new one of at least 10 characters, not
    the username and not of one class of characters only (422 with the field's problems).
    Withdraws your other tokens; the answer is your principal for a new one."""

    name: ClassVar[str] = "change_own_password"
    roles: ClassVar[frozenset[str]] = ACCOUNT_HOLDERS
    model_config = _example({"old_password": "old-Passw0rd", "new_password": "New-passw0rd-2026"})

    old_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)


# --- the administrator's ------------------------------------------------------------------------

class CreateAccount(AccountsCommand):
    """Create an account with its roles, links and first password (which its holder changes
    at the first sign-in when ``must_change_password``)."""

    name: ClassVar[str] = "create_account"
    roles: ClassVar[frozenset[str]] = ADMIN
    model_config = _example({"username": "clerk-1", "display_name": "王秘书",
                             "password": "Kaishi-2026-mima", "roles": ["office", "deputy"],
                             "deputy_id": "deputy-3", "must_change_password": True})

    username: str = Field(pattern=USERNAME_PATTERN, description="letters, digits, . _ -; "
                          "2 to 64 characters")
    display_name: str = Field("", max_length=100)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    roles_: list[Role] = Field(alias="roles", min_length=1, max_length=5)
    deputy_id: str | None = Field(None, max_length=ID_MAX)
    unit_id: str | None = Field(None, max_length=ID_MAX)
    leader_id: str | None = Field(None, max_length=ID_MAX)
    must_change_password: bool = True


class AccountRef(AccountsCommand):
    """A request naming an account (abstract: the declared ones below)."""

    roles: ClassVar[frozenset[str]] = ADMIN

    username: str = Field(min_length=1, max_length=100)


class GrantRoles(AccountRef):
    """Grant roles (a unit or deputy role needs the account linked to its unit or deputy)."""

    name: ClassVar[str] = "grant_roles"

    roles_: list[Role] = Field(alias="roles", min_length=1, max_length=5)
    model_config = _example({"username": "clerk-1", "roles": ["deputy"]})


class RevokeRoles(AccountRef):
    """Revoke roles (an account keeps at least one); its tokens are withdrawn."""

    name: ClassVar[str] = "revoke_roles"

    roles_: list[Role] = Field(alias="roles", min_length=1, max_length=5)
    model_config = _example({"username": "clerk-1", "roles": ["deputy"]})


class LinkAccount(AccountRef):
    """Link the account to a deputy, a unit or a leader (a field given as null removes that
    link; one not given keeps it); its tokens are withdrawn."""

    name: ClassVar[str] = "link_account"
    model_config = _example({"username": "clerk-1", "deputy_id": "deputy-3"})

    deputy_id: str | None = Field(None, max_length=ID_MAX)
    unit_id: str | None = Field(None, max_length=ID_MAX)
    leader_id: str | None = Field(None, max_length=ID_MAX)


class DisableAccount(AccountRef):
    """Disable an account: it cannot sign in, and its tokens stop working at the next request."""

    name: ClassVar[str] = "disable_account"
    model_config = _example({"username": "clerk-1", "reason": "调离工作岗位"})

    reason: str = Field("", max_length=REASON_MAX)


class EnableAccount(AccountRef):
    """Enable a disabled account again."""

    name: ClassVar[str] = "enable_account"


class ResetPassword(AccountRef):
    """Set a new password for a user who lost theirs: they must change it at the next
    sign-in, and their tokens are withdrawn."""

    name: ClassVar[str] = "reset_password"
    model_config = _example({"username": "clerk-1", "new_password": "Linshi-2026-mima"})

    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class GetAccount(AccountsQuery):
    """One account (without its password hash)."""

    name: ClassVar[str] = "get_account"
    roles: ClassVar[frozenset[str]] = ADMIN

    username: str = Field(min_length=1, max_length=100)


class ListAccounts(AccountsQuery, PageQuery):
    """Accounts by username, paged; ``q`` finds by username or name, ``role`` and ``enabled``
    filter."""

    name: ClassVar[str] = "list_accounts"
    roles: ClassVar[frozenset[str]] = ADMIN

    q: str | None = Field(None, max_length=SEARCH_MAX)
    role: Role | None = None
    enabled: bool | None = None


class AccountHistory(AccountsQuery, PageQuery):
    """An account's changes in order: what changed (before and after), who changed it, when."""

    name: ClassVar[str] = "account_history"
    roles: ClassVar[frozenset[str]] = ADMIN

    username: str = Field(min_length=1, max_length=100)

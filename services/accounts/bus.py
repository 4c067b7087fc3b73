"""Accounts' bus adapters: its requests by contract, and its account events out as
``duty.accounts.account_changed.v1``."""

from __future__ import annotations

from typing import Any

from shared.contracts import IntegrationEvent
from shared.contracts.accounts import AccountChangedV1, AccountChangedV2
from shared.contracts.requests.accounts import (
    AccountHistory,
    AccountStatus,
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
    MyAccount,
    ResetPassword,
    RevokeRoles,
)
from shared.event_validation import validate_consumers
from shared.reference import consume_registry
from shared.runtime import ServiceRuntime

from services.accounts.application import AccountsApplication
from services.accounts.domain import Account

SERVICE = "accounts"

CHANGES = {
    Account.Created: "created",
    Account.RolesGranted: "roles_granted",
    Account.RolesRevoked: "roles_revoked",
    Account.Linked: "linked",
    Account.Disabled: "disabled",
    Account.Enabled: "enabled",
    Account.PasswordChanged: "password_changed",
    Account.PasswordReset: "password_reset",
    Account.ExternalIdentityLinked: "linked",  # a single sign-on identity (nothing withdrawn)
}


def translate(app: AccountsApplication, event: Any,
              envelope: dict[str, Any]) -> list[IntegrationEvent] | None:
    change = CHANGES.get(type(event))
    if change is None:  # a rehash changes nothing a token stands for
        return None
    account: Account = app.repository.get(event.originator_id, version=event.originator_version)
    facts = dict(**{**envelope, "case_id": f"account:{account.username}"},
                 username=account.username, change=change, roles=list(account.roles),
                 enabled=account.enabled, token_version=account.token_version)
    # v2 beside v1: the links too (notifications addresses people by them)
    return [AccountChangedV1(**facts),
            AccountChangedV2(**facts, display_name=account.display_name,
                             deputy_id=account.deputy_id, unit_id=account.unit_id,
                             leader_id=account.leader_id)]


def register(runtime: ServiceRuntime, app: AccountsApplication) -> None:
    """Every request this service answers, by contract (shared/contracts/requests/accounts.py),
    and the registry's records replicated (what an account may be linked to)."""
    consume_registry(runtime, app, app.reference)
    validate_consumers(runtime, runtime.settings, app.reference)
    runtime.handlers({
        Login: app.login,
        LoginExternal: app.login_external,
        AccountStatus: app.account_status,
        ActAs: app.act_as,
        MyAccount: app.my_account,
        ChangeOwnPassword: app.change_own_password,
        CreateAccount: app.create_account,
        GrantRoles: app.grant_roles,
        RevokeRoles: app.revoke_roles,
        LinkAccount: app.link_account,
        DisableAccount: app.disable_account,
        EnableAccount: app.enable_account,
        ResetPassword: app.reset_password,
        GetAccount: app.get_account,
        ListAccounts: app.list_accounts,
        AccountHistory: app.account_history,
    })

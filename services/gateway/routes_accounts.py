"""Gateway routes of the accounts service (services/accounts/): your own account
(``GET /api/v1/me``, ``POST /api/v1/me/password``, switching roles ``POST /api/v1/auth/role``)
and the office administrator's account management under ``/api/v1/admin/accounts`` (role
``admin``). The accounts service decides; the gateway forgets the account status it keeps as
soon as a change is answered (services/gateway/accounts.py), so the change holds at the next
request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response

from services.gateway.auth import Principal, require
from services.gateway.deps import ServicesDep, admitted, body_of, request_of, sends
from services.gateway.paging import PAGED, Paging, paged
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
    MyAccount,
    ResetPassword,
    RevokeRoles,
    Role,
)

API = "/api/v1"
ADMIN = f"{API}/admin/accounts"
TAGS = ["accounts"]

# Your own account answers even while your password must be changed.
Holder = Annotated[Principal, Depends(require(password_change_ok=True))]
Admin = admitted(CreateAccount)

CreateBody = body_of(CreateAccount)
GrantBody = body_of(GrantRoles, "username")
RevokeBody = body_of(RevokeRoles, "username")
LinkBody = body_of(LinkAccount, "username")
DisableBody = body_of(DisableAccount, "username")
ResetBody = body_of(ResetPassword, "username")
PasswordBody = body_of(ChangeOwnPassword)
ActAsBody = body_of(ActAs)


def _token(request: Request, found: dict[str, Any]) -> dict[str, Any]:
    """A new token for the principal the accounts service answered."""
    authenticator = request.app.state.authenticator
    principal = Principal(**found["principal"], roles=tuple(found["roles"]),
                          must_change_password=found["must_change_password"])
    if authenticator.accounts is not None:
        authenticator.accounts.forget(principal.username)
    return {"access_token": authenticator.issue(principal, str(found["token_version"])),
            "token_type": "bearer", "role": principal.role, "roles": list(principal.roles),
            "must_change_password": principal.must_change_password}


def _changed(request: Request, status_: dict[str, Any]) -> dict[str, Any]:
    """The account's new status, kept at once for this gateway's next token checks."""
    accounts = request.app.state.authenticator.accounts
    if accounts is not None:
        accounts.remember(status_)
    return status_


def register_account_routes(app: FastAPI) -> None:
    @app.get(f"{API}/me/account", tags=["auth"], openapi_extra=sends(MyAccount),
             summary="Your own account: roles, links (deputy, unit, leader), dates")
    async def my_account(services: ServicesDep, principal: Holder) -> dict[str, Any]:
        return await services.send(MyAccount(), principal)

    @app.post(f"{API}/me/password", tags=["auth"], openapi_extra=sends(ChangeOwnPassword),
              summary="Change your own password (the old one and a new one: at least 10 "
                      "characters, not the username, not one class of characters only; 422 "
                      "with the field's problems). Your other tokens stop working: the answer "
                      "carries a new one")
    async def change_password(request: Request, body: PasswordBody, services: ServicesDep,
                              principal: Holder) -> dict[str, Any]:
        found = await services.send(request_of(ChangeOwnPassword, body), principal)
        return _token(request, found)

    @app.post(f"{API}/auth/role", tags=["auth"], openapi_extra=sends(ActAs),
              summary="Act in another of your roles: a new token for it")
    async def act_as(request: Request, body: ActAsBody, services: ServicesDep,
                     principal: Annotated[Principal, Depends(require())]) -> dict[str, Any]:
        found = await services.send(request_of(ActAs, body), principal)
        return _token(request, found)

    # --- the administrator's ------------------------------------------------------------------

    @app.get(ADMIN, tags=TAGS, responses=PAGED, openapi_extra=sends(ListAccounts),
             summary="Accounts by username, paged; `q` finds by username or name, `role` and "
                     "`enabled` filter")
    async def list_accounts(request: Request, response: Response, services: ServicesDep,
                            principal: Admin, paging: Paging,
                            q: Annotated[str | None, Query(max_length=200)] = None,
                            role: Annotated[Role | None, Query()] = None,
                            enabled: Annotated[bool | None, Query()] = None,
                            ) -> list[dict[str, Any]]:
        query = {"q": q, "role": role, "enabled": enabled, **paging.payload()}
        page = await services.send(request_of(ListAccounts, query={
            k: v for k, v in query.items() if v is not None}), principal)
        return paged(request, response, page)

    @app.post(ADMIN, tags=TAGS, status_code=201, openapi_extra=sends(CreateAccount),
              summary="Create an account: roles, links, a first password (changed by its "
                      "holder at the first sign-in unless must_change_password is false)")
    async def create_account(request: Request, body: CreateBody, services: ServicesDep,
                             principal: Admin) -> dict[str, Any]:
        return _changed(request, await services.send(request_of(CreateAccount, body),
                                                      principal))

    @app.get(f"{ADMIN}/{{username}}", tags=TAGS, openapi_extra=sends(GetAccount),
             summary="One account (no password hash)")
    async def get_account(username: str, services: ServicesDep,
                          principal: Admin) -> dict[str, Any]:
        return await services.send(request_of(GetAccount, username=username), principal)

    @app.get(f"{ADMIN}/{{username}}/history", tags=TAGS, responses=PAGED,
             openapi_extra=sends(AccountHistory),
             summary="An account's changes, oldest first: what (before and after), who, when")
    async def account_history(username: str, request: Request, response: Response,
                              services: ServicesDep, principal: Admin,
                              paging: Paging) -> list[dict[str, Any]]:
        page = await services.send(request_of(AccountHistory, query=paging.payload(),
                                              username=username), principal)
        return paged(request, response, page)

    @app.patch(f"{ADMIN}/{{username}}", tags=TAGS, openapi_extra=sends(LinkAccount),
               summary="Link the account to a deputy, unit or leader (null removes a link; a "
                       "field not given keeps it). Its tokens stop working")
    async def link_account(username: str, request: Request, body: LinkBody,
                           services: ServicesDep, principal: Admin) -> dict[str, Any]:
        return _changed(request, await services.send(
            request_of(LinkAccount, body, username=username), principal))

    def action(path: str, contract: Any, body_model: Any, summary: str) -> None:
        if body_model is None:
            async def act(username: str, request: Request, services: ServicesDep,
                          principal: Admin) -> dict[str, Any]:
                return _changed(request, await services.send(
                    request_of(contract, username=username), principal))
        else:
            async def act(username: str, request: Request, body: body_model,  # type: ignore[valid-type]
                          services: ServicesDep, principal: Admin) -> dict[str, Any]:
                return _changed(request, await services.send(
                    request_of(contract, body, username=username), principal))
        if body_model is not None:  # the annotation as a class: a string would be looked
            act.__annotations__["body"] = body_model  # up in this module's globals
        act.__name__ = contract.name
        app.post(f"{ADMIN}/{{username}}/{path}", tags=TAGS, summary=summary,
                 openapi_extra=sends(contract))(act)

    action("grant-roles", GrantRoles, GrantBody,
           "Grant roles (unit and deputy roles need the account linked to its unit or deputy)")
    action("revoke-roles", RevokeRoles, RevokeBody,
           "Revoke roles (at least one stays); the account's tokens stop working")
    action("disable", DisableAccount, DisableBody,
           "Disable the account: no sign-in, its tokens stop working at the next request")
    action("enable", EnableAccount, None, "Enable a disabled account again")
    action("reset-password", ResetPassword, ResetBody,
           "Set a new password; its holder must change it at the next sign-in")

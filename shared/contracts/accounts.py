"""Integration events of the accounts service.

``duty.accounts.account_changed.v1``: any change to an account (created, roles granted or
revoked, linked, disabled or enabled, password changed or reset). The gateway listens to it to
forget the account status it keeps for checking tokens, so a change takes effect at the next
request in every gateway replica. ``case_id`` is ``account:<username>`` (an account is not a
case; the envelope's field names the object the event is about).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.contracts.base import IntegrationEvent


class AccountChangedV1(IntegrationEvent):
    producer: ClassVar[str] = "accounts"
    name: ClassVar[str] = "account_changed"
    version: ClassVar[int] = 1
    summary: ClassVar[str] = ("An account changed (created, roles, links, disabled or enabled, "
                              "password changed or reset): tokens issued before a change that "
                              "withdraws them stop working.")

    username: str
    change: str = Field(description="created, roles_granted, roles_revoked, linked, disabled, "
                                    "enabled, password_changed, password_reset")
    roles: list[str]
    enabled: bool
    token_version: int = Field(ge=1, description="tokens carrying another version are refused")

    case_id_form: ClassVar[str | None] = "account:<username>"
    # an account's links are the accounts service's to check (a station's staff is linked to
    # a station as its unit; a deputy may be linked before a consumer's replica has them)
    references_checked_by_consumers: ClassVar[bool] = False

    def expected_case_id(self) -> str | None:
        return f"account:{self.username}"


class AccountChangedV2(AccountChangedV1):
    """Version 2, published beside version 1 for every change: also the account's links
    (the deputy, unit or station, and leader it acts for) and its display name, so a service
    that addresses people (notifications: who is told about a unit's task, a deputy's case, a
    leader's designation) follows the accounts the administrator manages, not a file."""

    name: ClassVar[str] = "account_changed"
    version: ClassVar[int] = 2
    summary: ClassVar[str] = ("An account changed: its roles, whether it is enabled and the "
                              "deputy, unit and leader it is linked to (who receives what).")
    consumers: ClassVar[tuple[str, ...]] = ("notifications",)

    display_name: str | None = None
    deputy_id: str | None = Field(None, description="the deputy the person is")
    unit_id: str | None = Field(None, description="the unit (or station) they work for")
    leader_id: str | None = Field(None, description="the leader or committee they act for")

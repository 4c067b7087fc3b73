"""Single sign-on's link on the Account aggregate (services/accounts/domain.py), without a
store: an identity at the office's OpenID provider is linked once, as an event of the
account, and an account keeps one identity per provider."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.accounts.bus import CHANGES
from services.accounts.domain import EVENT_ZH, Account
from services.accounts.errors import AccountRefused, NothingToChange

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
IDP = "https://sso.example.gov.cn"


def account() -> Account:
    return Account.open("office-2", "李主任", ["office"], {}, "hash", NOW)


def test_an_identity_is_linked_as_an_event_and_withdraws_no_token():
    a = account()
    assert a.external_subject(IDP) is None
    version, token_version = a.version, a.token_version
    a.link_external(IDP, "u-1001", NOW)
    assert a.external_subject(IDP) == "u-1001"
    assert a.version == version + 1 and a.token_version == token_version
    (linked,) = a.collect_events()[-1:]
    assert isinstance(linked, Account.ExternalIdentityLinked)
    assert (linked.issuer, linked.subject) == (IDP, "u-1001")
    # published as account_changed "linked"; labelled in the account's history
    assert CHANGES[Account.ExternalIdentityLinked] == "linked"
    assert EVENT_ZH["ExternalIdentityLinked"] == "关联统一身份认证账号"


def test_one_identity_per_provider_and_none_for_a_disabled_account():
    a = account()
    a.link_external(IDP, "u-1001", NOW)
    with pytest.raises(NothingToChange):
        a.link_external(IDP, "u-1001", NOW)
    with pytest.raises(AccountRefused):  # a renamed user at the provider takes nothing over
        a.link_external(IDP, "u-2002", NOW)
    a.link_external("https://other-idp.example", "u-2002", NOW)  # another provider: its own
    assert a.external_subject("https://other-idp.example") == "u-2002"

    b = account()
    b.disable("调离", NOW)
    with pytest.raises(AccountRefused):
        b.link_external(IDP, "u-3003", NOW)
    assert b.external_subject(IDP) is None


def test_the_link_survives_replaying_the_accounts_events():
    a = account()
    a.link_external(IDP, "u-1001", NOW)
    events = a.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed.external_subject(IDP) == "u-1001" and replayed.enabled

"""The Account aggregate and the password rules (services/accounts/domain.py), without a store."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.accounts import passwords
from services.accounts.domain import Account, password_problems
from services.accounts.errors import AccountRefused, NothingToChange

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def account(roles=("deputy", "office"), **links) -> Account:
    return Account.open("clerk-3", "王秘书", list(roles), {"deputy_id": "deputy-3", **links},
                        "hash", NOW)


def test_a_person_acts_in_one_of_their_roles_carrying_their_deputy():
    a = account()
    assert a.acting_as(None) == {"username": "clerk-3", "role": "deputy", "deputy_id": "deputy-3"}
    assert a.acting_as("office")["deputy_id"] == "deputy-3"  # the self-review rule's key
    with pytest.raises(AccountRefused):
        a.acting_as("leader")


def test_what_withdraws_tokens_and_what_does_not():
    a = account()
    v = a.token_version
    a.grant_roles(["admin"], NOW)
    assert a.token_version == v and a.roles == ["deputy", "office", "admin"]
    a.revoke_roles(["office"], NOW)
    assert a.token_version == v + 1
    a.link({"leader_id": "leader-1"}, NOW)
    a.disable("调离", NOW)
    a.enable(NOW)
    a.reset_password("h2", NOW)
    assert a.must_change_password and a.token_version == v + 4
    a.change_password("h3", NOW)
    assert not a.must_change_password and a.token_version == v + 5
    a.rehash("h4")
    assert a.token_version == v + 5
    names = [type(e).__name__ for e in a.collect_events()]
    assert names == ["Created", "RolesGranted", "RolesRevoked", "Linked", "Disabled",
                     "Enabled", "PasswordReset", "PasswordChanged", "PasswordRehashed"]


def test_the_rules_refuse():
    with pytest.raises(AccountRefused):  # a unit account names its unit
        Account.open("u", "u", ["unit"], {}, "h", NOW)
    with pytest.raises(AccountRefused):
        Account.open("u", "u", ["root"], {}, "h", NOW)
    a = account()
    with pytest.raises(AccountRefused):  # at least one role stays
        a.revoke_roles(["deputy", "office"], NOW)
    with pytest.raises(AccountRefused):  # a deputy keeps their deputy link
        a.link({"deputy_id": None}, NOW)
    with pytest.raises(NothingToChange):
        a.grant_roles(["office"], NOW)
    a.disable("", NOW)
    with pytest.raises(NothingToChange):
        a.disable("", NOW)
    with pytest.raises(AccountRefused):
        a.change_password("h", NOW)


@pytest.mark.parametrize(("password", "problems"), [
    ("Lianluo-2026", 0),
    ("short1A", 1),
    ("aaaaaaaaaaaa", 1),
    ("1234567890", 1),
    ("clerk-3", 2),
    ("my-clerk-3-password", 1),
])
def test_password_strength(password, problems):
    assert len(password_problems(password, "clerk-3")) == problems


def test_argon2_hashes_and_old_scrypt_hashes():
    from services.gateway.passwords import hash_password as scrypt_hash

    old = scrypt_hash("deputy-1")
    assert passwords.verify_password("deputy-1", old) and passwords.needs_rehash(old)
    new = passwords.hash_password("deputy-1")
    assert new.startswith("$argon2id$") and not passwords.needs_rehash(new)
    assert passwords.verify_password("deputy-1", new)
    assert not passwords.verify_password("deputy-2", new)
    assert not passwords.verify_or_dummy("x", None)

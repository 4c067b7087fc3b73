"""The event validator reads from each contract what its ``case_id`` is (a case's UUID, or the
form the contract declares) and whether consumers check its references: the validator names
no contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.consumer import InvalidEvent
from shared.contracts.accounts import AccountChangedV2
from shared.contracts.registry import RecordChangedV2
from shared.event_validation import EventValidator

KNOWN = EventValidator({"deputy": {"deputy-1"}, "unit": {"unit-a"}, "station": {"station-1"},
                        "category": {"roads"}, "leader": {"leader-1"}})
ENVELOPE = {"actor": {"username": "admin", "role": "admin"},
            "occurred_at": datetime(2026, 12, 6, tzinfo=UTC), "source_notification_id": 7}


def account(case_id: str, **links: str) -> AccountChangedV2:
    return AccountChangedV2(event_id="accounts:7", source_service="accounts", case_id=case_id,
                            username="clerk-1", change="linked", roles=["unit"], enabled=True,
                            token_version=2, **links, **ENVELOPE)


def record(case_id: str) -> RecordChangedV2:
    return RecordChangedV2(event_id="registry:7", source_service="registry", case_id=case_id,
                           kind="category", key="roads", change="changed",
                           record={"code": "roads"}, active=True, **ENVELOPE)


def test_an_account_named_by_its_form_with_a_station_as_its_unit_passes():
    # a station's clerk is linked to the station as their unit: the accounts service checks
    # links, the consumer does not park the change for it
    KNOWN(account("account:clerk-1", unit_id="station-1", deputy_id="deputy-new"))


@pytest.mark.parametrize(("make", "case_id", "form"), [
    (account, "account:someone-else", "account:<username>"),
    (account, "0b8f7c1e-8a52-4b6b-9d7f-2a1c3e4d5f60", "account:<username>"),
    (record, "category:other", "<kind>:<key>"),
    (record, "roads", "<kind>:<key>"),
])
def test_a_case_id_not_of_the_declared_form_is_refused_with_the_form_named(make, case_id, form):
    with pytest.raises(InvalidEvent, match=f"case_id '{case_id}' is not '{form}'"):
        KNOWN(make(case_id))


def test_a_record_named_by_its_form_passes():
    KNOWN(record("category:roads"))

"""The suggestion-handling ledger exported for one unit lists every case of the unit, not the
first page of a board cell (the board lists at most 50 cases per cell)."""

from __future__ import annotations

import csv
import io

from tests.harness import eventually

CASES = 60  # more than a board cell lists


async def test_a_units_ledger_export_has_every_case_of_the_unit(api, system):
    numbers = set()
    for i in range(CASES):
        r = await api.post("deputy-1", "/api/v1/suggestions",
                           {"title": f"背街小巷路面破损（第{i}处）", "body": "坑洼积水，出行不便。",
                            "category": "urban_construction"})  # routed to unit-a
        assert r.status_code == 201, r.text
        r = await api.post("office", f"/api/v1/suggestions/{r.json()['id']}/register",
                           {"urgency": "blue"})
        assert r.status_code == 200, r.text
        numbers.add(r.json()["number"])

    async def all_assigned() -> bool:
        r = await api.get("office", "/api/v1/tasks", unit_id="unit-a", year="all", limit=1)
        return r.status_code == 200 and int(r.headers["X-Total-Count"]) >= CASES

    await eventually(all_assigned, timeout=60)
    token = (await api.login("office"))["Authorization"].split()[1]
    r = await api.client.get("/app/exports/ledger.csv", params={"unit_id": "unit-a",
                                                                "year": "all"},
                             headers={"Cookie": f"duty_session={token}"})
    assert r.status_code == 200, r.text[:300]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {row["编号"] for row in rows} == numbers

"""Open311 GeoReport v2 at /open311/v2, used as a GeoReport v2 client would: form-encoded
POSTs, JSON and XML answers parsed as such, against the real in-process system."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from services.gateway.routes_open311 import _to_request

BASE = "/open311/v2"


@pytest.fixture(autouse=True)
def no_citizen_rate_limit(monkeypatch):
    """These tests read requests anonymously many times (reads are rate-limited per address,
    see test_gateway_security.py): the gateway they get has no limit."""
    monkeypatch.setenv("CITIZEN_RATE_LIMIT", "off")
STATION = "station-fengjie"
PHONE = "13812345678"
FIRST, LAST = "小明", "赵"
TEXT = "鱼复-01网格小区路灯长期不亮，夜间出行不便，希望尽快修复。"
REQUEST = {
    "service_code": "safety_hazard",
    "jurisdiction_id": STATION,
    "lat": "31.0185",
    "long": "109.4650",
    "address_string": "鱼复街道滨江路12号",
    "description": TEXT,
    "first_name": FIRST,
    "last_name": LAST,
    "phone": PHONE,
    "email": "zhao@example.com",
    "device_id": "device-42",
    "account_id": "acct-7",
    "media_url": "https://example.com/lamp.jpg",
    "attribute[grid]": "鱼复-01",
    "api_key": "any-or-none",
}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"}


def xml(response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def no_personal_data(text: str) -> None:
    for value in (PHONE, "138****5678", FIRST, LAST + FIRST, "zhao@example.com", "acct-7",
                  "device-42"):
        assert value not in text, value


async def file_request(api, fmt: str = "json", **overrides) -> dict:
    form = {k: v for k, v in {**REQUEST, **overrides}.items() if v is not None}
    r = await api.client.post(f"{BASE}/requests.{fmt}", data=form)
    assert r.status_code == 201, r.text
    no_personal_data(r.text)
    if fmt == "xml":
        (request,) = xml(r).findall("request")
        return {child.tag: child.text for child in request}
    (created,) = r.json()
    return created


async def test_services_and_service_definitions_in_json_and_xml(api, system):
    r = await api.client.get(f"{BASE}/services.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    services = {s["service_code"]: s for s in r.json()}
    assert set(services) == {"safety_hazard", "livelihood", "grassroots_governance",
                             "urban_construction", "ecology", "economy"}
    hazard = services["safety_hazard"]
    assert hazard["service_name"] == "安全隐患" and hazard["metadata"] is True
    assert hazard["type"] == "realtime" and "Safety hazards" in hazard["description"]
    assert set(hazard) == {"service_code", "service_name", "description", "metadata", "type",
                           "keywords", "group"}

    root = xml(await api.client.get(f"{BASE}/services.xml", params={"jurisdiction_id": STATION}))
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert "safety_hazard" in codes and len(codes) == 6
    assert root.find("service").findtext("metadata") == "true"

    r = await api.client.get(f"{BASE}/services/safety_hazard.json")
    definition = r.json()
    assert definition["service_code"] == "safety_hazard"
    attributes = {a["code"]: a for a in definition["attributes"]}
    assert attributes["station_id"]["required"] is True
    assert attributes["station_id"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in attributes["station_id"]["values"]} >= {STATION, "station-jiading"}
    assert attributes["grid"]["required"] is False

    # With the station as jurisdiction: the station attribute is not needed, its grids only.
    root = xml(await api.client.get(f"{BASE}/services/safety_hazard.xml",
                                    params={"jurisdiction_id": STATION}))
    assert root.tag == "service_definition" and root.findtext("service_code") == "safety_hazard"
    attrs = {a.findtext("code"): a for a in root.find("attributes").findall("attribute")}
    assert attrs["station_id"].findtext("required") == "false"
    assert [v.findtext("key") for v in attrs["grid"].find("values").findall("value")] == [
        "鱼复-01", "鱼复-02", "鱼复-03"]

    # Errors: a list of {code, description} with the HTTP status.
    r = await api.client.get(f"{BASE}/services/no_such_service.json")
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = await api.client.get(f"{BASE}/services.json", params={"jurisdiction_id": "nowhere"})
    assert r.status_code == 404 and "jurisdiction_id" in r.json()[0]["description"]
    root = xml(await api.client.get(f"{BASE}/services/nope.xml"))
    assert root.tag == "errors" and root.find("error").findtext("code") == "404"
    r = await api.client.get(f"{BASE}/services.csv")
    assert r.status_code == 404 and r.json()[0]["code"] == 404

    r = await api.client.get(f"{BASE}/discovery.json")
    endpoint = r.json()["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2") and "text/xml" in endpoint["formats"]


async def test_a_request_filed_in_json_lands_as_a_citizen_message(api, system):
    created = await file_request(api)
    mid, token = created["service_request_id"], created["follow_up_token"]
    assert set(created) == {"service_request_id", "service_notice", "account_id",
                            "follow_up_token"}
    assert created["account_id"] is None
    assert token and token in created["service_notice"]

    # Staff see it as an ordinary message: the location and photo are in its text, the
    # contact is kept (the office sees it in full, a deputy masked).
    r = await api.get("office", f"/api/v1/messages/{mid}")
    message = r.json()
    assert message["station_id"] == STATION and message["category"] == "safety_hazard"
    assert message["grid"] == "鱼复-01" and message["status"] == "received"
    assert message["content"].startswith(TEXT)
    for part in ("31.018500, 109.465000", "鱼复街道滨江路12号", "https://example.com/lamp.jpg"):
        assert part in message["content"]
    assert message["contact_phone"] == PHONE and message["contact_name"] == LAST + FIRST
    r = await api.get("deputy-1", f"/api/v1/messages/{mid}")
    assert r.json()["contact_phone"] == "138****5678"
    assert "zhao@example.com" not in r.text and "acct-7" not in r.text

    # The citizen follows it with the token, as the native API allows.
    r = await api.client.get(f"/api/v1/messages/{mid}", headers={"X-Follow-Up-Token": token})
    assert r.status_code == 200 and r.json()["id"] == mid


async def test_a_request_filed_in_xml_with_the_station_as_an_attribute(api, system):
    created = await file_request(api, "xml", jurisdiction_id=None,
                                 **{"attribute[station_id]": STATION}, first_name=None,
                                 last_name=None, phone=None, lat=None, long=None,
                                 address_string=None, media_url=None)
    assert created["service_request_id"] and created["follow_up_token"]
    assert created["account_id"] is None
    r = await api.get("office", f"/api/v1/messages/{created['service_request_id']}")
    assert r.json()["content"] == TEXT and r.json()["contact_phone"] is None


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"service_code": None}, "service_code was not provided"),
    ({"service_code": "potholes"}, "service_code potholes was not found"),
    ({"jurisdiction_id": None}, "liaison station was not provided"),
    ({"jurisdiction_id": "station-nowhere"}, "station station-nowhere was not found"),
    ({"attribute[station_id]": "station-jiading"}, "name different stations"),
    ({"description": None}, "description was not provided"),
    ({"description": "x" * 4001}, "longer than 4000"),
    ({"lat": None, "long": None, "address_string": None, "attribute[grid]": None},
     "a location was not provided"),
    ({"long": None}, "lat and long go together"),
    ({"lat": "north"}, "lat is not a number"),
    ({"lat": "91"}, "lat must lie between"),
    ({"phone": "12345"}, "phone is not"),
    ({"media_url": "javascript:alert(1)"}, "media_url is not an http(s) URL"),
    ({"attribute[colour]": "red"}, "unknown attribute attribute[colour]"),
    ({"attribute[grid]": "菊园-01"}, "does not belong to station"),
])
async def test_bad_requests_get_open311_errors(api, system, overrides, needle):
    form = {k: v for k, v in {**REQUEST, **overrides}.items() if v is not None}
    r = await api.client.post(f"{BASE}/requests.json", data=form)
    assert r.status_code == 400, r.text
    errors = r.json()
    assert all(set(e) == {"code", "description"} and e["code"] == 400 for e in errors)
    assert any(needle in e["description"] for e in errors), errors
    no_personal_data(r.text)


async def test_errors_in_xml_and_a_phone_with_country_code(api, system):
    r = await api.client.post(f"{BASE}/requests.xml", data={"description": "路灯不亮"})
    assert r.status_code == 400
    root = xml(r)
    assert root.tag == "errors"
    descriptions = [e.findtext("description") for e in root.findall("error")]
    assert {e.findtext("code") for e in root.findall("error")} == {"400"}
    assert any("service_code" in d for d in descriptions)
    created = await file_request(api, phone="+86 138 1234 5678")
    r = await api.get("office", f"/api/v1/messages/{created['service_request_id']}")
    assert r.json()["contact_phone"] == PHONE


async def test_what_a_request_shows_with_and_without_the_token(api, system):
    created = await file_request(api)
    mid, token = created["service_request_id"], created["follow_up_token"]

    # Anonymous: status, service, station and grid, times; a generic description.
    r = await api.client.get(f"{BASE}/requests/{mid}.json")
    assert r.status_code == 200, r.text
    (public,) = r.json()
    assert set(public) == REQUEST_FIELDS
    assert public["service_request_id"] == mid and public["status"] == "open"
    assert public["service_code"] == "safety_hazard" and public["service_name"] == "安全隐患"
    assert public["description"] == "群众意见（安全隐患）· 奉节县鱼复街道代表联络站"
    assert public["agency_responsible"] == "奉节县鱼复街道代表联络站"
    assert public["address"] == "奉节县鱼复街道代表联络站 · 鱼复-01"
    assert public["requested_datetime"] == public["updated_datetime"]
    assert public["requested_datetime"].startswith("2026-03-02T09:00:00")
    assert "路灯" not in r.text and "滨江路" not in r.text and "example.com" not in r.text
    no_personal_data(r.text)

    # With the token (header or query): the text; never the contact.
    r = await api.client.get(f"{BASE}/requests/{mid}.json", headers={"X-Follow-Up-Token": token})
    (own,) = r.json()
    assert own["description"].startswith(TEXT)
    no_personal_data(r.text)
    root = xml(await api.client.get(f"{BASE}/requests/{mid}.xml",
                                    params={"follow_up_token": token}))
    (request,) = root.findall("request")
    assert request.findtext("description").startswith(TEXT)
    assert request.findtext("status") == "open"
    assert {child.tag for child in request} == REQUEST_FIELDS

    r = await api.client.get(f"{BASE}/requests/{mid}.json", headers={"X-Follow-Up-Token": "wrong"})
    assert r.status_code == 403 and r.json()[0]["code"] == 403
    r = await api.client.get(f"{BASE}/requests/00000000-0000-0000-0000-000000000000.json")
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = await api.client.get(f"{BASE}/requests/not-an-id.xml")
    assert r.status_code == 404 and xml(r).tag == "errors"
    r = await api.client.get(f"{BASE}/requests/{mid}.json",
                             params={"jurisdiction_id": "station-jiading"})
    assert r.status_code == 404

    # Staff with a bearer token see the text too; a bad bearer token is refused.
    r = await api.client.get(f"{BASE}/requests/{mid}.json", headers=await api.login("deputy-1"))
    assert r.json()[0]["description"].startswith(TEXT)
    no_personal_data(r.text)
    r = await api.client.get(f"{BASE}/requests/{mid}.json",
                             headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and r.json()[0]["code"] == 401


async def test_statuses_map_to_open_and_closed_with_notes(api, system):
    answered = await file_request(api)
    forwarded = await file_request(api, service_code="livelihood")
    a_id, a_token = answered["service_request_id"], answered["follow_up_token"]
    f_id = forwarded["service_request_id"]

    r = await api.post("deputy-1", f"/api/v1/messages/{a_id}/claim")
    assert r.status_code == 200
    r = await api.client.get(f"{BASE}/requests/{a_id}.json")
    (claimed,) = r.json()
    assert claimed["status"] == "open" and "代表已认领" in claimed["status_notes"]
    assert claimed["updated_datetime"] is not None

    r = await api.post("deputy-1", f"/api/v1/messages/{a_id}/answer", {"text": "已联系街道修复路灯"})
    assert r.status_code == 200
    r = await api.client.get(f"{BASE}/requests/{a_id}.json")
    (public,) = r.json()
    assert public["status"] == "closed" and "代表已答复" in public["status_notes"]
    assert "修复路灯" not in r.text  # the answer is for the citizen, not the public
    r = await api.client.get(f"{BASE}/requests/{a_id}.json", headers={"X-Follow-Up-Token": a_token})
    assert r.json()[0]["status_notes"].endswith("已联系街道修复路灯")

    # The citizen rates it with the token from the Open311 answer.
    r = await api.client.post(f"/api/v1/messages/{a_id}/rating",
                              json={"rating": "satisfied", "token": a_token})
    assert r.status_code == 200, r.text
    r = await api.client.get(f"{BASE}/requests/{a_id}.json")
    assert r.json()[0]["status"] == "closed" and "评价" in r.json()[0]["status_notes"]

    r = await api.post("office", f"/api/v1/messages/{f_id}/forward", {"unit_id": "unit-b"})
    assert r.status_code == 200, r.text
    r = await api.client.get(f"{BASE}/requests/{f_id}.json")
    (moved,) = r.json()
    assert moved["status"] == "open" and moved["agency_responsible"] == "区民政局"
    assert "区民政局" in moved["status_notes"]


async def test_listing_requests_with_the_spec_filters(api, system):
    first = (await file_request(api))["service_request_id"]
    system.clock.advance(__import__("datetime").timedelta(days=2))
    second = (await file_request(api, service_code="ecology"))["service_request_id"]
    third = (await file_request(api, jurisdiction_id="station-jiading",
                                **{"attribute[grid]": "菊园-01"}))["service_request_id"]
    r = await api.post("deputy-1", f"/api/v1/messages/{first}/claim")
    r = await api.post("deputy-1", f"/api/v1/messages/{first}/answer", {"text": "已处理"})
    assert r.status_code == 200

    async def ids(fmt: str = "json", **params) -> list[str]:
        r = await api.client.get(f"{BASE}/requests.{fmt}", params=params)
        assert r.status_code == 200, r.text
        no_personal_data(r.text)
        assert TEXT not in r.text
        if fmt == "xml":
            return [q.findtext("service_request_id") for q in xml(r).findall("request")]
        return [q["service_request_id"] for q in r.json()]

    # Newest first.
    assert await ids() == [second, third, first] or await ids() == [third, second, first]
    assert set(await ids("xml")) == {first, second, third}
    assert await ids(status="closed") == [first]
    assert set(await ids(status="open")) == {second, third}
    assert set(await ids(status="open,closed")) == {first, second, third}
    assert await ids(service_code="ecology") == [second]
    assert set(await ids(service_code="ecology,safety_hazard")) == {first, second, third}
    assert set(await ids(jurisdiction_id=STATION)) == {first, second}
    assert await ids(end_date="2026-03-02T12:00:00+08:00") == [first]
    assert set(await ids(start_date="2026-03-03T00:00:00+08:00",
                         end_date="2026-03-05T00:00:00+08:00")) == {second, third}
    # service_request_id overrides the other filters; unknown ids are left out.
    assert await ids(service_request_id=f"{first}, nope", status="open") == [first]
    assert set(await ids("xml", service_request_id=f"{first},{third}")) == {first, third}

    for params, needle in [
        ({"status": "pending"}, "status is open or closed"),
        ({"start_date": "yesterday"}, "start_date is not an ISO 8601"),
        ({"start_date": "2026-03-01T00:00:00"}, "needs a time zone"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-03-05T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}, "before"),
        ({"jurisdiction_id": "nowhere"}, "jurisdiction_id nowhere was not found"),
    ]:
        r = await api.client.get(f"{BASE}/requests.json", params=params)
        assert r.status_code in (400, 404) and needle in r.json()[0]["description"], (params, r.text)

    # Staff with a bearer token get the texts; a unit only what was forwarded to it.
    r = await api.client.get(f"{BASE}/requests.json", headers=await api.login("office"))
    assert any(q["description"].startswith(TEXT) for q in r.json())
    r = await api.client.get(f"{BASE}/requests.json", headers=await api.login("unit-a"))
    assert r.json() == []


async def test_xml_stays_well_formed_whatever_the_text(api, system):
    r = await api.client.post(f"/api/v1/stations/{STATION}/messages",
                              json={"content": "路灯\x07不亮 <b>&amp;</b> ]]>", "category": "ecology"})
    assert r.status_code == 201, r.text
    mid, token = r.json()["id"], r.json()["follow_up_token"]
    root = xml(await api.client.get(f"{BASE}/requests/{mid}.xml",
                                    headers={"X-Follow-Up-Token": token}))
    assert root.find("request").findtext("description") == "路灯\ufffd不亮 <b>&amp;</b> ]]>"
    root = xml(await api.client.get(f"{BASE}/services/<x>&.xml"))
    assert "<x>&" in root.find("error").findtext("description")


def test_a_station_may_publish_the_text_but_never_the_answer():
    reference = {"stations": {"s1": {"id": "s1", "name": "站", "open311_public_description": True},
                              "s2": {"id": "s2", "name": "另一站"}},
                 "categories": {"ecology": {"code": "ecology", "name_zh": "生态环境"}}}
    view = {"id": "m1", "station_id": "s1", "category": "ecology", "content": "河道有垃圾",
            "status": "answered", "answer": "已清理", "received_at": "2026-03-02T09:00:00+08:00",
            "grid": None, "unit_id": None}
    public = _to_request(view, reference, {}, full=False)
    assert public["description"] == "河道有垃圾" and "已清理" not in public["status_notes"]
    other = _to_request({**view, "station_id": "s2"}, reference, {}, full=False)
    assert other["description"] == "群众意见（生态环境）· 另一站"
    assert other["status"] == "closed" and other["address"] == "另一站"

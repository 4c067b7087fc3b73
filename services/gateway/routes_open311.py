"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) over citizen messages.

Existing Open311 clients file and follow citizen messages (群众意见) here, in JSON or XML
(the format is the path's suffix: ``.json`` or ``.xml``):

- ``GET  /open311/v2/discovery.{fmt}`` — service discovery (endpoint, formats).
- ``GET  /open311/v2/services.{fmt}`` — the services: one per message category.
- ``GET  /open311/v2/services/{service_code}.{fmt}`` — a service definition: the attributes
  ``station_id`` (the liaison station) and ``grid`` (网格).
- ``POST /open311/v2/requests.{fmt}`` — file a request (form-encoded, as the spec says).
- ``GET  /open311/v2/requests.{fmt}`` — requests by ``service_request_id`` (comma list; it
  overrides the other filters), ``service_code`` (comma list), ``status`` (open|closed),
  ``start_date``/``end_date`` (ISO 8601 with offset, at most 90 days apart); newest first,
  ``page_size`` at a time (default 50, at most 500); the body is the spec's list, the next page
  is announced as in the rest of the API: ``Link: <…>; rel="next"`` (its ``cursor`` parameter
  is opaque) and ``X-Total-Count``.
- ``GET  /open311/v2/requests/{service_request_id}.{fmt}`` — one request (a one-item list).

Choices where the spec leaves room (also in the README):

- **Station.** The liaison station is ``jurisdiction_id`` (a station id from
  ``/api/v1/stations``) or the attribute ``attribute[station_id]``; one of the two is needed,
  and both must agree when both are sent. ``attribute[grid]`` is the optional grid.
- **Location.** The spec wants ``lat``+``long``, ``address_string`` or ``address_id``; the
  grid counts too. Citizen messages have no location fields, so the location (and
  ``media_url``) is appended to the message text that the deputies read.
- **Personal data.** ``first_name``/``last_name`` and ``phone`` become the message's contact
  (kept encrypted by intake) and are never returned. ``email``, ``device_id`` and
  ``account_id`` are not kept; ``account_id`` is answered as null. ``api_key`` is accepted and
  not needed.
- **Follow-up token.** The POST answer carries it twice: in ``service_notice`` (so that any
  client shows it to the citizen) and as the extra field ``follow_up_token``. With it the
  citizen reads the full request (send ``X-Follow-Up-Token``, or ``follow_up_token`` as a
  query parameter) and rates it at ``POST /api/v1/messages/{id}/rating``.
- **Who sees what.** Without the token (or a staff bearer token) a request shows its status,
  service, station and grid, times and a generic description (``群众意见（<category>）·
  <station>``), never the text or the deputy's answer — unless the station's configuration
  sets ``open311_public_description: true``, which publishes the text (not the answer).
  With the token, or signed in as staff (``Authorization: Bearer``), ``description`` is the
  text and ``status_notes`` includes the deputy's answer.
- **Status.** received, claimed, forwarded (to a handling unit), converted (into a deputy's
  suggestion) → ``open`` until the handling unit's feedback is in, then ``closed`` with the
  feedback in ``status_notes``; answered (by the deputy) and closed (rated) → ``closed``;
  ``status_notes`` says which. ``updated_datetime`` is given only where the message's view
  tells it (received: the receipt; claimed: the claim), else null.
- **Errors** are ``[{"code","description"}]`` (``<errors><error>`` in XML) with the HTTP
  status as the code: 400 bad input, 401 bad bearer token, 403 wrong follow-up token, 404
  unknown request, service, station or format, 429 rate limit, 502 a service failed,
  503/504 a service is down or slow.

Anonymous reads go to intake as the read-only internal user ``open311-gateway`` (role
leader): intake keeps no public view of a message, so the gateway asks for the staff view and
passes on only the fields above.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Form, Header, HTTPException, Path, Request
from fastapi.responses import Response

from pydantic import ValidationError

from shared.contracts.requests import Request as Contract
from shared.contracts.requests.assignment import Units
from shared.contracts.requests.intake import GetMessage, ListMessages, PostMessage, Reference
from shared.contracts.requests.limits import PHONE_PATTERN
from services.gateway.auth import Authenticator, Principal
from services.gateway.deps import ServiceFailure, Services, ServiceUnavailable
from services.gateway.paging import next_link
from shared.paging import DEFAULT_LIMIT, MAX_LIMIT

BASE = "/open311/v2"
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-03-01T00:00:00+08:00"
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
TAGS = ["Open311 GeoReport v2"]
# The format suffix: documented as json|xml, checked by the handlers (404 as an Open311 error).
Fmt = Annotated[str, Path(description="json or xml", json_schema_extra={"enum": ["json", "xml"]})]

# Intake's own pattern for contact phones (mobile, or landline with area code).
PHONE = re.compile(PHONE_PATTERN)
MAX_DESCRIPTION = 4000  # the spec's limit
MAX_IDS = 100
MAX_SPAN = timedelta(days=90)
KNOWN_ATTRIBUTES = ("station_id", "grid")
STATUS = {
    "received": ("open", "已收到，等待代表认领 (received, waiting for a deputy)"),
    "claimed": ("open", "代表已认领，正在办理 (a deputy is handling it)"),
    "forwarded": ("open", "已转交承办单位办理 (forwarded to a handling unit)"),
    "converted": ("open", "已转为代表建议办理 (taken up as a deputy's suggestion)"),
    "answered": ("closed", "代表已答复 (answered by a deputy)"),
    "closed": ("closed", "已办结并评价 (answered and rated)"),
}

# The gateway's own read-only identity for anonymous Open311 reads (see the module doc).
READER = Principal(username="open311-gateway", role="leader")

# XML: the element name of a list's items, by the list's name.
XML_ITEMS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
             "formats": "format"}


class Open311Error(Exception):
    def __init__(self, status: int, *descriptions: str) -> None:
        self.status = status
        self.descriptions = descriptions or ("error",)


# --- rendering --------------------------------------------------------------------------

# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, list):
        for item in value:
            _xml_value(element, XML_ITEMS.get(name, "item"), item)
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(element, k, v)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = NOT_XML.sub("\ufffd", str(value))


def render(fmt: str, data: Any, root: str, item: str | None = None,
           status_code: int = 200) -> Response:
    if fmt == "xml":
        top = ET.Element(root)
        if item is None:
            for k, v in data.items():
                _xml_value(top, k, v)
        else:
            for entry in data:
                _xml_value(top, item, entry)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8",
                                                                        xml_declaration=False)
    else:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8", "replace")
    return Response(body, status_code=status_code, media_type=MEDIA_TYPES[fmt])


def render_errors(fmt: str, status_code: int, descriptions: tuple[str, ...] | list[str],
                  headers: dict[str, str] | None = None) -> Response:
    fmt = fmt if fmt in MEDIA_TYPES else "json"
    errors = [{"code": status_code, "description": d} for d in descriptions]
    response = render(fmt, errors, "errors", "error", status_code)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def _request(contract: type[Contract], **fields: Any) -> Any:
    """The intake request (shared/contracts/requests/intake.py) of an Open311 call; a value
    the contract refuses is a 400 with the contract's messages (as the service's 422 is)."""
    try:
        return contract(**fields)
    except ValidationError as exc:
        raise Open311Error(400, *[e["msg"] for e in exc.errors()]) from None


def _service_error(exc: ServiceFailure) -> Open311Error:
    reply = exc.reply
    status = int(reply.get("status", 500))
    messages = [e.get("msg", "") for e in reply.get("errors") or [] if e.get("msg")]
    detail = reply.get("detail") or reply.get("title") or "error"
    if status == 422:
        return Open311Error(400, *(messages or [detail]))
    if status >= 500:
        return Open311Error(502, detail)
    return Open311Error(status, detail)


async def _answer(fmt: str, build: Any) -> Response:
    """Run a handler body, turning every failure into an Open311 error response."""
    if fmt not in MEDIA_TYPES:
        return render_errors("json", 404, ["formats are json and xml (e.g. requests.json)"])
    try:
        return await build()
    except Open311Error as exc:
        return render_errors(fmt, exc.status, exc.descriptions)
    except ServiceFailure as exc:
        error = _service_error(exc)
        return render_errors(fmt, error.status, error.descriptions)
    except ServiceUnavailable as exc:
        return render_errors(fmt, exc.status_code, [exc.detail])
    except HTTPException as exc:  # from the bearer token check
        return render_errors(fmt, exc.status_code, [str(exc.detail)], exc.headers)


# --- reference data -----------------------------------------------------------------------

async def _reference(request: Request) -> dict[str, Any]:
    services: Services = request.app.state.services
    reference = await services.send(Reference())
    return {
        "categories": {c["code"]: c for c in reference["categories"]},
        "stations": {s["id"]: s for s in reference["stations"]},
    }


def _station(reference: dict[str, Any], jurisdiction_id: str | None,
             status_code: int = 404) -> dict[str, Any] | None:
    if not jurisdiction_id:
        return None
    station = reference["stations"].get(jurisdiction_id)
    if station is None:
        raise Open311Error(status_code, f"jurisdiction_id {jurisdiction_id} was not found: "
                                        "it is a liaison station id (GET /api/v1/stations)")
    return station


def _service(category: dict[str, Any]) -> dict[str, Any]:
    return {
        "service_code": category["code"],
        "service_name": category["name_zh"],
        "description": f"{category.get('name_en') or category['name_zh']} — 群众意见，由人大代表认领办理 "
                       "(a citizen's message, taken up by a people's congress deputy)",
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(x for x in (category["code"], category.get("name_en"),
                                          category["name_zh"]) if x),
        "group": "群众意见 citizen messages",
    }


def _definition(category: dict[str, Any], reference: dict[str, Any],
                station: dict[str, Any] | None) -> dict[str, Any]:
    stations = [station] if station else list(reference["stations"].values())
    grids = [{"key": g, "name": g if station else f"{g}（{s['name']}）"}
             for s in stations for g in s.get("grids", [])]
    return {
        "service_code": category["code"],
        "attributes": [
            {"variable": True, "code": "station_id", "datatype": "singlevaluelist",
             "required": station is None, "datatype_description": None, "order": 1,
             "description": "代表联络站 the liaison station (or send jurisdiction_id = the "
                            "station id)",
             "values": [{"key": s["id"], "name": s["name"]} for s in stations]},
            {"variable": True, "code": "grid", "datatype": "singlevaluelist", "required": False,
             "datatype_description": None, "order": 2,
             "description": "网格 the grid of the station the matter is in",
             "values": grids},
        ],
    }


# --- requests -------------------------------------------------------------------------------

def _principal(request: Request) -> Principal | None:
    """A staff member's bearer token, when one is sent (it must be valid)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "invalid authorization header",
                            headers={"WWW-Authenticate": "Bearer"})
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.decode(token)
    if principal.role not in ("office", "leader", "unit", "deputy"):
        raise HTTPException(403, "only staff read requests with a bearer token")
    return principal


def _open_closed(status: str) -> tuple[str, str]:
    return STATUS.get(status, ("open", status))


def _updated(view: dict[str, Any]) -> str | None:
    if view.get("status") == "received":
        return view.get("received_at")
    if view.get("status") == "claimed":
        return view.get("claimed_at")
    return None


def _to_request(view: dict[str, Any], reference: dict[str, Any], units: dict[str, str],
                full: bool) -> dict[str, Any]:
    station = reference["stations"].get(view.get("station_id"), {})
    category = reference["categories"].get(view.get("category") or "")
    service_name = category["name_zh"] if category else "未分类"
    state, notes = _open_closed(view.get("status", ""))
    unit_id = view.get("unit_id")
    if view.get("status") == "forwarded" and unit_id:
        notes = f"已转交{units.get(unit_id, unit_id)}办理 (forwarded to a handling unit)"
    if full and view.get("answer"):
        notes = f"{notes}：{view['answer']}"
    feedback = view.get("feedback")
    if feedback and view.get("status") in ("forwarded", "converted"):
        # the handling unit's feedback is in: the matter is done (the citizen may rate it)
        from services.intake.follow_up import feedback_text

        state = "closed"
        notes = feedback_text(feedback, units.get(feedback["unit_id"]))
    if full or station.get("open311_public_description"):
        description = view.get("content")
    else:
        description = f"群众意见（{service_name}）· {station.get('name', view.get('station_id'))}"
    address = " · ".join(x for x in (station.get("name"), view.get("grid")) if x) or None
    return {
        "service_request_id": view["id"],
        "status": state,
        "status_notes": notes,
        "service_name": service_name,
        "service_code": view.get("category"),
        "description": description,
        "agency_responsible": units.get(unit_id, unit_id) if unit_id else station.get("name"),
        "service_notice": None,
        "requested_datetime": view.get("received_at"),
        "updated_datetime": _updated(view),
        "expected_datetime": None,
        "address": address,
        "address_id": view.get("grid"),
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


async def _units(services: Services, views: list[dict[str, Any]]) -> dict[str, str]:
    if not any(v.get("unit_id") for v in views):
        return {}
    try:
        units = await services.send(Units(), READER)
    except (ServiceFailure, ServiceUnavailable):
        return {}
    return {u["id"]: u.get("name", u["id"]) for u in units}


def _date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (Z or an offset such as +08:00)")
    return parsed


def _page_size(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_LIMIT
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise Open311Error(400, f"page_size is a number from 1 to {MAX_LIMIT}")
    return int(value)


def _csv(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def _person(first: str | None, last: str | None) -> str | None:
    first, last = (first or "").strip(), (last or "").strip()
    if not first and not last:
        return None
    if all("\u3400" <= ch <= "\u9fff" for ch in first + last):
        return last + first  # a Chinese name: family name first, no space
    return " ".join(x for x in (first, last) if x)


def _phone(value: str) -> str:
    phone = re.sub(r"[\s()]", "", value)
    phone = re.sub(r"^(\+86|0086)-?", "", phone)
    if not PHONE.match(phone):
        raise Open311Error(400, "phone is not a mainland mobile number (11 digits, 1[3-9]…) or a "
                                "landline with area code (023-12345678)")
    return phone


def _coordinate(name: str, value: str, limit: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} is not a number") from None
    if not -limit <= number <= limit:
        raise Open311Error(400, f"{name} must lie between -{limit:g} and {limit:g}")
    return number


def register_open311_routes(app: FastAPI) -> None:
    """Add the Open311 GeoReport v2 routes to the gateway app."""

    @app.get(f"{BASE}/discovery.{{fmt}}", tags=TAGS,
             summary="Open311 service discovery: where the GeoReport v2 endpoint is")
    async def discovery(fmt: Fmt, request: Request) -> Response:
        async def build() -> Response:
            base = request.app.state.settings.public_base_url or str(request.base_url)
            return render(fmt, {
                "changeset": CHANGESET,
                "contact": "人大代表联络工作办公室 (the deputy affairs office)",
                "key_service": "no key is needed",
                "endpoints": [{
                    "specification": SPEC_URL, "url": f"{base.rstrip('/')}{BASE}",
                    "changeset": CHANGESET, "type": "production",
                    "formats": ["text/xml", "application/json"],
                }],
            }, "discovery")
        return await _answer(fmt, build)

    @app.get(f"{BASE}/services.{{fmt}}", tags=TAGS,
             summary="Open311 services: one per message category")
    async def services_list(fmt: Fmt, request: Request,
                            jurisdiction_id: str | None = None) -> Response:
        async def build() -> Response:
            reference = await _reference(request)
            _station(reference, jurisdiction_id)
            return render(fmt, [_service(c) for c in reference["categories"].values()],
                          "services", "service")
        return await _answer(fmt, build)

    @app.get(f"{BASE}/services/{{service_code}}.{{fmt}}", tags=TAGS,
             summary="Open311 service definition: the station and grid attributes")
    async def service_definition(service_code: str, fmt: Fmt, request: Request,
                                 jurisdiction_id: str | None = None) -> Response:
        async def build() -> Response:
            reference = await _reference(request)
            station = _station(reference, jurisdiction_id)
            category = reference["categories"].get(service_code)
            if category is None:
                raise Open311Error(404, f"service_code {service_code} was not found")
            return render(fmt, _definition(category, reference, station), "service_definition")
        return await _answer(fmt, build)

    @app.post(f"{BASE}/requests.{{fmt}}", status_code=201, tags=TAGS,
              summary="Open311: file a request (a citizen message); keep the follow_up_token",
              responses={201: {"description": "[{service_request_id, service_notice, "
                                              "account_id, follow_up_token}]"},
                         400: {"description": "bad input ([{code, description}])"},
                         429: {"description": "too many requests from this address"}},
              openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {
                  "example": {"service_code": "safety_hazard",
                              "jurisdiction_id": "station-fengjie",
                              "description": "滨江路路灯不亮，夜间出行不便",
                              "address_string": "奉节县滨江路 12 号", "lat": "31.0186",
                              "long": "109.4650", "phone": "13812345678",
                              "attribute[grid]": "鱼复-01"}}}}})
    async def post_request(
        fmt: Fmt, request: Request,
        service_code: Annotated[str | None, Form()] = None,
        jurisdiction_id: Annotated[str | None, Form()] = None,
        api_key: Annotated[str | None, Form(description="accepted, not needed")] = None,
        lat: Annotated[str | None, Form()] = None,
        long_: Annotated[str | None, Form(alias="long")] = None,
        address_string: Annotated[str | None, Form()] = None,
        address_id: Annotated[str | None, Form()] = None,
        email: Annotated[str | None, Form(description="not kept")] = None,
        device_id: Annotated[str | None, Form(description="not kept")] = None,
        account_id: Annotated[str | None, Form(description="not kept")] = None,
        first_name: Annotated[str | None, Form()] = None,
        last_name: Annotated[str | None, Form()] = None,
        phone: Annotated[str | None, Form()] = None,
        description: Annotated[str | None, Form()] = None,
        media_url: Annotated[str | None, Form()] = None,
        station_id: Annotated[str | None, Form(alias="attribute[station_id]")] = None,
        grid: Annotated[str | None, Form(alias="attribute[grid]")] = None,
    ) -> Response:
        async def build() -> Response:
            errors: list[str] = []
            form = await request.form()
            unknown = sorted(k for k in form.keys()
                             if k.startswith("attribute[") and k[10:-1] not in KNOWN_ATTRIBUTES)
            if unknown:
                errors.append(f"unknown attribute {', '.join(unknown)} (this service knows "
                              f"{', '.join(KNOWN_ATTRIBUTES)})")
            reference = await _reference(request)
            code = (service_code or "").strip()
            if not code:
                errors.append("service_code was not provided")
            elif code not in reference["categories"]:
                errors.append(f"service_code {code} was not found")
            station = (station_id or "").strip() or None
            jurisdiction = (jurisdiction_id or "").strip() or None
            if station and jurisdiction and station != jurisdiction:
                errors.append("jurisdiction_id and attribute[station_id] name different stations")
            station = station or jurisdiction
            if not station:
                errors.append("the liaison station was not provided: send jurisdiction_id or "
                              "attribute[station_id] (a station id)")
            elif station not in reference["stations"]:
                errors.append(f"station {station} was not found")
            text = (description or "").strip()
            if not text:
                errors.append("description was not provided")
            elif len(text) > MAX_DESCRIPTION:
                errors.append(f"description is longer than {MAX_DESCRIPTION} characters")
            where: list[str] = []
            if (lat or "").strip() or (long_ or "").strip():
                if not ((lat or "").strip() and (long_ or "").strip()):
                    errors.append("lat and long go together")
                else:
                    try:
                        y = _coordinate("lat", lat.strip(), 90)
                        x = _coordinate("long", long_.strip(), 180)
                        where.append(f"坐标：{y:.6f}, {x:.6f}")
                    except Open311Error as exc:
                        errors.extend(exc.descriptions)
            for field, label, value, limit in (
                    ("address_string", "位置", address_string, 500),
                    ("address_id", "地址编号", address_id, 100),
                    ("media_url", "图片", media_url, 500)):
                value = (value or "").strip()
                if len(value) > limit:
                    errors.append(f"{field} is longer than {limit} characters")
                elif field == "media_url" and value and not re.match(r"^https?://\S+$", value):
                    errors.append("media_url is not an http(s) URL")
                elif value:
                    where.append(f"{label}：{value}")
            the_grid = (grid or "").strip() or None
            located = bool(the_grid or (address_string or "").strip()
                           or (address_id or "").strip() or ((lat or "").strip()
                                                            and (long_ or "").strip()))
            if not located:
                errors.append("a location was not provided: lat and long, address_string, "
                              "address_id or attribute[grid]")
            name = _person(first_name, last_name)
            if name and len(name) > 50:
                errors.append("first_name and last_name together are longer than 50 characters")
            contact_phone = None
            if (phone or "").strip():
                try:
                    contact_phone = _phone(phone)
                except Open311Error as exc:
                    errors.extend(exc.descriptions)
            if errors:
                raise Open311Error(400, *errors)
            content = "\n".join([text, *where])
            services: Services = request.app.state.services
            result = await services.send(_request(
                PostMessage, station_id=station, content=content, category=code,
                contact_name=name, contact_phone=contact_phone, grid=the_grid))
            token = result["follow_up_token"]
            notice = (f"已收到您的留言，请保存查询码 {token}：凭它查看办理进度并评价。"
                      f"Keep this follow-up token to follow and rate your request: {token}")
            return render(fmt, [{"service_request_id": result["id"], "service_notice": notice,
                                 "account_id": None, "follow_up_token": token}],
                          "service_requests", "request", 201)
        return await _answer(fmt, build)

    @app.get(f"{BASE}/requests.{{fmt}}", tags=TAGS,
             summary="Open311: requests by id, service, status and date",
             responses={429: {"description": "too many anonymous reads from this address "
                                             "(see Retry-After)"}})
    async def get_requests(
        fmt: Fmt, request: Request,
        jurisdiction_id: str | None = None,
        service_request_id: str | None = None,
        service_code: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        status: str | None = None,
        page_size: str | None = None,
        cursor: str | None = None,
    ) -> Response:
        async def build() -> Response:
            principal = _principal(request)
            next_cursor, total = None, None
            reference = await _reference(request)
            services: Services = request.app.state.services
            reader = principal or READER
            full = principal is not None
            ids = _csv(service_request_id)
            if ids:
                if len(ids) > MAX_IDS:
                    raise Open311Error(400, f"at most {MAX_IDS} service_request_id at once")
                views = []
                for message_id in dict.fromkeys(ids):
                    try:
                        views.append(await services.send(
                            _request(GetMessage, message_id=message_id), reader))
                    except ServiceFailure as exc:
                        if exc.reply.get("status") not in (403, 404):
                            raise
            else:
                station = _station(reference, jurisdiction_id)
                start, end = _date("start_date", start_date), _date("end_date", end_date)
                if start and end and end < start:
                    raise Open311Error(400, "end_date is before start_date")
                if start and end and end - start > MAX_SPAN:
                    raise Open311Error(400, "start_date and end_date may not span more than 90 days")
                states = _csv(status)
                if any(s not in ("open", "closed") for s in states):
                    raise Open311Error(400, "status is open or closed (or both, comma delimited)")
                codes = _csv(service_code)
                if len(codes) > 50:
                    raise Open311Error(400, "at most 50 service_code at once")
                chosen = set(states)
                found = await services.send(_request(
                    ListMessages,
                    station_id=station["id"] if station else None,
                    categories=codes or None,
                    statuses=[s for s, (state, _) in STATUS.items() if state in chosen]
                    if len(chosen) == 1 else None,
                    received_from=start.isoformat() if start else None,
                    received_to=end.isoformat() if end else None,
                    newest_first=True, year="all",
                    limit=_page_size(page_size), cursor=cursor or None), reader)
                views, next_cursor, total = found["items"], found["next_cursor"], found["total"]
            units = await _units(services, views)
            answer = render(fmt, [_to_request(v, reference, units, full) for v in views],
                            "service_requests", "request")
            if next_cursor:
                answer.headers["Link"] = next_link(request, next_cursor)
            if total is not None:
                answer.headers["X-Total-Count"] = str(total)
            return answer
        return await _answer(fmt, build)

    @app.get(f"{BASE}/requests/{{service_request_id}}.{{fmt}}", tags=TAGS,
             summary="Open311: one request (full with the follow-up token or as staff)",
             responses={429: {"description": "too many anonymous reads from this address "
                                             "(see Retry-After)"}})
    async def get_request(
        service_request_id: str, fmt: Fmt, request: Request,
        jurisdiction_id: str | None = None,
        follow_up_token: str | None = None,
        x_follow_up_token: Annotated[str | None, Header(alias="X-Follow-Up-Token")] = None,
    ) -> Response:
        async def build() -> Response:
            principal = _principal(request)
            reference = await _reference(request)
            services: Services = request.app.state.services
            token = (x_follow_up_token or follow_up_token or "")[:200] or None
            payload = {"message_id": service_request_id}
            try:
                if token:
                    view = await services.send(_request(GetMessage, **payload, token=token))
                else:
                    view = await services.send(_request(GetMessage, **payload),
                                               principal or READER)
            except ServiceFailure as exc:
                if exc.reply.get("status") == 403:
                    raise Open311Error(403, "the follow-up token does not match this request") from None
                if exc.reply.get("status") == 404:
                    raise Open311Error(404, f"service_request_id {service_request_id} was not found") from None
                raise
            if jurisdiction_id and view.get("station_id") != jurisdiction_id:
                raise Open311Error(404, f"service_request_id {service_request_id} was not found "
                                        f"in jurisdiction {jurisdiction_id}")
            full = bool(token) or principal is not None
            units = await _units(services, [view])
            return render(fmt, [_to_request(view, reference, units, full)],
                          "service_requests", "request")
        return await _answer(fmt, build)

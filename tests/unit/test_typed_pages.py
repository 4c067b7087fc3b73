"""The gateway sends typed requests (issue 25): no module of it calls a service by name, and a page's
form value that a request contract refuses is answered as the service answers it.

Read from the source for the first part (nothing is started), so a by-name call written
again in a page fails here with its file and line."""

from __future__ import annotations

import ast
import json
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.gateway.deps import ServiceFailure
from services.gateway.web.common import FLASH_COOKIE, act, send_form
from shared.contracts.requests.assignment import PauseClock

GATEWAY = Path(__file__).resolve().parents[2] / "services" / "gateway"

def by_name_calls(path: Path) -> list[int]:
    """Lines of ``<something>.call(...)`` whose receiver is the services client
    (``services``, ``svc``, ``services(request)``, ``request.app.state.services``) or whose
    first argument is a string: a request by service and name."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "call"):
            continue
        receiver = ast.unparse(node.func.value)
        named = bool(node.args) and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str)
        if named or "services" in receiver or receiver == "svc":
            lines.append(node.lineno)
    return lines


def gateway_modules() -> list[Path]:
    return sorted(p for p in GATEWAY.rglob("*.py") if "static" not in p.parts)


def test_no_page_calls_a_service_by_name():
    found = {f"{p.relative_to(GATEWAY)}:{line}" for p in gateway_modules()
             for line in by_name_calls(p)}
    assert not found, ("send a request contract (services.send(Contract(...), user), "
                       f"web.common.send_form for a form) instead of by name: {sorted(found)}")
    pages = [p for p in gateway_modules() if p.parent.name == "web" or p.name.endswith("_pages.py")]
    assert len(pages) >= 15  # the scan reads the web pages (web/*.py and *_pages.py)


def test_the_scan_finds_a_call_by_name(tmp_path: Path):
    """The check above can fail: each way of writing a by-name call is found."""
    page = tmp_path / "page.py"
    page.write_text(
        'async def f(request, svc, user):\n'
        '    await services(request).call("assignment", "pause_clock", {}, user)\n'
        '    await svc.call("points", "rules", {}, user)\n'
        '    await request.app.state.services.call("intake", "reference")\n'
        '    await services.call(service, "case_records", payload, user)\n'
        '    await thing.call(1)\n', encoding="utf-8")
    assert by_name_calls(page) == [2, 3, 4, 5]


class _Services:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, request: Any, principal: Any = None) -> dict[str, Any]:
        self.sent.append(request)
        return {"ok": True}


def _request(services: _Services) -> Any:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(services=services)))


async def test_a_form_value_the_contract_refuses_is_the_services_refusal():
    """Too long a reason: the 422 the service answers (its field named), raised when the
    call is awaited, so ``act`` sends the user back with the reason in Chinese and nothing
    is sent."""
    services = _Services()
    call = send_form(_request(services), PauseClock, None, task_id="T-1", reason="长" * 2001)
    with pytest.raises(ServiceFailure) as refused:
        await call
    assert refused.value.reply["status"] == 422
    assert [e["loc"] for e in refused.value.reply["errors"]] == [["body", "reason"]]

    response = await act(None, send_form(_request(services), PauseClock, None, task_id="T-1",
                                         reason=""), "/app/cases/S-1", "已暂停计时")
    assert response.headers["location"] == "/app/cases/S-1"
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    flash = json.loads(cookie[FLASH_COOKIE].value)
    assert flash["kind"] == "error" and flash["text"].startswith("未完成：")
    assert "已暂停计时" not in flash["text"]
    assert services.sent == []


async def test_a_form_accepted_by_the_contract_is_sent_typed():
    services = _Services()
    done = await send_form(_request(services), PauseClock, None, task_id="T-1",
                           reason=" 等待规划批复 ")
    assert done == {"ok": True}
    assert services.sent == [PauseClock(task_id="T-1", reason="等待规划批复")]

"""Every page each role can reach, in Chinese: signed in as the office, a leader, a unit and
a deputy, the test follows every link of the application from the role's home (one page per
kind of address) and reads each page's text. No English word and no raw identifier (a
UUID, a user or unit id, a snake_case code, True/None) may appear outside a short
allow-list, and axe-core finds no serious or critical violation on it; a screenshot of
each is kept (test-artifacts/browser/pages-*). The audit view of a case (the full event history for auditors) and the
downloads are not read. This module runs its own system, with a case in every state."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import yaml

from playwright.sync_api import expect

from tests.browser.axe import describe, serious_violations
from tests.browser.conftest import screenshot
from tests.browser.live import LiveSystem
from tests.harness import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALLOWED = {"CSV", "Excel", "XLSX", "xlsx", "UTF", "QR"}  # file formats and encodings named as such
ENGLISH = re.compile(r"[A-Za-z][A-Za-z_]+")
RAW = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|\b(deputy|unit|station|rule|leader)-[\w]+|"
                 r"\b[a-z]+_[a-z_]+\b|\bTrue\b|\bFalse\b|\bNone\b|\{[a-z_]+\}")
# Reference-data pages show each record's key (代表编号, 单位编号, 联络站编号): the office's own
# codes, which its imports and exports use, are content there; UUIDs and codes still are not.
KEYS_SHOWN = ("/app/admin/registry", "/app/admin/imports", "/app/admin/routing-rules")
RECORD_KEY = re.compile(r"\b(deputy|unit|station|rule|leader|term)-[\w]+")
SKIP = ("/app/logout", "/export", "view=audit", "/static/", "/bulletins/")
MAX_PAGES = 45


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSystem]:
    system = LiveSystem().start()
    yield system
    system.stop()


def submit(live, title: str, category: str, deputy: str = "deputy-1", co=()) -> str:
    return live.post(deputy, "/api/v1/suggestions", {
        "title": title, "body": f"{title}，建议研究解决。", "category": category,
        "co_signers": list(co)})["id"]


@pytest.fixture(scope="module")
def scene(live) -> dict[str, str]:
    """Cases in every state: submitted, declined, merged, replied, re-handling, closed; a
    citizen message in the pool, one forwarded to a unit; an activity to review."""
    tag = str(uuid.uuid4().int)[:4]
    ids = {"submitted": submit(live, f"公园增设健身器材{tag}", "livelihood", co=["deputy-2"])}
    ids["declined"] = submit(live, f"个人纠纷调解{tag}", "grassroots_governance")
    live.post("office", f"/api/v1/suggestions/{ids['declined']}/decline",
              {"reason": "属于个人诉求，转为意见处理"})
    ids["target"] = submit(live, f"老旧小区加装电梯{tag}", "grassroots_governance")
    ids["merged"] = submit(live, f"老旧小区电梯加装{tag}", "grassroots_governance", "deputy-2")
    live.post("office", f"/api/v1/suggestions/{ids['merged']}/merge", {"into": ids["target"]})
    for state, words in (("replied", "已答复"), ("rehandling", "重办"), ("closed", "办结")):
        case_id = ids[state] = submit(live, f"背街小巷路灯{words}{tag}", "urban_construction")
        live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "yellow"})
        task = live.eventually(lambda: [t for t in live.get("unit-a", "/api/v1/tasks", year="all")
                                        if t["case_id"] == case_id])[0]
        live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/acknowledge")
        live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系"})
        live.post("unit-a", f"/api/v1/tasks/{task['task_id']}/reply",
                  {"result_class": "A", "text": "已修复。"})
        if state != "replied":
            rating = "unsatisfied" if state == "rehandling" else "satisfied"
            live.eventually(lambda: live.call("POST", "deputy-1", f"/api/v1/suggestions/{case_id}/rating",
                                              json={"rating": rating, "comment": "请跟进"}).status_code == 200)
        if state == "closed":
            live.post("office", f"/api/v1/suggestions/{case_id}/close")
    live.post("office", f"/api/v1/suggestions/{ids['replied']}/leadership",
              {"designee_id": "leader-1", "designee_kind": "leader", "mode": "lead"})
    station = yaml.safe_load((ROOT / "config" / "stations.yaml").read_text(encoding="utf-8"))[0]
    for n in range(2):
        r = httpx.post(f"{live.base_url}/api/v1/stations/{station['id']}/messages", timeout=10,
                       json={"content": f"小区噪音扰民{n}{tag}", "category": "ecology",
                             "contact_name": "李女士", "contact_phone": "13812345678"})
        assert r.status_code == 201, r.text
        ids[f"message-{n}"] = r.json()["id"]
    live.post("deputy-1", f"/api/v1/messages/{ids['message-1']}/claim")
    live.post("deputy-1", f"/api/v1/messages/{ids['message-1']}/forward", {"unit_id": "unit-c"})
    live.post("deputy-3", "/api/v1/deputies/deputy-3/activities", {
        "kind": "training", "date": "2026-02-20", "description": f"参加代表履职培训{tag}"})
    return ids


def page_kind(url: str) -> str:
    """One page per kind of address: ids and cursors replaced, query keys kept."""
    parts = urlsplit(url)
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", parts.path)
    path = re.sub(r"/(tasks|suggestions|cases|messages)/[^/]+", r"/\1/{id}", path)
    keys = sorted(k for k, _ in parse_qsl(parts.query) if k not in ("cursor", "start"))
    return path + ("?" + "&".join(keys) if keys else "")


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")   # an address shown as such is content


def leaks(text: str, keys_shown: bool = False) -> list[str]:
    text = EMAIL.sub("", text)
    if keys_shown:
        text = RECORD_KEY.sub("", text)
    found = [w for w in ENGLISH.findall(text) if w not in ALLOWED]
    found += [m.group(0) for m in RAW.finditer(text)]
    return found


@pytest.mark.parametrize("username", ["office", "leader", "unit-a", "unit-c", "deputy-1",
                                      "station-fengjie"])
def test_every_page_a_role_reaches_is_in_chinese(live, scene, sign_in, username):
    page = sign_in(username)
    start = page.url
    todo, seen, problems, inaccessible = [start], {page_kind(start)}, {}, {}
    # Every case of the scene in every state, besides one page per kind found by links.
    if username in ("office", "leader"):
        todo += [f"{live.base_url}/app/cases/{case_id}" for key, case_id in scene.items()
                 if not key.startswith("message")]
    if username == "office":
        todo += [f"{live.base_url}/app/office/suggestions/{case_id}"
                 for key, case_id in scene.items() if not key.startswith("message")]
    seen_shots: list[str] = []
    visited = 0
    while todo and visited < MAX_PAGES:
        url = todo.pop(0)
        response = page.goto(url)
        visited += 1
        assert response is not None and response.status < 500, (url, response and response.status)
        text = page.locator("body").inner_text()
        found = leaks(text, urlsplit(url).path.startswith(KEYS_SHOWN))
        if found:
            problems[urlsplit(url).path] = sorted(set(found))[:12]
        serious = serious_violations(page)
        if serious:
            inaccessible[urlsplit(url).path] = describe(serious)
        screenshot(page, f"pages-{username}-{len(seen_shots)}")
        seen_shots.append(url)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            if not href.startswith(f"{live.base_url}/app/") or any(s in href for s in SKIP):
                continue
            href = href.split("#")[0]
            kind = page_kind(href)
            if kind not in seen:
                seen.add(kind)
                todo.append(href)
    assert visited >= 2, f"{username} reached only {visited} page(s)"
    assert not problems, f"English or raw identifiers on {username}'s pages: {problems}"
    assert not inaccessible, f"axe-core: serious or critical violations on {username}'s pages: {inaccessible}"


def test_a_leader_finds_the_cases_they_lead_on_their_own_page(live, scene, sign_in):
    """我的督办件: the case the office designated the leader to lead, with its unit's task,
    reached from the leader's menu; the same list for the office is not in its menu."""
    live.eventually(lambda: [c for c in live.get("leader", "/api/v1/leader/cases")
                             if c["case_id"] == scene["replied"]])
    page = sign_in("leader")
    page.get_by_role("link", name="我的督办件").click()
    row = page.locator(f"#leader-cases tr[data-case='{scene['replied']}']")
    expect(row).to_contain_text("领衔督办")
    expect(row).to_contain_text("已答复")
    expect(row.get_by_role("link")).to_have_attribute("href", f"/app/cases/{scene['replied']}")
    page.get_by_label("督办方式").select_option("escalated")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#leader-cases tbody")).to_contain_text("暂无督办件")
    screenshot(page, "leader-cases")

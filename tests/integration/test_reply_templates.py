"""Reply templates (答复模板) as supervision's data (issue 29, point 1), through the gateway on a
real nats-server and real stores (SQLite and PostgreSQL): seeded from config/supervision.yaml,
changed by the office with history, refused field by field, kept across a restart."""

from __future__ import annotations

from tests.integration.test_supervision import assigned_case

BASE = "/api/v1/admin/reply-templates"


async def put(api, user: str, path: str, body: dict):
    return await api.client.put(path, json=body, headers=await api.login(user))


async def delete(api, user: str, path: str):
    return await api.client.delete(path, headers=await api.login(user))


async def test_seeded_templates_answer_as_before_and_list_paged(api, system):
    r = await api.get("unit-b", "/api/v1/reply-templates", result_class="B",
                      category="safety_hazard")
    assert r.status_code == 200
    assert r.json()["source"] == "safety_hazard" and "整改" in r.json()["text"]
    r = await api.get("unit-b", "/api/v1/reply-templates", result_class="C",
                      category="safety_hazard")
    assert r.json()["source"] == "default" and "{reason}" in r.json()["text"]

    r = await api.get("office", BASE, limit=2)
    assert r.status_code == 200 and len(r.json()) == 2
    assert [(t["category"], t["result_class"]) for t in r.json()] == [("default", "A"),
                                                                     ("default", "B")]
    total = int(r.headers["X-Total-Count"])
    assert total >= 5 and 'rel="next"' in r.headers["Link"]
    r = await api.get("leader", BASE, category="safety_hazard", result_class="B")
    assert [t["category"] for t in r.json()] == ["safety_hazard"]
    assert r.json()[0]["changed_by"] == "system"
    assert r.json()[0]["variables"] == ["title", "commitment_date", "details"]


async def test_the_office_changes_a_class_b_template_with_history_and_it_survives_a_restart(
        api, system):
    case_id, task = await assigned_case(api)
    category = task["category"]
    path = f"{BASE}/{category}/B"
    seeded = (await api.get("office", "/api/v1/reply-templates", result_class="B",
                            category=category)).json()
    before = seeded["text"] if seeded["source"] == category else None  # its own, if any

    r = await put(api, "unit-b", path, {"text": "单位不能改{title}"})
    assert r.status_code == 403
    r = await put(api, "deputy-1", path, {"text": "代表不能改{title}"})
    assert r.status_code == 403
    r = await delete(api, "unit-b", path)
    assert r.status_code == 403

    text = "关于{number}号《{title}》（{category}），{unit_name}计划于{commitment_date}前办结。{details}"
    r = await put(api, "office", path, {"text": text})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == text

    r = await api.get("unit-b", "/api/v1/reply-templates", result_class="B", category=category,
                      task_id=task["task_id"], commitment_date="2026-12-31")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["text"] == text and answer["source"] == category
    assert answer["filled"].startswith(f"关于{task['number']}号《{task['title']}》（")
    assert "计划于2026年12月31日前办结。{details}" in answer["filled"]
    assert "{unit_name}" not in answer["filled"] and "{category}" not in answer["filled"]
    assert answer["blanks"] == ["details"]
    r = await api.get("unit-a", "/api/v1/reply-templates", result_class="B", category=category,
                      task_id=task["task_id"])
    assert r.status_code == 404  # another unit's task is not filled in for it

    r = await api.get("office", path)
    history = r.json()["history"]
    assert [(h["label"], h["actor"]) for h in history][-1] == (
        "修改" if before else "新建", "office")
    assert history[-1]["before"] == before and history[-1]["after"] == text
    assert history[-1]["at"]
    r = await put(api, "office", path, {"text": text + "（二）"})
    history = r.json()["history"]
    assert (history[-1]["label"], history[-1]["before"], history[-1]["after"]) == (
        "修改", text, text + "（二）")
    r = await put(api, "office", path, {"text": text})

    # a category's template removed: the default applies; the default is never removed
    r = await delete(api, "office", path)
    assert r.status_code == 200 and r.json()["removed"] is True
    assert r.json()["in_use"]["source"] == "default"
    assert r.json()["history"][-1]["label"] == "删除"
    r = await delete(api, "office", f"{BASE}/default/B")
    assert r.status_code == 409
    r = await put(api, "office", path, {"text": text})
    assert r.status_code == 200

    await system.stop("supervision")
    await system.start("supervision")
    r = await api.get("unit-b", "/api/v1/reply-templates", result_class="B", category=category)
    assert r.status_code == 200 and r.json()["text"] == text
    r = await api.get("office", path)
    assert [h["label"] for h in r.json()["history"]][-3:] == ["修改", "删除", "新建"]
    assert all(h["actor"] == "office" for h in r.json()["history"][-3:])


async def test_each_wrong_field_is_refused_422(api, system):
    async def refused(path: str, body: dict) -> set[str]:
        r = await put(api, "office", path, body)
        assert r.status_code == 422, r.text
        return {e["loc"][-1] for e in r.json()["errors"]}

    assert await refused(f"{BASE}/no_such_category/A", {"text": "好{title}"}) == {"category"}
    assert await refused(f"{BASE}/livelihood/D", {"text": "好{title}"}) == {"result_class"}
    assert await refused(f"{BASE}/livelihood/A", {"text": "  "}) == {"text"}
    assert await refused(f"{BASE}/livelihood/A", {"text": "请于{deadline}前"}) == {"text"}
    assert await refused(f"{BASE}/livelihood/A", {"text": "长" * 2001}) == {"text"}
    assert await refused(f"{BASE}/livelihood/A", {}) == {"text"}
    r = await put(api, "office", f"{BASE}/livelihood/A", {"text": "请于{deadline}前"})
    assert "{deadline}" in r.json()["errors"][0]["msg"]
    r = await api.get("office", f"{BASE}/livelihood/A")
    assert r.status_code == 404  # nothing was recorded

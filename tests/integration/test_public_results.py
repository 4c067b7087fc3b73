"""Public disclosure: a citizen's message becomes a deputy's suggestion, is handled, and the
office publishes the result; the public list and page show it without login and without any
personal data; withdrawal takes it off; both are in the case's history. The citizen who
posted the message sees the unit's feedback on their follow-up page."""

from __future__ import annotations

from xml.etree import ElementTree

from tests.harness import eventually
from tests.integration.test_citizen_messages import MESSAGE, NAME, PHONE, claimed


async def test_a_published_result_is_public_without_personal_data(api, system):
    message = await claimed(api)  # with the poster's name and phone
    mid, token = message["id"], message["follow_up_token"]
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/convert",
                       {"title": "建议修复鱼复街道路灯"})
    assert r.status_code == 201, r.text
    suggestion_id = r.json()["suggestion_id"]
    r = await api.post("office", f"/api/v1/suggestions/{suggestion_id}/register",
                       {"urgency": "yellow"})
    assert r.status_code == 200, r.text
    number = r.json()["number"]

    # nothing to publish before a reply
    r = await api.post("office", f"/api/v1/suggestions/{suggestion_id}/publication", {})
    assert r.status_code == 409, r.text

    async def task():
        r = await api.get("unit-a", "/api/v1/tasks")
        found = [t for t in r.json() if t["case_id"] == suggestion_id]
        return found[0] if found else None

    t = await eventually(task)
    await api.post("unit-a", f"/api/v1/tasks/{t['task_id']}/contact", {"note": "已联系"})
    r = await api.post("unit-a", f"/api/v1/tasks/{t['task_id']}/reply",
                       {"result_class": "A", "text": f"已修复。联系人{NAME}，电话{PHONE}"})
    assert r.status_code == 200, r.text

    # a summary with a phone number is refused
    r = await api.post("office", f"/api/v1/suggestions/{suggestion_id}/publication",
                       {"summary": f"已修复，联系电话 {PHONE}"})
    assert r.status_code in (409, 422), r.text
    r = await api.post("deputy-1", f"/api/v1/suggestions/{suggestion_id}/publication", {})
    assert r.status_code == 403

    async def published():
        r = await api.post("office", f"/api/v1/suggestions/{suggestion_id}/publication",
                           {"summary": "路灯已全部修复"})
        return r.status_code == 200 and r.json()

    result = await eventually(published)
    assert result["number"] == number and result["unit"] == "区住房和城乡建设局"
    assert result["result_class"] == "A"

    r = await api.client.get("/api/v1/public/results")  # no login
    assert r.status_code == 200, r.text
    rows = [x for x in r.json() if x["number"] == number]
    assert rows == [{"number": number, "title": "建议修复鱼复街道路灯",
                     "unit": "区住房和城乡建设局", "result_class": "A",
                     "summary": "路灯已全部修复", "published_at": result["published_at"]}]
    assert r.headers["X-Total-Count"] == "1"
    r = await api.client.get("/api/v1/public/results", params={"q": "路灯"})
    assert [x["number"] for x in r.json()] == [number]
    r = await api.client.get("/api/v1/public/results", params={"q": "电梯"})
    assert r.json() == []

    page = await api.client.get("/public")
    assert page.status_code == 200 and number in page.text and "路灯已全部修复" in page.text
    assert 'href="/public/feed.atom"' in page.text
    feed = await api.client.get("/public/feed.atom")  # no login
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    root = ElementTree.fromstring(feed.content)
    assert root.tag == f"{atom}feed" and root.find(f"{atom}id").text
    entries = [e for e in root.findall(f"{atom}entry")
               if e.find(f"{atom}title").text == f"{number} 建议修复鱼复街道路灯"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.find(f"{atom}updated").text == result["published_at"]
    assert entry.find(f"{atom}summary").text == "路灯已全部修复"
    assert "区住房和城乡建设局" in entry.find(f"{atom}content").text
    assert number in (await api.client.get("/public/feed.atom", params={"q": "路灯"})).text
    assert number not in (await api.client.get("/public/feed.atom",
                                                params={"q": "电梯"})).text
    for private in (NAME, PHONE, MESSAGE["content"], "赵"):
        assert private not in page.text, private
        assert private not in r.text
        assert private not in feed.text, private

    # the citizen who posted the message sees the unit's feedback
    async def feedback():
        r = await api.client.get(f"/api/v1/follow-up/{token}")
        return r.json().get("feedback") and r.json()

    view = await eventually(feedback)
    assert view["status"] == "converted" and view["can_rate"] is True

    # publication and withdrawal are in the case's history
    r = await api.client.delete(f"/api/v1/suggestions/{suggestion_id}/publication",
                                headers=await api.login("office"))
    assert r.status_code == 200, r.text
    r = await api.client.get("/api/v1/public/results")
    assert [x for x in r.json() if x["number"] == number] == []
    feed = await api.client.get("/public/feed.atom")
    assert number not in feed.text  # withdrawn: off the feed too
    r = await api.get("office", f"/api/v1/cases/{suggestion_id}/history")
    assert r.status_code == 200, r.text
    text = r.text
    assert "Published" in text and "PublicationWithdrawn" in text


async def test_a_message_marked_public_shows_its_answer_without_personal_data(api, system):
    """A citizen message answered by a deputy, marked public by the office, is listed on the
    public page and in the feed like a result (群众留言, the station, the summary, dates),
    never with the citizen's name, phone or text; withdrawn, it leaves them; both are in the
    message's history."""
    message = await claimed(api)  # with the poster's name and phone
    mid = message["id"]
    station = "奉节县鱼复街道代表联络站"

    # nothing to publish before an answer; only the office publishes
    r = await api.post("office", f"/api/v1/messages/{mid}/publication", {})
    assert r.status_code == 409, r.text
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/answer",
                       {"text": f"已联系街道修复路灯，请{NAME}留意，电话{PHONE}"})
    assert r.status_code == 200, r.text
    r = await api.post("deputy-1", f"/api/v1/messages/{mid}/publication", {})
    assert r.status_code == 403, r.text
    r = await api.client.post(f"/api/v1/messages/{mid}/publication", json={})
    assert r.status_code == 401, r.text
    r = await api.post("office", f"/api/v1/messages/{mid}/publication",
                       {"summary": f"路灯已修复，联系电话 {PHONE}"})
    assert r.status_code == 422, r.text

    # published with the standard wording (no summary given)
    r = await api.post("office", f"/api/v1/messages/{mid}/publication")
    assert r.status_code == 200, r.text
    published = r.json()
    assert published["published"] is True and published["number"] == "群众留言"
    assert published["station"] == station and published["unit"] is None
    assert published["summary"] == "代表已对留言反映的问题作出答复"

    async def listed():
        r = await api.client.get("/api/v1/public/results")  # no login
        rows = [x for x in r.json() if x.get("kind") == "message" and x["station"] == station]
        return rows and (r, rows)

    r, rows = await eventually(listed)
    assert len(rows) == 1
    row = rows[0]
    assert row["number"] == "群众留言" and row["title"] == station and row["unit"] is None
    assert row["summary"] == "代表已对留言反映的问题作出答复"
    assert row["published_at"] == published["published_at"]
    assert row["received_at"][:10] and row["handled_at"][:10]
    assert mid not in r.text  # the message's own id is not public

    page = await api.client.get("/public")
    assert page.status_code == 200
    assert "群众留言" in page.text and station in page.text
    assert "代表已对留言反映的问题作出答复" in page.text and "代表已答复" in page.text
    feed = await api.client.get("/public/feed.atom")
    assert feed.status_code == 200
    atom = "{http://www.w3.org/2005/Atom}"
    entries = [e for e in ElementTree.fromstring(feed.content).findall(f"{atom}entry")
               if e.find(f"{atom}title").text == f"群众留言 {station}"]
    assert len(entries) == 1
    assert entries[0].find(f"{atom}summary").text == "代表已对留言反映的问题作出答复"
    assert entries[0].find(f"{atom}updated").text == published["published_at"]
    for private in (NAME, PHONE, MESSAGE["content"], "赵", "已联系街道修复路灯", mid):
        assert private not in page.text, private
        assert private not in r.text, private
        assert private not in feed.text, private

    # the office's own summary replaces the standard wording
    r = await api.post("office", f"/api/v1/messages/{mid}/publication",
                       {"summary": "路灯已于本周修复"})
    assert r.status_code == 200, r.text

    async def summary_shown():
        page = await api.client.get("/public")
        return "路灯已于本周修复" in page.text and page

    page = await eventually(summary_shown)
    assert page.text.count(f"{station}（") == 1  # one row, replaced

    # withdrawn: off the page and the feed
    r = await api.client.delete(f"/api/v1/messages/{mid}/publication",
                                headers=await api.login("deputy-1"))
    assert r.status_code == 403, r.text
    r = await api.client.delete(f"/api/v1/messages/{mid}/publication",
                                headers=await api.login("office"))
    assert r.status_code == 200 and r.json()["published"] is False, r.text
    r = await api.client.delete(f"/api/v1/messages/{mid}/publication",
                                headers=await api.login("office"))
    assert r.status_code == 409, r.text

    async def gone():
        page = await api.client.get("/public")
        feed = await api.client.get("/public/feed.atom")
        return (station not in page.text and "路灯已于本周修复" not in page.text
                and station not in feed.text)

    assert await eventually(gone)
    r = await api.get("office", f"/api/v1/cases/{mid}/history")
    assert r.status_code == 200, r.text
    assert "Published" in r.text and "PublicationWithdrawn" in r.text

"""Attachments in the browser (issue 29, point 5): the unit uploads the signed reply letter
(答复函) with its reply and a refused file comes back in Chinese; the case page lists the
letter with a download link that gives the same bytes; the deputy reports an activity with
an evidence photo (证明材料) and sees it listed. axe-core on the pages with file inputs."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.axe import no_serious_violations

pytestmark = [pytest.mark.browser]

LETTER = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n% signed reply letter\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 120 + b"This program cannot be run"


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def test_a_unit_uploads_the_reply_letter_and_the_case_page_offers_it(live, sign_in, tmp_path):
    tag = uuid.uuid4().hex[:6]
    title = f"建议加装老旧小区电梯{tag}"
    case_id = live.post("deputy-1", "/api/v1/suggestions", {
        "title": title, "body": "老人上下楼困难，建议纳入加装计划。", "category": "livelihood",
        "co_signers": ["deputy-2"]})["id"]
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    task = live.eventually(lambda: next(iter(
        live.get("office", "/api/v1/tasks", case_id=case_id)), None))
    assert task["unit_id"] == "unit-b"
    live.post("unit-b", f"/api/v1/tasks/{task['task_id']}/contact", {"note": "已联系代表"})

    page = sign_in("unit-b")
    page.goto(f"{live.base_url}/app/unit/tasks/{task['task_id']}")
    no_serious_violations(page, "unit-reply-with-letter")
    page.get_by_label("答复类别").select_option("A")
    page.get_by_label("答复内容").fill(f"已纳入加装计划并完成。{tag}")
    # a file that is not what its name says is refused, and what was typed stays
    page.set_input_files("#reply-letter", files=[
        {"name": "答复函.pdf", "mimeType": "application/pdf", "buffer": EXE}])
    page.get_by_role("button", name="提交答复").click()
    expect(page.locator("#form-error")).to_contain_text("不支持的文件类型")
    expect(page.get_by_label("答复内容")).to_have_value(f"已纳入加装计划并完成。{tag}")
    page.set_input_files("#reply-letter", files=[
        {"name": "答复函（盖章）.pdf", "mimeType": "application/pdf", "buffer": LETTER}])
    page.get_by_role("button", name="提交答复").click()
    expect(page.locator(".flash")).to_have_text("已答复")
    letters = page.locator("#reply-letters")
    expect(letters).to_contain_text("答复函（盖章）.pdf")
    expect(letters).to_contain_text("答复函 · 第 1 轮")

    with page.expect_download() as info:
        letters.get_by_role("link", name="答复函（盖章）.pdf").click()
    saved = Path(tmp_path / "letter.pdf")
    info.value.save_as(saved)
    assert saved.read_bytes() == LETTER
    assert info.value.suggested_filename == "答复函（盖章）.pdf"

    office = sign_in("office")
    office.goto(f"{live.base_url}/app/cases/{case_id}")
    expect(office.locator("#case-files")).to_contain_text("答复函（盖章）.pdf")
    expect(office.locator("#verification")).to_contain_text("审计链校验通过")
    # another unit gets no file, in Chinese
    other = sign_in("unit-a")
    sha = letters.locator("li").first.get_attribute("data-sha256")
    response = other.goto(f"{live.base_url}/app/attachments/{sha}")
    assert response is not None and response.status == 404
    expect(other.locator("[role=alert]")).to_contain_text("无权查看")


def test_a_deputy_reports_an_activity_with_an_evidence_photo(live, sign_in):
    tag = uuid.uuid4().hex[:6]
    page = sign_in("deputy-3")
    page.goto(f"{live.base_url}/app/deputy/activities")
    no_serious_violations(page, "deputy-activity-with-file")
    page.get_by_label("活动类型").select_option(index=1)
    page.get_by_label("活动日期").fill("2026-02-16")
    page.get_by_label("活动情况").fill(f"进站接待群众 6 人次{tag}")
    page.set_input_files("#a-evidence-file", files=[
        {"name": "签到表.png", "mimeType": "image/png", "buffer": _png()}])
    page.get_by_role("button", name="提交审核").click()
    expect(page.locator(".flash")).to_contain_text("已报告履职活动")
    item = page.locator("#my-activities li", has_text=tag)
    expect(item.locator("ul.attachments")).to_contain_text("签到表.png")
    expect(item.locator("ul.attachments")).to_contain_text(re.compile("证明材料"))


def _jpeg_with_exif() -> bytes:
    import io

    from PIL import Image

    img = Image.new("RGB", (16, 12), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0)}  # GPS latitude
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_a_citizen_leaves_a_message_with_a_photo_on_the_station_page(live, browser):
    from PIL import Image
    import io

    from shared.blobs import FileBlobStore

    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{live.base_url}/s/station-fengjie")
        no_serious_violations(page, "station-page-with-photo")
        tag = uuid.uuid4().hex[:6]
        content = f"路口井盖破损，见照片。{tag}"
        page.get_by_label("留言内容").fill(content)
        page.get_by_label("姓名").fill("钱女士")
        # a PDF named .jpg is refused in Chinese; what was typed stays
        page.set_input_files("#photos", files=[
            {"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": LETTER}])
        page.get_by_role("button", name="提交留言").click()
        expect(page.locator("#result")).to_contain_text("只能上传照片")
        expect(page.locator("#result")).to_contain_text("仍保留")
        expect(page.get_by_label("留言内容")).to_have_value(content)
        expect(page.get_by_label("姓名")).to_have_value("钱女士")
        assert not [m for m in live.get("office", "/api/v1/messages", limit=100)
                    if tag in (m.get("content") or "")]

        page.set_input_files("#photos", files=[
            {"name": "井盖.jpg", "mimeType": "image/jpeg", "buffer": _jpeg_with_exif()}])
        page.get_by_role("button", name="提交留言").click()
        expect(page.locator("#result")).to_contain_text("照片 1 张已收到")
        expect(page.get_by_label("留言内容")).to_have_value("")
        message_id = page.locator("#result").inner_text().split("编号 ", 1)[1].split("。", 1)[0]
    finally:
        context.close()

    message = live.get("office", f"/api/v1/messages/{message_id}")
    [photo] = message["attachments"]
    assert photo["purpose"] == "citizen_photo" and photo["name"] == "井盖.jpg"
    stored = FileBlobStore(live.tmp / "blobs").get(photo["sha256"])
    assert stored is not None and b"CameraMaker" not in stored
    assert not Image.open(io.BytesIO(stored)).getexif()


def test_the_unit_task_page_offers_the_suggestions_file(live, sign_in, tmp_path):
    tag = uuid.uuid4().hex[:6]
    case_id = live.post("deputy-1", "/api/v1/suggestions", {
        "title": f"建议修缮社区活动中心{tag}", "body": "屋顶漏雨，见调研报告。",
        "category": "livelihood", "co_signers": ["deputy-2"]})["id"]
    report = LETTER + f"% survey {tag}\n".encode()
    import httpx

    r = httpx.post(f"{live.base_url}/api/v1/attachments",
                   headers={"Authorization": f"Bearer {live.token('deputy-1')}"},
                   files={"file": ("调研报告.pdf", report, "application/pdf")})
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    live.post("deputy-1", f"/api/v1/suggestions/{case_id}/attachments",
              {"attachment": {"sha256": sha, "name": "调研报告.pdf"}})
    live.post("office", f"/api/v1/suggestions/{case_id}/register", {"urgency": "blue"})
    task = live.eventually(lambda: next(iter(
        live.get("office", "/api/v1/tasks", case_id=case_id)), None))
    assert task["unit_id"] == "unit-b"

    page = sign_in("unit-b")
    page.goto(f"{live.base_url}/app/unit/tasks/{task['task_id']}")
    files = page.locator("#subject-files")
    expect(files).to_contain_text("调研报告.pdf")
    expect(files).to_contain_text("建议附件")
    with page.expect_download() as info:
        files.get_by_role("link", name="调研报告.pdf").click()
    saved = tmp_path / "report.pdf"
    info.value.save_as(saved)
    assert saved.read_bytes() == report

    other = sign_in("unit-a")
    href = files.get_by_role("link", name="调研报告.pdf").get_attribute("href")
    response = other.goto(f"{live.base_url}{href}")
    assert response is not None and response.status == 403
    expect(other.locator("[role=alert]")).to_contain_text("没有该案件的办理任务")

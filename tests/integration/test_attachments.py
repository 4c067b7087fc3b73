"""Attachments through the gateway (issue 29, point 5), on a real nats-server, real stores and
a real blob store (the filesystem, and moto's S3-compatible server): upload and download, the
type decided by the content, the size limit, EXIF stripped, object-level authorization by the
owning service, the reply letter required for close-out where configured, the hash in the
case's history, ``duty-ops verify`` finding a tampered file, and erasure of a poster's files."""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ops.verify import verify_platform
from services.gateway.app import GatewaySettings, create_app
from shared import blobs
from tests.harness import InProcessSystem, eventually, rpc
from tests.integration.conftest import Api, _providers
from tests.integration.test_supervision import assigned_case
from tests.unit.test_blobs import PDF_BYTES, jpeg_with_exif

LIMIT = 300_000  # ATTACHMENT_MAX_BYTES for these tests
LETTER = PDF_BYTES + b"% signed reply letter\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["filesystem"])
def blob_settings(request, tmp_path, monkeypatch) -> dict[str, Any]:
    if request.param == "filesystem":
        yield {"blob_dir": tmp_path / "blobs"}
        return
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield {"blob_backend": "s3", "blob_s3_bucket": "duty-attachments-test",
           "blob_s3_endpoint_url": f"http://127.0.0.1:{port}"}
    server.stop()


@pytest.fixture
async def system(fresh_nats, store, span_exporter, samplers,
                 blob_settings) -> AsyncIterator[InProcessSystem]:
    system = InProcessSystem(fresh_nats.url, store,
                             tracer_providers=_providers(span_exporter, samplers),
                             **blob_settings)
    await system.start()
    yield system
    await system.stop()


@pytest.fixture
async def api(system, span_exporter, samplers, blob_settings) -> AsyncIterator[Api]:
    settings = GatewaySettings(nats_url=system.nats_url, rpc_timeout_seconds=5.0,
                               attachment_max_bytes=LIMIT, **blob_settings)
    app = create_app(settings, tracer_provider=_providers(span_exporter, samplers)["gateway"])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            api = Api(client)
            api.app = app
            yield api


def store_of(system) -> blobs.BlobStore:
    return system.app("supervision").blobs


async def upload(api, user: str, data: bytes, name: str,
                 content_type: str = "application/pdf") -> httpx.Response:
    return await api.client.post("/api/v1/attachments", headers=await api.login(user),
                                 files={"file": (name, data, content_type)})


async def replied_with_letter(api) -> tuple[str, str, dict]:
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    r = await upload(api, "unit-b", LETTER, "答复函.pdf")
    assert r.status_code == 201, r.text
    letter = r.json()
    assert letter == {"sha256": hashlib.sha256(LETTER).hexdigest(), "size": len(LETTER),
                      "content_type": "application/pdf", "name": "答复函.pdf"}
    assert (await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact",
                           {"note": "已电话联系王代表"})).status_code == 200
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/reply", {
        "result_class": "A", "text": "已办理。",
        "reply_letter": {"sha256": letter["sha256"], "name": "答复函（盖章）.pdf"}})
    assert r.status_code == 200, r.text
    return case_id, task_id, letter


async def test_upload_download_type_size_exif_and_who_may_read(api, system):
    case_id, task_id, letter = await replied_with_letter(api)
    sha = letter["sha256"]

    # the case records the letter: its hash in the event, so the case's chain covers the file
    r = await api.get("office", f"/api/v1/cases/{case_id}/supervision")
    [recorded] = r.json()["attachments"]
    assert recorded["sha256"] == sha and recorded["purpose"] == "reply_letter"
    assert recorded["name"] == "答复函（盖章）.pdf" and recorded["round"] == 1
    r = await api.get("office", f"/api/v1/cases/{case_id}/history")
    assert r.json()["verified"] is True
    [event] = [e for e in r.json()["events"] if e["event_type"] == "AttachmentRecorded"]
    assert event["data"]["attachment"]["sha256"] == sha and event["chain_ok"]

    # the unit, the office and the suggestion's deputies read it; another unit does not
    for user in ("unit-b", "office", "leader", "deputy-1", "deputy-2"):
        r = await api.get(user, f"/api/v1/attachments/{sha}")
        assert r.status_code == 200, (user, r.text)
        assert r.content == LETTER
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''" in r.headers["content-disposition"]
        assert r.headers["x-content-type-options"] == "nosniff"
    for user in ("unit-a", "deputy-3"):
        r = await api.get(user, f"/api/v1/attachments/{sha}")
        assert r.status_code == 404, (user, r.text)
    assert (await api.client.get(f"/api/v1/attachments/{sha}")).status_code == 401
    # uploaded but recorded nowhere: nobody reads it
    r = await upload(api, "unit-a", PDF_BYTES + b"%other", "x.pdf")
    assert (await api.get("unit-a", f"/api/v1/attachments/{r.json()['sha256']}")).status_code == 404
    # a hash never uploaded cannot be recorded
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/reply-letter",
                       {"attachment": {"sha256": "0" * 64}})
    assert r.status_code == 422 and "未找到该附件" in r.text
    r = await api.post("unit-a", f"/api/v1/tasks/{task_id}/reply-letter",
                       {"attachment": {"sha256": sha}})
    assert r.status_code == 404  # another unit's task

    # the type is decided by the bytes: an executable named .pdf is refused, in Chinese
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200 + b"This program cannot be run"
    r = await upload(api, "unit-b", exe, "答复函.pdf")
    assert r.status_code == 422
    assert "不支持的文件类型" in r.json()["detail"] and r.json()["errors"][0]["loc"] == ["body", "file"]
    r = await upload(api, "unit-b", b"<html><script>alert(1)</script></html>", "a.html",
                     "text/html")
    assert r.status_code == 422
    r = await api.client.post("/api/v1/attachments", headers=await api.login("unit-b"),
                              data={"file": "not a file"})
    assert r.status_code == 422 and "请选择要上传的文件" in r.json()["detail"]
    # the size limit (ATTACHMENT_MAX_BYTES): over it 413, the body far over it too
    r = await upload(api, "unit-b", PDF_BYTES + b"0" * LIMIT, "big.pdf")
    assert r.status_code == 413 and "大小限制" in r.json()["detail"]
    r = await upload(api, "unit-b", PDF_BYTES + b"0" * (LIMIT * 3), "huge.pdf")
    assert r.status_code == 413

    # a photo loses its EXIF before it is stored: the hash is the cleaned file's
    photo = jpeg_with_exif()
    r = await upload(api, "deputy-1", photo, "现场.jpeg", "image/jpeg")
    assert r.status_code == 201, r.text
    cleaned = r.json()
    assert cleaned["content_type"] == "image/jpeg" and cleaned["name"] == "现场.jpg"
    assert cleaned["sha256"] != hashlib.sha256(photo).hexdigest()
    stored = store_of(system).get(cleaned["sha256"])
    assert stored is not None and b"CameraMaker" not in stored
    assert hashlib.sha256(stored).hexdigest() == cleaned["sha256"]
    r = await api.post("deputy-1", f"/api/v1/suggestions/{case_id}/attachments",
                       {"attachment": {"sha256": cleaned["sha256"], "name": "现场.jpg"}})
    assert r.status_code == 200, r.text
    r = await api.get("deputy-2", f"/api/v1/attachments/{cleaned['sha256']}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert not Image.open(io.BytesIO(r.content)).getexif()
    assert (await api.get("deputy-3", f"/api/v1/attachments/{cleaned['sha256']}")).status_code == 404
    r = await api.post("deputy-3", f"/api/v1/suggestions/{case_id}/attachments",
                       {"attachment": {"sha256": cleaned["sha256"]}})
    assert r.status_code == 404  # not their suggestion


async def _rate_both(api, case_id: str) -> None:
    for deputy in ("deputy-1", "deputy-2"):
        r = await api.post(deputy, f"/api/v1/suggestions/{case_id}/rating",
                           {"rating": "satisfied"})
        assert r.status_code == 200, r.text


async def test_the_reply_letter_is_required_for_close_out_where_configured(api, system):
    supervision = system.app("supervision")
    assert supervision.rules.reply_letter_required is False  # config/supervision.yaml default
    supervision.rules = supervision.rules.model_copy(update={"reply_letter_required": True})
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已联系"})
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/reply",
                       {"result_class": "A", "text": "已办理。"})
    assert r.status_code == 200, r.text
    await _rate_both(api, case_id)
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 409, r.text
    assert [m["item"] for m in r.json()["missing"]] == ["reply_letter"]
    assert "答复函" in r.json()["detail"]

    r = await upload(api, "unit-b", LETTER, "答复函.pdf")
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/reply-letter",
                       {"attachment": {"sha256": r.json()["sha256"], "name": "答复函.pdf"}})
    assert r.status_code == 200, r.text
    assert r.json()["missing_for_close_out"] == []
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/close")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"


async def test_verify_finds_a_tampered_file_and_erasure_keeps_the_chain(api, system):
    case_id, task_id, letter = await replied_with_letter(api)
    # an activity's evidence (points)
    photo = (await upload(api, "deputy-1", jpeg_with_exif(), "签到表.jpg", "image/jpeg")).json()
    r = await api.post("deputy-1", "/api/v1/deputies/deputy-1/activities", {
        "kind": "reception_day", "date": "2026-02-16", "description": "进站接待群众 6 人次",
        "evidence_files": [{"sha256": photo["sha256"], "name": "签到表.jpg"}]})
    assert r.status_code == 201, r.text
    assert r.json()["attachments"][0]["sha256"] == photo["sha256"]
    activity_id = r.json()["id"]
    assert (await api.get("office", f"/api/v1/attachments/{photo['sha256']}")).status_code == 200
    assert (await api.get("deputy-2", f"/api/v1/attachments/{photo['sha256']}")).status_code == 404

    # a citizen's photo on their message (handed in at the station, attached by the office)
    r = await api.client.post("/api/v1/stations/station-fengjie/messages", json={
        "content": "路灯不亮，附照片。", "contact_name": "赵小明", "contact_phone": "13812345678"})
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]
    citizen_photo = PDF_BYTES + b"% the citizen's scanned letter\n"
    sha_citizen = (await upload(api, "office", citizen_photo, "来信.pdf")).json()["sha256"]
    r = await api.post("office", f"/api/v1/messages/{message_id}/attachments",
                       {"attachment": {"sha256": sha_citizen, "name": "来信.pdf"}})
    assert r.status_code == 200, r.text

    result = await verify_platform(system.nats_url)
    files = result["attachments"]
    assert files["supervision"]["checked"] == 1 and files["points"]["checked"] == 1
    assert files["intake"]["checked"] == 1
    assert all(f["ok"] for f in files.values()), files

    # the reply letter's bytes are changed in the store: verify finds it, by hash and object
    store = store_of(system)
    if isinstance(store, blobs.FileBlobStore):
        store.path(letter["sha256"]).write_bytes(LETTER.replace(b"signed", b"forged"))
    else:
        store.client.put_object(Bucket=store.bucket, Key=f"blobs/{letter['sha256']}",
                                Body=LETTER.replace(b"signed", b"forged"))
    result = await verify_platform(system.nats_url)
    [problem] = result["attachments"]["supervision"]["problems"]
    assert problem == {"sha256": letter["sha256"], "aggregate_id": case_id, "state": "tampered",
                       "name": "答复函（盖章）.pdf"}
    assert result["ok"] is False and result["findings"] >= 1
    # the gateway does not serve a file that no longer matches its hash
    assert (await api.get("office", f"/api/v1/attachments/{letter['sha256']}")).status_code == 409
    # the activity's evidence file disappears: missing
    store.delete(photo["sha256"])
    result = await verify_platform(system.nats_url)
    [problem] = result["attachments"]["points"]["problems"]
    assert problem["state"] == "missing" and problem["aggregate_id"] == activity_id

    # erasing the poster's personal data erases their files: bytes gone, the chain still
    # verifies, and verify reports the file as erased (not missing)
    r = await api.post("office", f"/api/v1/messages/{message_id}/erasure")
    assert r.status_code == 200, r.text
    assert store.get(sha_citizen) is None
    result = await verify_platform(system.nats_url)
    assert result["attachments"]["intake"] == {"service": "intake", "checked": 0, "erased": 1,
                                               "problems": [], "ok": True}
    assert result["chains"]["intake"]["ok"] is True
    r = await api.get("office", f"/api/v1/cases/{message_id}/verify")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert (await api.get("office", f"/api/v1/attachments/{sha_citizen}")).status_code == 404
    r = await api.post("office", f"/api/v1/messages/{message_id}/attachments",
                       {"attachment": {"sha256": letter["sha256"]}})
    assert r.status_code == 409  # nothing more is attached to an erased poster's message


@pytest.mark.parametrize("blob_settings", ["s3"], indirect=True)
async def test_the_s3_store_serves_and_verifies(api, system):
    case_id, task_id, letter = await replied_with_letter(api)
    assert isinstance(store_of(system), blobs.S3BlobStore)
    r = await api.get("deputy-1", f"/api/v1/attachments/{letter['sha256']}")
    assert r.status_code == 200 and r.content == LETTER
    assert (await api.get("unit-a", f"/api/v1/attachments/{letter['sha256']}")).status_code == 404
    store = store_of(system)
    result = await verify_platform(system.nats_url)
    assert result["attachments"]["supervision"]["checked"] == 1
    assert result["attachments"]["supervision"]["ok"] is True
    store.client.put_object(Bucket=store.bucket, Key=f"blobs/{letter['sha256']}", Body=b"%PDF-x")
    result = await verify_platform(system.nats_url)
    assert result["attachments"]["supervision"]["problems"][0]["state"] == "tampered"


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_backup_and_restore_carry_the_files(api, system, store, blob_settings, tmp_path):
    import asyncio
    import os
    import stat

    from ops.backup import backup, restore
    from shared.settings import ServiceSettings

    case_id, task_id, letter = await replied_with_letter(api)
    settings = ServiceSettings(**store, **blob_settings)
    archive = await asyncio.to_thread(backup, settings, tmp_path / "backups", None)
    import tarfile

    with tarfile.open(archive) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    sha = letter["sha256"]
    assert f"blobs/{sha[:2]}/{sha}" in names
    assert not [n for n in names if ".tmp-" in n]

    target = ServiceSettings(event_store="sqlite", var_dir=tmp_path / "restored" / "var",
                             blob_dir=tmp_path / "restored" / "blobs")
    await asyncio.to_thread(restore, archive, target)
    restored = blobs.FileBlobStore(tmp_path / "restored" / "blobs")
    assert restored.get(sha) == LETTER and restored.check(sha) == "ok"
    assert stat.S_IMODE(os.stat(restored.path(sha)).st_mode) == 0o600


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_a_follow_up_review_records_its_evidence(api, system):
    case_id, task = await assigned_case(api)
    task_id = task["task_id"]
    await api.post("unit-b", f"/api/v1/tasks/{task_id}/contact", {"note": "已联系"})
    r = await api.post("unit-b", f"/api/v1/tasks/{task_id}/reply", {
        "result_class": "B", "text": "已列入计划。", "commitment_date": "2099-12-31"})
    assert r.status_code == 200, r.text
    photo = (await upload(api, "office", jpeg_with_exif(), "现场核查.jpg", "image/jpeg")).json()
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/r1", {
        "outcome": "kept", "note": "现场核查已落实",
        "evidence_files": [{"sha256": photo["sha256"], "name": "现场核查.jpg"}]})
    assert r.status_code == 200, r.text
    [recorded] = [a for a in r.json()["attachments"] if a["purpose"] == "review_evidence"]
    assert recorded["sha256"] == photo["sha256"] and recorded["round"] == 1
    assert (await api.get("deputy-1", f"/api/v1/attachments/{photo['sha256']}")).status_code == 200
    assert (await api.get("unit-a", f"/api/v1/attachments/{photo['sha256']}")).status_code == 404
    r = await api.post("office", f"/api/v1/suggestions/{case_id}/reviews/r1", {
        "outcome": "kept", "note": "再次记录", "evidence_files": [{"sha256": "1" * 64}]})
    assert r.status_code == 422  # an unknown file is refused before anything is recorded


async def test_a_unit_downloads_the_files_of_its_tasks_case_and_no_other_unit(api, system):
    """Issue 29 point 5: a handling unit reads the suggestion's files (the deputy's) through
    its task's case (``?case_id=``): supervision says it holds a live task of the case, intake
    that the file is on it. Another unit is refused (403), and so is the unit once its task
    is withdrawn (改办); the unit that takes it over reads the file."""
    case_id, task = await assigned_case(api)
    document = PDF_BYTES + b"% the deputy's survey of the street lights\n"
    r = await upload(api, "deputy-1", document, "调研报告.pdf")
    sha = r.json()["sha256"]
    r = await api.post("deputy-1", f"/api/v1/suggestions/{case_id}/attachments",
                       {"attachment": {"sha256": sha, "name": "调研报告.pdf"}})
    assert r.status_code == 200, r.text

    # the deputy's own and the office read it as before
    for user in ("deputy-1", "office"):
        r = await api.get(user, f"/api/v1/attachments/{sha}")
        assert r.status_code == 200 and r.content == document, (user, r.text)
    # the unit holding the task, through its case
    r = await api.get("unit-b", f"/api/v1/attachments/{sha}", case_id=case_id)
    assert r.status_code == 200, r.text
    assert r.content == document and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    # without naming the case intake alone does not know the unit's tasks: not found
    assert (await api.get("unit-b", f"/api/v1/attachments/{sha}")).status_code == 404
    # another unit naming the case: forbidden; a file not on the case: not found
    r = await api.get("unit-a", f"/api/v1/attachments/{sha}", case_id=case_id)
    assert r.status_code == 403, r.text
    other = (await upload(api, "office", PDF_BYTES + b"% elsewhere", "x.pdf")).json()["sha256"]
    r = await api.get("unit-b", f"/api/v1/attachments/{other}", case_id=case_id)
    assert r.status_code == 404

    # 改办: unit-b's task is withdrawn, unit-a's opened
    r = await api.post("office", f"/api/v1/tasks/{task['task_id']}/reassign",
                       {"unit_id": "unit-a", "reason": "该事项属于其他单位职责"})
    assert r.status_code in (200, 201), r.text

    async def moved():
        a = await api.get("unit-a", f"/api/v1/attachments/{sha}", case_id=case_id)
        b = await api.get("unit-b", f"/api/v1/attachments/{sha}", case_id=case_id)
        return (a.status_code, b.status_code) == (200, 403)

    await eventually(moved)


async def test_a_citizens_photo_sent_with_the_message_form(api, system):
    """The station page's form (multipart, ``/s/{id}/messages``): photos checked by content,
    cleaned of EXIF, stored and recorded on the message with the poster's token; a PDF named
    .jpg refuses the whole message in Chinese and records nothing."""
    photo = jpeg_with_exif()
    fields = {"content": "路口井盖破损，附现场照片。", "contact_name": "钱女士"}
    r = await api.client.post("/s/station-fengjie/messages", data=fields,
                              files=[("photos", ("井盖.jpg", photo, "image/jpeg"))])
    assert r.status_code == 201, r.text
    assert r.json()["photos"] == 1 and r.json()["follow_up_token"]
    message_id = r.json()["id"]
    r = await api.get("office", f"/api/v1/messages/{message_id}")
    [recorded] = r.json()["attachments"]
    assert recorded["purpose"] == "citizen_photo" and recorded["content_type"] == "image/jpeg"
    assert recorded["name"] == "井盖.jpg"
    stored = store_of(system).get(recorded["sha256"])
    assert stored is not None and b"CameraMaker" not in stored
    r = await api.get("office", f"/api/v1/attachments/{recorded['sha256']}")
    assert r.status_code == 200 and r.content == stored
    # the public never reads it back; the API does not let the anonymous attach
    assert (await api.client.get(f"/api/v1/attachments/{recorded['sha256']}")).status_code == 401

    from PIL import Image

    before = len((await api.get("office", "/api/v1/messages", limit=100)).json())
    r = await api.client.post("/s/station-fengjie/messages", data=fields,
                              files=[("photos", ("现场.jpg", PDF_BYTES, "image/jpeg"))])
    assert r.status_code == 422, r.text
    assert "只能上传照片" in r.text and "现场" in r.text
    assert len((await api.get("office", "/api/v1/messages", limit=100)).json()) == before
    r = await api.client.post("/s/station-fengjie/messages", data=fields, files=[
        ("photos", (f"{i}.jpg", photo, "image/jpeg")) for i in range(4)])
    assert r.status_code == 422 and "最多上传 3 张" in r.text
    # the deputy's page's form likewise
    r = await api.client.post("/d/deputy-1/messages", data=fields,
                              files=[("photos", ("井盖.png", photo, "image/jpeg"))])
    assert r.status_code == 201 and r.json()["photos"] == 1, r.text
    # the anonymous cannot attach through the API, even with the token
    token, message_id = r.json()["follow_up_token"], r.json()["id"]
    assert (await api.client.post(f"/api/v1/messages/{message_id}/attachments", json={
        "attachment": {"sha256": recorded["sha256"]}, "token": token})).status_code == 401
    # no photo is kept for a station that is not there
    root = store_of(system).root
    kept = sorted(p.name for p in root.rglob("*") if p.is_file())
    other = Image.new("RGB", (9, 9), (1, 2, 3))
    out = io.BytesIO()
    other.save(out, format="PNG")
    r = await api.client.post("/s/nowhere/messages", data=fields,
                              files=[("photos", ("x.png", out.getvalue(), "image/png"))])
    assert r.status_code == 404
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == kept

"""The blob store (filesystem and an S3-compatible server) and the checks on a file's content."""

from __future__ import annotations

import hashlib
import io
import socket
import stat
import zipfile

import pytest

from shared import blobs

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def jpeg_with_exif() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (16, 12), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0)}  # GPS latitude
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def office(main: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types><Override PartName="/word/document.xml" '
                   f'ContentType="{main}"/></Types>')
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def test_types_are_decided_by_content() -> None:
    assert blobs.sniff(PDF_BYTES) == blobs.PDF
    assert blobs.sniff(jpeg_with_exif()) == blobs.JPEG
    assert blobs.sniff(office(blobs._OFFICE_MAIN[blobs.DOCX])) == blobs.DOCX
    assert blobs.sniff(office(blobs._OFFICE_MAIN[blobs.XLSX])) == blobs.XLSX
    # a macro-enabled document, a plain zip, an executable, HTML: refused whatever their name
    assert blobs.sniff(office("application/vnd.ms-word.document.macroEnabled.main+xml")) is None
    assert blobs.sniff(b"PK\x03\x04not really a zip") is None
    for data in (b"MZ\x90\x00\x03" + b"\x00" * 100, b"<html><script>alert(1)</script>"):
        with pytest.raises(blobs.RefusedFile) as refused:
            blobs.prepare(data, "报告.pdf")
        assert "不支持的文件类型" in refused.value.message_zh


def test_size_limit_and_names() -> None:
    with pytest.raises(blobs.RefusedFile) as refused:
        blobs.prepare(PDF_BYTES + b"x" * 100, "a.pdf", max_bytes=50)
    assert refused.value.status == 413 and "大小限制" in refused.value.message_zh
    with pytest.raises(blobs.RefusedFile):
        blobs.prepare(b"", "a.pdf")
    prepared = blobs.prepare(PDF_BYTES, "../../etc/答复函.exe")
    assert prepared.name == "答复函.pdf" and prepared.content_type == blobs.PDF
    assert prepared.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert "filename*=UTF-8''%E7%AD%94" in blobs.content_disposition(prepared.name)


def test_images_lose_their_metadata() -> None:
    from PIL import Image

    original = jpeg_with_exif()
    assert Image.open(io.BytesIO(original)).getexif()  # the test image does carry EXIF
    prepared = blobs.prepare(original, "photo.jpg")
    cleaned = Image.open(io.BytesIO(prepared.data))
    assert not cleaned.getexif() and b"CameraMaker" not in prepared.data
    assert "exif" not in cleaned.info
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest() != \
        hashlib.sha256(original).hexdigest()
    assert cleaned.size == (16, 12)
    with pytest.raises(blobs.RefusedFile):
        blobs.prepare(original[:40], "broken.jpg")


def _exercise(store: blobs.BlobStore) -> None:
    sha = store.put(PDF_BYTES)
    assert sha == hashlib.sha256(PDF_BYTES).hexdigest()
    assert store.put(PDF_BYTES) == sha  # the same bytes are one blob
    assert store.get(sha) == PDF_BYTES and store.check(sha) == "ok"
    missing = hashlib.sha256(b"other").hexdigest()
    assert store.get(missing) is None and store.check(missing) == "missing"
    assert store.delete(sha) and store.get(sha) is None and not store.delete(sha)
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_filesystem_store(tmp_path) -> None:
    store = blobs.FileBlobStore(tmp_path / "blobs")
    _exercise(store)
    sha = store.put(PDF_BYTES)
    path = store.path(sha)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    path.write_bytes(PDF_BYTES.replace(b"1.4", b"1.5"))
    assert store.check(sha) == "tampered"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_s3_store(s3_server) -> None:
    store = blobs.S3BlobStore("duty-test", endpoint_url=s3_server)
    _exercise(store)
    sha = store.put(PDF_BYTES)
    store.client.put_object(Bucket="duty-test", Key=f"blobs/{sha}", Body=b"%PDF-changed")
    assert store.check(sha) == "tampered"
    from shared.settings import ServiceSettings

    chosen = blobs.blob_store(ServiceSettings(blob_backend="s3", blob_s3_bucket="duty-test",
                                              blob_s3_endpoint_url=s3_server))
    assert isinstance(chosen, blobs.S3BlobStore) and chosen.get(sha) == b"%PDF-changed"

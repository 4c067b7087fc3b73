"""Attachments: files stored by their content (SHA-256) and recorded by events.

- **What is accepted** (``prepare``). The type is decided by the bytes, never by the name or
  the client's content type: PDF (``%PDF-``), JPEG, PNG, and Office ``.docx`` / ``.xlsx`` (a zip
  whose ``[Content_Types].xml`` declares a Word document or an Excel workbook; macro-enabled
  ones declare other types and are refused). Anything else (an ``.exe`` renamed ``.pdf``, a
  zip, HTML, SVG...) is refused with a message in Chinese, as is a file over the size limit
  (``ATTACHMENT_MAX_BYTES``, 20 MB). Images are decoded and encoded again with Pillow, with
  their orientation applied and no metadata (EXIF, GPS, comments, text chunks): the stored
  bytes, and so the hash recorded, are the cleaned file's.
- **Where** (``blob_store``). ``BLOB_BACKEND=filesystem`` (default): one file per blob under
  ``BLOB_DIR`` (default ``<VAR_DIR>/blobs``), ``<first two hex digits>/<sha256>``, mode 0600,
  written to a temporary file, flushed and renamed (a reader never sees half a file).
  ``BLOB_BACKEND=s3``: any S3-compatible store (``BLOB_S3_BUCKET``, ``BLOB_S3_ENDPOINT_URL``,
  ``BLOB_S3_REGION``; credentials as boto3 reads them, ``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``), key ``blobs/<sha256>``. The gateway writes the blob on upload;
  every service that records files reads the same store (to check a recorded file, to erase one).
- **Recorded** by an event of the aggregate the file belongs to, whose ``attachment`` field
  carries ``{sha256, size, content_type, name, purpose}``: the hash chain of the aggregate's
  events (shared/audit.py) covers the hash, and so the file. An erasure is an event too, whose
  ``sha256s`` names the files whose bytes were removed: ``verify`` then says *erased*, not
  *missing*. ``AttachmentIndex`` reads those events from a service's log (only their topics),
  for download authorization and verification.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png", DOCX: ".docx", XLSX: ".xlsx"}
TYPES_ZH = "扫描件（便携式文档）、照片、文字文档或电子表格"
# The [Content_Types].xml main part of each accepted Office type.
_OFFICE_MAIN = {
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # a larger image is refused (decompression bombs)
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class RefusedFile(ValueError):
    """A file that is not accepted; ``message_zh`` says why, in Chinese (answered 422)."""

    def __init__(self, message_zh: str, status: int = 422) -> None:
        super().__init__(message_zh)
        self.message_zh = message_zh
        self.status = status


@dataclass(frozen=True)
class Prepared:
    """A file ready to store: its (cleaned) bytes and what is recorded about it."""

    data: bytes
    sha256: str
    size: int
    content_type: str
    name: str

    def record(self, purpose: str) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "content_type": self.content_type,
                "name": self.name, "purpose": purpose}


# --- type by content --------------------------------------------------------------------------

def sniff(data: bytes) -> str | None:
    """The accepted type the bytes are, or None."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"PK\x03\x04"):
        return _office_type(data)
    return None


def _office_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("[Content_Types].xml")
            if info.file_size > 1024 * 1024:
                return None
            types = z.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError, NotImplementedError):
        return None
    for content_type, main in _OFFICE_MAIN.items():
        if f'ContentType="{main}"' in types:
            return content_type
    return None


def clean_image(data: bytes, content_type: str) -> bytes:
    """Decode and encode again: orientation applied, no EXIF/GPS/ICC/comments/text chunks."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            expected = "JPEG" if content_type == JPEG else "PNG"
            if img.format != expected:
                raise RefusedFile("图片内容与格式不符，无法识别。")
            img.load()
            img = ImageOps.exif_transpose(img)
            out = io.BytesIO()
            if content_type == JPEG:
                if img.mode not in ("RGB", "L"):
                    img = img.convert("RGB")
                img.save(out, format="JPEG", quality=90, optimize=True)
            else:
                if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
                    img = img.convert("RGBA")
                img.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except RefusedFile:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RefusedFile("图片尺寸过大，请缩小后再上传。") from None
    except Exception:  # noqa: BLE001  any decoding failure: not a usable image
        raise RefusedFile("图片已损坏或无法读取，请重新上传。") from None


def safe_name(name: str | None, content_type: str) -> str:
    """A display name without paths or control characters, ending with the type's extension."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in '<>:"|?*')
    name = name.strip(" .")[:120]
    ext = EXTENSIONS[content_type]
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix else name
    if not stem:
        stem = "附件"
    return stem + ext


def prepare(data: bytes, name: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> Prepared:
    """Check a file by its content and size, clean an image; raise ``RefusedFile``."""
    if not data:
        raise RefusedFile("文件是空的，请选择要上传的文件。")
    if len(data) > max_bytes:
        limit = (f"{max_bytes / (1024 * 1024):g} 兆字节" if max_bytes >= 1024 * 1024
                 else f"{max(1, max_bytes // 1024)} 千字节")
        raise RefusedFile(f"文件超过 {limit}的大小限制。", status=413)
    content_type = sniff(data)
    if content_type is None:
        raise RefusedFile(f"不支持的文件类型：只能上传 {TYPES_ZH} 文件"
                          "（按文件内容判断，改扩展名无效）。")
    if content_type in (JPEG, PNG):
        data = clean_image(data, content_type)
    return Prepared(data=data, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                    content_type=content_type, name=safe_name(name, content_type))


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 / 8187)."""
    from urllib.parse import quote

    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                         for c in name) or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# --- stores -------------------------------------------------------------------------------------

class BlobStore:
    """Bytes by their SHA-256. ``put`` returns the hash; storing the same bytes twice is one blob."""

    def put(self, data: bytes) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def get(self, sha256: str) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError

    def delete(self, sha256: str) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def exists(self, sha256: str) -> bool:
        return self.get(sha256) is not None

    def check(self, sha256: str) -> str:
        """``ok``, ``missing`` or ``tampered`` (the bytes no longer hash to their name)."""
        data = self.get(sha256)
        if data is None:
            return "missing"
        return "ok" if hashlib.sha256(data).hexdigest() == sha256 else "tampered"


def _checked(sha256: str) -> str:
    if not SHA256.match(sha256 or ""):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


class FileBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        _checked(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists() and self.check(sha256) == "ok":
            return sha256
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False


class S3BlobStore(BlobStore):
    """An S3-compatible bucket (created when missing), key ``blobs/<sha256>``."""

    def __init__(self, bucket: str, endpoint_url: str | None = None,
                 region: str = "us-east-1", prefix: str = "blobs/", client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url,
                                             region_name=region)
        self._ensured = False
        self._lock = threading.Lock()

    def _key(self, sha256: str) -> str:
        return self.prefix + _checked(sha256)

    def _ensure_bucket(self) -> None:
        if self._ensured:
            return
        with self._lock:
            from botocore.exceptions import ClientError

            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError:
                self.client.create_bucket(Bucket=self.bucket)
            self._ensured = True

    def put(self, data: bytes) -> str:
        import base64

        self._ensure_bucket()
        sha256 = hashlib.sha256(data).hexdigest()
        # the store checks the bytes it received against their checksum
        self.client.put_object(Bucket=self.bucket, Key=self._key(sha256), Body=data,
                               ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode())
        return sha256

    def get(self, sha256: str) -> bytes | None:
        from botocore.exceptions import ClientError

        self._ensure_bucket()
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def delete(self, sha256: str) -> bool:
        existed = self.get(sha256) is not None
        self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
        return existed


def blob_store(settings: Any) -> BlobStore:
    """The store the settings name (shared/settings.py: ``BLOB_*``)."""
    if getattr(settings, "blob_backend", "filesystem") == "s3":
        return S3BlobStore(settings.blob_s3_bucket, settings.blob_s3_endpoint_url,
                           settings.blob_s3_region)
    root = getattr(settings, "blob_dir", None) or Path(settings.var_dir) / "blobs"
    return FileBlobStore(root)


def import_store(settings: Any) -> BlobStore:
    """Uploaded rosters to import (CSV or XLSX, services/registry/roster_import.py): the same
    backend as the attachments' store, apart from it (``<blob dir>/imports/``, S3 key
    ``imports/<sha256>``), so that removing an import's file after use never removes an
    attachment with the same bytes. The gateway writes (``put_import``); the registry reads."""
    if getattr(settings, "blob_backend", "filesystem") == "s3":
        return S3BlobStore(settings.blob_s3_bucket, settings.blob_s3_endpoint_url,
                           settings.blob_s3_region, prefix="imports/")
    root = getattr(settings, "blob_dir", None) or Path(settings.var_dir) / "blobs"
    return FileBlobStore(Path(root) / "imports")


def put_import(store: BlobStore, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Store an uploaded roster as it came (its type is decided by the registry, which reads
    it); refuses an empty file or one over ``max_bytes``. Its SHA-256."""
    if not data:
        raise RefusedFile("文件是空的，请选择要导入的名册文件。")
    if len(data) > max_bytes:
        raise RefusedFile(f"文件超过 {max_bytes / (1024 * 1024):g} 兆字节的大小限制，"
                          "请拆分后分批导入。", status=413)
    return store.put(data)


def described(store: BlobStore, sha256: str, name: str | None, purpose: str,
              loc: list[Any] | None = None) -> dict[str, Any]:
    """What a service records for an uploaded file it is asked to attach: read from the store
    (never taken from the caller): size and type of the bytes stored under that hash. A hash
    not in the store, or bytes that are no longer an accepted type, is refused (422)."""
    from shared.rpc import Invalid

    data = store.get(sha256)
    if data is None or hashlib.sha256(data).hexdigest() != sha256:
        raise Invalid.field(loc or ["body", "sha256"],
                            "未找到该附件（请先上传文件）: no uploaded file with this SHA-256")
    content_type = sniff(data)
    if content_type is None:
        raise Invalid.field(loc or ["body", "sha256"], "不支持的文件类型: not an accepted type")
    return {"sha256": sha256, "size": len(data), "content_type": content_type,
            "name": safe_name(name, content_type), "purpose": purpose}


# --- recorded attachments in a service's log ---------------------------------------------------

@dataclass
class Recorded:
    aggregate_id: str
    attachment: dict[str, Any]
    erased: bool = False


class AttachmentIndex:
    """The attachments recorded in one service's log: events whose topic is one of
    ``recorded`` (with an ``attachment`` dict) or ``erased`` (with ``sha256s``). Follows the
    log from where it last read, reading only those topics."""

    def __init__(self, app: Any, recorded: Iterable[type], erased: Iterable[type] = ()) -> None:
        from eventsourcing.utils import get_topic

        self.app = app
        self.recorded_topics = [get_topic(t) for t in recorded]
        self.erased_topics = [get_topic(t) for t in erased]
        self.position = 0
        self.by_hash: dict[str, list[Recorded]] = {}
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            top = self.app.recorder.max_notification_id() or 0
            start = self.position + 1
            while start <= top:
                batch = self.app.recorder.select_notifications(
                    start=start, limit=1000, stop=top,
                    topics=[*self.recorded_topics, *self.erased_topics])
                for n in batch:
                    self._apply(self.app.mapper.to_domain_event(n))
                if len(batch) < 1000:
                    break
                start = batch[-1].id + 1
            self.position = max(self.position, top)

    def _apply(self, event: Any) -> None:
        aggregate_id = str(event.originator_id)
        attachment = getattr(event, "attachment", None)
        if isinstance(attachment, dict) and attachment.get("sha256"):
            self.by_hash.setdefault(attachment["sha256"], []).append(
                Recorded(aggregate_id, dict(attachment)))
        for sha256 in getattr(event, "sha256s", None) or ():
            for r in self.by_hash.get(sha256, ()):
                if r.aggregate_id == aggregate_id:
                    r.erased = True

    def lookup(self, sha256: str) -> list[Recorded]:
        self.catch_up()
        return list(self.by_hash.get(sha256, ()))

    def all(self) -> list[Recorded]:
        self.catch_up()
        return [r for rs in self.by_hash.values() for r in rs]

    def still_needed(self, sha256: str) -> bool:
        """Whether another recording, not erased, keeps the blob."""
        return any(not r.erased for r in self.lookup(sha256))


def verify_recorded(index: AttachmentIndex, store: BlobStore, service: str) -> dict[str, Any]:
    """Every attachment recorded in a service's log against the store: ok, erased (the log
    records its erasure), missing or tampered."""
    checked = erased = 0
    problems: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for r in index.all():
        sha = r.attachment["sha256"]
        if r.erased:
            erased += 1
            continue
        checked += 1
        state = seen.get(sha) or seen.setdefault(sha, store.check(sha))
        if state != "ok":
            problems.append({"sha256": sha, "aggregate_id": r.aggregate_id, "state": state,
                             "name": r.attachment.get("name")})
    return {"service": service, "checked": checked, "erased": erased, "problems": problems,
            "ok": not problems}

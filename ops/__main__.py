"""``python -m ops`` (also installed as ``duty-ops``): operate the platform's bus."""

from __future__ import annotations

import asyncio
import os
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ops.dead_letters import list_parked, replay
from ops.status import bus_status
from shared.settings import ServiceSettings

app = typer.Typer(help="Operate the deputy liaison platform's bus.", no_args_is_help=True)
dlq = typer.Typer(help="Parked (dead-letter) messages.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
console = Console()

NatsOption = typer.Option(None, "--nats-url", envvar="NATS_URL", help="NATS server URL(s)")


def _url(nats_url: str | None) -> str:
    """The server URL with the operator's bus identity (shared/bus_auth.py).

    There is no default: an operator must say which system they mean (``NATS_URL`` or
    ``--nats-url``), rather than acting on whatever listens on 127.0.0.1:4222."""
    if not nats_url or not nats_url.strip():
        typer.echo("duty-ops: no NATS server given. Set NATS_URL (comma-separated servers) or "
                   "pass --nats-url nats://HOST:PORT; duty-ops does not guess one."
                   + _local_hint(), err=True)
        raise typer.Exit(2)
    settings = ServiceSettings(service_name="ops")
    settings = settings.model_copy(update={"nats_url": nats_url})
    return ",".join(settings.nats_servers())


def _local_hint() -> str:
    """Where ``make run``'s server listens, when its configuration is under VAR_DIR."""
    import os
    import re
    from pathlib import Path

    conf = Path(os.environ.get("VAR_DIR", "var")) / "nats" / "nats-server.conf"
    try:
        found = re.search(r'^listen:\s*"([^"]+)"', conf.read_text(), re.M)
    except OSError:
        return ""
    if not found:
        return ""
    return (f"\nThe local system (make run) listens at nats://{found.group(1)} "
            f"({conf}); with its credentials: NATS_CREDENTIALS_DIR="
            f"{conf.parent.parent / 'nats-credentials'}.")


@dlq.command("list")
def dlq_list(consumer: str = typer.Option(None, help="only this consumer service"),
             nats_url: str = NatsOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """List parked messages with their error."""
    parked = asyncio.run(list_parked(_url(nats_url), consumer))
    if as_json:
        typer.echo(json.dumps([p.summary() for p in parked], ensure_ascii=False, indent=2))
        return
    table = Table("seq", "consumer", "original subject", "orig seq", "attempts", "error")
    for p in parked:
        table.add_row(str(p.sequence), p.consumer, p.original_subject, str(p.original_sequence),
                      str(p.attempts), p.error[:120])
    console.print(table)


@dlq.command("show")
def dlq_show(sequence: int, nats_url: str = NatsOption) -> None:
    """Show one parked message: headers and body."""
    parked = {p.sequence: p for p in asyncio.run(list_parked(_url(nats_url)))}
    if sequence not in parked:
        typer.echo(f"no parked message with sequence {sequence}", err=True)
        raise typer.Exit(1)
    p = parked[sequence]
    typer.echo(json.dumps({**p.summary(), "body": p.body.decode("utf-8", "replace")},
                          ensure_ascii=False, indent=2))


@dlq.command("replay")
def dlq_replay(sequences: list[int], nats_url: str = NatsOption) -> None:
    """Publish parked messages again on their original subjects and remove them from the DLQ."""
    for seq in sequences:
        try:
            item = asyncio.run(replay(_url(nats_url), seq))
        except LookupError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        typer.echo(f"replayed {seq} → {item.original_subject}")


@app.command()
def rebuild(service: str = typer.Argument(..., help="intake, assignment, supervision or points"),
            wait: bool = typer.Option(True, "--wait/--no-wait",
                                      help="follow the builds to the end with a progress bar "
                                           "(--no-wait: start them and return)"),
            nats_url: str = NatsOption) -> None:
    """Rebuild a running service's read models from its event store.

    Read models kept in memory are rebuilt at once. Persisted ones (tables) get a new
    generation built in the background while the live one keeps answering; the new one takes
    over when it has caught up. A progress bar shows each build's events, events per second
    and the time left, until every build is done."""
    from ops.verify import _call
    import nats

    async def run() -> None:
        nc = await nats.connect(_url(nats_url))
        try:
            with console.status(f"starting the rebuild of {service}'s read models"):
                try:
                    # the generations live before: a build of this rebuild comes after them
                    # (asked first: a short build may be over before the rebuild answers)
                    before = await _call(nc, service, "read_models")
                    started = await _call(nc, service, "rebuild_read_models",
                                          {"background": True})
                except RuntimeError as exc:
                    typer.echo(str(exc), err=True)
                    raise typer.Exit(1) from None
            persisted = started.get("read_models") or {}
            for name, count in started["events_applied"].items():
                if name not in persisted:
                    typer.echo(f"{service}: {name} rebuilt from {count} events")
            if not persisted:
                return
            if not wait:
                typer.echo(f"{service}: building {', '.join(persisted)} in the background; "
                           "the live read models answer meanwhile")
                return
            live = {name: (before.get(name) or {}).get("generation", 0) for name in persisted}
            status = await _follow(nc, service, live, _call)
        finally:
            await nc.close()
        failed = [n for n, m in status.items() if (m.get("build") or {}).get("failed")]
        for name, m in status.items():
            if name in failed:
                typer.echo(f"{service}: {name} build failed (see the service's log)", err=True)
                continue
            build = m["build"] or {}
            typer.echo(f"{service}: {name} rebuilt from {build.get('applied', m['position'])} "
                       f"events (generation {m['generation']})")
        if failed:
            raise typer.Exit(1)

    asyncio.run(run())


async def _follow(nc, service: str, live: dict[str, int], call,
                  stalled_after: float = 120.0) -> dict:
    """Poll the service's ``read_models`` until every build started after ``live`` is done
    (or failed), showing each as a progress bar (events applied of the log's head, events per
    second and the time left as the service measures them). Gives up when nothing moved for
    ``stalled_after`` seconds."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("events · {task.fields[rate]} events/s · {task.fields[eta]} left"))
    with Progress(*columns, console=console) as progress:
        bars = {name: progress.add_task(f"{service}: {name}", total=None, rate="–", eta="–")
                for name in live}
        last, moved = None, time.monotonic()
        while True:
            status = await call(nc, service, "read_models")
            if status != last:
                last, moved = status, time.monotonic()
            elif time.monotonic() - moved > stalled_after:
                typer.echo(f"{service}: no progress for {stalled_after:.0f} s: {status}",
                           err=True)
                raise typer.Exit(1)
            done = True
            for name in live:
                model = status.get(name) or {}
                build = model.get("build") or {}
                current = build.get("generation", 0) > live[name]
                if build.get("failed"):  # failed (perhaps before its progress was shown)
                    continue
                if not current or not build.get("done"):
                    done = False
                if not current:
                    continue
                eta = build.get("eta_seconds")
                progress.update(bars[name], completed=build.get("applied") or 0,
                                total=max(build.get("head") or 0, build.get("applied") or 0, 1),
                                rate=f"{build['rate']:,.0f}" if build.get("rate") else "–",
                                eta=f"{eta:,.0f} s" if eta is not None else "–")
            if done:
                return status
            await asyncio.sleep(0.5)


@app.command()
def status(nats_url: str = NatsOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Streams, durable consumers and lag (messages not yet delivered)."""
    result = asyncio.run(bus_status(_url(nats_url)))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("stream", "messages", "consumer", "lag", "ack pending", "redelivered")
    for s in result["streams"]:
        if s.get("missing"):
            table.add_row(s["stream"], "missing", "", "", "", "")
            continue
        table.add_row(s["stream"], str(s["messages"]), "", "", "", "")
        for c in s["consumers"]:
            table.add_row("", "", c["consumer"], str(c["pending"]), str(c["ack_pending"]),
                          str(c["redelivered"]))
    console.print(table)




@app.command("verify-export")
def verify_export(path: typer.FileText = typer.Argument(..., help="a file saved from GET /api/v1/cases/{id}/export"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Check an exported case offline: recompute every hash chain in the file.

    Needs nothing but the file: no service, store or network. Exits 1 when a chain breaks.
    """
    from shared.audit import verify_chain

    data = json.load(path)
    results = []
    for service, aggregates in data.get("services", {}).items():
        for aggregate_id, records in aggregates.items():
            results.append({"service": service, "aggregate_id": aggregate_id,
                            **verify_chain(records)})
    broken = [r for r in results if not r["ok"]]
    if as_json:
        typer.echo(json.dumps({"case_id": data.get("case_id"), "ok": not broken,
                               "chains": results}, ensure_ascii=False, indent=2))
    else:
        table = Table("service", "aggregate", "events", "result")
        for r in results:
            verdict = "ok" if r["ok"] else f"BROKEN at version {r['broken_at']}: {r['reason']}"
            table.add_row(r["service"], r["aggregate_id"], str(r["events"]), verdict)
        console.print(table)
    if broken or not results:
        raise typer.Exit(1)


@app.command()
def verify(nats_url: str = NatsOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Check every hash chain in every service's store and reconcile across services both
    ways (registered suggestions have tasks and resolved, satisfied cases their points; every
    task has its case in intake, every points line its cause, no unknown deputy) and report
    parked messages. Exits 1 on any finding."""
    from ops.verify import verify_platform

    with console.status("verifying hash chains and reconciling the services"):
        result = asyncio.run(verify_platform(_url(nats_url)))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        table = Table("service", "aggregates", "events", "broken chains")
        for service, c in result["chains"].items():
            table.add_row(service, str(c["aggregates"]), str(c["events"]), str(len(c["broken"])))
        console.print(table)
        r = result["reconciliation"]
        console.print(f"registered suggestions: {r['registered_suggestions']}, without a task: "
                      f"{len(r['registered_without_task'])}; closed cases: {r['closed_cases']}, "
                      f"resolved without points: {len(r['resolved_without_points'])}")
        console.print(f"tasks without their case in intake: {len(r['tasks_without_case'])}; "
                      f"points lines without their cause: {len(r['points_without_cause'])}; "
                      f"unknown deputies: {len(r['unknown_deputies'])}; "
                      f"parked messages: {len(result['parked'])}")
        for kind in ("registered_without_task", "tasks_without_case", "resolved_without_points",
                     "points_without_cause", "unknown_deputies"):
            for item in r[kind]:
                console.print(f"  {kind}: {item}", markup=False)
        for p in result["parked"]:
            console.print(f"  parked: {p['consumer']} {p['original_subject']} "
                          f"#{p['sequence']}: {p['error'][:200]}", markup=False)
        files = result.get("attachments", {}).values()
        console.print(f"attachments checked: {sum(a['checked'] for a in files)}, erased: "
                      f"{sum(a['erased'] for a in files)}, missing or tampered: "
                      f"{sum(len(a['problems']) for a in files)}")
        for a in files:
            for p in a["problems"]:
                console.print(f"  attachment {p['state']}: {a['service']} {p['sha256']} "
                              f"({p.get('name')}) on {p['aggregate_id']}", markup=False)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("replay")
def replay_log(service: str = typer.Argument(..., help="intake, assignment, supervision or points"),
           start: int = typer.Option(..., "--from", help="first notification id"),
           end: int = typer.Option(..., "--to", help="last notification id (inclusive)"),
           nats_url: str = NatsOption) -> None:
    """Republish a range of a service's event log to its stream (same message ids: the stream
    drops copies within its duplicate window and consumers ignore what they have processed)."""
    from ops.verify import _call
    import nats

    async def call() -> dict:
        nc = await nats.connect(_url(nats_url))
        try:
            return await _call(nc, service, "republish", {"start": start, "end": end})
        finally:
            await nc.close()

    with console.status(f"republishing {service} notifications {start}..{end}"):
        result = asyncio.run(call())
    typer.echo(f"{service}: republished {result['republished']} integration events")


@app.command()
def backup(directory: Path = typer.Argument(..., help="where to write the archive"),
           nats_url: str = NatsOption,
           streams: bool = typer.Option(True, "--streams/--no-streams",
                                        help="record the JetStream streams' state and the "
                                             "parked messages (needs the bus)")) -> None:
    """Write one dated archive (tar.gz, with a manifest of versions and SHA-256 checksums) of
    every service's event store, the personal-data keys, the bus credentials, the actor keys,
    the configuration and the JetStream streams' state. Reads the same settings as the
    services (VAR_DIR, EVENT_STORE, POSTGRES_*); the system may keep running."""
    from ops.backup import BackupError, backup as make_backup, describe

    url = _url(nats_url) if streams else None
    settings = ServiceSettings(service_name="ops")
    try:
        with console.status("writing the backup"):
            archive = make_backup(settings, directory, url)
    except BackupError as exc:
        typer.echo(f"duty-ops backup: {exc}", err=True)
        raise typer.Exit(1) from None
    from ops.backup import read_manifest

    typer.echo(describe(read_manifest(archive)) + f"written: {archive}\n"
               f"checksum: {archive}.sha256 (sha256sum -c)")


@app.command()
def restore(archive: Path = typer.Argument(..., exists=True, dir_okay=False,
                                           help="a duty-backup-*.tar.gz"),
            config_dir: Path = typer.Option(None, help="where to put the backed-up "
                                                       "configuration (default VAR_DIR/config)")
            ) -> None:
    """Bring a stopped system back from a backup into an empty VAR_DIR (and, on PostgreSQL,
    empty schemas): every checksum is checked before anything is written. Then start the
    system, publish each service's log again with the commands printed, and run
    ``duty-ops verify``."""
    from ops.backup import BackupError, describe, replay_commands, restore as do_restore

    settings = ServiceSettings(service_name="ops")
    try:
        manifest = do_restore(archive, settings, config_dir)
    except BackupError as exc:
        typer.echo(f"duty-ops restore: {exc}", err=True)
        raise typer.Exit(1) from None
    var = settings.var_dir
    typer.echo(describe(manifest) + f"restored into {var}"
               + (f" and schemas {settings.postgres_schema_prefix}<service>"
                  if settings.event_store == "postgres" else "") + ".\n"
               f"Start the system with VAR_DIR={var} ACTOR_KEYS_DIR={var / 'keys'} "
               f"NATS_CREDENTIALS_DIR={var / 'nats-credentials'} "
               f"CONFIG_DIR={config_dir or var / 'config'} and the personal-data "
               "key-encryption key, which no backup holds, back in place "
               f"(PERSONAL_DATA_KEK_FILE; in development mode {var / 'personal-data.kek'}), "
               "on a new, empty nats-server store; then publish each service's log "
               "again (consumers skip what they have processed) and verify:\n  "
               + "\n  ".join([*replay_commands(manifest), "duty-ops verify"]))


keys = typer.Typer(help="Keys and credentials of a new installation.", no_args_is_help=True)
app.add_typer(keys, name="keys")


@keys.command("init")
def keys_init(var_dir: Path = typer.Option(None, help="default VAR_DIR")) -> None:
    """Make the actor-assertion keys (ACTOR_KEYS_DIR, default VAR_DIR/keys) and a bus password
    per identity (NATS_CREDENTIALS_DIR, default VAR_DIR/nats-credentials) where missing;
    existing ones are kept. Production: run once, then render the nats-server configuration
    from the passwords (infra/README.md)."""
    from ops.backup import actor_keys_dir, credentials_dir
    from shared.bus_auth import generate_credentials
    from shared.identity import generate_keys

    settings = ServiceSettings(service_name="ops")
    if var_dir is not None:
        settings = settings.model_copy(update={"var_dir": var_dir})
    written = generate_keys(actor_keys_dir(settings))
    credentials = generate_credentials(credentials_dir(settings))
    # the nats-server's users and permissions, rendered from the passwords, for its
    # configuration to include (infra/nats/nats-server.conf: include ./authorization.conf)
    from shared.bus_auth import authorization_block

    authorization = credentials / "authorization.conf"
    fd = os.open(authorization, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(authorization_block(credentials))
    # the key-encryption key of the personal-data keys (services/intake/personal_data.py)
    from services.intake.personal_data import write_kek_file

    kek = Path(os.environ.get("PERSONAL_DATA_KEK_FILE") or Path(settings.var_dir)
               / "personal-data.kek")
    if not kek.exists():
        write_kek_file(kek)
    typer.echo(f"actor keys in {actor_keys_dir(settings)} ({len(written)} new), "
               f"bus passwords in {credentials}, nats-server users in {authorization}, "
               f"personal-data key-encryption key {kek} (keep a copy apart from backups)")


@app.command("rotate-keys")
def rotate_keys(
        new_kek_file: Path = typer.Option(..., "--new-kek-file",
                                          help="the new key-encryption key (base64 of 32 "
                                               "bytes); made (mode 0600) when missing"),
        old_kek_file: Path = typer.Option(None, "--old-kek-file",
                                          envvar="PERSONAL_DATA_KEK_FILE",
                                          help="the key-encryption key the keys are wrapped "
                                               "under now (else PERSONAL_DATA_KEK, base64; in "
                                               "development mode VAR_DIR/personal-data.kek)"),
) -> None:
    """Re-wrap every personal-data key (and the blind-index secret) of intake under a new
    key-encryption key; the data keys themselves do not change.

    Run it with intake stopped, or with every intake replica already running with the new
    KEK as PERSONAL_DATA_KEK_FILE and the old one as PERSONAL_DATA_KEK_PREVIOUS_FILE. Each
    key records which KEK wrapped it, so an interrupted rotation leaves every key readable
    with one of the two; run the same command again to finish it. Then point
    PERSONAL_DATA_KEK_FILE at the new file and remove the old KEK. Reads the same settings
    as the services (VAR_DIR, EVENT_STORE, POSTGRES_*)."""
    import os

    from services.intake.personal_data import (Kek, KeyEncryptionKeyError, KeyStore,
                                               kek_from, load_keks, write_kek_file)

    settings = ServiceSettings(service_name="intake")
    try:
        old = kek_from(old_kek_file, os.environ.get("PERSONAL_DATA_KEK"), "PERSONAL_DATA_KEK")
        if old is None:
            old = load_keks(settings)[0]
        if new_kek_file.exists():
            new = Kek.from_file(new_kek_file)
        else:
            new = write_kek_file(new_kek_file)
            typer.echo(f"made the new key-encryption key {new_kek_file} ({new.id})")
        if new.id == old.id:
            typer.echo("duty-ops rotate-keys: the new key-encryption key is the old one",
                       err=True)
            raise typer.Exit(2)
        # a rotation interrupted earlier left some keys under the new KEK already
        store = KeyStore(settings, kek=old, previous=new)
        try:
            done = store.rotate(new)
            left = {k: n for k, n in store.kek_ids().items() if k != new.id}
        finally:
            store.close()
    except KeyEncryptionKeyError as exc:
        typer.echo(f"duty-ops rotate-keys: {exc}", err=True)
        raise typer.Exit(1) from None
    if left:
        typer.echo(f"duty-ops rotate-keys: keys left under other KEKs: {left}", err=True)
        raise typer.Exit(1)
    typer.echo(f"re-wrapped {done['personal_data_keys']} personal-data keys and "
               f"{done['index_keys']} index keys from {old.id} to {new.id}; now start intake "
               f"with PERSONAL_DATA_KEK_FILE={new_kek_file} and destroy the old KEK")


if __name__ == "__main__":
    app()

"""Harness additions for the network fault tests: a local three-node JetStream cluster, a TCP
proxy that can cut one service off from NATS, a workload client that survives broker faults,
and counting of effects in the services' event stores."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout

from shared.identity import signed_request
from tests.harness import eventually, free_port, nats_server_binary

DEPUTY = {"username": "deputy-1", "role": "deputy", "deputy_id": "deputy-1"}
OFFICE = {"username": "office", "role": "office"}


# --- a three-node JetStream cluster --------------------------------------------------------


@dataclass
class ClusterNode:
    name: str
    port: int
    cluster_port: int
    http_port: int
    store_dir: Path
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.config_path)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def kill9(self) -> None:
        if self.running:
            assert self.proc
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.running:
            assert self.proc
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def jsz(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/jsz", timeout=1) as r:
            return json.loads(r.read())


NODE_CONFIG = """\
server_name: {name}
listen: 127.0.0.1:{port}
http: 127.0.0.1:{http_port}

jetstream {{
    store_dir: "{store_dir}"
    # fsync every write before acknowledging it, as in infra/nats/cluster/.
    sync_interval: always
    max_file_store: 1GB
    max_memory_store: 64MB
}}

cluster {{
    name: {cluster}
    listen: 127.0.0.1:{cluster_port}
    routes: [
{routes}
    ]
}}
"""


class NatsCluster:
    """Three nats-server processes forming the JetStream cluster ``cluster`` on loopback,
    each with its own client, route and monitoring port, config file and store."""

    def __init__(self, base: Path, size: int = 3, cluster: str = "duty-test") -> None:
        base.mkdir(parents=True, exist_ok=True)
        self.nodes: list[ClusterNode] = []
        for i in range(1, size + 1):
            name = f"n{i}"
            self.nodes.append(ClusterNode(
                name=name, port=free_port(), cluster_port=free_port(), http_port=free_port(),
                store_dir=base / name, config_path=base / f"{name}.conf",
                log_path=base / f"{name}.log"))
        routes = "\n".join(f"        nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        for n in self.nodes:
            n.config_path.write_text(NODE_CONFIG.format(
                name=n.name, port=n.port, http_port=n.http_port, store_dir=n.store_dir,
                cluster=cluster, cluster_port=n.cluster_port, routes=routes))

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def nats_url(self) -> str:
        """The comma-separated form that ``NATS_URL`` / ``ServiceSettings.nats_url`` take."""
        return ",".join(self.urls)

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self) -> None:
        for n in self.nodes:
            n.start()

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def meta_leader(self) -> str | None:
        """The meta leader every running node agrees on and reports with all peers, else None."""
        leaders = set()
        for n in self.nodes:
            if not n.running:
                continue
            try:
                meta = n.jsz().get("meta_cluster") or {}
            except OSError:
                return None
            if meta.get("cluster_size") != len(self.nodes):
                return None
            leaders.add(meta.get("leader"))
        if len(leaders) == 1 and None not in leaders and "" not in leaders:
            return leaders.pop()
        return None

    async def wait_for_meta_leader(self, timeout: float = 30.0) -> str:
        async def leader():
            return await asyncio.to_thread(self.meta_leader)

        return await eventually(leader, timeout=timeout, interval=0.2)

    async def stream_info(self, stream: str) -> Any:
        nc = await nats.connect(servers=[n.url for n in self.nodes if n.running],
                                connect_timeout=2, max_reconnect_attempts=1)
        try:
            return await nc.jetstream(timeout=5).stream_info(stream)
        finally:
            await nc.close()

    async def stream_leader(self, stream: str) -> ClusterNode:
        info = await self.stream_info(stream)
        assert info.cluster and info.cluster.leader, info
        return self.node(info.cluster.leader)


# --- a TCP proxy that can cut the network -----------------------------------------------


class TcpProxy:
    """A loopback TCP proxy to ``upstream_port``. ``cut()`` closes every connection through it
    and then either refuses new ones (``"refuse"``: nothing listens) or black-holes them
    (``"blackhole"``: accepted, never answered, bytes dropped); ``"freeze"`` is a silent
    partition instead: existing connections stay open but nothing moves through them (no FIN,
    no RST) and new ones are black-holed. ``heal()`` forwards again (a frozen connection
    carries on where it stopped)."""

    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.mode: str | None = None  # None (forwarding), "refuse", "blackhole" or "freeze"
        self.accepted = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._blackholed: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  reuse_address=True)

    async def stop(self) -> None:
        await self._close_listener()
        self._close_all()
        for task in list(self._tasks):
            task.cancel()

    async def cut(self, mode: str = "blackhole") -> None:
        assert mode in ("refuse", "blackhole", "freeze")
        self.mode = mode
        if mode == "freeze":
            self._flowing.clear()
            return
        if mode == "refuse":
            await self._close_listener()
        self._close_all()

    async def heal(self) -> None:
        if self.mode == "freeze":
            # close the connections black-holed meanwhile, keep the frozen ones
            for w in list(self._blackholed):
                w.close()
                self._writers.discard(w)
            self._blackholed.clear()
        else:
            self._close_all()  # black-holed connections too: the client must connect afresh
        self.mode = None
        self._flowing.set()
        if self._server is None:
            await self.start()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _close_all(self) -> None:
        for w in list(self._writers):
            w.close()
        self._writers.clear()
        self._blackholed.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        if self.mode in ("blackhole", "freeze"):
            self._blackholed.add(writer)
            self._spawn(self._drain(reader, writer))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        self._spawn(self._pipe(reader, up_writer, writer))
        self._spawn(self._pipe(up_reader, writer, up_writer))

    async def _drain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
            self._blackholed.discard(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    other: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # read before a freeze: held back until the heal
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, other):
                w.close()
                self._writers.discard(w)


# --- a workload that survives broker faults -------------------------------------------------


@dataclass
class Workload:
    """Submits and registers suggestions through intake's request/reply routes over ONE
    connection to any of ``servers`` (the client reconnects to another server when its own
    goes away). A request that times out or finds no responder is retried; a registration
    whose reply was lost and that turns out to be done already counts as registered."""

    servers: list[str]
    category: str = "livelihood"
    registered: list[str] = field(default_factory=list)
    retries: int = 0
    _nc: Any = None

    async def __aenter__(self) -> Workload:
        self._nc = await nats.connect(servers=self.servers, max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5, connect_timeout=2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._nc.close()

    async def request(self, service: str, command: str, payload: dict[str, Any],
                      actor: dict[str, Any], timeout: float = 10.0, attempts: int = 12) -> dict[str, Any]:
        body = signed_request(service, payload, actor)
        for attempt in range(attempts):
            try:
                msg = await self._nc.request(f"duty.rpc.{service}.{command}", body, timeout=timeout)
                return json.loads(msg.data)
            except (NatsTimeout, NoRespondersError, nats.errors.ConnectionClosedError,
                    nats.errors.ConnectionReconnectingError, nats.errors.OutboundBufferLimitError):
                self.retries += 1
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        raise AssertionError(f"{service}.{command} got no reply in {attempts} attempts")

    async def one(self, i: int) -> str:
        r = await self.request("intake", "submit_suggestion",
                               {"title": f"第{i}号建议", "body": "完善社区养老服务。",
                                "category": self.category}, DEPUTY)
        assert r["ok"], r
        sid = r["result"]["id"]
        r = await self.request("intake", "register_suggestion",
                               {"suggestion_id": sid, "urgency": "blue"}, OFFICE)
        if not r["ok"]:  # the first attempt went through but its reply was lost
            assert r.get("status") == 409, r
            r = await self.request("intake", "get_suggestion", {"suggestion_id": sid}, OFFICE)
            assert r["ok"] and r["result"]["status"] == "registered", r
        self.registered.append(sid)
        return sid

    async def run(self, n: int, start: int = 0, concurrency: int = 20) -> list[str]:
        ids: list[str] = []
        for batch in range(start, start + n, concurrency):
            ids += await asyncio.gather(*(self.one(i) for i in
                                          range(batch, min(batch + concurrency, start + n))))
        return ids


# --- counting effects in the event stores --------------------------------------------------


def topic_counts(app: Any) -> dict[str, tuple[int, int]]:
    """(events, distinct aggregates) per topic (``Suggestion.Registered`` ...) in one
    service's event store, read through its application's recorder."""
    seen: dict[str, tuple[int, set[Any]]] = {}
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=5000)
        for n in page:
            topic = n.topic.split(":")[-1]
            total, ids = seen.setdefault(topic, (0, set()))
            ids.add(n.originator_id)
            seen[topic] = (total + 1, ids)
        if len(page) < 5000:
            break
        start = page[-1].id + 1
    return {t: (total, len(ids)) for t, (total, ids) in seen.items()}


def count(app: Any, topic: str) -> int:
    return topic_counts(app).get(topic, (0, 0))[0]



async def quiescent(runtimes: dict[str, Any], servers: list[str]) -> bool:
    """True once nothing is left to happen: every service's outbox is fully published and
    every durable consumer has no message pending or awaiting its acknowledgement."""
    from shared.streams import durable_name, stream_name

    for runtime in runtimes.values():
        app = runtime.app
        if app.max_notification_id() != app.outbox_position():
            return False
    nc = await nats.connect(servers=servers, connect_timeout=2, max_reconnect_attempts=1)
    try:
        js = nc.jetstream(timeout=5)
        for service, runtime in runtimes.items():
            for producer in runtime.consumers:
                ci = await js.consumer_info(stream_name(producer), durable_name(service, producer))
                if ci.num_pending or ci.num_ack_pending:
                    return False
    except (NatsTimeout, NoRespondersError, nats.js.errors.APIError):
        return False
    finally:
        await nc.close()
    return True


async def stream_messages(servers: list[str], stream: str) -> int:
    nc = await nats.connect(servers=servers, connect_timeout=2, max_reconnect_attempts=1)
    try:
        return (await nc.jetstream(timeout=5).stream_info(stream)).state.messages
    finally:
        await nc.close()


def settled(runtimes: dict[str, Any], servers: list[str]) -> Any:
    """A check for ``eventually``: true once the system was ``quiescent`` at two polls in a
    row. Unlike waiting for expected counts, it also ends a run that lost or parked something
    (a message waiting out a retry back-off is still unacknowledged, so it is not quiescent),
    which then fails its assertions at once instead of timing out."""
    before = {"quiet": False}

    async def check() -> bool:
        quiet = await quiescent(runtimes, servers)
        stable, before["quiet"] = quiet and before["quiet"], quiet
        return stable

    return check

"""A small process supervisor for ``make run`` (infra/devrun.py): the processes of a Procfile,
each line of their output prefixed with the process's name, a process that dies restarted with
back-off, and an orderly stop.

- Start: in the Procfile's order; a process named in ``wait_for_port`` (nats-server) is
  waited for (its port accepts connections) before the next one starts.
- A process that exits while the system runs is restarted after 1 s, then 2, 4 ... up to
  30 s when it keeps dying; a run of ``stable_seconds`` (60 s) resets the back-off. Every exit
  and restart is logged under the ``supervisor`` prefix.
- Stop (SIGINT: Ctrl-C, or SIGTERM): in ``stop_order`` groups, each group sent SIGTERM and
  waited for before the next: the gateway first (no new requests), then the services (they
  drain, publish their outbox and close their stores while the bus is still there),
  nats-server last. A process still running after ``stop_timeout`` is killed (and the exit
  status is then 1). A second Ctrl-C kills what is left at once.
- The children run in sessions of their own, so a Ctrl-C at the terminal reaches only the
  supervisor, which decides the order; if the supervisor itself dies, the children get SIGTERM
  (Linux parent-death signal).

Only the standard library; no shell between the supervisor and a process (the Procfile's
command is split with ``shlex`` after ``$VAR`` expansion), so a signal reaches the process
itself.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93")


def read_procfile(path: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """``name: command`` lines (comments and blank lines skipped), ``$VAR``/``${VAR}`` expanded
    from ``env``."""
    commands: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        commands[name.strip()] = [_expand(word, env) for word in shlex.split(command.strip())]
    return commands


def _expand(word: str, env: dict[str, str]) -> str:
    import re

    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), word)


try:  # looked up here, not in the forked child
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None


def _parent_death_signal() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM when the supervisor dies (no orphaned services)."""
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


@dataclass
class Process:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None
    reader: threading.Thread | None = None
    stopped: bool = False
    extra: dict = field(default_factory=dict)


class Supervisor:
    def __init__(self, commands: dict[str, list[str]], *, env: dict[str, str], cwd: Path,
                 stop_order: list[list[str]] | None = None,
                 wait_for_port: dict[str, int] | None = None,
                 stop_timeout: float = 30.0, stable_seconds: float = 60.0,
                 max_backoff: float = 30.0, out=None) -> None:
        self.processes = {name: Process(name, argv) for name, argv in commands.items()}
        self.env = env
        self.cwd = cwd
        names = list(commands)
        self.stop_order = [[n for n in group if n in commands] for group in
                           (stop_order or [list(reversed(names))])]
        missing = [n for n in names if not any(n in g for g in self.stop_order)]
        if missing:
            self.stop_order.insert(0, missing)
        self.wait_for_port = wait_for_port or {}
        self.stop_timeout = stop_timeout
        self.stable_seconds = stable_seconds
        self.max_backoff = max_backoff
        self.out = out or sys.stdout
        self.width = max(len(n) for n in [*names, "supervisor"])
        self.colour = hasattr(self.out, "isatty") and self.out.isatty() \
            and not os.environ.get("NO_COLOR")
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._signals = 0
        self.killed = False

    # output ------------------------------------------------------------------------------
    def _prefix(self, name: str) -> str:
        label = f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} |"
        if not self.colour:
            return label
        index = list(self.processes).index(name) if name in self.processes else -1
        code = COLOURS[index % len(COLOURS)] if index >= 0 else "1"
        return f"\033[{code}m{label}\033[0m"

    def say(self, name: str, text: str) -> None:
        with self._lock:
            self.out.write(f"{self._prefix(name)} {text}\n")
            self.out.flush()

    def log(self, text: str) -> None:
        self.say("supervisor", text)

    def _pump(self, process: Process, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.say(process.name, raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    # processes ---------------------------------------------------------------------------
    def _start(self, process: Process) -> None:
        process.proc = subprocess.Popen(
            process.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_parent_death_signal if _prctl is not None else None)
        process.started_at = time.monotonic()
        process.restart_at = None
        process.reader = threading.Thread(target=self._pump, args=(process, process.proc.stdout),
                                          daemon=True, name=f"out-{process.name}")
        process.reader.start()
        self.log(f"started {process.name} (pid {process.proc.pid}): {' '.join(process.argv)}")
        port = self.wait_for_port.get(process.name)
        if port:
            self._await_port(process, port)

    def _await_port(self, process: Process, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop_requested.is_set():
            if process.proc is None or process.proc.poll() is not None:
                return
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.log(f"{process.name} does not accept connections on port {port} yet; going on")

    @staticmethod
    def _describe(code: int) -> str:
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def _check(self) -> None:
        now = time.monotonic()
        for process in self.processes.values():
            if process.proc is None:
                if process.restart_at is not None and now >= process.restart_at:
                    process.restarts += 1
                    self.log(f"restarting {process.name} (restart {process.restarts})")
                    self._start(process)
                continue
            code = process.proc.poll()
            if code is None:
                continue
            if process.reader:
                process.reader.join(2)
            ran = now - process.started_at
            process.proc = None
            if ran >= self.stable_seconds:
                process.backoff = 0.0
            process.backoff = min(self.max_backoff, process.backoff * 2 if process.backoff else 1.0)
            process.restart_at = now + process.backoff
            self.log(f"{process.name} {self._describe(code)} after {ran:.1f} s; "
                     f"restarting in {process.backoff:.0f} s")

    # stopping ----------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame) -> None:
        self._signals += 1
        if self._signals == 1:
            self._stop_requested.set()
            return
        # a second Ctrl-C: no more waiting
        self.killed = True
        for process in self.processes.values():
            if process.proc and process.proc.poll() is None:
                try:
                    process.proc.kill()
                except ProcessLookupError:
                    pass

    def _stop_group(self, names: list[str]) -> None:
        running = [self.processes[n] for n in names
                   if self.processes[n].proc and self.processes[n].proc.poll() is None]
        if not running:
            return
        self.log(f"stopping {', '.join(p.name for p in running)}")
        for process in running:
            try:
                process.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.stop_timeout
        for process in running:
            try:
                process.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{process.name} did not stop within {self.stop_timeout:.0f} s: killed")
                self.killed = True
                process.proc.kill()
                process.proc.wait()
            if process.reader:
                process.reader.join(5)
            code = process.proc.returncode
            # uvicorn re-raises the SIGTERM it handled: that is a clean stop too
            self.log(f"{process.name} " + ("stopped" if code in (0, -signal.SIGTERM)
                                           else self._describe(code)))

    def stop(self) -> None:
        for process in self.processes.values():
            process.restart_at = None
        for group in self.stop_order:
            self._stop_group(group)

    # main --------------------------------------------------------------------------------
    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for process in self.processes.values():
                if self._stop_requested.is_set():
                    break
                self._start(process)
            while not self._stop_requested.wait(0.2):
                self._check()
            self.log("stopping everything (services first, nats-server last)")
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.log("all processes stopped")
        return 1 if self.killed else 0

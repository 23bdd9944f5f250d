"""The local stack: every service the tests and the drill use, started by one command, no Docker.

``python -m dev.stack up|down|status`` (``make stack-up``/``stack-down``/``stack-status``) or the
Python API :class:`Stack`. Services (names as in :data:`dev.stack_services.SERVICE_NAMES`):
``blob-dc04``/``blob-dc06`` (Azurite, one process per region, data on disk under ``.local/``),
``redis-dc04`` and ``redis-dc06`` (two independent, writable instances, as Azure Managed Redis is
deployed per region; :mod:`dev.redis_geo` models active geo-replication between them where a run
needs it), ``cosmos`` (``@vercel/cosmosdb-server --no-ssl``, patched to answer 404 for a missing id;
:mod:`dev.cosmos_proxy` models its regions) and ``servicebus``/``servicebus-dc06`` (``python -m
dev.servicebus``: DC04's and DC06's namespaces, unpaired). Ports are ``BRIDGE_STACK_PORT_BASE``
(default 17000) + offset.

``up`` is idempotent (a running service is reused), writes ``.local/stack.env`` and PID files under
``.local/pids/``, and fails naming the service and the tail of ``.local/logs/<name>.log`` when one does
not come up within ``BRIDGE_STACK_TIMEOUT_S`` (default 30 s). See docs/local-stack.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dev.stack_process import launch, log_tail, pid_alive, port_free, read_int, runs, terminate
from dev.stack_services import SERVICE_NAMES, ServiceSpec, specs, stack_env
from shared.errors import BridgeError

DEFAULT_PORT_BASE = 17000
DEFAULT_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 20
ROOT = Path(__file__).resolve().parent.parent


class StackError(BridgeError):
    """A service of the local stack could not be started (``service`` names it, ``log_tail`` says why)."""

    def __init__(self, service: str, detail: str, log_tail: str = "") -> None:
        message = f"local stack: {service}: {detail}"
        if log_tail:
            message += f"\n--- last {LOG_TAIL_LINES} lines of its log ---\n{log_tail}"
        super().__init__(message)
        self.service = service
        self.log_tail = log_tail


def default_port_base() -> int:
    return int(os.environ.get("BRIDGE_STACK_PORT_BASE", DEFAULT_PORT_BASE))


def free_port_base(start: int = 17100, step: int = 10, attempts: int = 50) -> int:
    """A port base from ``start`` up whose ports (one per service) are free now (a private stack)."""
    for base in range(start, start + step * attempts, step):
        if all(port_free(base + offset) for offset in range(len(SERVICE_NAMES))):
            return base
    raise StackError("stack", f"no free block of {len(SERVICE_NAMES)} ports from {start}")


def servicebus_available(root: Path) -> bool:
    """The Service Bus endpoint is part of the stack once its package exists."""
    return (root / "dev" / "servicebus" / "__main__.py").is_file()


class Stack:
    """The local services rooted at ``root`` (the repository), listening from ``port_base`` up."""

    def __init__(
        self, root: Path = ROOT, port_base: int = DEFAULT_PORT_BASE, state_dir: Path | None = None
    ) -> None:
        """``state_dir`` (default ``root/.local``) holds data, logs, PIDs and ``stack.env``; a second
        stack (other ``port_base``) needs its own, e.g. a test's ``tmp_path``."""
        self.root = root
        self.port_base = port_base
        self.local = state_dir or root / ".local"
        self.env_file = self.local / "stack.env"
        self.timeout_s = float(os.environ.get("BRIDGE_STACK_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        self.specs = specs(root, port_base, self.local)
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        #: Seconds from launch until each service (started by the last call) answered.
        self.ready_s: dict[str, float] = {}

    # -- public API -------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The services this stack runs (Service Bus only once ``dev/servicebus`` exists)."""
        if servicebus_available(self.root):
            return SERVICE_NAMES
        return tuple(name for name in SERVICE_NAMES if not name.startswith("servicebus"))

    def up(self) -> dict[str, str]:
        """Start every service not already running, wait until each answers, write ``stack.env``."""
        with self._locked():
            self._up_locked()
            return self._write_env()

    def down(self) -> None:
        """Stop every service by PID (SIGTERM, then SIGKILL after a grace period)."""
        with self._locked():
            for name in reversed(SERVICE_NAMES):
                self._stop(name)

    def status(self) -> dict[str, bool]:
        """Whether each service answers its protocol probe."""
        return {name: self.specs[name].probe(self.specs[name].port) for name in self.names}

    def stop_service(self, name: str) -> None:
        """Stop one service (fault injection); its on-disk data (Azurite) stays."""
        with self._locked():
            self._stop(self._spec(name).name)

    def start_service(self, name: str) -> None:
        """Start one service again (or reuse it if it runs) and wait until it answers."""
        with self._locked():
            self._start_and_wait([self._spec(name)])
            self._write_env()

    def env(self) -> dict[str, str]:
        """The key/value pairs of ``.local/stack.env`` (empty if ``up`` never ran)."""
        if not self.env_file.is_file():
            return {}
        pairs = (line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line)
        return {key: value for key, value in pairs}

    def port(self, name: str) -> int:
        return self._spec(name).port

    def pid(self, name: str) -> int | None:
        """The PID of ``name`` if its PID file names a live process of that service."""
        path = self._pid_file(name)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid, self.specs[name]) else None

    # -- sessions (tests/conftest.py): the last session out stops what sessions started -------------

    def join_session(self, session: str) -> dict[str, str]:
        """``up`` on behalf of a test session; remember which services it had to start."""
        with self._locked():
            started = self._up_locked()
            sessions = self.local / "sessions"
            sessions.mkdir(parents=True, exist_ok=True)
            (sessions / session).write_text(str(os.getpid()))
            if started:
                autostop = sessions / "autostop"
                names = set(autostop.read_text().split()) if autostop.exists() else set()
                autostop.write_text("\n".join(sorted(names | set(started))) + "\n")
            return self._write_env()

    def leave_session(self, session: str) -> list[str]:
        """Forget ``session``; if no live session remains, stop the services sessions started."""
        with self._locked():
            sessions = self.local / "sessions"
            (sessions / session).unlink(missing_ok=True)
            for lease in sessions.glob("*"):
                if lease.name != "autostop" and not pid_alive(read_int(lease)):
                    lease.unlink(missing_ok=True)
            if any(lease.name != "autostop" for lease in sessions.glob("*")):
                return []
            autostop = sessions / "autostop"
            names = autostop.read_text().split() if autostop.exists() else []
            for name in reversed(SERVICE_NAMES):
                if name in names:
                    self._stop(name)
            autostop.unlink(missing_ok=True)
            return names

    # -- internals ----------------------------------------------------------------------------------

    def _spec(self, name: str) -> ServiceSpec:
        if name not in self.specs:
            raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICE_NAMES)}")
        return self.specs[name]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise stack changes across processes (parallel test sessions share one stack)."""
        for sub in ("pids", "logs"):
            (self.local / sub).mkdir(parents=True, exist_ok=True)
        with open(self.local / "stack.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._refuse_other_stack()
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _refuse_other_stack(self) -> None:
        """One state directory serves one port base: never adopt, clobber or orphan another's PIDs."""
        other = self.env().get("STACK_BLOB_PORT_DC04")
        if other is None or int(other) == self.port_base:
            return
        live = [path.stem for path in (self.local / "pids").glob("*.pid") if pid_alive(read_int(path))]
        if live:
            raise StackError(
                "stack",
                f"{self.local} belongs to a running stack on port base {other} ({', '.join(sorted(live))}); "
                "stop it with that BRIDGE_STACK_PORT_BASE first, or give this stack its own state_dir",
            )

    def _up_locked(self) -> list[str]:
        if not servicebus_available(self.root):
            print(
                "warning: dev/servicebus/__main__.py does not exist yet: the stack runs without "
                "the Service Bus endpoint (STACK_SERVICEBUS points at a closed port)",
                file=sys.stderr,
            )
        return self._start_and_wait([self.specs[name] for name in self.names])

    def _start_and_wait(self, services: list[ServiceSpec]) -> list[str]:
        """Start those not running, all at once, and wait for all; return the names started.

        On failure, the services this call started are stopped again (nothing is left half-up).
        """
        started: dict[str, subprocess.Popen[bytes]] = {}
        began = time.monotonic()
        try:
            for spec in services:
                if self.pid(spec.name) is not None:
                    continue
                if spec.probe(spec.port):
                    raise StackError(
                        spec.name,
                        f"port {spec.port} is taken by a process this stack did not start (stop it, or "
                        "choose other ports with BRIDGE_STACK_PORT_BASE)",
                    )
                if spec.name == "cosmos":
                    self._patch_cosmos()
                started[spec.name] = self._launch(spec)
            self._wait_all(services, started, began)
        except BaseException:
            for name in started:
                self._stop(name)
            raise
        return list(started)

    def _patch_cosmos(self) -> None:
        script = self.root / "scripts" / "patch-cosmosdb-server.py"
        node_modules = str(self.root / "node_modules")
        result = subprocess.run(
            [sys.executable, str(script), node_modules], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError("cosmos", "patch step failed", (result.stdout + result.stderr).strip())

    def _launch(self, spec: ServiceSpec) -> subprocess.Popen[bytes]:
        if spec.name.startswith(("blob-", "redis-")):
            (self.local / spec.name).mkdir(parents=True, exist_ok=True)
        try:
            process = launch(spec.command, self.root, self._log_path(spec.name))
        except OSError as error:
            raise StackError(spec.name, f"cannot start {spec.command[0]}: {error}") from error
        self._children[process.pid] = process
        self._pid_file(spec.name).write_text(f"{process.pid}\n")
        return process

    def _wait_all(
        self, services: list[ServiceSpec], started: dict[str, subprocess.Popen[bytes]], began: float
    ) -> None:
        """Poll every service until it answers; fail on the first that exits or outlasts the timeout."""
        pending = {spec.name: spec for spec in services}
        deadline = time.monotonic() + self.timeout_s
        while pending:
            for name, spec in list(pending.items()):
                if spec.probe(spec.port):
                    del pending[name]
                    if name in started:
                        self.ready_s[name] = time.monotonic() - began
                    continue
                process = started.get(name)
                if process is not None and process.poll() is not None:
                    raise StackError(name, f"exited with status {process.returncode}", self._log_tail(spec))
            if pending and time.monotonic() > deadline:
                spec = next(iter(pending.values()))
                detail = f"did not answer on port {spec.port} within {self.timeout_s:g} s"
                raise StackError(spec.name, detail, self._log_tail(spec))
            time.sleep(0.05)

    def _stop(self, name: str) -> None:
        spec = self.specs[name]
        pid = self.pid(name)
        self._pid_file(name).unlink(missing_ok=True)
        if pid is not None:
            terminate(pid, lambda: self._alive(pid, spec))
            self._children.pop(pid, None)

    def _alive(self, pid: int, spec: ServiceSpec) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        return runs(pid, spec.marker)

    def _pid_file(self, name: str) -> Path:
        return self.local / "pids" / f"{name}.pid"

    def _log_path(self, name: str) -> Path:
        return self.local / "logs" / f"{name}.log"

    def _log_tail(self, spec: ServiceSpec) -> str:
        return log_tail(self._log_path(spec.name), LOG_TAIL_LINES)

    def _write_env(self) -> dict[str, str]:
        env = stack_env(self.port_base)
        tmp = self.env_file.with_suffix(".tmp")
        tmp.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        tmp.replace(self.env_file)
        return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.stack", description="The local service stack.")
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    stack = Stack(ROOT, default_port_base())
    began = time.monotonic()
    try:
        if args.command == "up":
            stack.up()
        elif args.command == "down":
            stack.down()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command == "up":
        print(f"stack up in {time.monotonic() - began:.1f} s; environment in {stack.env_file}")
        if stack.ready_s:
            print("started: " + ", ".join(f"{name} {s:.1f} s" for name, s in stack.ready_s.items()))
    elif args.command == "down":
        print("stack down")
    answers = stack.status()
    for name in SERVICE_NAMES:
        state = "up" if answers.get(name) else ("absent" if name not in answers else "down")
        pid = stack.pid(name)
        print(f"{name:<11} {state:<6} 127.0.0.1:{stack.port(name)}" + (f"  pid {pid}" if pid else ""))
    return 0 if args.command != "status" or all(answers.values()) else 3


if __name__ == "__main__":
    sys.exit(main())

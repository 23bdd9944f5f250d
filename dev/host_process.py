"""The life of ``make host``: run both regions until a signal, stop them, say what is still running.

``run`` installs handlers for SIGINT (Ctrl-C), SIGTERM (``kill``, a job control stop, a supervisor)
and SIGHUP (the terminal closed) *before* it starts anything; a handler only sets an event, and
``run`` stops both region processes (SIGTERM to each region's process group, SIGKILL after a grace
period) on every way out: a signal, a region that fails to start, an exception. Handlers, not a
blocked-signal ``sigwait``: a blocked mask is inherited across ``exec``, so region processes started
under it would ignore the SIGTERM that stops them.

PID files under ``<state>/pids/`` (``host.pid``, ``DC04.pid``, ``DC06.pid``) let ``stop`` (``make
host-stop``) end a host that runs elsewhere (a background job, another terminal): it signals the host
process, which stops its regions; region processes left by a host that was killed with SIGKILL are
stopped directly. A PID is acted on only while its command line still names the process it was
written for (``dev.host`` / ``dev.region``), never a recycled PID.

The local stack is left running on purpose: it holds the statements' records (the Cosmos server keeps
them in memory), the WAL and the queue, so a host restarted on it continues where it stopped, and
tests and ``make status`` share it. ``make stack-down`` stops it; ``make stop`` stops both.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from dev.stack_process import read_int, runs, terminate
from shared.errors import BridgeError
from shared.model import REGIONS

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HOST_MARKER = "dev.host"
REGION_MARKER = "dev.region"


def pid_dir(state: Path) -> Path:
    return state / "pids"


def write_pid(state: Path, name: str, pid: int) -> None:
    pid_dir(state).mkdir(parents=True, exist_ok=True)
    (pid_dir(state) / f"{name}.pid").write_text(f"{pid}\n")


def forget_pid(state: Path, name: str) -> None:
    (pid_dir(state) / f"{name}.pid").unlink(missing_ok=True)


def still_running(state: Path) -> dict[str, int]:
    """Region processes (name -> PID) whose PID file names a live ``dev.region`` process."""
    found = {}
    for region in REGIONS:
        pid = read_int(pid_dir(state) / f"{region}.pid")
        if pid and runs(pid, REGION_MARKER):
            found[region] = pid
    return found


class StopRequested:
    """Set by the first of :data:`STOP_SIGNALS`; remembers which one."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = self.signal_name or signal.Signals(signum).name
        self.event.set()


def run(
    state: Path,
    start_regions: Callable[[StopRequested], Mapping[str, int]],
    stop_regions: Callable[[], None],
    say: Callable[[str], None] = print,
) -> int:
    """Start the regions with ``start_regions`` (it returns name -> PID and checks ``stop`` between
    regions), wait for a stop signal, then ``stop_regions``; always report what is left running."""
    running = read_int(pid_dir(state) / "host.pid")
    if running and running != os.getpid() and runs(running, HOST_MARKER):
        say(f"error: a host is already running (pid {running}); `make host-stop` stops it")
        return 1
    stop = StopRequested()
    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    write_pid(state, "host", os.getpid())
    code = 0
    try:
        started = start_regions(stop)
        if not stop.event.is_set():
            pids = ", ".join(f"{name} pid {pid}" for name, pid in started.items())
            say(f"both regions up ({pids}); Ctrl-C, kill {os.getpid()} or `make host-stop` stops them")
            stop.event.wait()
    except (RuntimeError, BridgeError) as error:  # a region or a stack service did not come up
        say(f"error: {error}")
        code = 1
    finally:
        stop_regions()
        forget_pid(state, "host")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say(_stopped_report(state, stop.signal_name))
    return code


def _stopped_report(state: Path, signal_name: str | None) -> str:
    left = still_running(state)
    cause = f" on {signal_name}" if signal_name else ""
    regions = (
        f"regions NOT stopped: {', '.join(f'{n} pid {p}' for n, p in left.items())}; run `make host-stop`"
        if left
        else f"both regions stopped{cause}"
    )
    return (
        f"{regions}. Still running by design: the local stack (Azurite, Redis, Cosmos, Service Bus; "
        "its records and queue kept for the next `make host`); `make stack-down` stops it."
    )


def stop(state: Path, say: Callable[[str], None] = print, grace_s: float = 15.0) -> int:
    """``make host-stop``: stop a running ``dev.host run`` and any region process it left; exit 0
    when none is left, 1 otherwise."""
    host_pid = read_int(pid_dir(state) / "host.pid")
    if host_pid and runs(host_pid, HOST_MARKER):
        say(f"stopping the host (pid {host_pid}); it stops its regions")
        terminate(host_pid, lambda: runs(host_pid, HOST_MARKER), grace_s=grace_s)
    forget_pid(state, "host")
    for region, pid in still_running(state).items():
        say(f"stopping {region} (pid {pid}), left by a host that did not stop it")
        terminate(pid, functools.partial(runs, pid, REGION_MARKER), grace_s=grace_s)
    left = still_running(state)
    for region in REGIONS:
        if region not in left:
            forget_pid(state, region)
    if left:
        say(f"still running: {left}")
        return 1
    say("no region process is running; the local stack is untouched (`make stack-down` stops it)")
    return 0

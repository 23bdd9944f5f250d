"""Process plumbing of the local stack: launch detached, tell our service from a recycled PID, stop.

POSIX only (``fcntl``, sessions, signals); ``/proc`` is used where it exists (Linux) to check that a
PID file still names the service it was written for, and trusted blindly elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

STOP_GRACE_S = 5.0


def launch(command: list[str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, stdout and stderr appended to ``log_path``."""
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal's Ctrl-C; stopped by PID
        )


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def runs(pid: int, marker: str) -> bool:
    """True if ``pid`` is alive and its command line contains ``marker`` (not a recycled PID)."""
    if not pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc (macOS): trust the PID file
    try:
        return marker in cmdline.read_text(errors="replace")
    except OSError:
        return False


def terminate(pid: int, alive: Callable[[], bool], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL if ``alive()`` still holds after ``grace_s``; wait (bounded) for the end."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not alive():
                return
            time.sleep(0.05)


def read_int(path: Path) -> int:
    """The integer in ``path`` (a PID file), or 0."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

"""``make host`` stops cleanly: ``python -m dev.host run`` as a real process, both regions started on
the local stack, then SIGTERM or SIGINT (Ctrl-C) to it; and ``python -m dev.host stop`` ends the
regions of a host that was killed outright (SIGKILL, no chance to clean up).

Region processes are found independently of the host's PID files: every process whose command line
is ``-m dev.region --http-port <one of this test's ports>`` (``/proc``, Linux).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.drill.harness import _free_pair
from dev.stack import ROOT, Stack
from dev.stack_process import pid_alive

pytestmark = pytest.mark.integration
START_TIMEOUT_S = 120


def region_pids(http_base: int) -> set[int]:
    """PIDs of live ``dev.region`` processes serving ``http_base`` or ``http_base + 1``."""
    ports = {str(http_base), str(http_base + 1)}
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        serves = "--http-port" in argv and argv[argv.index("--http-port") + 1] in ports
        if "dev.region" in argv and serves and pid_alive(int(entry.name)):
            found.add(int(entry.name))
    return found


class HostProcess:
    """``python -m dev.host --state STATE run`` with its output collected line by line."""

    def __init__(self, state: Path, http_base: int) -> None:
        env = {**os.environ, "BRIDGE_HOST_HTTP_BASE": str(http_base)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dev.host", "--state", str(state), "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from dev.host run; output: {self.lines}")

    def finish(self, timeout_s: float = 60) -> int:
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return code


@pytest.fixture
def host_ports(local_stack: Stack) -> Iterator[int]:
    """A free pair of region ports; any region process still on them afterwards is killed."""
    http_base = _free_pair(18400)
    yield http_base
    for pid in region_pids(http_base):
        os.killpg(pid, signal.SIGKILL)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_stops_both_regions_and_says_what_still_runs(
    stop_signal: signal.Signals, host_ports: int, tmp_path: Path
) -> None:
    host = HostProcess(tmp_path / "host", host_ports)
    host.wait_for("both regions up")
    regions = region_pids(host_ports)
    assert len(regions) == 2, host.lines

    if stop_signal is signal.SIGTERM:  # a second host on the same state refuses to start
        second = HostProcess(tmp_path / "host", host_ports)
        assert second.finish() == 1
        assert any("a host is already running" in line for line in second.lines), second.lines
        assert region_pids(host_ports) == regions

    host.process.send_signal(stop_signal)
    assert host.finish() == 0, host.lines

    assert not [pid for pid in regions if pid_alive(pid)], f"left running: {regions}; {host.lines}"
    assert region_pids(host_ports) == set()
    assert f"both regions stopped on {stop_signal.name}" in host.lines[-1]
    assert "the local stack" in host.lines[-1] and "make stack-down" in host.lines[-1]
    assert not list((tmp_path / "host" / "pids").glob("*.pid"))


def test_host_stop_ends_the_regions_of_a_killed_host(host_ports: int, tmp_path: Path) -> None:
    state = tmp_path / "host"
    host = HostProcess(state, host_ports)
    host.wait_for("both regions up")
    regions = region_pids(host_ports)
    assert len(regions) == 2, host.lines
    host.process.kill()  # SIGKILL: no handler runs, the regions are orphaned
    host.finish()
    assert region_pids(host_ports) == regions

    stop = subprocess.run(
        [sys.executable, "-m", "dev.host", "--state", str(state), "stop"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert region_pids(host_ports) == set()
    assert "stopping DC04" in stop.stdout and "stopping DC06" in stop.stdout
    assert "no region process is running" in stop.stdout

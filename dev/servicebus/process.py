"""Start and stop the local Service Bus endpoint as a child process (tests, the stack, the drill)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

from dev.servicebus.config import QueueConfig

READY_TIMEOUT_S = 20.0


def fetch_stats(stats_port: int, timeout_s: float = 5.0) -> dict[str, object]:
    """The ``--stats-port`` JSON of a running endpoint: ``{"uptime_s": ..., "queues": {name: {...}}}``.

    Per queue: depth (``active``, ``locked``, ``deferred``, ``scheduled``, ``total``, ``sessions_locked``),
    counters since start (``send_operations``, ``sends``, ``duplicates``, ``deliveries``, ``settlements``,
    ``completes``, ``abandons``, ``dead_letters``, ``defers``, ``expired_locks``, ``renewals``,
    ``management``) and the same for its dead-letter queue under ``dead_letter``.
    """
    with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/", timeout=timeout_s) as response:
        result: dict[str, object] = json.loads(response.read())
    return result


class EndpointProcess:
    """``python -m dev.servicebus`` on a free loopback port; ``connection_string`` once started.

    ``queues`` are written to a JSON config in a temporary directory; ``data_dir`` turns on the
    journal. :meth:`restart` stops (SIGTERM, or SIGKILL with ``kill=True``) and starts it again on
    the same port and data directory.
    """

    def __init__(self, queues: list[QueueConfig] | None = None, data_dir: str | Path | None = None) -> None:
        self.queues = queues or [QueueConfig()]
        self.data_dir = Path(data_dir) if data_dir else None
        self.port = 0
        self.stats_port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="local-servicebus-")

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=local;SharedAccessKey=local;"
            "UseDevelopmentEmulator=true"
        )

    def start(self) -> EndpointProcess:
        config = Path(self._tmp.name) / "queues.json"
        config.write_text(json.dumps({"queues": [asdict(q) for q in self.queues]}), encoding="utf-8")
        args = [sys.executable, "-m", "dev.servicebus", "--port", str(self.port), "--config", str(config)]
        args += ["--stats-port", str(self.stats_port)]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=root, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().split()  # blocks until READY or exit
        if len(line) < 2 or line[0] != "READY":
            self._proc.kill()
            raise RuntimeError(f"local Service Bus endpoint did not start (exit {self._proc.wait()})")
        self.port = int(line[1])
        self.stats_port = int(line[3]) if len(line) >= 4 else 0
        return self

    def stop(self, kill: bool = False) -> int:
        if self._proc is None:
            return 0
        self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            code = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        self._proc = None
        return code

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def stats(self) -> dict[str, object]:
        """Queue depths and operation counts (see :func:`fetch_stats`)."""
        return fetch_stats(self.stats_port)

    def __enter__(self) -> EndpointProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()

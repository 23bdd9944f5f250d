"""The two-region local host: DC04 and DC06 as two OS processes on the local stack.

``python -m dev.host run``       start the stack and both regions; Ctrl-C stops them
``python -m dev.host status``    what the active region's ``GET /api/status`` answers
``python -m dev.host failover --to DC06 --reason "..." [--force]``
``python -m dev.host drop FILE.xml ...``   put camt.053 files into the MQ inbox
``python -m dev.host settings DC04``       a local.settings.json for ``func start`` on the stack

MQ is a shared folder inbox (``.local/host/inbox``), MessageWay a shared folder outbox
(``.local/host/outbox``). Each region uses its OWN Service Bus endpoint (namespace) and its OWN Redis
(``run`` links the two instances with :class:`dev.redis_geo.GeoReplicator`, the local model of Azure
Managed Redis active geo-replication), the DC04/DC06 Azurite accounts as the two WAL copies and the
Cosmos server. The drill (``dev.drill.topology``) gives each region more of its own through
``region_settings``: its Cosmos region, a cuttable road to the other region's Blob account.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dev.redis_geo import GeoReplicator
from dev.stack import ROOT, Stack
from shared.adapters.folder_mq import put_message
from shared.model import REGIONS

#: Local defaults that trade safety margins for a quick drill (docs/failover.md gives Azure values).
FAST_SETTINGS = {
    "GATE_CACHE_TTL_S": "1",
    "HEARTBEAT_TTL_S": "3",
    "WATCHDOG_MISSES": "3",
    "LEASE_S": "6",
    "CLOCK_SKEW_S": "1",
    "LEASE_GUARD_S": "1.5",
    "CLAIM_LEASE_S": "15",
    "QUEUE_BUILDER_DRAIN_S": "2",
    "QUEUE_BUILDER_INTERVAL_S": "0.5",
    "WATCHDOG_INTERVAL_S": "1",
    "REPLAY_SLICE_S": "0.5",
    "COSMOS_WRITE_HOLD_S": "240",  # the local consumer renews session locks for 300 s
    "QUEUE_BUILDER_STALE_S": "30",
    "DEFAULT_SENDER_BIC": "BANKDEFFXXX",
    "DEFAULT_RECEIVER_BIC": "BANKUS33XXX",
}


@dataclass
class LocalHost:
    """Both regions' processes; the drill drives this API."""

    stack_env: Mapping[str, str]
    state: Path = ROOT / ".local" / "host"
    http_base: int = 17200
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: Per-region settings over the stack's defaults (the drill's topology: own endpoints, roads).
    region_settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for folder in ("inbox", "outbox", "switches", "logs"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
        key_file = self.state / "function.key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(24))
            key_file.chmod(0o600)
        self.function_key = key_file.read_text().strip()

    @property
    def inbox(self) -> Path:
        return self.state / "inbox"

    @property
    def outbox(self) -> Path:
        return self.state / "outbox"

    def port(self, region: str) -> int:
        return self.http_base + REGIONS.index(region)

    def region_env(self, region: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every setting of ``region``'s process, as the Functions host would pass them."""
        env = {
            "BRIDGE_REGION": region,
            "BRIDGE_ROLE": "active" if region == REGIONS[0] else "passive",
            "ServiceBusConnection": self.stack_env.get(
                f"STACK_SERVICEBUS_{region}", self.stack_env["STACK_SERVICEBUS"]
            ),
            "ServiceBusQueueName": "statements",
            "WalStorageDC04": self.stack_env["STACK_BLOB_DC04"],
            "WalStorageDC06": self.stack_env["STACK_BLOB_DC06"],
            "CosmosConnection": self.stack_env["STACK_COSMOS"],
            "RedisConnection": self.stack_env[f"STACK_REDIS_{region}"],
            "MQ_MODE": "folder",
            "MQ_INBOX_DIR": str(self.inbox),
            "MESSAGEWAY_MODE": "folder",
            "MESSAGEWAY_OUTBOX_DIR": str(self.outbox),
            "CONSUMPTION_SWITCH_DIR": str(self.state / "switches"),
            "LOCAL_FUNCTION_KEY": self.function_key,
            **FAST_SETTINGS,
            **self.region_settings.get(region, {}),
            **self.overrides,
            **(extra or {}),
        }
        return env

    def start_region(
        self, region: str, extra: Mapping[str, str] | None = None, timeout_s: float = 60
    ) -> None:
        """Start ``region``'s process and wait until its routes answer."""
        env = {**os.environ, **self.region_env(region, extra)}
        log = (self.state / "logs" / f"{region}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "dev.region", "--http-port", str(self.port(region))],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[region] = process
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{region} exited with {process.returncode}; see {log.name}")
            try:
                self.call(region, "GET", "status")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{region} did not answer within {timeout_s} s; see {log.name}")

    def kill_region(self, region: str) -> None:
        """SIGKILL: the region dies mid-stream, with whatever it had in flight."""
        process = self.processes.pop(region, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in list(self.processes.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    def call(
        self, region: str, method: str, route: str, body: Mapping[str, object] | None = None
    ) -> tuple[int, dict]:  # type: ignore[type-arg]
        """Call a Watchdog route of ``region`` with the function key."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port(region)}/api/{route}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"x-functions-key": self.function_key, "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def drop(self, body: bytes, message_id: str | None = None) -> str:
        """Put one statement on the MQ inbox; returns its message id."""
        message_id = message_id or secrets.token_hex(24)
        put_message(self.inbox, message_id, body)
        return message_id


def _print(status: int, body: Mapping[str, object]) -> int:
    print(json.dumps(body, indent=2, default=str))
    return 0 if status < 400 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.host", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the stack and both regions")
    commands.add_parser("status", help="GET /api/status of a running region")
    failover = commands.add_parser("failover", help="POST /api/failover")
    failover.add_argument("--to", required=True, choices=REGIONS)
    failover.add_argument("--reason", required=True)
    failover.add_argument("--force", action="store_true")
    drop = commands.add_parser("drop", help="put camt.053 files into the MQ inbox")
    drop.add_argument("files", nargs="+", type=Path)
    settings = commands.add_parser("settings", help="print a local.settings.json for func start")
    settings.add_argument("region", choices=REGIONS)
    args = parser.parse_args(argv)

    stack = Stack()
    if args.command == "run":
        host = LocalHost(stack.up())
        geo = GeoReplicator({r: stack.port(f"redis-{r.lower()}") for r in REGIONS}).start()
        try:
            for region in REGIONS:
                host.start_region(region)
            print(f"both regions up; inbox {host.inbox}, outbox {host.outbox}; Ctrl-C stops them", flush=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            host.stop()
            geo.stop()
        return 0
    host = LocalHost(stack.env())
    if args.command == "drop":
        for path in args.files:
            print(host.drop(path.read_bytes()), path)
        return 0
    if args.command == "settings":
        values = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": stack.env()["STACK_BLOB_DC04"]}
        print(
            json.dumps({"IsEncrypted": False, "Values": {**values, **host.region_env(args.region)}}, indent=2)
        )
        return 0
    for region in REGIONS:  # ask whichever region answers
        try:
            if args.command == "status":
                return _print(*host.call(region, "GET", "status"))
            body = {"target": args.to, "reason": args.reason, "force": args.force}
            return _print(*host.call(region, "POST", "failover", body))
        except OSError:
            continue
    print("error: no region answers; start them with `make host`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

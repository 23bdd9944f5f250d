"""The two-region local host: DC04 and DC06 as two OS processes on the local stack.

``python -m dev.host run [--runner-processes N] [--per-function]``  start the stack and both regions
                                 (each region's runner in N processes; with ``--per-function`` none of
                                 them the region process); Ctrl-C or SIGTERM stops them
``python -m dev.host stop``      stop a running ``run`` (and any region it left); the stack stays
``python -m dev.host status [--json]``  both regions' ``GET /api/status``: a summary (:mod:`dev.status`)
``python -m dev.host failover --to DC06 --reason "..." [--force]``
``python -m dev.host drop FILE.xml ...``   put camt.053 files into the MQ inbox
``python -m dev.host settings DC04``       a local.settings.json for ``func start`` on the stack (the
                                           deployed app's settings only: see the README)

MQ is a shared folder inbox (``.local/host/inbox``), MessageWay a shared folder outbox
(``.local/host/outbox``). Each region uses its OWN Service Bus endpoint (namespace) and its OWN Redis
(``run`` links the two instances with :class:`dev.redis_geo.GeoReplicator`, the local model of Azure
Managed Redis active geo-replication), the DC04/DC06 Azurite accounts as the two WAL copies and the
Cosmos server. The drill (``dev.drill.topology``) gives each region more of its own through
``region_settings``: its Cosmos region, a cuttable road to the other region's Blob account.

Ports: the stack's from ``BRIDGE_STACK_PORT_BASE`` (default 17000), the regions' routes on
``BRIDGE_HOST_HTTP_BASE`` (default the stack's base + 200: 17200 for DC04, 17201 for DC06). How
``run`` stops, and what it leaves running: :mod:`dev.host_process`.
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

from dev import host_process
from dev import status as dev_status
from dev.adapters.folder_mq import put_message
from dev.http import HOST_STATUS
from dev.redis_geo import GeoReplicator
from dev.settings import DEV_SETTING_NAMES
from dev.stack import ROOT, Stack, default_port_base
from shared.model import REGIONS
from watchdog import cli

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
#: The deployed timing set: infra/dc04.bicepparam and dc06.bicepparam ``tuning`` (the two timers'
#: NCRONTAB schedules as the local intervals), checked by tests/infra/test_failover_timing.py. The
#: drill's ``throughput`` scenario runs both regions with it over FAST_SETTINGS (docs/drill.md,
#: "throughput runs at Azure's timing"): it injects no fault, so it needs no fast failover, and its
#: operations per statement then include the time-based calls Azure would make, not 15 times as many.
#: ``COSMOS_WRITE_HOLD_S`` stays local: it is bound to the local consumer's 300 s lock renewal.
AZURE_TIMING = {
    "GATE_CACHE_TTL_S": "2",
    "HEARTBEAT_TTL_S": "30",
    "WATCHDOG_MISSES": "3",
    "LEASE_S": "60",
    "CLOCK_SKEW_S": "5",
    "LEASE_GUARD_S": "10",
    "CLAIM_LEASE_S": "60",
    "QUEUE_BUILDER_DRAIN_S": "9.5",
    "QUEUE_BUILDER_INTERVAL_S": "10",  # QUEUE_BUILDER_SCHEDULE "*/10 * * * * *"
    "WATCHDOG_INTERVAL_S": "15",  # WATCHDOG_SCHEDULE "*/15 * * * * *"
    "REPLAY_SLICE_S": "5",
    "QUEUE_BUILDER_STALE_S": "60",
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
            "MQ_INBOX_DIR": str(self.inbox),
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
        host_process.write_pid(self.state, region, process.pid)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{region} exited with {process.returncode}; see {log.name}")
            try:
                self.host_status(region)
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
        host_process.forget_pid(self.state, region)

    def stop(self) -> None:
        for process in list(self.processes.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for region in self.processes:
            host_process.forget_pid(self.state, region)
        self.processes.clear()

    def host_status(self, region: str) -> dict[str, object]:
        """``region``'s host readiness (dev/http.py ``HOST_STATUS``: no function runs, no Azure call);
        raises ``OSError`` while it does not answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port(region)}{HOST_STATUS}",
            headers={"x-functions-key": self.function_key},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local host only
            answer: dict[str, object] = json.loads(response.read())
        return answer

    def call(
        self,
        region: str,
        method: str,
        route: str,
        body: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict]:  # type: ignore[type-arg]
        """Call a Watchdog route of ``region`` with the function key (``headers``: e.g. dev/http.py's
        ``x-dev-user``/``x-dev-roles``, the principal the dev host injects)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port(region)}/api/{route}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "x-functions-key": self.function_key,
                "content-type": "application/json",
                **(headers or {}),
            },
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


def _run(
    stack: Stack, state: Path, http_base: int, runner_processes: int | None = None, per_function: bool = False
) -> int:
    """``run``: the stack, then both regions, until a stop signal (:func:`dev.host_process.run`)."""
    hosts: list[LocalHost] = []
    links: list[GeoReplicator] = []
    overrides = {"BRIDGE_RUNNER_PROCESSES": str(runner_processes)} if runner_processes else {}
    if per_function:
        overrides["BRIDGE_PER_FUNCTION"] = "1"

    def start(stop: host_process.StopRequested) -> dict[str, int]:
        hosts.append(LocalHost(stack.up(), state=state, http_base=http_base, overrides=overrides))
        # the local model of Azure Managed Redis active geo-replication between the regions' instances
        links.append(GeoReplicator({r: stack.port(f"redis-{r.lower()}") for r in REGIONS}).start())
        for region in REGIONS:
            if stop.event.is_set():
                break
            hosts[0].start_region(region)
        print(f"inbox {hosts[0].inbox}, outbox {hosts[0].outbox}", flush=True)
        return {region: process.pid for region, process in hosts[0].processes.items()}

    def stop_all() -> None:
        for host in hosts:
            host.stop()
        for link in links:
            link.stop()

    return host_process.run(state, start, stop_all, say=lambda line: print(line, flush=True))


def _print(status: int, body: Mapping[str, object]) -> int:
    print(json.dumps(body, indent=2, default=str))
    return 0 if status < 400 else 1


def _sender(host: LocalHost, region: str, headers: Mapping[str, str]) -> cli.Send:
    def send(method: str, route: str, body: Mapping[str, object] | None) -> tuple[int, object]:
        return host.call(region, method, route, body, headers)

    return send


def _ops(host: LocalHost, args: argparse.Namespace) -> int:
    """``python -m dev.host ops [--as USER --roles R] COMMAND ...``: the desk's CLI on the local host."""
    desk = cli.parser("python -m dev.host ops").parse_args(args.desk)
    headers = {k: v for k, v in (("x-dev-user", args.user), ("x-dev-roles", args.roles)) if v}
    for region in [args.region] if args.region else list(REGIONS):
        try:
            return cli.run(desk, _sender(host, region, headers))
        except OSError:
            continue
    print("error: no region answers; start them with `make host`", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dev.host", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state", type=Path, default=LocalHost.state, help="folders, keys, logs, PID files")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the stack and both regions")
    run.add_argument(
        "--runner-processes",
        type=int,
        help="processes running each region's runner (BRIDGE_RUNNER_PROCESSES; default 1)",
    )
    run.add_argument(
        "--per-function",
        action="store_true",
        help="the runner only in runner-only processes, none beside the QueueBuilder (BRIDGE_PER_FUNCTION=1)",
    )
    commands.add_parser("stop", help="stop a running `run` and its regions; the stack stays")
    status = commands.add_parser("status", help="both regions' GET /api/status, summarised")
    status.add_argument("--json", action="store_true", help="both answers verbatim, as JSON")
    failover = commands.add_parser("failover", help="POST /api/failover")
    failover.add_argument("--to", required=True, choices=REGIONS)
    failover.add_argument("--reason", required=True)
    failover.add_argument("--force", action="store_true")
    drop = commands.add_parser("drop", help="put camt.053 files into the MQ inbox")
    drop.add_argument("files", nargs="+", type=Path)
    ops = commands.add_parser("ops", help="the operations desk (python -m dev.host ops --help)")
    ops.add_argument("--as", dest="user", help="the principal the dev host injects (default dev-operator)")
    ops.add_argument("--roles", help="its app roles, comma-separated (default all three)")
    ops.add_argument("--region", choices=REGIONS, help="the region to ask (default: whichever answers)")
    ops.add_argument("desk", nargs=argparse.REMAINDER, help="a watchdog.cli command and its arguments")
    settings = commands.add_parser("settings", help="print a local.settings.json for func start")
    settings.add_argument("region", choices=REGIONS)
    args = parser.parse_args(argv)

    stack = Stack(port_base=default_port_base())
    http_base = int(os.environ.get("BRIDGE_HOST_HTTP_BASE", stack.port_base + 200))
    if args.command == "stop":
        return host_process.stop(args.state)
    if args.command == "run":
        return _run(stack, args.state, http_base, args.runner_processes, args.per_function)
    host = LocalHost(stack.env(), state=args.state, http_base=http_base)
    if args.command == "drop":
        for path in args.files:
            print(host.drop(path.read_bytes()), path)
        return 0
    if args.command == "settings":
        values = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": stack.env()["STACK_BLOB_DC04"]}
        deployed = {k: v for k, v in host.region_env(args.region).items() if k not in DEV_SETTING_NAMES}
        print(json.dumps({"IsEncrypted": False, "Values": {**values, **deployed}}, indent=2))
        return 0
    if args.command == "ops":
        return _ops(host, args)
    if args.command == "status":
        return dev_status.main(lambda region: host.call(region, "GET", "status"), args.json)
    for region in REGIONS:  # ask whichever region answers
        try:
            body = {"target": args.to, "reason": args.reason, "force": args.force}
            return _print(*host.call(region, "POST", "failover", body))
        except OSError:
            continue
    print("error: no region answers; start them with `make host`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

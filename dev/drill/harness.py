"""The drill's world: a private local stack laid out as deployed, both regions, a producer.

Every run gets fresh, private state so nothing from an earlier run (or from tests running meanwhile on
the shared stack) pollutes its counts: a :class:`~dev.stack.Stack` on a free block of ports with its
data under ``<run>/stack``, one Service Bus endpoint per region (DC04's and DC06's namespaces:
:class:`~dev.servicebus.process.EndpointProcess`, journal under ``<run>/servicebus-<region>``, queue
properties per scenario, server-side operation counts on its stats port), the failure domains of
:class:`~dev.drill.topology.Topology` (Redis geo-replication, Cosmos regions, cross-region Blob roads)
and a :class:`~dev.host.LocalHost` whose inbox, outbox and switches live under ``<run>/host``. Faults
are real: processes killed, services stopped, TCP proxies cut.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dev.adapters.folder_mq import FolderMqSource, put_message
from dev.adapters.messageway_folder import read_log
from dev.drill.generator import Planned, Produced
from dev.drill.topology import LOCAL_COSMOS_FAILOVER_S, Topology
from dev.host import LocalHost
from dev.proxy import TcpProxy
from dev.servicebus.config import QueueConfig
from dev.servicebus.process import EndpointProcess
from dev.stack import ROOT, Stack, free_port_base
from dev.stack_process import port_free
from dev.stack_services import redis_info
from shared.model import REGIONS

Progress = Callable[[str], None]
#: Commands only tooling sends (the geo-replication model counts its own: ``GeoReplicator.commands``).
_NOT_APP_COMMANDS = ("cmdstat_info", "cmdstat_psync")


def _free_pair(start: int = 17800) -> int:
    for base in range(start, start + 400, 2):
        if port_free(base) and port_free(base + 1):
            return base
    raise RuntimeError(f"no two free ports from {start}")


@dataclass
class Event:
    """Something the drill did or saw, at wall-clock time ``at`` (``time.time()``)."""

    at: float
    name: str
    detail: str = ""


@dataclass
class Harness:
    """One run's services and regions. Use as a context manager: ``__exit__`` stops everything."""

    run_dir: Path
    queue: QueueConfig = field(default_factory=QueueConfig)
    progress: Progress = print
    events: list[Event] = field(default_factory=list)
    produced: list[Produced] = field(default_factory=list)
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    servicebus_ops: float = 0.0
    dead_lettered: int = 0
    proxies: list[TcpProxy] = field(default_factory=list)
    extras: dict[str, dict[str, str]] = field(default_factory=dict)
    fault_plan: dict[str, list[str]] = field(default_factory=dict)  # next BRIDGE_FAULTS per restart
    cosmos_target_port: int | None = None  # None: the stack's server (a scenario may put a proxy between)
    cosmos_failover_s: float = LOCAL_COSMOS_FAILOVER_S

    def __enter__(self) -> Harness:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stack = Stack(ROOT, free_port_base(17300), self.run_dir / "stack")
        self.progress(f"starting a private local stack (ports {self.stack.port_base}+) ...")
        self.stack_env = self.stack.up()
        self.servicebus: dict[str, EndpointProcess] = {}
        for region in REGIONS:  # the run's own endpoints replace the stack's (config, stats)
            self.stack.stop_service(f"servicebus{'' if region == 'DC04' else '-dc06'}")
            self.servicebus[region] = EndpointProcess(
                [self.queue], self.run_dir / f"servicebus-{region}"
            ).start()
        self.host = LocalHost(self.stack_env, state=self.run_dir / "host", http_base=_free_pair())
        self.mark("stack-up")
        return self

    def wire(self) -> None:
        """Lay the regions out as deployed (after a scenario's proxies exist): see ``Topology``."""
        self.topology = Topology(
            self.stack,
            self.servicebus,
            self.cosmos_target_port or self.stack.port("cosmos"),
            self.cosmos_failover_s,
            mark=self.mark,
        )
        self.host.region_settings = {r: self.topology.region_settings(r, self.stack_env) for r in REGIONS}

    def __exit__(self, *exc: object) -> None:
        for region in list(self.host.processes):
            self.snapshot(region)
        self.host.stop()
        self._count_servicebus()
        for endpoint in self.servicebus.values():
            with contextlib.suppress(Exception):
                endpoint.stop()
        if hasattr(self, "topology"):
            self.topology.close()
        for proxy in self.proxies:
            with contextlib.suppress(Exception):
                proxy.stop()
        self.stack.down()

    # -- events and counters ----------------------------------------------------------------------

    def mark(self, name: str, detail: str = "") -> Event:
        event = Event(time.time(), name, detail)
        self.events.append(event)
        self.progress(f"[{time.strftime('%H:%M:%S')}] {name} {detail}".rstrip())
        return event

    def snapshot(self, region: str) -> None:
        """Keep ``region``'s in-process counters (``GET /api/status``), summed over its lifetimes."""
        try:
            _, status = self.host.call(region, "GET", "status")
        except OSError:
            return
        counters = status.get("counters")
        if isinstance(counters, dict):
            saved = self.counters.setdefault(region, {})
            for name, value in counters.items():
                saved[f"{name}"] = saved.get(name, 0.0) + float(value)

    def _count_servicebus(self) -> None:
        """Add both endpoints' operation counts (sends, deliveries, completes ...) to the total."""
        for endpoint in self.servicebus.values():
            self._count_endpoint(endpoint)

    def _count_endpoint(self, endpoint: EndpointProcess) -> None:
        with contextlib.suppress(Exception):
            queues: dict[str, Any] = dict(endpoint.stats().get("queues", {}))  # type: ignore[call-overload]
            self.dead_lettered += sum(
                int(q.get("dead_letter", {}).get("total", 0)) for q in queues.values() if isinstance(q, dict)
            )
            for name in ("sends", "deliveries", "completes", "abandons", "renewals", "dead_letters"):
                self.servicebus_ops += sum(
                    float(q.get(name, 0)) for q in queues.values() if isinstance(q, dict)
                )

    def redis_commands(self) -> float:
        """Commands both regions' Redis instances executed so far (server side, INFO commandstats),
        less those of the geo-replication model (its reads and copies are not the app's)."""
        total = -float(self.topology.geo.commands) if hasattr(self, "topology") else 0.0
        for region in REGIONS:
            info = redis_info(self.stack.port(f"redis-{region.lower()}"), "commandstats")
            for name, value in info.items():
                if name.startswith("cmdstat_") and not name.startswith(_NOT_APP_COMMANDS):
                    fields = dict(part.split("=", 1) for part in value.split(","))
                    total += float(fields.get("calls", 0))
        return total

    # -- regions ----------------------------------------------------------------------------------

    def start_region(self, region: str, extra: Mapping[str, str] | None = None) -> None:
        """Start ``region`` with ``extra`` settings (kept for restarts, except ``BRIDGE_FAULTS``)."""
        self.extras[region] = {k: v for k, v in (extra or {}).items() if k != "BRIDGE_FAULTS"}
        self.host.start_region(region, extra)
        self.mark(f"start {region}", " ".join(f"{k}={v}" for k, v in (extra or {}).items()))

    def bring_back(self, region: str, stale_switch: bool = False) -> None:
        """Start a region that was killed while the other one took over.

        By default the operator first turns the region's consumption switch off (runbook: "DC04 comes
        back while DC06 is active ... If it does not, set it yourself"): a region restarted with its
        old, stale "enabled" switch receives before its Watchdog's first tick, is fenced, and abandons
        every message it gets at once, burning MaxDeliveryCount (scenario ``stale-switch``).
        """
        if not stale_switch:
            (self.host.state / "switches" / f"{region}.consume").unlink(missing_ok=True)
            self.mark(f"operator: {region} consumption off before restart")
        self.start_region(region, self.extras.get(region))

    def supervise(self) -> None:
        """Restart a region whose process exited by itself (a crash point), as the Functions host
        restarts a crashed worker: with the next entry of :attr:`fault_plan`, else without faults."""
        for region in list(self.host.processes):
            process = self.host.processes[region]
            if process.poll() is not None:
                self.mark(f"{region} exited {process.returncode}")
                self.host.processes.pop(region)
                planned = self.fault_plan.get(region) or []
                faults = {"BRIDGE_FAULTS": planned.pop(0)} if planned else {}
                self.start_region(region, {**self.extras.get(region, {}), **faults})

    def first_delivery_by(self, region: str | None, after: float, timeout_s: float) -> float | None:
        """Time of ``region``'s (``None``: any region's) first delivery (``deliveries.log``) after
        ``after``; ``None`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in read_log(self.host.outbox):
                at = datetime.fromisoformat(line["at"]).timestamp()
                if region in (None, line.get("region")) and at > after:
                    return at
            self.supervise()
            time.sleep(0.2)
        return None

    def region_death(self, region: str) -> float:
        """All of ``region`` dies at once: app (kill -9), Blob, namespace, Redis, Cosmos region; returns
        the time of the kill (the fault's start)."""
        self.kill_region(region)
        killed_at = next(e.at for e in reversed(self.events) if e.name == f"kill -9 {region}")
        self.topology.region_death(region)
        return killed_at

    def region_isolated(self, region: str) -> float:
        """``region`` cut off by network; its processes stay alive."""
        self.topology.region_isolated(region)
        return self.events[-1].at

    def region_restore(self, region: str, restart_app: bool = True) -> None:
        """``region``'s services (or roads) back; a dead app restarted passive (``bring_back``)."""
        self.topology.region_restore(region)
        if restart_app and not self.region_alive(region):
            self.bring_back(region)

    def kill_region(self, region: str) -> None:
        """SIGKILL ``region``; then, as the queue manager would on the broken connection, back its open
        MQ unit of work out (the kernel closes a killed process's sockets at once)."""
        self.snapshot(region)
        self.host.kill_region(region)
        self.mark(f"kill -9 {region}")
        self.back_out_mq(region)

    def back_out_mq(self, region: str) -> None:
        FolderMqSource(self.host.inbox, f"{region}-queue-builder").depth()  # starting it backs out

    def region_alive(self, region: str) -> bool:
        process = self.host.processes.get(region)
        return process is not None and process.poll() is None

    def status(self, region: str | None = None) -> dict[str, Any]:
        for name in [region] if region else list(REGIONS):
            with contextlib.suppress(OSError):
                return self.host.call(name, "GET", "status")[1]
        return {}

    def wait_active(self, region: str, timeout_s: float = 60) -> float:
        """Wait until ``region`` is active and activated in the current epoch; seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            status = self.status(region)
            regions = status.get("regions")
            if status.get("active_dc") == region and isinstance(regions, dict):
                activated = (regions.get(region) or {}).get("activated") or {}
                if isinstance(activated, dict) and activated.get("epoch") == status.get("epoch"):
                    return time.monotonic() - started
            time.sleep(0.25)
        raise TimeoutError(f"{region} not active after {timeout_s} s")

    def proxy(self, target_port: int) -> TcpProxy:
        proxy = TcpProxy(0, ("127.0.0.1", target_port))
        proxy.start()
        self.proxies.append(proxy)
        return proxy

    # -- producing --------------------------------------------------------------------------------

    def produce(self, planned: list[Planned], rate_per_s: float) -> threading.Thread:
        """Put ``planned`` on the inbox at ``rate_per_s`` in a background thread, recording each put."""
        orders: dict[str, int] = {}

        def run() -> None:
            started = time.monotonic()
            for index, item in enumerate(planned):
                delay = started + index / rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                put_message(self.host.inbox, item.message_id, item.body)
                order = orders.get(item.account, 0)
                orders[item.account] = order + 1
                self.produced.append(
                    Produced(
                        item.message_id,
                        item.account,
                        order,
                        len(item.body),
                        item.entries,
                        item.bad,
                        time.time(),
                    )
                )
                if (index + 1) % 100 == 0:
                    self.progress(f"  produced {index + 1}/{len(planned)}")

        thread = threading.Thread(target=run, name="producer", daemon=True)
        thread.start()
        return thread

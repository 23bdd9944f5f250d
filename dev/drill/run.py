"""One drill run: start the world, produce, let a scenario break things, wait, count, report.

:func:`run` is what ``python -m dev.drill`` and the CI test call. A :class:`Scenario` supplies the
queue properties, per-region settings, the number of bad bodies and a ``script`` that injects its
faults while the producer runs; everything else (waiting until each statement is accounted for,
restarting a crashed worker as the Functions host would, counting, timings) is shared here.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dev.drill.counting import Counts, cosmos_records, count, fin_keys, quarantined_names
from dev.drill.generator import Planned, plan
from dev.drill.harness import Event, Harness, Progress
from dev.drill.topology import LOCAL_COSMOS_FAILOVER_S
from dev.proxy import TcpProxy
from dev.servicebus.config import QueueConfig
from shared.model import REGIONS, delivery_key_for


@dataclass
class Failover:
    """Timings of one failover, in seconds (docs/drill.md defines each)."""

    detect_s: float | None = None
    promote_s: float | None = None
    first_delivery_s: float | None = None
    total_s: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {k: None if v is None else round(v, 2) for k, v in self.__dict__.items()}


@dataclass
class Context:
    """What a scenario script works with."""

    harness: Harness
    total: int
    failover: Failover = field(default_factory=Failover)
    notes: list[str] = field(default_factory=list)
    producer_done: threading.Event = field(default_factory=threading.Event)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    #: Fault to the first delivery by the side that must recover (None: no failover expected).
    rto_s: float | None = None

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` while restarting crashed workers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.harness.supervise()
            time.sleep(0.2)

    def delivered(self) -> int:
        return len(self.delivered_keys())

    def delivered_keys(self) -> set[str]:
        return fin_keys(self.harness.host.outbox)

    def wait_delivered(self, fraction: float, timeout_s: float = 180) -> None:
        """Wait until ``fraction`` of the planned statements have an outbox file."""
        deadline = time.monotonic() + timeout_s
        while self.delivered() < fraction * self.total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {fraction:.0%} delivered after {timeout_s} s")
            self.harness.supervise()
            time.sleep(0.2)

    def measure_failover(self, killed_at: float, new_active: str) -> None:
        """Fill :attr:`failover` from the gate's records (via ``GET /api/status``) and the outbox log."""
        harness = self.harness
        harness.wait_active(new_active, timeout_s=120)
        status = harness.status(new_active)
        last = status.get("last_failover") or {}
        regions = status.get("regions") or {}
        activated = (regions.get(new_active) or {}).get("activated") or {}
        flip_at = _ts(last.get("at")) if isinstance(last, dict) else None
        active_at = _ts(activated.get("at")) if isinstance(activated, dict) else None
        if flip_at is not None:
            harness.events.append(Event(flip_at, f"gate flip -> {new_active}"))
        if active_at is not None:
            harness.events.append(Event(active_at, f"{new_active} activated"))
        first = harness.first_delivery_by(new_active, after=killed_at, timeout_s=120)
        harness.mark(f"{new_active} first delivery")
        f = self.failover
        f.detect_s = None if flip_at is None else flip_at - killed_at
        f.promote_s = None if flip_at is None or active_at is None else active_at - flip_at
        f.first_delivery_s = None if first is None or active_at is None else first - active_at
        f.total_s = None if first is None else first - killed_at
        self.rto_s = f.total_s

    def measure_recovery(self, fault_at: float, region: str, timeout_s: float = 180) -> float | None:
        """``rto_s`` where the same region recovers (no failover): fault -> its first delivery after."""
        first = self.harness.first_delivery_by(region, after=fault_at, timeout_s=timeout_s)
        self.harness.mark(
            f"{region} first delivery after the fault" if first else f"{region} never delivered"
        )
        self.rto_s = None if first is None else first - fault_at
        return self.rto_s


def _ts(value: object) -> float | None:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


Script = Callable[[Context], None]


@dataclass
class Scenario:
    """A named fault schedule."""

    name: str
    title: str
    script: Script
    bad: int = 0
    queue: QueueConfig = field(default_factory=QueueConfig)
    region_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    faults: Mapping[str, list[str]] = field(default_factory=dict)  # BRIDGE_FAULTS per (re)start
    proxied: tuple[str, ...] = ()  # stack services DC04 reaches through a TcpProxy (context.proxies)
    statements: int | None = None  # None: the run's default
    rate_per_s: float | None = None  # None: the run's default
    cosmos_failover_s: float = LOCAL_COSMOS_FAILOVER_S  # the modelled service-managed failover


@dataclass
class RunResult:
    """What one run leaves for the report: counts, timings and the harness's records."""

    counts: Counts
    failover: Failover
    rto_s: float | None
    timings: dict[str, object]
    elapsed_s: float
    redis_ops: float
    notes: list[str]
    harness: Harness


def run(
    scenario: Scenario,
    out: Path,
    statements: int = 300,
    rate_per_s: float = 25.0,
    timeout_s: float = 300.0,
    progress: Progress = print,
) -> RunResult:
    """Run ``scenario`` in ``out/<name>/`` (emptied first); return its counts and records."""
    run_dir = out / scenario.name
    shutil.rmtree(run_dir, ignore_errors=True)
    total = scenario.statements or statements
    rate = scenario.rate_per_s or rate_per_s
    planned = plan(total, bad=scenario.bad)
    progress(f"== scenario {scenario.name}: {scenario.title} ({total} statements, {scenario.bad} bad)")
    harness_of_run = Harness(
        run_dir, queue=scenario.queue, progress=progress, cosmos_failover_s=scenario.cosmos_failover_s
    )
    with harness_of_run as harness:
        proxied = {name: harness.proxy(harness.stack.port(name)) for name in scenario.proxied}
        if "cosmos" in proxied:  # the account itself unreachable: behind every region's Cosmos road
            harness.cosmos_target_port = proxied["cosmos"].port
        harness.wire()
        context = Context(harness, total, proxies=proxied)
        envs = {
            region: {k: v.format(**harness.stack_env) for k, v in scenario.region_env.get(region, {}).items()}
            for region in REGIONS
        }
        if "redis-dc04" in proxied:  # DC04 reaches its Redis only through the proxy
            envs["DC04"]["RedisConnection"] = f"redis://127.0.0.1:{proxied['redis-dc04'].port}/0"
        for region in REGIONS:
            plan_of = list(scenario.faults.get(region, []))
            harness.fault_plan[region] = plan_of[1:]
            faults = {"BRIDGE_FAULTS": plan_of[0]} if plan_of else {}
            harness.start_region(region, {**envs[region], **faults})
        harness.wait_active("DC04")
        harness.mark("DC04 active")
        redis_before = harness.redis_commands()
        producer = harness.produce(planned, rate)
        started = time.time()

        def finish_producing() -> None:
            producer.join()
            context.producer_done.set()
            harness.mark("all produced")

        threading.Thread(target=finish_producing, daemon=True).start()
        try:
            scenario.script(context)
        except Exception as error:  # the figures of what did happen still matter
            harness.mark("scenario script failed", f"{type(error).__name__}: {error}")
            context.notes.append(f"script failed: {type(error).__name__}: {error}")
        context.producer_done.wait()
        done = _wait_accounted(harness, planned, timeout_s, progress)
        harness.mark("accounted" if done else "timeout waiting for the outbox")
        elapsed = time.time() - started
        redis_ops = harness.redis_commands() - redis_before
        timings = harness.topology.timings()
        records = cosmos_records(harness.stack_env["STACK_COSMOS"], [p.message_id for p in harness.produced])
        quarantine = quarantined_names(_blob_accounts(harness))
    counts = count(list(harness.produced), harness.host.outbox, quarantine, records)
    rto = None if context.rto_s is None else round(context.rto_s, 2)
    return RunResult(
        counts, context.failover, rto, timings, round(elapsed, 1), redis_ops, context.notes, harness
    )


def _blob_accounts(harness: Harness) -> list[str]:
    return [harness.stack_env["STACK_BLOB_DC04"], harness.stack_env["STACK_BLOB_DC06"]]


def _wait_accounted(harness: Harness, planned: list[Planned], timeout_s: float, progress: Progress) -> bool:
    """Wait until every good statement has an outbox file and every bad one is quarantined."""
    wanted = {delivery_key_for(p.message_id) for p in planned if not p.bad}
    bad_ids = {p.message_id for p in planned if p.bad}
    deadline = time.monotonic() + timeout_s
    last_report = time.monotonic()
    while True:
        harness.supervise()
        done = len(wanted & fin_keys(harness.host.outbox))
        done += len(bad_ids & quarantined_names(_blob_accounts(harness))) if bad_ids else 0
        if done >= len(planned):
            return True
        if time.monotonic() > deadline:
            return False
        if time.monotonic() - last_report > 5:
            progress(f"  accounted for {done}/{len(planned)}")
            last_report = time.monotonic()
        time.sleep(1)

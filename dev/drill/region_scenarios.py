"""Region-level fault schedules (issue #14): the failure domains of ``dev.drill.topology`` broken whole.

Each script sets :attr:`Context.rto_s` where recovery is expected (fault -> first delivery by the side
that must recover) and raises when the run proved nothing or broke a promise the counts cannot see
(e.g. a promotion while the active region was alive). docs/drill.md describes each.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient

from dev.adapters.folder_mq import put_message
from dev.drill.counting import read_deliveries
from dev.drill.generator import plan
from dev.drill.run import Context
from shared.model import REGIONS, delivery_key_for

#: How long a lost or isolated region stays away before it comes back (local; an Azure outage can last
#: hours). The surviving region must deliver everything already ingested meanwhile.
OUTAGE_S = 25.0


def _epochs(context: Context) -> set[tuple[str, str]]:
    """(active_dc, epoch) as each live region's status says."""
    seen = set()
    for region in REGIONS:
        if context.harness.region_alive(region):
            status = context.harness.status(region)
            if status:
                seen.add((str(status.get("active_dc")), str(status.get("epoch"))))
    return seen


def _hold(context: Context, seconds: float, until_all: bool = False) -> None:
    """Wait ``seconds`` (restarting crashed workers); ``until_all``: at least until all is produced."""
    context.pause(seconds)
    if until_all:
        context.producer_done.wait()


def region_loss(context: Context) -> None:
    """All of DC04 dies mid-stream (app, Blob, namespace, Redis, Cosmos write region); DC06 takes over
    with its own namespace and the WAL copy in its own Blob account; DC04's region returns later and
    its app comes back passive."""
    harness = context.harness
    context.wait_delivered(0.35)
    fault_at = harness.region_death("DC04")
    try:
        context.measure_failover(fault_at, "DC06")
        harness.mark("DC06 active", f"rto {context.rto_s}")
        context.pause(max(0.0, fault_at + OUTAGE_S - time.time()))
    finally:  # the region returns whatever happened, so the run can drain and count
        harness.region_restore("DC04")
    context.notes.append(
        f"DC04's region down {OUTAGE_S:g} s; WAL_ALLOW_DEGRADED=false (as deployed): DC06 ingests nothing "
        "new while DC04's Blob account is gone (statements wait on MQ), and delivers what was ingested"
    )


def region_isolated(context: Context) -> None:
    """DC04 alive but cut off (cross-region roads, geo-replication, its Cosmos region); DC06 takes over;
    DC04 must have stopped by itself and read DC06 active once the network is back."""
    harness = context.harness
    context.wait_delivered(0.35)
    fault_at = harness.region_isolated("DC04")
    try:
        context.measure_failover(fault_at, "DC06")
        context.pause(max(0.0, fault_at + OUTAGE_S - time.time()))
    finally:
        harness.region_restore("DC04")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and harness.status("DC04").get("active_dc") != "DC06":
        context.pause(0.5)
    seen = harness.status("DC04").get("active_dc")
    context.notes.append(f"DC04 after the isolation reads {seen} active")
    if seen != "DC06":
        raise RuntimeError(f"DC04 does not read DC06 active 30 s after the isolation ended ({seen})")


def namespace_loss(context: Context) -> None:
    """Only DC04's Service Bus namespace is lost: activation of DC06 must not wait on it (it replays
    into its own namespace); the stranded messages are duplicates of WAL entries."""
    harness = context.harness
    context.wait_delivered(0.35)
    harness.servicebus["DC04"].stop(kill=True)
    fault_at = harness.mark("DC04's Service Bus namespace lost").at
    try:
        context.measure_failover(fault_at, "DC06")
        context.pause(max(0.0, fault_at + OUTAGE_S - time.time()))
    finally:
        harness.servicebus["DC04"].start()
        harness.mark("DC04's namespace back (its stranded messages with it)")


def cosmos_failover(context: Context) -> None:
    """Cosmos's write region (West US 2) is lost, the apps' regions stay up: writes are unavailable to
    everyone until the modelled service-managed failover. Consumption must pause (no delivery count
    burnt, nothing dead-lettered) and resume once writes are back."""
    harness = context.harness
    context.wait_delivered(0.35)
    cosmos = harness.topology.cosmos
    cosmos.lose_region("DC04", road=False)  # the SDK reads from another region; writes have nowhere to go
    try:
        _recover_after_cosmos_failover(context)
    finally:
        cosmos.recover_region("DC04")
    _no_dead_letters(context)


def _recover_after_cosmos_failover(context: Context) -> None:
    harness = context.harness
    cosmos = harness.topology.cosmos
    fault_at = harness.mark(
        "Cosmos write region lost", f"service-managed failover in {cosmos.failover_after_s:g} s"
    ).at
    if not harness.topology.wait_cosmos_writable(cosmos.failover_after_s + 30):
        raise RuntimeError("the modelled Cosmos failover did not happen")
    back_at = harness.mark("Cosmos writes back", f"write region {cosmos.status()['write_region']}").at
    # Deliveries in the first instants after the fault are messages whose claim was written before it;
    # recovery is the first delivery once writes are back.
    first = harness.first_delivery_by(None, back_at - 1.0, 120)
    context.rto_s = None if first is None else first - fault_at


def passive_loss(context: Context) -> None:
    """DC06 (passive) dies whole while DC04 is active: DC04 keeps its role and keeps delivering
    (Cosmos: DC06's region is a read region of three; dynamic quorum keeps writes)."""
    harness = context.harness
    context.wait_delivered(0.35)
    before = _epochs(context)
    fault_at = harness.region_death("DC06")
    try:
        first = harness.first_delivery_by("DC04", fault_at, timeout_s=60)
        harness.mark(
            "DC04 delivered after DC06's loss" if first else "DC04 did not deliver after DC06's loss"
        )
        context.pause(max(0.0, fault_at + OUTAGE_S - time.time()))
        after = _epochs(context)
    finally:
        harness.region_restore("DC06")
    gap = "none" if first is None else f"{first - fault_at:.2f} s"
    harness.first_delivery_by("DC04", time.time(), timeout_s=60)  # ingest resumed with DC06's Blob
    context.notes.append(
        f"gate before {sorted(before)}, during {sorted(after)}; no failover expected; DC04's first "
        f"delivery after the fault: {gap}; longest pause between deliveries after it: "
        f"{_longest_pause(context, fault_at):.1f} s (WAL_ALLOW_DEGRADED=false: no ingest without "
        "DC06's Blob copy)"
    )
    if first is None:
        raise RuntimeError("DC04 stopped delivering when the passive region was lost")
    if after != before:
        raise RuntimeError(f"the gate moved although only the passive region was lost: {before} -> {after}")


def gate_replication_stall(context: Context, stall_s: float = 120.0) -> None:
    """The regions' Redis copies stop syncing for ``stall_s`` while both regions are up and working:
    the fast-path mirror may go stale, but nothing may promote and never two regions active."""
    harness = context.harness
    context.wait_delivered(0.05)
    before = _epochs(context)
    harness.topology.geo.stall()
    stalled_at = harness.mark("Redis geo-replication stalled", f"{stall_s:g} s").at
    seen: set[tuple[str, str]] = set()
    while time.time() < stalled_at + stall_s:
        seen |= _epochs(context)
        context.pause(1.0)
    harness.topology.geo.resume()
    harness.mark("Redis geo-replication resumed")
    context.notes.append(f"gate before the stall {sorted(before)}, seen during it {sorted(seen)}")
    if seen != before:
        raise RuntimeError(f"the gate moved during a replication stall with both regions up: {sorted(seen)}")


def long_replay(context: Context) -> None:
    """DC04 (active) delivers slowly, so WAL entries without a final record pile up, and its straggler
    replay reads each of their bodies slowly (``replay.entry``): a replay far longer than the heartbeat
    TTL. A healthy active region must not look dead: no promotion."""
    context.wait_delivered(0.5)
    before = _epochs(context)
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        seen |= _epochs(context)
        context.pause(1.0)
    walk = _longest_straggler_walk(context.harness.host.state / "logs" / "DC04.log")
    context.notes.append(
        f"gate before {sorted(before)}, seen {sorted(seen)}; DC04's longest straggler replay walk "
        f"{walk:.1f} s (first slice to done, from its log's replay.slice events)"
    )
    if seen != before:
        raise RuntimeError(f"a long replay made the live active region look dead: {sorted(seen)}")
    lease_s = float(context.harness.host.region_env("DC04").get("LEASE_S", "6"))
    if walk <= lease_s:
        raise RuntimeError(
            f"no straggler replay outlasted the lease ({walk:.1f} s <= {lease_s:g} s): proved nothing"
        )


def _longest_straggler_walk(log_file: Path) -> float:
    """Seconds from a straggler walk's first slice to its ``done=True`` slice, the longest one (stated
    exception to counting from the outside: the walk's length is what the scenario must prove)."""
    longest, started = 0.0, None
    for line in log_file.read_text(errors="replace").splitlines():
        if "replay.slice walk=replay:stragglers" not in line:
            continue
        at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        started = at if started is None else started
        if "done=True" in line:
            longest, started = max(longest, at - started), None
    return longest


def msgid_reuse(context: Context) -> None:
    """After a statement is delivered, MQ brings a DIFFERENT body under the same MsgId: the runner must
    quarantine it with reason ``message-id-reused`` (never complete it silently as a duplicate)."""
    harness = context.harness
    context.wait_delivered(0.3)
    first = next(p for p in harness.produced if not p.bad)
    while delivery_key_for(first.message_id) not in context.delivered_keys():
        context.pause(0.5)
    # MQ reuses a MsgId long after its first use: past Service Bus's duplicate-detection window (2 s
    # here), which would otherwise drop the new message as a copy before any runner sees it.
    context.pause(3.0)
    other = plan(1, seed=99)[0]
    put_message(harness.host.inbox, first.message_id, other.body)
    harness.mark("MsgId reused", f"{first.message_id[:12]}... with another body")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _quarantined_with(context, "message-id-reused"):
            harness.mark("reused MsgId quarantined")
            context.notes.append("the reused MsgId's new body was quarantined with reason message-id-reused")
            return
        context.pause(1.0)
    raise RuntimeError("the reused MsgId's new body was not quarantined with reason message-id-reused")


def failover_cycles(context: Context, cycles: int = 5) -> None:
    """Planned failover DC04 -> DC06 and failback, ``cycles`` times in a row, no manual repair."""
    from dev.drill.scenarios import failback  # noqa: PLC0415 - scenarios imports this module

    worst = 0.0
    context.wait_delivered(0.05)
    for cycle in range(1, cycles + 1):
        for target in ("DC06", "DC04"):
            _wait_healthy_target(context, target)
            called = time.time()
            for attempt in range(3):  # the route's transfer can lose its ETag race to a renewal
                try:
                    failback(context, target=target, via=target)
                    break
                except RuntimeError as error:
                    if "changed meanwhile" not in str(error) or attempt == 2:
                        raise
                    context.notes.append(f"cycle {cycle}: {error}; the operator retried")
            first = context.harness.first_delivery_by(target, called, timeout_s=60)
            if first is None:
                raise RuntimeError(f"cycle {cycle}: {target} never delivered after the planned failover")
            worst = max(worst, first - called)
            context.pause(2.0)
    context.rto_s = worst
    context.notes.append(
        f"{cycles} planned failover/failback cycles; worst call -> first delivery {worst:.2f} s"
    )


def _longest_pause(context: Context, after: float) -> float:
    """The longest gap between consecutive first deliveries after ``after`` (so far)."""
    times = sorted(d.at for d in read_deliveries(context.harness.host.outbox) if d.outcome == "delivered")
    later = [t for t in times if t >= after]
    edges = [after, *later]
    return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)


def _wait_healthy_target(context: Context, target: str, timeout_s: float = 60) -> None:
    """The operator fails over to a region whose Watchdog reports it healthy (the route refuses an
    unhealthy target unless forced): wait for that, as the runbook says, instead of forcing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        regions = context.harness.status(target).get("regions") or {}
        mine = (regions.get(target) or {}) if isinstance(regions, dict) else {}
        health, age = mine.get("health"), mine.get("heartbeat_age_s")
        if isinstance(health, dict) and health.get("healthy") and isinstance(age, float | int) and age < 2:
            return
        context.pause(0.5)
    raise TimeoutError(f"{target} not healthy after {timeout_s} s: cannot fail over to it without force")


def _no_dead_letters(context: Context) -> None:
    dead = 0
    for endpoint in context.harness.servicebus.values():
        queues: dict[str, Any] = dict(endpoint.stats().get("queues", {}))  # type: ignore[call-overload]
        dead += sum(
            int(q.get("dead_letter", {}).get("total", 0)) for q in queues.values() if isinstance(q, dict)
        )
    context.notes.append(f"dead-lettered during the Cosmos failover: {dead}")
    if dead:
        raise RuntimeError(f"{dead} messages dead-lettered during the Cosmos failover")


def _quarantined_with(context: Context, reason: str) -> bool:
    for region in REGIONS:
        client = ContainerClient.from_connection_string(
            context.harness.stack_env[f"STACK_BLOB_{region}"], "quarantine"
        )
        try:
            if any(
                (b.metadata or {}).get("reason") == reason for b in client.list_blobs(include=["metadata"])
            ):
                return True
        except AzureError:
            continue
    return False

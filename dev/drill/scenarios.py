"""The drill's fault schedules, by name (``make drill SCENARIO=<name>``; ``all`` runs the matrix).

Each script runs while the producer feeds the inbox; :func:`dev.drill.run.run` then waits until
every statement is accounted for and counts. docs/drill.md describes what each one proves.
"""

from __future__ import annotations

import time

import bootstrap
from dev.adapters.folder_mq import FolderMqSource
from dev.drill import region_scenarios as rs
from dev.drill.replica_lag import replica_lag
from dev.drill.replica_lag_flip import replica_lag_flip
from dev.drill.replica_promotion import kill_active_on_replica
from dev.drill.run import Context, Scenario
from dev.host import AZURE_TIMING
from dev.servicebus.config import QueueConfig
from dev.settings import DevSettings, dev_ports
from shared.settings import Settings
from shared.telemetry import metrics

FAILBACK_REASON = "drill: failback to DC04 after the region came back"

#: Issue #14: region-level faults on the deployed topology (dev.drill.region_scenarios).
REGION_SCENARIOS = (
    Scenario(
        "region-loss", "all of DC04 dies mid-stream: app, Blob, namespace, Redis, Cosmos", rs.region_loss
    ),
    Scenario("region-isolated", "DC04 alive but cut off by network; DC06 takes over", rs.region_isolated),
    Scenario("namespace-loss", "only DC04's Service Bus namespace is lost", rs.namespace_loss),
    Scenario(
        "cosmos-failover",
        "Cosmos's write region lost: writes unavailable until the modelled service-managed failover",
        rs.cosmos_failover,
    ),
    Scenario("passive-loss", "DC06 dies whole while DC04 is active: DC04 keeps delivering", rs.passive_loss),
    Scenario(
        "gate-replication-stall",
        "the regions' Redis copies stop syncing for 2 minutes while both regions are up",
        rs.gate_replication_stall,
        rate_per_s=1.5,
    ),
    Scenario(
        "long-replay",
        "DC04 delivers slowly (1 s each) so a backlog builds in segments of two statements; every WAL "
        "read of its straggler replay takes 100 ms: a replay longer than the lease on a live active "
        "region",
        rs.long_replay,
        region_env={"DC04": {"REPLAY_INTERVAL_S": "5", "QUEUE_BUILDER_BATCH": "2"}},
        faults={"DC04": ["runner.before_deliver=sleep:1,replay.entry=sleep:0.1"]},
    ),
    Scenario(
        "msgid-reuse",
        "a delivered MsgId comes again with another body, after the duplicate-detection window (2 s)",
        rs.msgid_reuse,
        queue=QueueConfig(dup_window_s=2.0),
    ),
    Scenario(
        "failover-cycles",
        "planned failover and failback five times in a row, no manual repair",
        rs.failover_cycles,
        rate_per_s=1.5,  # statements must still flow in the 5th cycle (~2 min); at 4/s they ran out
    ),
)


def kill_and_promote(context: Context, at_fraction: float = 0.35, stale_switch: bool = False) -> float:
    """kill -9 DC04 once ``at_fraction`` is delivered; wait for DC06's promotion; bring DC04 back."""
    harness = context.harness
    context.wait_delivered(at_fraction)
    harness.kill_region("DC04")
    killed_at = harness.events[-1].at
    context.measure_failover(killed_at, "DC06")
    harness.mark(
        "DC06 promoted", f"total {context.failover.total_s:.1f} s" if context.failover.total_s else ""
    )
    harness.bring_back("DC04", stale_switch=stale_switch)
    return killed_at


def failback(context: Context, target: str = "DC04", via: str = "DC06") -> None:
    """Manual failover through the Watchdog route of ``via`` (the active region), as an operator would."""
    harness = context.harness
    body = {"target": target, "reason": FAILBACK_REASON, "force": False}
    status, answer = harness.host.call(via, "POST", "failover", body)
    if status == 429:  # the route's rate limit (one failover per minute) protects against flapping
        context.notes.append(f"failback: {answer.get('error')}; forced")
        status, answer = harness.host.call(via, "POST", "failover", {**body, "force": True})
        if status == 202 and answer.get("state") == "PENDING":  # forced: a second person approves
            second = {"x-dev-user": "drill-approver", "x-dev-roles": "Bridge.Approver"}
            status, answer = harness.host.call(
                via, "POST", "approve", {"request_id": answer["request"]}, second
            )
    harness.mark(f"failover -> {target} via HTTP", f"{status} {answer}")
    if status != 202:
        raise RuntimeError(f"failover to {target} refused: {status} {answer}")
    harness.wait_active(target, timeout_s=60)
    harness.mark(f"{target} active again")


def default(context: Context) -> None:
    """kill -9 of the active region mid-stream, promotion of DC06, replay, later failback to DC04."""
    kill_and_promote(context)
    context.wait_delivered(0.8)
    failback(context)


def kill_active(context: Context) -> None:
    """Scenario 1: kill -9 of the active region's process mid-stream; no failback."""
    kill_and_promote(context)


def crashes(context: Context) -> None:
    """Crash points armed through ``BRIDGE_FAULTS``: the run loop restarts each crashed worker."""
    context.wait_delivered(0.9)


def slow_delivery(context: Context) -> None:
    """A delivery that outlasts the message lock: the lock is renewed, or a second receiver waits
    for the claim's lease; either way one delivery per key."""
    context.wait_delivered(0.9)


def redis_cut(context: Context, mode: str = "reset", seconds: float = 15.0) -> None:
    """DC04 loses its road to the gate (reset: Redis seems dead; hold: a silent partition)."""
    harness = context.harness
    context.wait_delivered(0.3)
    proxy = context.proxies["redis-dc04"]
    proxy.cut(mode)  # type: ignore[arg-type]
    cut_at = harness.mark(f"cut DC04 -> redis ({mode})").at
    context.measure_failover(cut_at, "DC06")
    context.pause(max(0.0, cut_at + seconds - time.time()))
    proxy.restore()
    harness.mark("restore DC04 -> redis")


def partition(context: Context) -> None:
    """Scenario 8: DC04 alive but cut off from the gate by a silent partition (no RST, timeouts only)."""
    redis_cut(context, mode="hold")


def service_outage(context: Context, service: str, seconds: float = 10.0) -> None:
    """Stop one local service for ``seconds``, then start it again."""
    harness = context.harness
    context.wait_delivered(0.3)
    harness.stack.stop_service(service)
    harness.mark(f"stop {service}")
    context.pause(seconds)
    harness.stack.start_service(service)
    harness.mark(f"start {service}")


def blob_outage(context: Context) -> None:
    """Scenario 10a: DC06's Azurite (the peer WAL copy) down for a while."""
    service_outage(context, "blob-dc06")


def cosmos_outage(context: Context, seconds: float = 10.0) -> None:
    """Scenario 10b: Cosmos unreachable from both regions for a while. The road is reset at a proxy
    rather than the server stopped: the local server keeps its data in memory, and a restart that
    forgets every database is not what an Azure outage does."""
    harness = context.harness
    context.wait_delivered(0.3)
    context.proxies["cosmos"].cut()
    harness.mark("cut both regions -> cosmos")
    context.pause(seconds)
    context.proxies["cosmos"].restore()
    harness.mark("restore both regions -> cosmos")


def servicebus_restart(context: Context) -> None:
    """Scenario 11: the Service Bus endpoint restarts (SIGTERM; its journal keeps the queue)."""
    harness = context.harness
    context.wait_delivered(0.3)
    harness.mark("restart DC04's servicebus")
    harness.servicebus["DC04"].restart()
    harness.mark("servicebus back")


def failback_only(context: Context) -> None:
    """Scenario 14: after a promotion of DC06, fail back to DC04 through the Watchdog route."""
    kill_and_promote(context, at_fraction=0.25)
    context.wait_delivered(0.6)
    failback(context)


def manual_failover(context: Context) -> None:
    """Scenario 15: a planned failover DC04 -> DC06 through the Watchdog HTTP route, both alive."""
    context.wait_delivered(0.35)
    failback(context, target="DC06", via="DC06")
    context.measure_failover(context.harness.events[-2].at, "DC06")


def stale_switch(context: Context) -> None:
    """kill -9 DC04; bring it back with its stale "enabled" switch while DC06 is active."""
    kill_and_promote(context, stale_switch=True)


def throughput(context: Context) -> None:
    """No faults: everything put at once, to measure what one region delivers per second and the
    Azure operations per statement. Both regions run at Azure's timing (:data:`AZURE_TIMING`)."""
    context.notes.append("regions at Azure's timing: dev/host.py AZURE_TIMING (docs/drill.md)")
    context.wait_delivered(0.9)


def two_queue_builders(context: Context, seconds: float = 20.0) -> None:
    """Scenario 12: a second DC04 QueueBuilder (its own MQ connection) tries to drain the inbox at the
    same time as the region's own, in this process, on the real adapters. Input is exclusive for the
    length of a run and every run releases it when it ends (issue 15), so the two read in turn, never
    together; the timeline marks what the second one ingested and how often it was refused."""
    harness = context.harness
    env = harness.host.region_env("DC04")
    settings = Settings.from_mapping(env)
    ports = dev_ports(settings, DevSettings.from_mapping(env), owner="DC04-queue-builder-2")
    mq = ports.mq
    assert isinstance(mq, FolderMqSource)
    second = bootstrap.wire(settings, ports).queue_builder
    refusals_before = metrics.snapshot().get("mq_input_in_use", 0)
    harness.mark("second QueueBuilder starts")
    deadline, ingested, held = time.monotonic() + seconds, 0, False
    try:
        while time.monotonic() < deadline:
            summary = second.run(budget_s=1.0)
            ingested += int(str(summary["ingested"]))
            held = held or mq.holds_input()
            harness.supervise()
            time.sleep(0.2)
    finally:
        mq.close()
    refused = int(metrics.snapshot().get("mq_input_in_use", 0) - refusals_before)
    harness.mark(f"second QueueBuilder stops: ingested {ingested}, held input {held}, refused {refused}x")


_CRASHES = {
    "qb-crashes": [
        "qb.after_get=exit@40",
        "qb.after_wal=exit@3",
        "qb.after_send=exit@3",
        "qb.before_commit=exit@3",
    ],
    "runner-in-doubt": ["runner.after_deliver=exit@20", "runner.after_deliver=exit@25"],
    "runner-after-record": ["runner.after_record=exit@20", "runner.after_record=exit@25"],
}

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("default", "kill -9 DC04 mid-stream, promotion, replay, failback", default, bad=3),
        Scenario("kill-active", "1. kill -9 of the active region's process mid-stream", kill_active),
        Scenario(
            "qb-crashes",
            "2. QueueBuilder crashes after MQGET, after the WAL write, after the send, before MQCMIT",
            crashes,
            faults={"DC04": _CRASHES["qb-crashes"]},
        ),
        Scenario(
            "runner-in-doubt",
            "3. runner crashes after delivery, before DELIVERED is recorded",
            crashes,
            faults={"DC04": _CRASHES["runner-in-doubt"]},
        ),
        Scenario(
            "runner-after-record",
            "4. runner crashes after DELIVERED, before the message is completed",
            crashes,
            faults={"DC04": _CRASHES["runner-after-record"]},
        ),
        Scenario(
            "slow-delivery",
            "5. deliveries slower than the message lock (lock 5 s, deliveries sleep 20 s)",
            slow_delivery,
            queue=QueueConfig(lock_duration_s=5.0),
            faults={"DC04": ["runner.before_deliver=sleep:20@5"]},
        ),
        Scenario(
            "slow-delivery-lock-lost",
            "5b. a delivery outlasts the lock and nothing renews it: a second receiver takes the message",
            slow_delivery,
            queue=QueueConfig(lock_duration_s=5.0),
            faults={"DC04": ["runner.before_deliver=sleep:20@5"]},
            region_env={"DC04": {"LOCAL_MAX_LOCK_RENEWAL_S": "1"}},
        ),
        Scenario(
            "poison", "6. poison messages (invalid XML, wrong type, unbalanced) mid-session", crashes, bad=9
        ),
        Scenario(
            "redis-unreachable",
            "7. DC04's road to Redis reset: fail closed, DC06 promotes",
            redis_cut,
            proxied=("redis-dc04",),
        ),
        Scenario(
            "partition",
            "8. DC04 alive but silently cut off from the gate",
            partition,
            proxied=("redis-dc04",),
        ),
        Scenario(
            "replica-lag",
            "9. Redis geo-replication stalls 20 s while DC04 stays active: DC06's copy goes stale",
            replica_lag,
        ),
        Scenario(
            "kill-active-replica",
            "9b. kill -9 of DC04's process, its Redis alive: DC06 promotes, the copies converge",
            kill_active_on_replica,
        ),
        Scenario(
            "replica-lag-flip",
            "9c. DC06 active; Redis geo-replication stalled; failback to DC04 during the stall",
            replica_lag_flip,
            rate_per_s=8.0,
        ),
        Scenario("blob-outage", "10a. DC06's Blob account (WAL copy) down for 10 s", blob_outage),
        Scenario("cosmos-outage", "10b. Cosmos unreachable for 10 s", cosmos_outage, proxied=("cosmos",)),
        Scenario("servicebus-restart", "11. Service Bus endpoint restart", servicebus_restart),
        Scenario("two-queue-builders", "12. two QueueBuilders running at once", two_queue_builders),
        Scenario(
            "dedup-expired",
            "13. replay after the duplicate-detection window (2 s) has expired",
            kill_active,
            queue=QueueConfig(dup_window_s=2.0),
        ),
        Scenario("failback", "14. failback DC06 -> DC04 through the Watchdog route", failback_only),
        Scenario(
            "manual-failover", "15. planned failover DC04 -> DC06 through the Watchdog route", manual_failover
        ),
        Scenario("stale-switch", "DC04 brought back with its stale consumption switch on", stale_switch),
        *REGION_SCENARIOS,
        Scenario(
            "ci",
            "the CI drill: two crash points, kill -9, promotion, replay, poison bodies",
            kill_active,
            bad=3,
            faults={"DC04": ["runner.after_deliver=exit@15", "qb.after_wal=exit@2"]},
            statements=200,
            rate_per_s=40.0,
        ),
        Scenario(
            "throughput",
            "no faults, 600 statements put at once, at Azure's timing",
            throughput,
            statements=600,
            rate_per_s=10_000.0,
            region_env={"DC04": AZURE_TIMING, "DC06": AZURE_TIMING},
        ),
    )
}

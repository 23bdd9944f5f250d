"""The one place that wires adapters into handlers (the composition root).

:func:`components` builds everything lazily, on the first trigger, from :func:`shared.settings.load_settings`
(never at import time, so importing ``function_app`` needs no settings and no network).
:func:`wire` does the wiring from ports alone; tests and the local host call it with in-memory twins
or local adapters, and :func:`use` installs such a set for the triggers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from queue_builder.handler import QUEUE_BUILDER, QUEUE_BUILDER_FAILED, QueueBuilder
from shared.errors import ConfigurationError
from shared.gate_cache import CachedGate
from shared.model import Checkpoint
from shared.ports import (
    BodyStore,
    CheckpointStore,
    ConsumptionSwitch,
    DeliveryTarget,
    GateMirror,
    Heartbeats,
    IdempotencyStore,
    MqSource,
    RegionAuthority,
    SequenceAllocator,
    StatementPublisher,
    WriteAheadLog,
)
from shared.settings import Settings, load_settings
from shared.telemetry import configure_observability
from transformation_runner.handler import TransformationRunner
from transformation_runner.translate import TranslationOptions, account_of, translate
from watchdog.controller import Watchdog
from watchdog.operator import OperatorApi
from watchdog.replay import Replayer


@dataclass(frozen=True)
class Ports:
    """Every adapter one region needs."""

    authority: RegionAuthority
    mirror: GateMirror
    sequences: SequenceAllocator
    checkpoints: CheckpointStore
    heartbeats: Heartbeats
    mq: MqSource
    wal: WriteAheadLog
    publisher: StatementPublisher
    store: IdempotencyStore
    target: DeliveryTarget
    quarantine: BodyStore
    switch: ConsumptionSwitch
    backup: BodyStore | None = None
    extra_probes: Mapping[str, Callable[[], object]] | None = None


@dataclass(frozen=True)
class Components:
    """The handlers of one region, ready for the triggers."""

    settings: Settings
    ports: Ports
    queue_builder: QueueBuilder
    runner: TransformationRunner
    watchdog: Watchdog
    operator: OperatorApi


def wire(settings: Settings, ports: Ports) -> Components:
    """Build the handlers of ``settings.region`` on ``ports``."""
    cached = CachedGate(ports.mirror, ttl_s=settings.gate_cache_ttl_s, guard_s=settings.lease_guard_s)
    options = TranslationOptions(
        sender_bic=settings.default_sender_bic,
        receiver_bic=settings.default_receiver_bic,
        balance_mode=settings.balance_mode,
        max_bytes=settings.max_body_bytes,
    )
    builder = QueueBuilder(
        region=settings.region,
        gate=cached,
        sequences=ports.sequences,
        heartbeats=ports.heartbeats,
        mq=ports.mq,
        wal=ports.wal,
        publisher=ports.publisher,
        quarantine=ports.quarantine,
        session_of=functools.partial(account_of, max_bytes=settings.max_body_bytes),
        backout_threshold=settings.mq_backout_threshold,
        batch_size=settings.queue_builder_batch,
        wal_writers=settings.wal_writers,
        # Outlasts the Watchdog's verdict on a QueueBuilder that completes no run (QUEUE_BUILDER_STALE_S,
        # then the hand-over and the rest of the lease): a lasting outage costs one backout, not one per run.
        hold_s=settings.queue_builder_stale_s + settings.lease_s,
    )
    runner = TransformationRunner(
        region=settings.region,
        gate=cached,
        store=ports.store,
        target=ports.target,
        quarantine=ports.quarantine,
        wal=ports.wal,
        translate=functools.partial(translate, options=options),
        lease_s=settings.claim_lease_s,
        max_claim_wait_s=settings.claim_lease_s,
        backup=ports.backup,
        write_hold_s=settings.cosmos_write_hold_s,
    )
    replayer = Replayer(
        wal=ports.wal, store=ports.store, publisher=ports.publisher, checkpoints=ports.checkpoints
    )
    watchdog = Watchdog(
        region=settings.region,
        authority=ports.authority,
        mirror=ports.mirror,
        checkpoints=ports.checkpoints,
        heartbeats=ports.heartbeats,
        switch=ports.switch,
        replayer=replayer,
        probes={**probes(settings, ports), **(ports.extra_probes or {})},
        role=settings.role,
        lease_s=settings.lease_s,
        skew_s=settings.clock_skew_s,
        guard_s=settings.lease_guard_s,
        heartbeat_ttl_s=settings.heartbeat_ttl_s,
        misses_required=settings.watchdog_misses,
        auto_promote=settings.auto_promote,
        replay_interval_s=settings.replay_interval_s,
        replay_slice_s=settings.replay_slice_s,
    )
    operator = OperatorApi(
        region=settings.region,
        authority=ports.authority,
        checkpoints=ports.checkpoints,
        heartbeats=ports.heartbeats,
        watchdog=watchdog,
        replayer=replayer,
        backlog=lambda: {"mq_depth": ports.mq.depth()},
    )
    return Components(settings, ports, builder, runner, watchdog, operator)


def probes(settings: Settings, ports: Ports) -> dict[str, Callable[[], object]]:
    """Health probes of this region's dependencies; each raises when its dependency is unhealthy."""

    def queue_builder_fresh() -> object:
        last = ports.heartbeats.last(settings.region, QUEUE_BUILDER)
        if last is None:
            raise RuntimeError("QueueBuilder has not run yet")
        age = last.age_s(datetime.now(UTC))
        if age > settings.queue_builder_stale_s:
            failed = ports.heartbeats.last(settings.region, QUEUE_BUILDER_FAILED)
            why = f"; last failure: {failed.summary}" if failed is not None and failed.at > last.at else ""
            raise RuntimeError(f"QueueBuilder last completed a run {age:.0f} s ago{why}")
        return f"ran {age:.1f} s ago: {last.summary}"

    wal = getattr(ports.wal, "own", ports.wal)  # the dual WAL reads the peer's copy when ours is down

    def reachable(call: Callable[[], object]) -> Callable[[], object]:
        return lambda: (call(), "reachable")[1]

    return {
        "redis": reachable(ports.mirror.read),
        "cosmos_control": reachable(ports.authority.read),
        "blob": reachable(lambda: next(iter(wal.list(limit=1)), None)),
        "cosmos": reachable(lambda: ports.store.get("health-probe")),
        "cosmos_write": cosmos_write_probe(ports.checkpoints, settings.region),
        "servicebus": ports.publisher.probe,  # the own namespace (no pairing: its loss is this region's)
        "mq": ports.mq.depth,
        "queue_builder": queue_builder_fresh,
    }


def cosmos_write_probe(
    checkpoints: CheckpointStore, region: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[], object]:
    """A health probe that WRITES: it upserts this region's probe item (checkpoint
    ``health-probe:<region>`` in the Cosmos control container), so a lost Cosmos write region fails
    the probe (``WritesUnavailable``) while reads still answer. The Watchdog turns consumption off
    while it fails (shared.breaker)."""

    def probe() -> object:
        now = clock()
        checkpoints.put(Checkpoint(f"health-probe:{region}", now.isoformat(), now))
        return "written"

    return probe


_lock = threading.Lock()
_components: Components | None = None


def components() -> Components:
    """The process's components, built on first use from the environment's settings."""
    global _components  # noqa: PLW0603 - the process-wide composition root
    with _lock:
        if _components is None:
            configure_observability()
            settings = load_settings()
            _components = wire(settings, azure_ports(settings))
        return _components


def use(installed: Components | None) -> None:
    """Install ``installed`` for the triggers (tests, local host); ``None`` forgets it."""
    global _components  # noqa: PLW0603
    with _lock:
        _components = installed


def azure_ports(settings: Settings) -> Ports:
    """The real adapters for ``settings`` (Azure services, or their local stand-ins by connection)."""
    from shared.adapters.factory import ports  # noqa: PLC0415 - keeps SDK imports out of import time

    switch: ConsumptionSwitch
    if settings.consumption_switch_dir:
        from shared.adapters.file_switch import FileConsumptionSwitch  # noqa: PLC0415

        switch = FileConsumptionSwitch(Path(settings.consumption_switch_dir), settings.region)
    elif settings.azure_subscription_id:
        from shared.adapters.azure_control import AppSettingConsumptionSwitch  # noqa: PLC0415

        switch = AppSettingConsumptionSwitch(
            settings.azure_subscription_id,
            settings.resource_group(settings.region),
            settings.function_app(settings.region),
        )
    else:
        raise ConfigurationError(["AZURE_SUBSCRIPTION_ID or CONSUMPTION_SWITCH_DIR: one is required"])
    return ports(settings, switch)

"""The composition root: the one place that builds every adapter, wires them into the handlers and
hands the handlers to the triggers.

The import graph points one way: ``function_app`` → ``bootstrap`` → the function packages
(``queue_builder``, ``transformation_runner``, ``watchdog``) and ``shared``. A function package never
imports this module; its blueprint is made by ``make_blueprint(region)``, where ``region`` is a
provider (here :func:`components`) called on each trigger. docs/architecture.md, "Layout", records
the choice; ``tests/boundary`` enforces it (import-linter contracts in ``.importlinter``).

* :func:`region_ports` builds one region's production adapters from :class:`~shared.settings.Settings`;
  each connects lazily, on first use, so building them needs no network. Adapters handed in (the dev
  stack's folder stand-ins, ``dev/``) replace the IBM MQ input, the MessageWay target or the
  consumption switch; the root never imports them.
* :func:`wire` builds the handlers from ports alone; ``around`` may wrap each dependency a handler is
  given (identity in production; the dev stack arms its crash points there, ``dev/faults.py``).
* :func:`components` does both once per process, lazily, on the first trigger (never at import time,
  so importing ``function_app`` needs no settings and no network); :func:`build_app` registers the
  function packages' blueprints (the Watchdog's two: control loop and operations desk) on a provider
  of components. :func:`wire_desk` builds the operations desk when the ports carry its journal.
* The region's CONTROL app runs the same package with ``BRIDGE_APP=control``: ``function_app`` then
  builds :func:`bootstrap.control.build_control_app` (the runner's consumption switch only) instead.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import azure.functions as func

from bootstrap.control import build_control_app, control, is_control_app
from queue_builder.blueprint import make_blueprint as queue_builder_blueprint
from queue_builder.handler import QueueBuilder
from shared.adapters.blob_bodies import BlobBodyStore
from shared.adapters.blob_journal import BlobOperationsJournal
from shared.adapters.blob_wal import BlobOptions, BlobWriteAheadLog
from shared.adapters.control_switch import RemoteConsumptionSwitch, managed_identity_token
from shared.adapters.cosmos_client import CosmosContainer
from shared.adapters.cosmos_control import (
    CosmosCheckpointStore,
    CosmosHeartbeats,
    CosmosRegionAuthority,
    CosmosSequenceAllocator,
)
from shared.adapters.cosmos_store import CosmosIdempotencyStore
from shared.adapters.ibmmq_source import IbmMqSource, ibmmq_config
from shared.adapters.messageway_mq import MqDeliveryTarget
from shared.adapters.redis_gate import RedisGateMirror
from shared.adapters.servicebus import ServiceBusStatementPublisher
from shared.errors import ConfigurationError
from shared.gate_cache import CachedGate
from shared.journal import BothRegionsJournal, OperationsJournal
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
from shared.telemetry import configure_observability, metrics
from shared.wal_dual import DegradedWrite, DualRegionWriteAheadLog
from transformation_runner.blueprint import make_blueprint as runner_blueprint
from transformation_runner.handler import TransformationRunner
from transformation_runner.policy import translator_for
from transformation_runner.translate import account_of
from watchdog.blueprint import make_blueprint as watchdog_blueprint
from watchdog.controller import Watchdog
from watchdog.desk import Desk
from watchdog.desk_blueprint import Ops
from watchdog.desk_blueprint import make_blueprint as desk_blueprint
from watchdog.operator import OperatorApi
from watchdog.probe_telemetry import observed
from watchdog.probes import TickEvidence, region_probes
from watchdog.reconcile import Reconciler
from watchdog.replay import Replayer
from watchdog.replay_trace import ReplayRecorder
from watchdog.retention import Retention
from watchdog.status_page import LiveLists
from watchdog.trace import Tracer

#: ``function_app`` imports these (the control app's entry points are re-exported from bootstrap.control).
__all__ = ["build_app", "build_control_app", "components", "control", "is_control_app"]

T = TypeVar("T")


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
    journal: OperationsJournal | None = None  # the operations desk's journal; None = no desk


@dataclass(frozen=True)
class Components:
    """The handlers of one region, ready for the triggers."""

    settings: Settings
    ports: Ports
    queue_builder: QueueBuilder
    runner: TransformationRunner
    watchdog: Watchdog
    operator: OperatorApi
    desk: Ops | None = None  # the operations desk (trace, reconciliation, actions), with a journal


class Around(Protocol):
    """Wraps one dependency of one handler: ``around(role, name, dependency)`` returns what the
    handler gets. ``role`` is ``"queue_builder"``, ``"runner"`` or ``"replay"``; ``name`` is the
    handler's field (``mq``, ``publisher``, ``store``, ``target``, ``translate``, ``wal`` …). It must
    keep the port's contract."""

    def __call__(self, role: str, name: str, dependency: T, /) -> T: ...


def as_is(role: str, name: str, dependency: T, /) -> T:
    """The production :class:`Around`: every handler gets its dependency unwrapped."""
    return dependency


def wire(settings: Settings, ports: Ports, around: Around = as_is) -> Components:
    """Build the handlers of ``settings.region`` on ``ports``."""
    cached = CachedGate(ports.mirror, ttl_s=settings.gate_cache_ttl_s, guard_s=settings.lease_guard_s)
    translator = translator_for(settings)
    qb = functools.partial(around, "queue_builder")
    builder = QueueBuilder(
        region=settings.region,
        gate=cached,
        sequences=ports.sequences,
        heartbeats=ports.heartbeats,
        mq=qb("mq", ports.mq),
        wal=qb("wal", ports.wal),
        publisher=qb("publisher", ports.publisher),
        quarantine=qb("quarantine", ports.quarantine),
        records=qb("records", ports.store),
        session_of=functools.partial(account_of, max_bytes=settings.max_body_bytes),
        backout_threshold=settings.mq_backout_threshold,
        batch_size=settings.queue_builder_batch,
        unit_bytes=settings.queue_builder_unit_bytes,
        # Outlasts the Watchdog's verdict on a QueueBuilder that completes no run (QUEUE_BUILDER_STALE_S,
        # then the hand-over and the rest of the lease): a lasting outage costs one backout, not one per run.
        hold_s=settings.queue_builder_stale_s + settings.lease_s,
    )
    run = functools.partial(around, "runner")
    runner = TransformationRunner(
        region=settings.region,
        gate=cached,
        store=run("store", ports.store),
        target=run("target", ports.target),
        quarantine=run("quarantine", ports.quarantine),
        wal=run("wal", ports.wal),
        translate=run("translate", translator),
        lease_s=settings.claim_lease_s,
        max_claim_wait_s=settings.claim_lease_s,
        backup=ports.backup,
        replication_window_s=settings.wal_replication_window_s,
        write_hold_s=settings.cosmos_write_hold_s,
    )
    replayer = Replayer(
        wal=around("replay", "wal", ports.wal),
        store=ports.store,
        publisher=ports.publisher,
        checkpoints=ports.checkpoints,
    )
    own_wal = ports.wal.own if isinstance(ports.wal, DualRegionWriteAheadLog) else ports.wal
    evidence = TickEvidence()  # the tick's own lease read and renewal answer two probes
    watchdog = Watchdog(
        region=settings.region,
        authority=ports.authority,
        mirror=ports.mirror,
        checkpoints=ports.checkpoints,
        heartbeats=ports.heartbeats,
        switch=ports.switch,
        replayer=replayer,
        probes=observed(
            settings.region,
            region_probes(
                region=settings.region,
                mirror=ports.mirror,
                authority=ports.authority,
                checkpoints=ports.checkpoints,
                heartbeats=ports.heartbeats,
                wal=own_wal,  # the dual WAL would read the peer's copy when ours is down
                store=ports.store,
                mq=ports.mq,
                publisher=ports.publisher,
                target=ports.target,
                stale_s=settings.queue_builder_stale_s,
                evidence=evidence,
            ),
        ),
        evidence=evidence,
        role=settings.role,
        lease_s=settings.lease_s,
        skew_s=settings.clock_skew_s,
        guard_s=settings.lease_guard_s,
        heartbeat_ttl_s=settings.heartbeat_ttl_s,
        misses_required=settings.watchdog_misses,
        auto_promote=settings.auto_promote,
        replay_interval_s=settings.replay_interval_s,
        replay_slice_s=settings.replay_slice_s,
        # Each region deletes from its own account only (docs/storage.md#retention).
        retention=Retention(
            region=settings.region,
            wal=own_wal,
            store=ports.store,
            checkpoints=ports.checkpoints,
            policy=settings.retention_policy,
            page_size=settings.wal_retention_page,
            interval_s=settings.wal_retention_interval_s,
        ),
    )
    if ports.journal is not None:  # the trace's replay steps (watchdog.replay_trace)
        replayer.on_republished = ReplayRecorder(
            settings.region, ports.journal, epoch=lambda: watchdog.lease.epoch if watchdog.lease else None
        )
    operator = OperatorApi(
        region=settings.region,
        authority=ports.authority,
        checkpoints=ports.checkpoints,
        heartbeats=ports.heartbeats,
        watchdog=watchdog,
        replayer=replayer,
        backlog=lambda: {"mq_depth": ports.mq.depth()},
        record_counts=ports.store.counts,
    )
    desk = None if ports.journal is None else wire_desk(settings, ports, ports.journal, operator)
    return Components(settings, ports, builder, runner, watchdog, operator, desk)


def wire_desk(settings: Settings, ports: Ports, journal: OperationsJournal, operator: OperatorApi) -> Ops:
    """The operations desk of ``settings.region`` on ``ports`` and ``journal``."""
    tracer = Tracer(ports.wal, ports.store, journal, settings.quarantine_container)
    reconciler = Reconciler(
        region=settings.region,
        wal=ports.wal,
        store=ports.store,
        target=ports.target,
        journal=journal,
        stuck_after_s=settings.reconcile_stuck_after_s,
        quarantine_container=settings.quarantine_container,
    )
    desk = Desk(
        region=settings.region,
        # The runner's fence rule on the mirror, read afresh for each action (ttl 0).
        gate=CachedGate(ports.mirror, ttl_s=0.0, guard_s=settings.lease_guard_s),
        store=ports.store,
        wal=ports.wal,
        quarantine=ports.quarantine,
        target=ports.target,
        journal=journal,
        translator=translator_for(settings),
        operator=operator,
    )
    live = LiveLists(ports.store, in_doubt_after_s=settings.claim_lease_s)
    return Ops(tracer, reconciler, desk, journal, live)


#: Connections kept open per WAL storage account (requests' pool; ``BlobOptions.connection_pool_size``).
WAL_CONNECTIONS = 32


def _count_degraded(write: DegradedWrite) -> None:
    metrics.incr("wal_degraded_writes")


def dual_region_wal(
    settings: Settings,
    *,
    on_degraded: Callable[[DegradedWrite], None] | None = _count_degraded,
    options: BlobOptions | None = None,
) -> DualRegionWriteAheadLog:
    """The WAL of ``settings.region``: its own account as ``own``, the other region's as ``peer``
    (``WalStorageDC04``/``WalStorageDC06``, container ``WAL_CONTAINER``, ``WAL_ALLOW_DEGRADED``)."""
    # The QueueBuilder's one segment write per unit, the runner's claim-check reads, the Watchdog's walk.
    pooled = dataclasses.replace(options or BlobOptions(), connection_pool_size=WAL_CONNECTIONS)

    def region_wal(region: str) -> BlobWriteAheadLog:
        return BlobWriteAheadLog(settings.wal_connection(region), settings.wal_container, pooled)

    return DualRegionWriteAheadLog(
        region_wal(settings.region),
        region_wal(settings.peer_region),
        own_region=settings.region,
        peer_region=settings.peer_region,
        allow_degraded=settings.wal_allow_degraded,
        on_degraded=on_degraded,
        max_workers=4,  # both copies of a segment in flight (and a reconcile's beside them)
    )


def region_ports(
    settings: Settings,
    *,
    mq: MqSource | None = None,
    target: DeliveryTarget | None = None,
    switch: ConsumptionSwitch | None = None,
    env: Mapping[str, str] | None = None,
) -> Ports:
    """Every adapter of ``settings.region``. ``mq``, ``target`` and ``switch``, when given, replace
    the IBM MQ input, the MessageWay put and the app-setting switch; ``env`` holds the MQ credentials
    (default: the process environment, see :func:`shared.adapters.ibmmq_source.ibmmq_config`).
    Raises one ``ConfigurationError`` naming every setting a production adapter lacks."""
    problems = []
    if (mq is None or target is None) and not (settings.mq_queue_manager and settings.mq_conn_name):
        problems.append("MQ_QUEUE_MANAGER/MQ_CONN_NAME: required (IBM MQ input and MessageWay output)")
    if switch is None and not (settings.control_app_url and settings.control_app_scope):
        problems.append(
            "CONTROL_APP_URL/CONTROL_APP_SCOPE: required (the region's control app turns the runner on/off)"
        )
    if problems:
        raise ConfigurationError(problems)
    mq_config = ibmmq_config(settings, os.environ if env is None else env)
    own_blob = settings.wal_connection(settings.region)
    control = CosmosContainer(settings.cosmos, settings.cosmos_database, settings.cosmos_control_container)
    return Ports(
        authority=CosmosRegionAuthority(control),
        mirror=RedisGateMirror.from_connection(settings.redis, settings.region),
        sequences=CosmosSequenceAllocator(control),
        checkpoints=CosmosCheckpointStore(control),
        heartbeats=CosmosHeartbeats(control),
        mq=mq or IbmMqSource(mq_config, settings.mq_queue, settings.mq_backout_queue),
        wal=dual_region_wal(settings),
        publisher=ServiceBusStatementPublisher.from_settings(settings),
        store=CosmosIdempotencyStore(settings.cosmos, settings.cosmos_database, settings.cosmos_container),
        target=target or MqDeliveryTarget(mq_config, settings.messageway_queue),
        quarantine=BlobBodyStore(own_blob, settings.quarantine_container),
        switch=switch
        or RemoteConsumptionSwitch(
            settings.control_app_url, managed_identity_token(settings.control_app_scope)
        ),
        backup=BlobBodyStore(own_blob, settings.backup_container) if settings.backup_container else None,
        # Written here, read in both regions' WAL accounts (shared.journal.BothRegionsJournal).
        journal=BothRegionsJournal(
            BlobOperationsJournal(own_blob, settings.operations_container),
            BlobOperationsJournal(
                settings.wal_connection(settings.peer_region), settings.operations_container
            ),
        ),
    )


_lock = threading.Lock()
_components: Components | None = None


def components() -> Components:
    """The process's components, built on first use from the environment's settings."""
    global _components  # noqa: PLW0603 - the process-wide composition root
    with _lock:
        if _components is None:
            configure_observability()
            settings = load_settings()
            _components = wire(settings, region_ports(settings))
        return _components


def build_app(region: Callable[[], Components]) -> func.FunctionApp:
    """The Functions app: one blueprint per function package, each calling ``region()`` per trigger."""
    app = func.FunctionApp()
    app.register_functions(queue_builder_blueprint(region))
    app.register_functions(runner_blueprint(region))
    app.register_functions(watchdog_blueprint(region))
    app.register_functions(desk_blueprint(region))
    return app

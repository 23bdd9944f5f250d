"""Builds one region's adapters from settings (called by ``bootstrap.azure_ports``).

Each adapter connects lazily, on first use, so building them needs no network.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shared.adapters.blob_bodies import BlobBodyStore
from shared.adapters.cosmos_client import CosmosContainer
from shared.adapters.cosmos_control import (
    CosmosCheckpointStore,
    CosmosHeartbeats,
    CosmosRegionAuthority,
    CosmosSequenceAllocator,
)
from shared.adapters.cosmos_store import CosmosIdempotencyStore
from shared.adapters.ibmmq_source import make_mq_source
from shared.adapters.messageway import make_delivery_target
from shared.adapters.redis_gate import RedisGateMirror
from shared.adapters.servicebus import ServiceBusStatementPublisher
from shared.ports import ConsumptionSwitch
from shared.settings import Settings
from shared.telemetry import metrics
from shared.wal_dual import DegradedWrite, dual_region_wal

if TYPE_CHECKING:
    from bootstrap import Ports

log = logging.getLogger("bridge.wal")


def _count_degraded(write: DegradedWrite) -> None:
    metrics.incr("wal_degraded_writes")


def ports(settings: Settings, switch: ConsumptionSwitch) -> Ports:
    """Every adapter of ``settings.region``, as a ``bootstrap.Ports``."""
    from bootstrap import Ports  # noqa: PLC0415 - bootstrap imports this module lazily

    local_blob = settings.wal_connection(settings.region)
    control = CosmosContainer(settings.cosmos, settings.cosmos_database, settings.cosmos_control_container)
    return Ports(
        authority=CosmosRegionAuthority(control),
        mirror=RedisGateMirror.from_connection(settings.redis, settings.region),
        sequences=CosmosSequenceAllocator(control),
        checkpoints=CosmosCheckpointStore(control),
        heartbeats=CosmosHeartbeats(control),
        mq=make_mq_source(settings, owner=f"{settings.region}-queue-builder"),
        wal=dual_region_wal(settings, on_degraded=_count_degraded),
        publisher=ServiceBusStatementPublisher.from_settings(settings),
        store=CosmosIdempotencyStore(settings.cosmos, settings.cosmos_database, settings.cosmos_container),
        target=make_delivery_target(settings),
        quarantine=BlobBodyStore(local_blob, settings.quarantine_container),
        switch=switch,
        backup=BlobBodyStore(local_blob, settings.backup_container) if settings.backup_container else None,
    )

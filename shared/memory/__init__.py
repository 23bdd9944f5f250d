"""In-memory twins of every port: fast, deterministic, and raising the same errors as the adapters.

Each twin has an ``available`` switch; when it is off every call raises ``ServiceUnavailable`` as the
real adapter does when its server has gone away. The contract suites in ``tests/contracts`` run
against these and against the real local servers.
"""

from shared.memory.bodies import InMemoryBodyStore
from shared.memory.control import (
    InMemoryCheckpointStore,
    InMemoryGateMirror,
    InMemoryHeartbeats,
    InMemoryRegionAuthority,
    InMemorySequenceAllocator,
)
from shared.memory.delivery import InMemoryDeliveryTarget
from shared.memory.idempotency import InMemoryIdempotencyStore
from shared.memory.mq import InMemoryMqSource
from shared.memory.publisher import InMemoryPublisher
from shared.memory.switch import InMemoryConsumptionSwitch
from shared.memory.wal import InMemoryWriteAheadLog

__all__ = [
    "InMemoryBodyStore",
    "InMemoryCheckpointStore",
    "InMemoryConsumptionSwitch",
    "InMemoryDeliveryTarget",
    "InMemoryGateMirror",
    "InMemoryHeartbeats",
    "InMemoryIdempotencyStore",
    "InMemoryMqSource",
    "InMemoryPublisher",
    "InMemoryRegionAuthority",
    "InMemorySequenceAllocator",
    "InMemoryWriteAheadLog",
]

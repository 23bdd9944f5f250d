"""In-memory twins of every port: fast, deterministic, and raising the same errors as the adapters.

Each twin has an ``available`` switch; when it is off every call raises ``ServiceUnavailable`` as the
real adapter does when its server has gone away. The contract suites in ``tests/contracts`` run
against these and against the real local servers.
"""

from tests.twins.bodies import InMemoryBodyStore
from tests.twins.control import (
    InMemoryCheckpointStore,
    InMemoryGateMirror,
    InMemoryHeartbeats,
    InMemoryRegionAuthority,
    InMemorySequenceAllocator,
)
from tests.twins.delivery import InMemoryDeliveryTarget
from tests.twins.idempotency import InMemoryIdempotencyStore
from tests.twins.journal import InMemoryOperationsJournal
from tests.twins.mq import InMemoryMqSource
from tests.twins.publisher import InMemoryPublisher
from tests.twins.switch import InMemoryConsumptionSwitch
from tests.twins.wal import InMemoryWriteAheadLog, make_segment

__all__ = [
    "InMemoryBodyStore",
    "InMemoryCheckpointStore",
    "InMemoryConsumptionSwitch",
    "InMemoryDeliveryTarget",
    "InMemoryGateMirror",
    "InMemoryHeartbeats",
    "InMemoryIdempotencyStore",
    "InMemoryMqSource",
    "InMemoryOperationsJournal",
    "InMemoryPublisher",
    "InMemoryRegionAuthority",
    "InMemorySequenceAllocator",
    "InMemoryWriteAheadLog",
    "make_segment",
]

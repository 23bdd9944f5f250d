"""In-memory twins of the control-plane ports: the region lease, a region's gate mirror, ingest
sequences, checkpoints and heartbeats.

Each stores what its adapter stores and raises what it raises: ``AlreadyExists`` on a second
:meth:`InMemoryRegionAuthority.create`, ``LeaseLost`` (carrying the current lease) on a stale swap,
``ServiceUnavailable`` while ``available`` is off. ``writes_available`` off models a Cosmos account
whose write region is lost: reads answer, every write raises ``WritesUnavailable``.
"""

from __future__ import annotations

import dataclasses
import itertools

from shared.errors import AlreadyExists, LeaseLost, WritesUnavailable
from shared.model import Activation, Checkpoint, GateView, Heartbeat, Lease
from shared.ports import CheckpointStore, GateMirror, Heartbeats, RegionAuthority, SequenceAllocator
from tests.twins._base import Twin


class _CosmosTwin(Twin):
    service = "cosmos"

    def __init__(self) -> None:
        super().__init__()
        self.writes_available = True

    def _check_write(self) -> None:
        self._check()
        if not self.writes_available:
            raise WritesUnavailable(self.service, "HTTP 503: write region unavailable (in-memory twin)")


class InMemoryRegionAuthority(_CosmosTwin, RegionAuthority):
    def __init__(self) -> None:
        super().__init__()
        self._lease: Lease | None = None
        self._etags = itertools.count(1)

    def read(self) -> Lease | None:
        self._check()
        return self._lease

    def create(self, lease: Lease) -> Lease:
        with self.lock:
            self._check_write()
            if self._lease is not None:
                raise AlreadyExists("region lease", "gate")
            self._lease = dataclasses.replace(lease, etag=self._etag())
            return self._lease

    def swap(self, expected: Lease, new: Lease) -> Lease:
        with self.lock:
            self._check_write()
            if self._lease is None or self._lease.etag != expected.etag:
                raise LeaseLost(expected, self._lease)
            self._lease = dataclasses.replace(new, etag=self._etag())
            return self._lease

    def _etag(self) -> str:
        return f'"{next(self._etags):08x}"'


class InMemoryGateMirror(Twin, GateMirror):
    service = "redis"

    def __init__(self) -> None:
        super().__init__()
        self._view: GateView | None = None

    def publish(self, view: GateView) -> None:
        self._check()
        self._view = dataclasses.replace(view, lease=dataclasses.replace(view.lease, etag=""))  # as Redis

    def read(self) -> GateView | None:
        self._check()
        return self._view


class InMemorySequenceAllocator(_CosmosTwin, SequenceAllocator):
    def __init__(self) -> None:
        super().__init__()
        self._last: dict[int, int] = {}

    def next(self, epoch: int, count: int = 1) -> int:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self.lock:
            self._check_write()
            last = self._last.get(epoch, 0)
            self._last[epoch] = last + count
            return last + 1


class InMemoryCheckpointStore(_CosmosTwin, CheckpointStore):
    def __init__(self) -> None:
        super().__init__()
        self._checkpoints: dict[str, Checkpoint] = {}
        self._activations: dict[str, Activation] = {}

    def get(self, key: str) -> Checkpoint | None:
        self._check()
        return self._checkpoints.get(key)

    def put(self, checkpoint: Checkpoint) -> None:
        self._check_write()
        self._checkpoints[checkpoint.key] = checkpoint

    def activation(self, region: str) -> Activation | None:
        self._check()
        return self._activations.get(region)

    def record_activation(self, activation: Activation) -> None:
        self._check_write()
        self._activations[activation.region] = activation


class InMemoryHeartbeats(_CosmosTwin, Heartbeats):
    def __init__(self) -> None:
        super().__init__()
        self._beats: dict[tuple[str, str], Heartbeat] = {}

    def beat(self, heartbeat: Heartbeat) -> None:
        self._check_write()
        self._beats[heartbeat.region, heartbeat.component] = heartbeat

    def last(self, region: str, component: str) -> Heartbeat | None:
        self._check()
        return self._beats.get((region, component))

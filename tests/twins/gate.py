"""In-memory twin of :class:`shared.ports.ActiveRegionGate`, optionally a replica of another twin.

A replica (``InMemoryGate(primary=...)``) models the Redis adapter's topology: while ``linked`` it
shows its primary's data at once; unlinked it keeps what it last saw. It is read-only: a write goes to
its primary (as a ``READONLY`` refusal does in the adapter), or raises ``ServiceUnavailable`` when the
primary is switched off. :meth:`InMemoryGate.promotion_gate` answers as the adapter does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import cast

from shared.errors import PreconditionFailed, ServiceUnavailable
from shared.model import GateState
from shared.ports import ActiveRegionGate
from tests.twins._base import Twin


class InMemoryGate(Twin, ActiveRegionGate):
    service = "redis"

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, primary: InMemoryGate | None = None
    ) -> None:
        super().__init__()
        self.clock = clock  # monotonic seconds; tests inject a fake to expire heartbeats
        self._state: GateState | None = None
        self._beats: dict[str, tuple[datetime, float]] = {}
        self._sequences: dict[int, int] = {}
        self._docs: dict[str, str] = {}
        #: The gate this one replicates (``None``: a primary); ``linked``: replication flows.
        self.primary = primary
        self.linked = True
        #: What :meth:`replication_lag_s` answers: ``None`` (a primary), seconds, or ``math.inf``.
        self.replication_lag: float | None = None if primary is None else 0.0

    def read(self) -> GateState | None:
        self._read()
        return self._state

    def initialise(self, active_dc: str) -> GateState:
        writer = self._writer()
        if writer is not self:
            return writer.initialise(active_dc)
        with self.lock:
            if self._state is None:
                self._state = GateState(active_dc, 1)
            return self._state

    def flip(self, expected: GateState, new_active: str) -> GateState:
        writer = self._writer()
        if writer is not self:
            return writer.flip(expected, new_active)
        with self.lock:
            if self._state != expected:
                raise PreconditionFailed("gate", f"{expected.active_dc}@{expected.epoch}")
            self._state = GateState(new_active, expected.epoch + 1)
            return self._state

    def heartbeat(self, region: str, ttl_s: float, at: datetime) -> None:
        writer = self._writer()
        if writer is not self:
            writer.heartbeat(region, ttl_s, at)
            return
        self._beats[region] = (at, self.clock() + ttl_s)

    def last_heartbeat(self, region: str) -> datetime | None:
        self._read()
        beat = self._beats.get(region)
        if beat is None or self.clock() >= beat[1]:
            return None
        return beat[0]

    def next_sequence(self, epoch: int, count: int = 1) -> int:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        writer = self._writer()
        if writer is not self:
            return writer.next_sequence(epoch, count)
        with self.lock:
            last = self._sequences.get(epoch, 0)
            self._sequences[epoch] = last + count
            return last + 1

    def put_json(self, key: str, value: Mapping[str, object]) -> None:
        writer = self._writer()
        if writer is not self:
            writer.put_json(key, value)
            return
        self._docs[key] = json.dumps(value, default=str)

    def get_json(self, key: str) -> dict[str, object] | None:
        self._read()
        raw = self._docs.get(key)
        return None if raw is None else cast(dict[str, object], json.loads(raw))

    def replication_lag_s(self) -> float | None:
        self._check()
        return self.replication_lag

    # -- replication (what the Redis adapter does on a replica) -----------------------------------

    def role(self) -> str:
        self._check()
        return "master" if self.primary is None else "replica"

    def primary_reachable(self) -> bool:
        self._check()
        return self.primary is None or self.primary.available

    def make_writable(self) -> None:
        """``REPLICAOF NO ONE``: keep what was last replicated, stop following the primary."""
        self._read()
        self.primary, self.replication_lag = None, None

    def promotion_gate(self) -> ActiveRegionGate:
        self._check()
        if self.primary is None:
            return self
        if self.primary.available:
            return self.primary
        self.make_writable()
        return self

    def _read(self) -> None:
        self._check()
        primary = self.primary
        if primary is not None and self.linked and primary.available:
            with primary.lock:
                self._state, self._beats = primary._state, dict(primary._beats)
                self._sequences, self._docs = dict(primary._sequences), dict(primary._docs)

    def _writer(self) -> InMemoryGate:
        self._check()
        if self.primary is None:
            return self
        if not self.primary.available:
            raise ServiceUnavailable(self.service, "READONLY replica and its primary is unreachable")
        return self.primary

"""In-memory twin of :class:`shared.ports.ActiveRegionGate`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import cast

from shared.errors import PreconditionFailed
from shared.memory._base import Twin
from shared.model import GateState
from shared.ports import ActiveRegionGate


class InMemoryGate(Twin, ActiveRegionGate):
    service = "redis"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock  # monotonic seconds; tests inject a fake to expire heartbeats
        self._state: GateState | None = None
        self._beats: dict[str, tuple[datetime, float]] = {}
        self._sequences: dict[int, int] = {}
        self._docs: dict[str, str] = {}
        #: What :meth:`replication_lag_s` answers: ``None`` (a primary), seconds, or ``math.inf``.
        self.replication_lag: float | None = None

    def read(self) -> GateState | None:
        self._check()
        return self._state

    def initialise(self, active_dc: str) -> GateState:
        with self.lock:
            self._check()
            if self._state is None:
                self._state = GateState(active_dc, 1)
            return self._state

    def flip(self, expected: GateState, new_active: str) -> GateState:
        with self.lock:
            self._check()
            if self._state != expected:
                raise PreconditionFailed("gate", f"{expected.active_dc}@{expected.epoch}")
            self._state = GateState(new_active, expected.epoch + 1)
            return self._state

    def heartbeat(self, region: str, ttl_s: float, at: datetime) -> None:
        self._check()
        self._beats[region] = (at, self.clock() + ttl_s)

    def last_heartbeat(self, region: str) -> datetime | None:
        self._check()
        beat = self._beats.get(region)
        if beat is None or self.clock() >= beat[1]:
            return None
        return beat[0]

    def next_sequence(self, epoch: int, count: int = 1) -> int:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self.lock:
            self._check()
            last = self._sequences.get(epoch, 0)
            self._sequences[epoch] = last + count
            return last + 1

    def put_json(self, key: str, value: Mapping[str, object]) -> None:
        self._check()
        self._docs[key] = json.dumps(value, default=str)

    def get_json(self, key: str) -> dict[str, object] | None:
        self._check()
        raw = self._docs.get(key)
        return None if raw is None else cast(dict[str, object], json.loads(raw))

    def replication_lag_s(self) -> float | None:
        self._check()
        return self.replication_lag

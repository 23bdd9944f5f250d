"""In-memory twin of :class:`shared.ports.DeliveryTarget`: a dict by delivery key, counting repeats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from shared.ports import DeliveryTarget
from tests.twins._base import Twin


class InMemoryDeliveryTarget(Twin, DeliveryTarget):
    service = "messageway"

    def __init__(self, can_tell: bool = True) -> None:
        super().__init__()
        self.can_tell = can_tell
        self.delivered: dict[str, bytes] = {}
        self.attempts: Counter[str] = Counter()

    def deliver(self, delivery_key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        with self.lock:
            self._check()
            self.attempts[delivery_key] += 1
            self.delivered.setdefault(delivery_key, bytes(payload))

    def was_delivered(self, delivery_key: str) -> bool | None:
        self._check()
        if not self.can_tell:
            return None
        return delivery_key in self.delivered

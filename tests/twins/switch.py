"""In-memory twin of :class:`shared.ports.ConsumptionSwitch`."""

from __future__ import annotations

from shared.ports import ConsumptionSwitch
from tests.twins._base import Twin


class InMemoryConsumptionSwitch(Twin, ConsumptionSwitch):
    service = "functions"

    def __init__(self, enabled: bool = False) -> None:
        super().__init__()
        self._enabled = enabled
        self.changes: list[bool] = []

    def set_enabled(self, enabled: bool) -> None:
        self._check()
        if enabled != self._enabled:
            self.changes.append(enabled)
        self._enabled = enabled

    def enabled(self) -> bool:
        self._check()
        return self._enabled

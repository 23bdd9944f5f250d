"""In-memory twin of :class:`shared.ports.CheckpointStore`."""

from __future__ import annotations

from shared.model import Checkpoint
from shared.ports import CheckpointStore
from tests.twins._base import Twin


class InMemoryCheckpointStore(Twin, CheckpointStore):
    service = "cosmos"

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[str, Checkpoint] = {}
        self.saves = 0

    def get(self, key: str) -> Checkpoint | None:
        self._check()
        return self._items.get(key)

    def put(self, checkpoint: Checkpoint) -> None:
        with self.lock:
            self._check()
            self._items[checkpoint.key] = checkpoint
            self.saves += 1

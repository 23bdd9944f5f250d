"""In-memory twin of :class:`shared.ports.BodyStore`."""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import NotFound
from shared.ports import BodyStore
from tests.twins._base import Twin


class InMemoryBodyStore(Twin, BodyStore):
    service = "blob"

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, tuple[bytes, dict[str, str]]] = {}

    def put(self, name: str, body: bytes, metadata: Mapping[str, str]) -> None:
        self._check()
        self.items[name] = (bytes(body), dict(metadata))

    def get(self, name: str) -> bytes:
        self._check()
        try:
            return self.items[name][0]
        except KeyError:
            raise NotFound("blob", name) from None

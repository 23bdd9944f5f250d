"""In-memory twin of :class:`shared.ports.WriteAheadLog`."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator

from shared.errors import AlreadyExists, NotFound
from shared.model import WalEntry
from shared.ports import WriteAheadLog
from tests.twins._base import Twin


class InMemoryWriteAheadLog(Twin, WriteAheadLog):
    service = "blob"

    def __init__(self) -> None:
        super().__init__()
        self._names: list[str] = []
        self._blobs: dict[str, tuple[WalEntry, bytes]] = {}

    def append(self, entry: WalEntry, body: bytes) -> None:
        with self.lock:
            self._check()
            existing = self._blobs.get(entry.name)
            if existing is not None:
                if hashlib.sha256(existing[1]).hexdigest() == hashlib.sha256(body).hexdigest():
                    return
                raise AlreadyExists("WAL blob", entry.name)
            bisect.insort(self._names, entry.name)
            self._blobs[entry.name] = (entry, bytes(body))

    def read(self, name: str) -> tuple[WalEntry, bytes]:
        self._check()
        try:
            return self._blobs[name]
        except KeyError:
            raise NotFound("WAL blob", name) from None

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[WalEntry]:
        self._check()
        with self.lock:
            start = 0 if after is None else bisect.bisect_right(self._names, after)
            names = self._names[start:]
        if limit is not None:
            names = names[:limit]
        for name in names:
            yield self._blobs[name][0]

"""In-memory twin of :class:`shared.journal.OperationsJournal` (same errors as the Blob adapter)."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Mapping

from shared.errors import AlreadyExists, PreconditionFailed, ServiceUnavailable
from shared.journal import OperationsJournal


class InMemoryOperationsJournal(OperationsJournal):
    """Documents in a dict; ``available = False`` makes every call raise ``ServiceUnavailable``."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[dict[str, object], str]] = {}
        self.available = True
        self._etags = itertools.count(1)
        self._lock = threading.Lock()

    def _check(self) -> None:
        if not self.available:
            raise ServiceUnavailable("journal", "twin switched off")

    def _store(self, name: str, document: Mapping[str, object]) -> str:
        etag = f'"{next(self._etags)}"'
        self.documents[name] = (json.loads(json.dumps(document, default=str)), etag)
        return etag

    def create(self, name: str, document: Mapping[str, object]) -> str:
        with self._lock:
            self._check()
            if name in self.documents:
                raise AlreadyExists("journal document", name)
            return self._store(name, document)

    def replace(self, name: str, document: Mapping[str, object], etag: str) -> str:
        with self._lock:
            self._check()
            if name not in self.documents or self.documents[name][1] != etag:
                raise PreconditionFailed("journal document", name)
            return self._store(name, document)

    def put(self, name: str, document: Mapping[str, object]) -> None:
        with self._lock:
            self._check()
            self._store(name, document)

    def read(self, name: str) -> tuple[dict[str, object], str] | None:
        with self._lock:
            self._check()
            found = self.documents.get(name)
            return (copy.deepcopy(found[0]), found[1]) if found else None

    def names(self, prefix: str) -> list[str]:
        with self._lock:
            self._check()
            return sorted(name for name in self.documents if name.startswith(prefix))

"""The operations journal port: small JSON documents the operations desk keeps durably.

What lives there (names are the contract; ``docs/runbook.md`` lists them for auditors):

* ``requests/{request_id}`` (ids start with the UTC time) — one resubmit, resend or forced-failover
  request: who asked, why, who approved, its state and result (the audit record of the action);
* ``messages/{message_id}/{request_id}`` — an index entry, so a trace finds a statement's requests;
* ``replays/{message_id}/{at}-{region}`` — one replay that re-published the statement (walk, reason,
  epoch; ``watchdog.replay_trace``);
* ``reports/reconciliation/{until}.json`` and ``reports/reconciliation/latest.json`` — reports.

The Azure adapter is :class:`shared.adapters.blob_journal.BlobOperationsJournal` (a Blob container
of a region's WAL storage account), combined by :class:`BothRegionsJournal` (write here, read both);
the twin lives under ``tests/``. One contract suite
(``tests/contracts/test_journal_contract.py``) runs against both.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Mapping

from shared.errors import TransientError


class OperationsJournal(ABC):
    """Create-only or ETag-conditional JSON documents by name, listable by prefix."""

    @abstractmethod
    def create(self, name: str, document: Mapping[str, object]) -> str:
        """Create ``name``; return its ETag. ``AlreadyExists`` if it exists (If-None-Match: *)."""

    @abstractmethod
    def read(self, name: str) -> tuple[dict[str, object], str] | None:
        """The document and its ETag, or ``None``."""

    @abstractmethod
    def replace(self, name: str, document: Mapping[str, object], etag: str) -> str:
        """Replace ``name`` if it still has ``etag`` (If-Match); ``PreconditionFailed`` otherwise."""

    @abstractmethod
    def put(self, name: str, document: Mapping[str, object]) -> None:
        """Write ``name`` unconditionally (reports: the latest one wins)."""

    @abstractmethod
    def names(self, prefix: str) -> list[str]:
        """Names starting with ``prefix``, in name order."""


class BothRegionsJournal(OperationsJournal):
    """This region's journal for writes, both regions' journals for reads.

    Each region writes its requests and reports to the operations container of its own WAL account
    (the app's identity writes both WAL accounts already); reads look in both, so a trace, the list of
    requests or an approval on one region sees what the other region recorded — a resend requested on
    DC04 can be approved on DC06 after a failover. A request is changed (``replace``) in the container
    that holds it. When the peer's account cannot be reached, listings answer from this region's
    journal alone rather than failing the read.
    """

    def __init__(self, own: OperationsJournal, peer: OperationsJournal) -> None:
        self.own = own
        self.peer = peer

    def create(self, name: str, document: Mapping[str, object]) -> str:
        return self.own.create(name, document)

    def put(self, name: str, document: Mapping[str, object]) -> None:
        self.own.put(name, document)

    def read(self, name: str) -> tuple[dict[str, object], str] | None:
        found = self.own.read(name)
        if found is not None:
            return found
        try:
            return self.peer.read(name)
        except TransientError:
            return None

    def replace(self, name: str, document: Mapping[str, object], etag: str) -> str:
        holder = self.own if self.own.read(name) is not None else self.peer
        return holder.replace(name, document, etag)

    def names(self, prefix: str) -> list[str]:
        names = set(self.own.names(prefix))
        with contextlib.suppress(TransientError):
            names.update(self.peer.names(prefix))
        return sorted(names)

"""The operations journal port: small JSON documents the operations desk keeps durably.

What lives there (names are the contract; ``docs/runbook.md`` lists them for auditors):

* ``requests/{request_id}`` (ids start with the UTC time) — one resubmit, resend or forced-failover
  request: who asked, why, who approved, its state and result (the audit record of the action);
* ``messages/{message_id}/{request_id}`` — an index entry, so a trace finds a statement's requests;
* ``reports/reconciliation/{until}.json`` and ``reports/reconciliation/latest.json`` — reports.

The Azure adapter is :class:`shared.adapters.blob_journal.BlobOperationsJournal` (a Blob container
of the region's WAL storage account); the twin lives under ``tests/``. One contract suite
(``tests/contracts/test_journal_contract.py``) runs against both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping


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

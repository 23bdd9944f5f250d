"""Blob containers for quarantined bodies and output backups: :class:`BlobBodyStore`.

The runner keeps the body of a message it cannot ever transform in the quarantine container, and,
when ``OUTPUT_BACKUP_CONTAINER`` is set, a copy of each MT950 output in the backup container. Names are
keyed by message id, so writing the same name again (a retry) simply overwrites with the same content
(Blob REST "Put Blob" without conditions). Metadata values are percent-encoded where they are not
printable ASCII, as in :mod:`shared.adapters.blob_wal`.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.adapters.azure_errors import azure_errors
from shared.adapters.blob_wal import BlobOptions, LazyContainer, ascii_metadata
from shared.ports import BodyStore
from shared.settings import Connection


class BlobBodyStore(BodyStore):
    """:class:`~shared.ports.BodyStore` on one storage account's ``container`` (created on first use)."""

    def __init__(self, connection: Connection, container: str, options: BlobOptions | None = None) -> None:
        self.options = options or BlobOptions()
        self._container = LazyContainer(connection, container, self.options)

    @property
    def container_name(self) -> str:
        return self._container.name

    def put(self, name: str, body: bytes, metadata: Mapping[str, str]) -> None:
        """Write ``body`` under ``name``, replacing any earlier blob of that name.

        Metadata keys must be valid C# identifiers (Blob REST "Naming and referencing containers,
        blobs, and metadata"); values may be any text.
        """
        container = self._container.client()
        encoded = {key: ascii_metadata(value) for key, value in metadata.items()}
        with azure_errors("blob", "blob", name):
            container.get_blob_client(name).upload_blob(
                body, overwrite=True, metadata=encoded, max_concurrency=1
            )

    def get(self, name: str) -> bytes:
        """The body stored under ``name``; ``NotFound`` if missing."""
        container = self._container.client()
        with azure_errors("blob", "blob", name):
            return container.get_blob_client(name).download_blob().readall()

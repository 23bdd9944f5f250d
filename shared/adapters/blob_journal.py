"""The operations journal on Azure Blob Storage: :class:`BlobOperationsJournal`.

One block blob per document (``application/json``). ``create`` is Put Blob with ``If-None-Match: *``
(409 → ``AlreadyExists``), ``replace`` is Put Blob with ``If-Match: <etag>`` (412 →
``PreconditionFailed``): Blob REST "Specifying conditional headers for Blob service operations",
https://learn.microsoft.com/en-us/rest/api/storageservices/
specifying-conditional-headers-for-blob-service-operations .
``names`` is List Blobs with a prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from azure.core import MatchConditions
from azure.storage.blob import ContentSettings

from shared.adapters.azure_errors import azure_errors
from shared.adapters.blob_wal import BlobOptions, LazyContainer
from shared.errors import NotFound
from shared.journal import OperationsJournal
from shared.settings import Connection

_JSON = ContentSettings(content_type="application/json")


class BlobOperationsJournal(OperationsJournal):
    """:class:`~shared.journal.OperationsJournal` on one storage account's ``container``."""

    def __init__(self, connection: Connection, container: str, options: BlobOptions | None = None) -> None:
        self._container = LazyContainer(connection, container, options or BlobOptions())

    def _write(self, name: str, document: Mapping[str, object], **conditions: Any) -> str:
        blob = self._container.client().get_blob_client(name)
        data = json.dumps(document, sort_keys=True, default=str).encode()
        with azure_errors("blob", "journal document", name):
            result = blob.upload_blob(data, content_settings=_JSON, max_concurrency=1, **conditions)
        return str(result["etag"])

    def create(self, name: str, document: Mapping[str, object]) -> str:
        return self._write(name, document, overwrite=False)

    def replace(self, name: str, document: Mapping[str, object], etag: str) -> str:
        return self._write(
            name, document, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
        )

    def put(self, name: str, document: Mapping[str, object]) -> None:
        self._write(name, document, overwrite=True)

    def read(self, name: str) -> tuple[dict[str, object], str] | None:
        blob = self._container.client().get_blob_client(name)
        try:
            with azure_errors("blob", "journal document", name):
                downloader = blob.download_blob()
                data = downloader.readall()
        except NotFound:
            return None
        document = json.loads(data)
        return (document if isinstance(document, dict) else {"value": document}), str(
            downloader.properties.etag
        )

    def names(self, prefix: str) -> list[str]:
        container = self._container.client()
        with azure_errors("blob", "journal listing", prefix):
            return sorted(str(blob.name) for blob in container.list_blobs(name_starts_with=prefix))

"""The write-ahead log on Azure Blob Storage (azure-storage-blob 12.31): :class:`BlobWriteAheadLog`.

One block blob per WAL segment (one MQ unit of work, :mod:`shared.wal_segment`), named
``SegmentInfo.name`` (``{epoch:010d}/{first_sequence:012d}-{region}-{unique}``: name order is ingest
order), holding the encoded segment, with :func:`~shared.wal_segment.info_metadata` plus ``data_sha256``
(the SHA-256 of the whole blob) as blob metadata.

* ``append`` is a create-only Put Blob (``If-None-Match: *``; Blob REST "Put Blob", "Specifying
  conditional headers", https://learn.microsoft.com/rest/api/storageservices/put-blob). Data and
  metadata travel in one request (above the SDK's single-put size, 64 MiB, in one Put Block List that
  commits every block at once: https://learn.microsoft.com/rest/api/storageservices/put-block-list),
  so a segment is never visible partly written or without its metadata. A 409 ``BlobAlreadyExists`` is
  checked against the stored ``data_sha256``: the same bytes are an idempotent retry (success), other
  bytes raise :class:`~shared.errors.AlreadyExists`.
* ``read_entry`` is one ranged Get Blob (``x-ms-range``,
  https://learn.microsoft.com/rest/api/storageservices/specifying-the-range-header-for-blob-service-operations)
  of the record's bytes, checked against its SHA-256; a range outside the blob (HTTP 416) or bytes that
  do not match raise :class:`~shared.wal_segment.UnreadableWalEntry`.
* ``read_index`` reads the first :data:`INDEX_READ` bytes (one request for any unit of a few hundred
  records) and, only if the index is longer, the rest of it.
* ``list`` walks the name hierarchy (List Blobs with ``delimiter='/'``), skipping whole epoch folders
  that sort before the checkpoint, and builds each :class:`~shared.model.SegmentInfo` from the listed
  metadata without reading the blob.
* ``delete`` deletes the blob with its snapshots; a missing blob is success (retention may repeat).

Errors are mapped by :mod:`shared.adapters.azure_errors`; the SDK's own retries are short and few
(:class:`BlobOptions`) because the callers retry at a higher level within a time budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobPrefix, BlobProperties, BlobServiceClient, ContainerClient, LinearRetry

from shared.adapters.azure_errors import RequestRejected, azure_errors
from shared.adapters.http_transport import requests_transport
from shared.errors import AlreadyExists, ConfigurationError, NotFound, ServiceUnavailable
from shared.model import SegmentInfo, WalLocator, WalSegment
from shared.ports import WriteAheadLog
from shared.settings import Connection
from shared.wal_segment import (
    UnreadableWalEntry,
    checked_body,
    decode_index,
    index_end,
    info_from_metadata,
    info_metadata,
)

_WHAT = "WAL segment"
# Printable ASCII except '%' (the escape character) and space (trimmed from header values).
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
#: Bytes of a segment's head read at once by ``read_index``: header and index of ~250 records.
INDEX_READ = 64 * 1024
#: The metadata key of the whole blob's SHA-256 (the create-only same-bytes check).
DATA_SHA256 = "data_sha256"


@dataclass(frozen=True)
class BlobOptions:
    """Client tunables. Defaults are short on purpose: the QueueBuilder drains within a time budget
    and backs MQ out on failure, so one slow storage call must not eat the whole budget."""

    connection_timeout_s: float = 2.0
    read_timeout_s: float = 10.0
    retry_total: int = 2
    retry_backoff_s: float = 0.2
    #: Connections kept open per storage account (requests' default is 10); at least the number of
    #: concurrent calls, or every call beyond it opens and then discards a TCP connection.
    connection_pool_size: int = 10


class _ShortRetry(LinearRetry):
    """The Storage retry policy (it knows which answers are retryable) with sub-second back-offs."""

    def __init__(self, backoff_s: float, retry_total: int) -> None:
        super().__init__(retry_total=retry_total)
        self.backoff_s = backoff_s

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return random.uniform(0, 2 * self.backoff_s)  # noqa: S311 - jitter, not cryptography


def blob_service_client(connection: Connection, options: BlobOptions) -> BlobServiceClient:
    """A client for ``connection``: its connection string, or its ``serviceUri`` with managed identity."""
    kwargs: dict[str, Any] = {
        "retry_policy": _ShortRetry(options.retry_backoff_s, options.retry_total),
        "transport": requests_transport(
            options.connection_pool_size,
            connection_timeout=options.connection_timeout_s,
            read_timeout=options.read_timeout_s,
        ),
    }
    if connection.connection_string:
        return BlobServiceClient.from_connection_string(connection.connection_string, **kwargs)
    if not connection.endpoint:
        raise ConfigurationError([f"{connection.name}: neither a connection string nor a serviceUri"])
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only in Azure

    return BlobServiceClient(connection.endpoint, credential=DefaultAzureCredential(), **kwargs)


class LazyContainer:
    """A container client built on first use.

    With a connection string (Azurite) the container is created then, once, if missing. With managed
    identity it is only opened: the infrastructure declares the containers (``infra/``), and the app's
    data role need not be allowed to create them.
    """

    def __init__(self, connection: Connection, name: str, options: BlobOptions) -> None:
        self.connection = connection
        self.name = name
        self.options = options
        self._client: ContainerClient | None = None
        self._lock = threading.Lock()

    def client(self) -> ContainerClient:
        with self._lock:
            if self._client is None:
                container = blob_service_client(self.connection, self.options).get_container_client(self.name)
                if not self.connection.uses_identity:
                    self._create(container)
                self._client = container
            return self._client

    def _create(self, container: ContainerClient) -> None:
        with azure_errors("blob", "container", self.name), contextlib.suppress(ResourceExistsError):
            container.create_container()


def ascii_metadata(value: str) -> str:
    """``value`` as a valid metadata value: printable ASCII kept, everything else %-encoded (UTF-8;
    blob metadata travels as HTTP headers, RFC 9110 §5.5, and RFC 3986 §2.1 encodes the rest)."""
    return quote(value, safe=_SAFE)


class BlobWriteAheadLog(WriteAheadLog):
    """:class:`~shared.ports.WriteAheadLog` on one storage account's ``container``.

    ``connection`` is a local connection string (Azurite) or the account's ``serviceUri`` used with
    ``DefaultAzureCredential`` (role *Storage Blob Data Contributor*). See :class:`LazyContainer` for
    when the container is created.
    """

    def __init__(self, connection: Connection, container: str, options: BlobOptions | None = None) -> None:
        self.options = options or BlobOptions()
        self._container = LazyContainer(connection, container, self.options)

    @property
    def container_name(self) -> str:
        return self._container.name

    def append(self, segment: WalSegment, data: bytes) -> None:
        """Create-only write of ``segment.name``: the same bytes again succeed, others ``AlreadyExists``."""
        name, sha256 = segment.name, hashlib.sha256(data).hexdigest()
        blob = self._container.client().get_blob_client(name)
        with azure_errors("blob", _WHAT, name):
            try:
                blob.upload_blob(
                    data,
                    overwrite=False,
                    metadata={**info_metadata(segment.info), DATA_SHA256: sha256},
                    max_concurrency=1,
                )
                return
            except ResourceExistsError as exists:
                code = str(getattr(exists, "error_code", None))
                if code != "BlobAlreadyExists":  # e.g. ContainerBeingDeleted: not our blob
                    raise ServiceUnavailable("blob", f"HTTP 409 {code}") from exists
                stored = blob.get_blob_properties().metadata or {}
                stored_sha = stored.get(DATA_SHA256)
                if stored_sha is None:  # not written by append: compare the bytes themselves
                    stored_sha = hashlib.sha256(blob.download_blob().readall()).hexdigest()
        if stored_sha != sha256:
            raise AlreadyExists(_WHAT, name)

    def read_entry(self, locator: WalLocator) -> bytes:
        """The record at ``locator`` by one ranged read, checked against its size and SHA-256."""
        if locator.size == 0:  # an empty range cannot be asked for: the segment must exist, that is all
            self._download(locator.segment, 0, 1)
            return checked_body(locator, b"")
        return checked_body(locator, self._download(locator.segment, locator.offset, locator.size)[0])

    def read_index(self, name: str) -> WalSegment:
        """Header and index of ``name``: one ranged read of :data:`INDEX_READ` bytes, a second one only
        for an index longer than that."""
        head, size = self._download(name, 0, INDEX_READ)
        end = index_end(name, head)
        if end > len(head) and len(head) == INDEX_READ:
            head += self._download(name, len(head), end - len(head))[0]
        return decode_index(name, head, size)

    def read_segment(self, name: str) -> tuple[WalSegment, bytes]:
        """The whole segment (to copy it to the other region), checked against its index."""
        data, size = self._download(name, 0, None)
        return decode_index(name, data, size), data

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        """Segments in name order strictly after ``after``, at most ``limit`` of them."""
        if limit is not None and limit <= 0:
            return
        container = self._container.client()
        with azure_errors("blob", "WAL container", self._container.name):
            # A limited list asks for one page of at most ``limit`` (the server's default page is 5,000
            # entries with their metadata: the health probe's ``limit=1`` would read that every tick).
            page = min(limit, 5000) if limit is not None else None
            items = (
                container.list_blobs(include=["metadata"], results_per_page=page)
                if after is None
                else _after(container, "", after, page)
            )
            for item in itertools.islice(items, limit):
                yield info_from_metadata(item.name, item.metadata or {})

    def delete(self, name: str) -> None:
        """Delete ``name`` and its snapshots; a segment already gone is success."""
        container = self._container.client()
        with contextlib.suppress(NotFound), azure_errors("blob", _WHAT, name):
            container.delete_blob(name, delete_snapshots="include")

    def _download(self, name: str, offset: int, length: int | None) -> tuple[bytes, int]:
        """``length`` bytes of ``name`` from ``offset`` (``None``: to the end) and the blob's size.

        A range that starts beyond the blob (HTTP 416 InvalidRange) means the locator does not
        describe this segment: :class:`UnreadableWalEntry`."""
        container = self._container.client()
        try:
            with azure_errors("blob", _WHAT, name):
                download = container.get_blob_client(name).download_blob(offset=offset, length=length)
                data = download.readall()
                # "bytes {start}-{end}/{blob size}", as the SDK rebuilds it after a ranged download.
                size = int(str(download.properties.content_range).rpartition("/")[2])
                return data, size
        except RequestRejected as rejected:
            if rejected.status == 416:
                raise UnreadableWalEntry(name, f"no bytes at offset {offset}") from rejected
            raise


def _after(
    container: ContainerClient, prefix: str, after: str, page: int | None = None
) -> Iterator[BlobProperties]:
    """Blobs under ``prefix`` named after ``after``, in name order, pruning folders wholly before it.

    A folder ``p`` is skipped when ``p < after`` and ``after`` does not start with ``p`` (every name in
    it is then smaller), listed flat when ``p > after``, and walked one level down otherwise.
    """
    listed = container.walk_blobs(
        name_starts_with=prefix or None, include=["metadata"], delimiter="/", results_per_page=page
    )
    for item in listed:
        if isinstance(item, BlobPrefix):
            if after.startswith(item.name):
                yield from _after(container, item.name, after, page)
            elif item.name > after:
                yield from container.list_blobs(
                    name_starts_with=item.name, include=["metadata"], results_per_page=page
                )
        elif item.name > after:
            yield item

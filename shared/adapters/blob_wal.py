"""The write-ahead log on Azure Blob Storage (azure-storage-blob 12.31): :class:`BlobWriteAheadLog`.

One block blob per ingested message, named ``WalEntry.name`` (``{day}/{epoch}/{sequence}-{id}``, so
name order is ingest order), with the entry's fields as blob metadata and, optionally, the message and
session ids as blob index tags (``find_blobs_by_tags("message_id='…'")`` finds a message's entry).

* ``append`` is a create-only Put Blob (``If-None-Match: *``; Blob REST "Put Blob", "Specifying
  conditional headers"). Body and metadata travel in one request (or, above the single-put size, in one
  Put Block List), so a blob is never visible without its metadata. A 409 ``BlobAlreadyExists`` is
  checked against the stored ``sha256``: the same body is an idempotent retry (success), a different one
  raises :class:`~shared.errors.AlreadyExists`.
* ``list`` walks the name hierarchy (List Blobs with ``delimiter='/'``), skipping whole day and epoch
  folders that sort before the checkpoint, and builds each entry from the listed metadata without
  reading bodies.
* Blob metadata must be ASCII (HTTP headers, RFC 9110 §5.5): values are percent-encoded
  (RFC 3986 §2.1) where they are not printable ASCII, and decoded on the way back.

Errors are mapped by :mod:`shared.adapters.azure_errors`; the SDK's own retries are short and few
(:class:`BlobOptions`) because the callers retry at a higher level within a time budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobPrefix, BlobProperties, BlobServiceClient, ContainerClient, LinearRetry

from shared.adapters.azure_errors import azure_errors
from shared.adapters.http_transport import requests_transport
from shared.errors import AlreadyExists, ConfigurationError, PermanentError, ServiceUnavailable
from shared.model import WalEntry
from shared.ports import WriteAheadLog
from shared.settings import Connection

_WHAT = "WAL blob"
# Printable ASCII except '%' (the escape character) and space (trimmed from header values).
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
# Blob index tag values: 0-256 of letters, digits, space and + - . / : = _ (Blob REST "Set Blob Tags").
_TAG_VALUE = re.compile(r"[A-Za-z0-9 +\-./:=_]{0,256}")


@dataclass(frozen=True)
class BlobOptions:
    """Client tunables. Defaults are short on purpose: the QueueBuilder drains within a time budget
    and backs MQ out on failure, so one slow storage call must not eat the whole budget."""

    connection_timeout_s: float = 2.0
    read_timeout_s: float = 10.0
    retry_total: int = 2
    retry_backoff_s: float = 0.2
    index_tags: bool = False
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


class UnreadableWalEntry(PermanentError):
    """A WAL blob whose metadata or body does not describe a valid entry (written outside the bridge,
    or damaged). ``name`` lets a replay report it and continue after it."""

    reason = "wal-entry-unreadable"

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"WAL blob {name!r} is unreadable: {detail}")
        self.name = name


def ascii_metadata(value: str) -> str:
    """``value`` as a valid metadata value: printable ASCII kept, everything else %-encoded (UTF-8)."""
    return quote(value, safe=_SAFE)


def entry_metadata(entry: WalEntry) -> dict[str, str]:
    """The blob metadata of ``entry``: every field but the name, ASCII only."""
    return {
        "message_id": ascii_metadata(entry.message_id),
        "session_id": ascii_metadata(entry.session_id),
        "epoch": str(entry.epoch),
        "sequence": str(entry.sequence),
        "region": ascii_metadata(entry.region),
        "ingested_at": entry.ingested_at.isoformat(),
        "sha256": entry.sha256,
        "size": str(entry.size),
    }


def entry_from_metadata(name: str, metadata: Mapping[str, str]) -> WalEntry:
    """Rebuild the entry stored by :func:`entry_metadata`; :class:`UnreadableWalEntry` if it cannot."""
    md = {key.lower(): value for key, value in metadata.items()}
    try:
        return WalEntry(
            name=name,
            message_id=unquote(md["message_id"]),
            session_id=unquote(md["session_id"]),
            epoch=int(md["epoch"]),
            sequence=int(md["sequence"]),
            region=unquote(md["region"]),
            ingested_at=datetime.fromisoformat(md["ingested_at"]),
            sha256=md["sha256"],
            size=int(md["size"]),
        )
    except KeyError as error:
        raise UnreadableWalEntry(name, f"metadata {error.args[0]!r} missing") from error
    except ValueError as error:
        raise UnreadableWalEntry(name, f"malformed metadata: {error}") from error


def _tags(entry: WalEntry) -> dict[str, str]:
    pairs = {"message_id": entry.message_id, "session_id": entry.session_id}
    return {key: value for key, value in pairs.items() if _TAG_VALUE.fullmatch(value)}


class BlobWriteAheadLog(WriteAheadLog):
    """:class:`~shared.ports.WriteAheadLog` on one storage account's ``container``.

    ``connection`` is a local connection string (Azurite) or the account's ``serviceUri`` used with
    ``DefaultAzureCredential`` (role *Storage Blob Data Contributor*; *Owner* or a custom role with
    ``blobs/tags/write`` when ``options.index_tags`` is on). See :class:`LazyContainer` for when the
    container is created.
    """

    def __init__(self, connection: Connection, container: str, options: BlobOptions | None = None) -> None:
        self.options = options or BlobOptions()
        self._container = LazyContainer(connection, container, self.options)

    @property
    def container_name(self) -> str:
        return self._container.name

    def append(self, entry: WalEntry, body: bytes) -> None:
        """Create-only write of ``entry.name``; same body again is success, another is ``AlreadyExists``."""
        container = self._container.client()
        blob = container.get_blob_client(entry.name)
        tags = _tags(entry) if self.options.index_tags else None
        with azure_errors("blob", _WHAT, entry.name):
            try:
                blob.upload_blob(
                    body,
                    overwrite=False,
                    metadata=entry_metadata(entry),
                    tags=tags,
                    max_concurrency=1,
                )
                return
            except ResourceExistsError as exists:
                code = str(getattr(exists, "error_code", None))
                if code != "BlobAlreadyExists":  # e.g. ContainerBeingDeleted: not our blob
                    raise ServiceUnavailable("blob", f"HTTP 409 {code}") from exists
                stored = blob.get_blob_properties().metadata or {}
                stored_sha = stored.get("sha256")
                if stored_sha is None:  # not written by append: compare the bodies themselves
                    stored_sha = hashlib.sha256(blob.download_blob().readall()).hexdigest()
        if stored_sha != hashlib.sha256(body).hexdigest():
            raise AlreadyExists(_WHAT, entry.name)

    def read(self, name: str) -> tuple[WalEntry, bytes]:
        """Entry and body of ``name``; ``NotFound`` if missing, ``UnreadableWalEntry`` if damaged."""
        container = self._container.client()
        with azure_errors("blob", _WHAT, name):
            download = container.get_blob_client(name).download_blob()
            body = download.readall()
            metadata = download.properties.metadata or {}
        entry = entry_from_metadata(name, metadata)
        if hashlib.sha256(body).hexdigest() != entry.sha256:
            raise UnreadableWalEntry(name, "body does not match its sha256 metadata")
        return entry, body

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[WalEntry]:
        """Entries in name order strictly after ``after``, at most ``limit`` of them."""
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
                yield entry_from_metadata(item.name, item.metadata or {})


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

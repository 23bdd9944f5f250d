"""The dual-region write-ahead log: every ingested body in both regions' storage before MQCMIT.

:class:`DualRegionWriteAheadLog` composes this region's WAL (``own``) and the other region's
(``peer``), both usually :class:`~shared.adapters.blob_wal.BlobWriteAheadLog`:

* ``append`` writes both copies in parallel and returns when both are durable. When one region cannot
  be written (a :class:`~shared.errors.TransientError`) and degraded mode is allowed
  (``WAL_ALLOW_DEGRADED``), the copy that succeeded is accepted and the degraded write is reported: the
  :attr:`~DualRegionWriteAheadLog.degraded_writes` counter, a warning naming the region, and the
  ``on_degraded`` callback. Otherwise the error is raised and the caller backs MQ out. A conflict
  (``AlreadyExists``: another body under the name) is raised whatever the mode.
* ``read`` and ``list`` use this region's copy and fall back to the peer's when its storage is
  unavailable (and ``read`` also when that copy is missing, as after a degraded write). After a
  region is lost, the surviving region's app has that region as ``own``, so its replay reads its own
  copy, written synchronously before every MQCMIT.
* :meth:`~DualRegionWriteAheadLog.reconcile` copies entries present in one region only to the other
  (after a degraded period), so each region's copy is complete again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import NotFound, TransientError
from shared.model import WalEntry
from shared.ports import WriteAheadLog
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.adapters.blob_wal import BlobOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DegradedWrite:
    """One append that reached only ``written_region``; ``error`` is why ``failed_region`` did not."""

    name: str
    written_region: str
    failed_region: str
    error: TransientError


@dataclass(frozen=True)
class AppendOutcome:
    """Where an append is durable: both regions, or one (``degraded`` then describes the other)."""

    regions: tuple[str, ...]
    degraded: DegradedWrite | None = None


class DualRegionWriteAheadLog(WriteAheadLog):
    """:class:`~shared.ports.WriteAheadLog` over ``own`` (this region) and ``peer`` (the other one)."""

    def __init__(
        self,
        own: WriteAheadLog,
        peer: WriteAheadLog,
        *,
        own_region: str,
        peer_region: str,
        allow_degraded: bool = False,
        on_degraded: Callable[[DegradedWrite], None] | None = None,
        max_workers: int = 16,
    ) -> None:
        self.own = own
        self.peer = peer
        self.own_region = own_region
        self.peer_region = peer_region
        self.allow_degraded = allow_degraded
        self.on_degraded = on_degraded
        self.degraded_writes = 0
        self.fallback_reads = 0
        # Two writer threads per append; callers append concurrently (the QueueBuilder's WAL writers).
        self._pool = ThreadPoolExecutor(max_workers=max(2, max_workers), thread_name_prefix="wal-dual")

    def close(self) -> None:
        """Stop the writer threads (idle ones; an append in progress finishes first)."""
        self._pool.shutdown(wait=True)

    def append(self, entry: WalEntry, body: bytes) -> None:
        """Write both copies; see :meth:`append_reporting` for the rules."""
        self.append_reporting(entry, body)

    def append_reporting(self, entry: WalEntry, body: bytes) -> AppendOutcome:
        """Write ``entry`` to both regions in parallel; say where it is durable.

        Raises the first non-transient error of either side (``AlreadyExists`` …); else, when a side
        failed transiently, accepts the other side only in degraded mode, and raises otherwise.
        """
        futures: dict[str, Future[None]] = {
            self.own_region: self._pool.submit(self.own.append, entry, body),
            self.peer_region: self._pool.submit(self.peer.append, entry, body),
        }
        errors: dict[str, BaseException] = {}
        for region, future in futures.items():
            error = future.exception()
            if error is not None:
                errors[region] = error
        if not errors:
            return AppendOutcome((self.own_region, self.peer_region))
        for error in errors.values():
            if not isinstance(error, TransientError):
                raise error
        if len(errors) == 2 or not self.allow_degraded:
            failed = self.own_region if self.own_region in errors else self.peer_region
            raise errors[failed]
        [(failed_region, error)] = errors.items()
        written = self.peer_region if failed_region == self.own_region else self.own_region
        assert isinstance(error, TransientError)
        degraded = DegradedWrite(entry.name, written, failed_region, error)
        self.degraded_writes += 1
        log.warning(
            "WAL degraded write: %s written in %s only, %s unavailable: %s",
            entry.name,
            written,
            failed_region,
            error,
            extra={"wal_name": entry.name, "written_region": written, "failed_region": failed_region},
        )
        if self.on_degraded is not None:
            self.on_degraded(degraded)
        return AppendOutcome((written,), degraded)

    def read(self, name: str) -> tuple[WalEntry, bytes]:
        """This region's copy; the peer's when its storage is unavailable or lacks ``name``.

        ``NotFound`` only when neither region has it; a transient error when one lacks it and the
        other cannot be asked.
        """
        try:
            return self.own.read(name)
        except (TransientError, NotFound) as own_error:
            self._fell_back("read", own_error)
            try:
                return self.peer.read(name)
            except NotFound:
                raise own_error from None

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[WalEntry]:
        """This region's entries after ``after``; if its storage fails, the peer's from where it stopped."""
        last, given = after, 0
        try:
            for entry in self.own.list(after, limit):
                last, given = entry.name, given + 1
                yield entry
            return
        except TransientError as error:
            self._fell_back("list", error)
        remaining = None if limit is None else limit - given
        if remaining is None or remaining > 0:
            yield from self.peer.list(last, remaining)

    def reconcile(self, after: str | None = None, limit: int | None = None) -> dict[str, int]:
        """Copy entries found in one region only into the other; return copies made per region.

        Compares the two listings after ``after`` (at most ``limit`` names from each side); the copy is a
        create-only append, so running it twice, or next to live appends, is harmless.
        """
        own_names = [e.name for e in self.own.list(after, limit)]
        peer_names = [e.name for e in self.peer.list(after, limit)]
        # A side cut short by ``limit`` says nothing about names beyond its last one.
        full = [names for names in (own_names, peer_names) if limit is not None and len(names) >= limit]
        bounds = [names[-1] for names in full]
        bound = min(bounds) if bounds else None
        own_set = {n for n in own_names if bound is None or n <= bound}
        peer_set = {n for n in peer_names if bound is None or n <= bound}
        copied = {self.own_region: 0, self.peer_region: 0}
        for name in sorted(peer_set - own_set):
            entry, body = self.peer.read(name)
            self.own.append(entry, body)
            copied[self.own_region] += 1
        for name in sorted(own_set - peer_set):
            entry, body = self.own.read(name)
            self.peer.append(entry, body)
            copied[self.peer_region] += 1
        return copied

    def _fell_back(self, operation: str, error: BaseException) -> None:
        self.fallback_reads += 1
        log.warning(
            "WAL %s falls back from %s to %s: %s",
            operation,
            self.own_region,
            self.peer_region,
            error,
            extra={"failed_region": self.own_region},
        )


def dual_region_wal(
    settings: Settings,
    *,
    on_degraded: Callable[[DegradedWrite], None] | None = None,
    options: BlobOptions | None = None,
) -> DualRegionWriteAheadLog:
    """The WAL of ``settings.region``: its own account as ``own``, the other region's as ``peer``
    (``WalStorageDC04``/``WalStorageDC06``, container ``WAL_CONTAINER``, ``WAL_ALLOW_DEGRADED``)."""
    from shared.adapters.blob_wal import BlobOptions, BlobWriteAheadLog  # noqa: PLC0415 - Azure SDK on first use only

    # One connection per WAL writer, plus the runner's claim-check reads and the Watchdog's listing.
    pooled = dataclasses.replace(options or BlobOptions(), connection_pool_size=settings.wal_writers + 16)

    def region_wal(region: str) -> BlobWriteAheadLog:
        return BlobWriteAheadLog(settings.wal_connection(region), settings.wal_container, pooled)

    return DualRegionWriteAheadLog(
        region_wal(settings.region),
        region_wal(settings.peer_region),
        own_region=settings.region,
        peer_region=settings.peer_region,
        allow_degraded=settings.wal_allow_degraded,
        on_degraded=on_degraded,
        max_workers=2 * settings.wal_writers,  # both copies of every append in flight
    )

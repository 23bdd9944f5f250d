"""The dual-region write-ahead log: every ingested body in both regions' storage before MQCMIT.

:class:`DualRegionWriteAheadLog` composes this region's WAL (``own``) and the other region's
(``peer``), both usually :class:`~shared.adapters.blob_wal.BlobWriteAheadLog`:

* ``append`` writes both copies in parallel and returns when both are durable. When one region cannot
  be written (a :class:`~shared.errors.TransientError`) and degraded mode is allowed
  (``WAL_ALLOW_DEGRADED``), the copy that succeeded is accepted and the degraded write is reported: the
  :attr:`~DualRegionWriteAheadLog.degraded_writes` counter, a warning naming the region, and the
  ``on_degraded`` callback. Otherwise the error is raised and the caller backs MQ out. A conflict
  (``AlreadyExists``: another body under the name) is raised whatever the mode.
* ``read_entry``, ``read_index``, ``read_segment`` and ``list`` use this region's copy and fall back
  to the peer's when its storage is unavailable (and the reads also when that copy is missing, as after
  a degraded write, or unreadable). After a region is lost, the surviving region's app has that region
  as ``own``, so its replay reads its own copy, written synchronously before every MQCMIT.
* ``delete`` deletes both copies (retention); each side's delete is idempotent.
* :meth:`~DualRegionWriteAheadLog.reconcile` copies segments present in one region only to the other
  (after a degraded period), whole (one read, one create-only write per segment), so each region's
  copy is complete again.

The unit of every operation is a segment (:mod:`shared.wal_segment`): one MQ unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from shared.errors import NotFound, TransientError
from shared.model import SegmentInfo, WalLocator, WalSegment
from shared.ports import WriteAheadLog
from shared.wal_segment import UnreadableWalEntry

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DegradedWrite:
    """One segment's append that reached only ``written_region``; ``error`` is why ``failed_region`` did
    not."""

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

    def append(self, segment: WalSegment, data: bytes) -> None:
        """Write both copies; see :meth:`append_reporting` for the rules."""
        self.append_reporting(segment, data)

    def append_reporting(self, segment: WalSegment, data: bytes) -> AppendOutcome:
        """Write ``segment`` to both regions in parallel; say where it is durable.

        Raises the first non-transient error of either side (``AlreadyExists`` …); else, when a side
        failed transiently, accepts the other side only in degraded mode, and raises otherwise.
        """
        futures: dict[str, Future[None]] = {
            self.own_region: self._pool.submit(self.own.append, segment, data),
            self.peer_region: self._pool.submit(self.peer.append, segment, data),
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
        degraded = DegradedWrite(segment.name, written, failed_region, error)
        self.degraded_writes += 1
        log.warning(
            "WAL degraded write: %s written in %s only, %s unavailable: %s",
            segment.name,
            written,
            failed_region,
            error,
            extra={"wal_name": segment.name, "written_region": written, "failed_region": failed_region},
        )
        if self.on_degraded is not None:
            self.on_degraded(degraded)
        return AppendOutcome((written,), degraded)

    def read_entry(self, locator: WalLocator) -> bytes:
        """One record from this region's copy, else from the peer's (see :meth:`_either`)."""
        return self._either("read_entry", lambda wal: wal.read_entry(locator))

    def read_index(self, name: str) -> WalSegment:
        return self._either("read_index", lambda wal: wal.read_index(name))

    def read_segment(self, name: str) -> tuple[WalSegment, bytes]:
        return self._either("read_segment", lambda wal: wal.read_segment(name))

    def delete(self, name: str) -> None:
        """Delete both copies (each idempotent); the first failure is raised after both were tried."""
        errors = []
        for wal in (self.own, self.peer):
            try:
                wal.delete(name)
            except Exception as error:  # the other copy is still deleted; raised after
                errors.append(error)
        if errors:
            raise errors[0]

    def _either(self, operation: str, read: Callable[[WriteAheadLog], T]) -> T:
        """``read`` on this region's copy; on the peer's when this region's storage is unavailable,
        lacks the segment or holds an unreadable copy. When the peer fails too, this region's error is
        raised (``NotFound`` only when neither region has it)."""
        try:
            return read(self.own)
        except (TransientError, NotFound, UnreadableWalEntry) as own_error:
            self._fell_back(operation, own_error)
            try:
                return read(self.peer)
            except (NotFound, UnreadableWalEntry):
                raise own_error from None

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        """This region's segments after ``after``; if its storage fails, the peer's from where it stopped."""
        last, given = after, 0
        try:
            for info in self.own.list(after, limit):
                last, given = info.name, given + 1
                yield info
            return
        except TransientError as error:
            self._fell_back("list", error)
        remaining = None if limit is None else limit - given
        if remaining is None or remaining > 0:
            yield from self.peer.list(last, remaining)

    def reconcile(self, after: str | None = None, limit: int | None = None) -> dict[str, int]:
        """Copy segments found in one region only into the other; return copies made per region.

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
            self.own.append(*self.peer.read_segment(name))
            copied[self.own_region] += 1
        for name in sorted(own_set - peer_set):
            self.peer.append(*self.own.read_segment(name))
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

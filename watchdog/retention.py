"""WAL retention: delete the segments :class:`~shared.retention.RetentionPolicy` allows, in bounded
slices driven by the Watchdog, in each region from that region's own storage account.

Each region's Watchdog runs its own :class:`Retention` on its own account (``wal`` is the region's
own :class:`~shared.ports.WriteAheadLog`, never the dual one), in the steady states ``active`` and
``passive`` (never while activating or promoting). Both copies go because both regions run it; a
region that is down deletes nothing, and deletes its copy once it is back (or the storage lifecycle
safety net does: docs/storage.md).

**Why one region's deletion never takes from the other what it may need for replay.** A region
deletes its copy only when every record of the segment is final in Cosmos DB, which both regions read
with Strong consistency from the one write region (a region that cannot read Cosmos deletes nothing).
A final record never changes back, and replay republishes only entries without a final record. So
after either copy is gone, the decision to delete the other is already settled and the same in both
regions, and a promotion of either region, at any time (before, between or after the two deletions)
replays nothing from that segment: the newly active region needs neither copy. The bound on
``updated_at`` (TTL + dead-letter window) means no Service Bus message in either namespace (a lost
region's stranded messages included) still carries a claim check into it. The Cosmos records outlive
every copy (the records container's TTL, infra/modules/cosmos.bicep), so no region ever finds a
segment without its records and takes it for unfinished work.

**Progress.** A *pass* walks the listing in name (= ingest) order, at most ``page_size`` segments and
about ``budget_s`` per slice, with a durable cursor (:class:`~shared.model.Checkpoint`
``retention:<region>``: ``position`` = the last segment handled, ``done`` once the pass ended). A pass
ends at the listing's end or at the first segment younger than the audit horizon (names are epoch-major,
so later names were written later); the next pass starts ``interval_s`` after. An error (storage or
Cosmos unreachable) stops the slice with the cursor *before* the segment it failed on, so the next slice
retries that segment: a failed delete is never skipped.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import BridgeError, NotFound
from shared.model import Checkpoint, SegmentInfo
from shared.ports import CheckpointStore, IdempotencyStore, WriteAheadLog
from shared.retention import DELETE, NOT_FINAL, YOUNG, RetentionPolicy
from shared.telemetry import log_event, metrics
from shared.wal_records import records_of
from shared.wal_segment import UnreadableWalEntry

log = logging.getLogger("bridge.retention")

UNREADABLE = "unreadable"
GONE = "already_gone"


def retention_key(region: str) -> str:
    """The checkpoint key of ``region``'s retention cursor."""
    return f"retention:{region}"


@dataclass(frozen=True)
class RetentionResult:
    """What one slice did: counts by verdict (``deleted``, and each reason to keep), where the cursor
    stands, whether the pass ended, and the error that stopped the slice early (if any)."""

    region: str
    counts: dict[str, int]
    position: str
    done: bool
    idle: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Retention:
    """One region's retention over its own WAL account."""

    region: str
    wal: WriteAheadLog
    store: IdempotencyStore
    checkpoints: CheckpointStore
    policy: RetentionPolicy
    page_size: int = 50  # WAL_RETENTION_PAGE
    interval_s: float = 86400.0  # WAL_RETENTION_INTERVAL_S: from the end of a pass to the next
    #: Work per slice in time as well as in segments: the slice stops between segments once this has
    #: passed (a slice runs inside a Watchdog tick, after the straggler replay's ``REPLAY_SLICE_S``).
    budget_s: float = 2.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    monotonic: Callable[[], float] = time.monotonic
    _idle_until: float = 0.0

    def run_slice(self) -> RetentionResult:
        """Examine at most ``page_size`` segments from the cursor, delete those the policy allows."""
        if self.monotonic() < self._idle_until:
            return RetentionResult(self.region, {}, "", done=True, idle=True)
        now = self.clock()
        try:
            cursor = self.checkpoints.get(retention_key(self.region))
        except BridgeError as error:
            return self._failed({}, "", error, save=None)
        if cursor is not None and cursor.done:
            wait = (cursor.at + timedelta(seconds=self.interval_s) - now).total_seconds()
            if wait > 0:
                self._idle_until = self.monotonic() + wait
                return RetentionResult(self.region, {}, "", done=True, idle=True)
        position = "" if cursor is None or cursor.done else cursor.position
        counts: Counter[str] = Counter()
        try:
            deadline = self.monotonic() + self.budget_s
            infos, foreign = self._page(position)
            done = foreign is None and len(infos) < self.page_size
            for index, info in enumerate(infos):
                if index and self.monotonic() >= deadline:
                    done, foreign = False, None  # the rest of the page: next slice, from the cursor
                    break
                verdict = self._examine(info, now)
                if verdict == YOUNG:
                    done, foreign = True, None  # later names were written later: the pass is at the present
                    break
                counts[verdict] += 1
                position = info.name
            if foreign is not None:  # listed after every segment of the page: pass it, never delete it
                self._unreadable(foreign)
                counts[UNREADABLE] += 1
                position = foreign.name
        except BridgeError as error:
            return self._failed(dict(counts), position, error, save=now)
        self._save("" if done else position, now, done)
        if done:
            self._idle_until = self.monotonic() + self.interval_s
        if counts[DELETE]:
            metrics.incr("wal_segments_deleted", counts[DELETE])
        return RetentionResult(self.region, dict(counts), position, done)

    def _failed(
        self, counts: dict[str, int], position: str, error: BridgeError, save: datetime | None
    ) -> RetentionResult:
        """Stop the slice on ``error``; the cursor stays before the segment it failed on (saved when
        ``save`` is a time), so the next slice examines that segment again."""
        if save is not None:
            self._save(position, save, done=False)
        log_event(log, logging.WARNING, "wal.retention_failed", region=self.region, error=str(error))
        return RetentionResult(self.region, counts, position, done=False, error=str(error))

    def _page(self, position: str) -> tuple[list[SegmentInfo], UnreadableWalEntry | None]:
        """The next page after ``position``, up to a blob that is not a segment (its metadata does not
        describe one: written by hand, damaged), which the listing raises as ``UnreadableWalEntry``."""
        infos: list[SegmentInfo] = []
        try:
            for info in self.wal.list(after=position or None, limit=self.page_size):
                infos.append(info)
        except UnreadableWalEntry as error:
            return infos, error
        return infos, None

    def _unreadable(self, error: UnreadableWalEntry) -> None:
        """Never delete what cannot be read: report it for an operator and go on after it."""
        log_event(log, logging.ERROR, "wal.retention_unreadable", region=self.region, error=str(error))

    def _examine(self, info: SegmentInfo, now: datetime) -> str:
        """The verdict on one segment; deletes it (this region's copy) when the verdict is ``DELETE``."""
        if self.policy.within_horizon(info, now):
            return YOUNG  # from the listing alone: no read, no lookup
        try:
            segment = self.wal.read_index(info.name)
        except NotFound:
            return GONE  # deleted since the listing (by this region's previous slice, or by hand)
        except UnreadableWalEntry as error:
            self._unreadable(error)
            return UNREADABLE
        records = records_of(self.store, segment.entries)
        verdict = self.policy.verdict(segment.info, records, now)
        if verdict == NOT_FINAL:  # past the horizon and still not final: an operator's case, every pass
            log_event(
                log,
                logging.WARNING,
                "wal.segment_not_final",
                region=self.region,
                segment=info.name,
                not_final=sum(r is None or not r.state.final for r in records),
                written_at=segment.info.written_at.isoformat(),
            )
        if verdict == DELETE:
            self.wal.delete(info.name)
            log_event(
                log,
                logging.INFO,
                "wal.segment_deleted",
                region=self.region,
                segment=info.name,
                records=segment.info.count,
                first_sequence=segment.info.first_sequence,
                last_sequence=segment.info.last_sequence,
                written_at=segment.info.written_at.isoformat(),
            )
        return verdict

    def _save(self, position: str, now: datetime, done: bool) -> None:
        try:
            self.checkpoints.put(Checkpoint(retention_key(self.region), position, now, done=done))
        except BridgeError as error:  # the cursor is an optimisation: a lost one repeats work only
            log_event(log, logging.WARNING, "wal.retention_cursor_lost", region=self.region, error=str(error))

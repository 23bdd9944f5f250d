"""Replay: re-publish every WAL record that has no final record, in ingest order, in bounded slices.

Why: each region publishes to and consumes from its own Service Bus namespace (no Geo-DR pairing),
so messages still in a lost region's namespace are gone for the survivor; the WAL (written to both
regions before MQCMIT) is the copy that survives. Replay publishes the missing ones again, into this
region's own namespace, with their original MessageId, session and ``(epoch, sequence)``, so

* order per session holds: the new region replays before it consumes live traffic, and live traffic
  carries a higher epoch;
* nothing is delivered twice: within the duplicate-detection window Service Bus drops the copy; after
  it, the runner finds the final record and completes the copy without delivering.

The WAL is a sequence of segments (one per MQ unit of work, :mod:`shared.wal_segment`), listed in name
order, which is ingest order (:func:`~shared.model.segment_name`, epoch-major).

Bounded work (:meth:`Replayer.run_slice`): a *walk* (the activation replay of one region and epoch,
or one round of the straggler replay) goes page by page from its durable checkpoint
(:class:`~shared.model.Checkpoint` in a :class:`~shared.ports.CheckpointStore`): list at most
``page_size`` segments after the checkpoint (at most ``max_page_bytes`` of them), then, ``readers``
segments at a time, read their indexes, look all their records up in one batch
(``IdempotencyStore.lookup``: Cosmos ReadMany), read the bodies of the records without a final record
(one ranged read each, or one whole-segment read when most of a segment is needed), publish them,
save the checkpoint (the last segment handled) and stop once
``budget_s`` has passed. A page stops early too, between groups of segments, when the budget runs
out, so a slice overruns its budget by at most one group's reads (segments are bounded by count and
bytes). The Watchdog calls one slice per tick, after its heartbeat or lease renewal: no replay can
make a live region look dead. A crash between publishing a page and saving its checkpoint publishes
that page again on resume (dropped by Service Bus or completed by the claim): never a loss.

Every walk starts from the shared watermark ``final`` (every segment up to it had only final
records), so neither the activation replay nor the straggler replay lists the WAL from its first
segment. A segment that cannot be read (``UnreadableWalEntry``) is reported (event
``replay.unreadable``, metric ``replay_unreadable``) and passed, and the watermark stops before it.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from shared.errors import NotFound
from shared.model import (
    Checkpoint,
    ClaimRecord,
    OutboundStatement,
    SegmentInfo,
    WalEntry,
    WalLocator,
    WalSegment,
)
from shared.ports import CheckpointStore, IdempotencyStore, StatementPublisher, WriteAheadLog
from shared.telemetry import log_event, metrics
from shared.wal_records import records_of
from shared.wal_segment import UnreadableWalEntry, checked_body

log = logging.getLogger("bridge.replay")

T = TypeVar("T")
R = TypeVar("R")

#: The checkpoint whose ``final_through`` is the shared watermark every new walk starts from.
WATERMARK = "replay:final"


def activation_walk(region: str, epoch: int) -> str:
    """The walk name of ``region``'s activation replay in ``epoch`` (one walk per activation)."""
    return f"replay:activation:{region}:{epoch}"


def straggler_walk(region: str) -> str:
    """The walk name of ``region``'s periodic straggler replay (one round at a time)."""
    return f"replay:stragglers:{region}"


def operator_walk(caller: str) -> str:
    """The walk name of an operator's replay of a range (no checkpoint; named for the trace)."""
    return f"replay:operator:{caller}"


def _unobserved(statements: Sequence[OutboundStatement], walk: str) -> None:
    """The default ``on_republished`` hook: nothing records the re-published statements."""


@dataclass(frozen=True)
class SliceResult:
    """What one slice did, and where its walk stands now (``checkpoint``, as saved)."""

    walk: str
    examined: int  # records
    republished: int
    already_final: int
    pages: int
    done: bool
    checkpoint: Checkpoint
    segments: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "walk": self.walk,
            "segments": self.segments,
            "examined": self.examined,
            "republished": self.republished,
            "already_final": self.already_final,
            "pages": self.pages,
            "done": self.done,
            "position": self.checkpoint.position,
            "final_through": self.checkpoint.final_through,
        }


@dataclass(frozen=True)
class ReplayResult:
    """What an operator's replay of a range did (no checkpoint involved)."""

    examined: int
    republished: int
    already_final: int
    after: str | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Examined:
    """One segment looked at: its records examined (in the walk's window), how many had a final
    record, and whether it could be read at all. The watermark may pass it only if every record was
    final."""

    name: str
    records: int
    final: int
    unreadable: bool = False

    @property
    def all_final(self) -> bool:
        return not self.unreadable and self.final == self.records


@dataclass(frozen=True)
class _Page:
    """One examined page: the segments looked at (a prefix of the listed page) and what to publish."""

    examined: list[_Examined]
    to_publish: list[OutboundStatement]


@dataclass
class Replayer:
    """Replays the WAL through ``publisher``; walk checkpoints live in ``checkpoints``."""

    wal: WriteAheadLog
    store: IdempotencyStore
    publisher: StatementPublisher
    checkpoints: CheckpointStore
    page_size: int = 200  # segments per listing
    #: Segments (index reads, then body reads) in flight at once, and looked up together.
    readers: int = 32
    #: Segment bytes one page may read and hold (its bodies until published), at least one segment:
    #: an activation after a region loss finds whole segments without a final record, and 200 of
    #: them at QUEUE_BUILDER_UNIT_BYTES (4 MiB) would be 800 MiB on a 2 GB instance.
    max_page_bytes: int = 32 * 1024 * 1024
    monotonic: Callable[[], float] = time.monotonic
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: Told about each published page, ``(statements, walk name)``, before its checkpoint is saved:
    #: the trace's replay steps (``watchdog.replay_trace.ReplayRecorder``). Must not raise.
    on_republished: Callable[[Sequence[OutboundStatement], str], None] = _unobserved

    def run_slice(
        self,
        walk: str,
        budget_s: float,
        *,
        older_than: datetime | None = None,
        restart: bool = False,
    ) -> SliceResult:
        """Advance ``walk`` for about ``budget_s`` seconds (at least one page); return where it stands.

        A walk without a checkpoint starts at the watermark. A finished walk stays finished (an
        activation replays once per epoch) unless ``restart``: then a new round starts at the
        watermark (the straggler replay). ``older_than`` ends the walk at the first segment written at or
        after it (the straggler replay leaves messages that are simply in flight alone).
        """
        deadline = self.monotonic() + budget_s
        checkpoint = self.checkpoints.get(walk)
        if checkpoint is None or (checkpoint.done and restart):
            checkpoint = self._start(walk, checkpoint)
        examined = republished = final = pages = segments = 0
        watermark = self._watermark() or "" if not checkpoint.done else ""
        while not checkpoint.done:
            listed = list(self.wal.list(after=checkpoint.position or None, limit=self.page_size))
            cut = list(itertools.takewhile(lambda s: older_than is None or s.written_at < older_than, listed))
            ends = len(listed) < self.page_size or len(cut) < len(listed)
            page = self._examine(_bounded(cut, self.max_page_bytes), deadline)
            if page.to_publish:
                self.publisher.publish(page.to_publish)
                self.on_republished(page.to_publish, walk)
            checkpoint = self._advance(checkpoint, page, ends and len(page.examined) == len(cut))
            self.checkpoints.put(checkpoint)
            watermark = self._raise_watermark(checkpoint, watermark)
            pages += 1
            segments += len(page.examined)
            examined += sum(seen.records for seen in page.examined)
            final += sum(seen.final for seen in page.examined)
            republished += len(page.to_publish)
            if self.monotonic() >= deadline:
                break
        metrics.incr("replayed", republished)
        result = SliceResult(walk, examined, republished, final, pages, checkpoint.done, checkpoint, segments)
        if pages:
            log_event(log, logging.INFO, "replay.slice", **result.as_dict())
        return result

    def run(
        self,
        after: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        walk: str = "replay:operator",
    ) -> ReplayResult:
        """An operator's replay: every record after segment ``after`` (default: the watermark) and,
        optionally, ingested within ``[since, until)``, to the end of the WAL. Moves no
        checkpoint; ``walk`` names it for ``on_republished`` (:func:`operator_walk`).

        A segment written before ``since`` holds no record ingested after it (a record is ingested
        before its segment is written), so its index is not read."""
        if after is None:
            after = self._watermark()
        examined = republished = final = 0
        for listed in self._pages(after):
            window = [s for s in listed if since is None or s.written_at >= since]
            page = self._examine(window, deadline=None, within=(since, until))
            if page.to_publish:
                self.publisher.publish(page.to_publish)
                self.on_republished(page.to_publish, walk)
            examined += sum(seen.records for seen in page.examined)
            final += sum(seen.final for seen in page.examined)
            republished += len(page.to_publish)
        metrics.incr("replayed", republished)
        result = ReplayResult(examined, republished, final, after)
        log_event(log, logging.INFO, "replay.done", **result.as_dict())
        return result

    # -- steps ------------------------------------------------------------------------------------

    def _start(self, walk: str, previous: Checkpoint | None) -> Checkpoint:
        """A new walk (or round) from the highest known watermark."""
        start = max(self._watermark() or "", previous.final_through if previous else "")
        return Checkpoint(walk, position=start, at=self.clock(), final_through=start)

    def _examine(
        self,
        segments: list[SegmentInfo],
        deadline: float | None,
        within: tuple[datetime | None, datetime | None] = (None, None),
    ) -> _Page:
        """Examine ``segments`` ``readers`` at a time until ``deadline`` (always at least one group, so
        every slice makes progress): read the group's indexes, look all their records up in one batch,
        read the bodies of the records without a final record. The examined segments are a prefix of
        ``segments``; ``within`` keeps the records ingested in ``[since, until)``."""
        examined: list[_Examined] = []
        to_publish: list[OutboundStatement] = []
        step = max(1, self.readers)
        for start in range(0, len(segments), step):
            if examined and deadline is not None and self.monotonic() >= deadline:
                break
            group = segments[start : start + step]
            indexes = self._parallel(self._index, group)
            wanted = [[e for e in index.entries if _within(e, *within)] if index else [] for index in indexes]
            records = self._records([entry for entries in wanted for entry in entries])
            pending = [[e for e in entries if not _final(records.get(e.locator))] for entries in wanted]
            bodies = self._parallel(lambda job: self._bodies(*job), list(zip(group, pending, strict=True)))
            for info, index, entries, waiting, read in zip(
                group, indexes, wanted, pending, bodies, strict=True
            ):
                to_publish += [OutboundStatement.from_wal(entry, body) for entry, body in read]
                examined.append(
                    _Examined(info.name, len(entries), len(entries) - len(waiting), index is None)
                )
        return _Page(examined, to_publish)

    def _index(self, info: SegmentInfo) -> WalSegment | None:
        """The segment's index; ``None`` when it is unreadable (reported); no records when it was
        deleted since the listing (retention deletes only segments whose every record is final)."""
        try:
            return self.wal.read_index(info.name)
        except NotFound:
            return WalSegment(info, ())
        except UnreadableWalEntry as error:
            self._unreadable(error)
            return None

    def _bodies(self, info: SegmentInfo, entries: list[WalEntry]) -> list[tuple[WalEntry, bytes]]:
        """The bodies of ``entries`` (records of segment ``info``, in order): one ranged read each, or
        one whole-segment read when they are most of its bodies. A body that does not match its hash
        is reported and left out (its record stays without a final record)."""
        data = b""
        if len(entries) > 1 and 2 * sum(e.size for e in entries) >= info.size - info.index_end:
            try:
                data = self.wal.read_segment(info.name)[1]
            except UnreadableWalEntry as error:  # the bytes are not what the index describes
                self._unreadable(error)
                return []

        def read(entry: WalEntry) -> bytes:
            if data:
                return checked_body(entry.locator, data[entry.offset : entry.offset + entry.size])
            return self.wal.read_entry(entry.locator)

        bodies = []
        for entry in entries:
            try:
                bodies.append((entry, read(entry)))
            except UnreadableWalEntry as error:
                self._unreadable(error)
        return bodies

    def _parallel(self, work: Callable[[T], R], items: list[T]) -> list[R]:
        """``work`` on each of ``items``, in their order (in parallel when ``readers`` > 1)."""
        if self.readers <= 1 or len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.readers, len(items))) as pool:
            return list(pool.map(work, items))

    def _records(self, entries: list[WalEntry]) -> dict[WalLocator, ClaimRecord]:
        """Each record by WAL locator (:func:`shared.wal_records.records_of`: one batched lookup, two
        when a MsgId was reused); entries without a record are absent."""
        if not entries:
            return {}
        found = records_of(self.store, entries)
        return {entry.locator: record for entry, record in zip(entries, found, strict=True) if record}

    @staticmethod
    def _unreadable(error: UnreadableWalEntry) -> None:
        metrics.incr("replay_unreadable")
        log_event(log, logging.ERROR, "replay.unreadable", segment=error.name, error=str(error))

    def _advance(self, checkpoint: Checkpoint, page: _Page, ends: bool) -> Checkpoint:
        final_through, blocked = checkpoint.final_through, checkpoint.blocked
        for seen in page.examined:
            if not seen.all_final:
                blocked = True  # the watermark never passes a segment with a record not final yet
            elif not blocked:
                final_through = seen.name
        position = page.examined[-1].name if page.examined else checkpoint.position
        return dataclasses.replace(
            checkpoint,
            position=position,
            at=self.clock(),
            final_through=final_through,
            blocked=blocked,
            done=ends,
        )

    def _watermark(self) -> str | None:
        mark = self.checkpoints.get(WATERMARK)
        return mark.final_through or None if mark else None

    def _raise_watermark(self, checkpoint: Checkpoint, current: str) -> str:
        """Move the shared watermark (``current`` as read at the slice's start) up to this walk's
        ``final_through``, never down; return it.

        Two walks may race (read, then write): the loser can only lower the watermark to a value that
        was valid too, which costs a re-examination, never a skipped entry.
        """
        mark = checkpoint.final_through
        if mark <= current:
            return current
        self.checkpoints.put(Checkpoint(WATERMARK, mark, self.clock(), final_through=mark, done=True))
        return mark

    def _pages(self, after: str | None) -> Iterator[list[SegmentInfo]]:
        """The WAL after ``after`` in listing pages, each cut into runs of at most ``max_page_bytes``."""
        while page := list(self.wal.list(after=after, limit=self.page_size)):
            rest = page
            while rest:
                held = _bounded(rest, self.max_page_bytes)
                yield held
                rest = rest[len(held) :]
            if len(page) < self.page_size:
                return
            after = page[-1].name


def _within(entry: WalEntry, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or entry.ingested_at >= since) and (until is None or entry.ingested_at < until)


def _bounded(segments: list[SegmentInfo], max_bytes: int) -> list[SegmentInfo]:
    """The longest prefix of ``segments`` of at most ``max_bytes`` in all (at least the first one)."""
    total = 0
    for count, info in enumerate(segments):
        total += info.size
        if count and total > max_bytes:
            return segments[:count]
    return segments


def _final(record: ClaimRecord | None) -> bool:
    return record is not None and record.state.final

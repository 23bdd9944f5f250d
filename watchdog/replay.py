"""Replay: re-publish every WAL entry that has no final record, in ingest order, in bounded slices.

Why: each region publishes to and consumes from its own Service Bus namespace (no Geo-DR pairing),
so messages still in a lost region's namespace are gone for the survivor; the WAL (written to both
regions before MQCMIT) is the copy that survives. Replay publishes the missing ones again, into this
region's own namespace, with their original MessageId, session and ``(epoch, sequence)``, so

* order per session holds: the new region replays before it consumes live traffic, and live traffic
  carries a higher epoch;
* nothing is delivered twice: within the duplicate-detection window Service Bus drops the copy; after
  it, the runner finds the final record and completes the copy without delivering.

Bounded work (:meth:`Replayer.run_slice`): a *walk* (the activation replay of one region and epoch,
or one round of the straggler replay) goes page by page from its durable checkpoint
(:class:`~shared.model.Checkpoint` in a :class:`~shared.ports.CheckpointStore`): list at most
``page_size`` entries after the checkpoint, look their final records up in one batch, read and
publish the others, save the checkpoint, and stop once ``budget_s`` has passed. A page stops early
too, between body reads, when the budget runs out, so a slice overruns its budget by at most one
storage call. The Watchdog calls one slice per tick, after its heartbeat or lease renewal: no replay
can make a live region look dead. A crash between publishing a page and saving its checkpoint
publishes that page again on resume (dropped by Service Bus or completed by the claim): never a loss.

Every walk starts from the shared watermark ``final`` (every entry up to it had a final record), so
neither the activation replay nor the straggler replay lists the WAL from its first blob.
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

from shared.model import Checkpoint, ClaimRecord, OutboundStatement, WalEntry, reused_message_id
from shared.ports import CheckpointStore, IdempotencyStore, StatementPublisher, WriteAheadLog
from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.replay")

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
    examined: int
    republished: int
    already_final: int
    pages: int
    done: bool
    checkpoint: Checkpoint

    def as_dict(self) -> dict[str, object]:
        return {
            "walk": self.walk,
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
class _Page:
    """One examined page: the entries looked at (a prefix of the listed page) and what to publish."""

    examined: list[tuple[WalEntry, bool]]  # (entry, had a final record)
    to_publish: list[OutboundStatement]


@dataclass
class Replayer:
    """Replays the WAL through ``publisher``; walk checkpoints live in ``checkpoints``."""

    wal: WriteAheadLog
    store: IdempotencyStore
    publisher: StatementPublisher
    checkpoints: CheckpointStore
    page_size: int = 200
    #: Body reads in flight at once: a page of 200 entries without records in ~7 rounds.
    readers: int = 32
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
        watermark (the straggler replay). ``older_than`` ends the walk at the first entry ingested at or
        after it (the straggler replay leaves messages that are simply in flight alone).
        """
        deadline = self.monotonic() + budget_s
        checkpoint = self.checkpoints.get(walk)
        if checkpoint is None or (checkpoint.done and restart):
            checkpoint = self._start(walk, checkpoint)
        examined = republished = final = pages = 0
        watermark = self._watermark() or "" if not checkpoint.done else ""
        while not checkpoint.done:
            listed = list(self.wal.list(after=checkpoint.position or None, limit=self.page_size))
            cut = list(
                itertools.takewhile(lambda e: older_than is None or e.ingested_at < older_than, listed)
            )
            ends = len(listed) < self.page_size or len(cut) < len(listed)
            page = self._examine(cut, deadline)
            if page.to_publish:
                self.publisher.publish(page.to_publish)
                self.on_republished(page.to_publish, walk)
            checkpoint = self._advance(checkpoint, page, ends and len(page.examined) == len(cut))
            self.checkpoints.put(checkpoint)
            watermark = self._raise_watermark(checkpoint, watermark)
            pages += 1
            examined += len(page.examined)
            final += sum(1 for _, was_final in page.examined if was_final)
            republished += len(page.to_publish)
            if self.monotonic() >= deadline:
                break
        metrics.incr("replayed", republished)
        result = SliceResult(walk, examined, republished, final, pages, checkpoint.done, checkpoint)
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
        """An operator's replay: every entry after ``after`` (default: the watermark) and, optionally,
        ingested within ``[since, until)``, to the end of the WAL. Moves no checkpoint; ``walk`` names
        it for ``on_republished`` (:func:`operator_walk`)."""
        if after is None:
            after = self._watermark()
            if since is not None:
                after = max(after or "", f"{since:%Y%m%d}") or None  # names start with the day
        examined = republished = final = 0
        for listed in self._pages(after):
            window = [e for e in listed if _within(e, since, until)]
            page = self._examine(window, deadline=None)
            if page.to_publish:
                self.publisher.publish(page.to_publish)
                self.on_republished(page.to_publish, walk)
            examined += len(page.examined)
            final += sum(1 for _, was_final in page.examined if was_final)
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

    def _examine(self, entries: list[WalEntry], deadline: float | None) -> _Page:
        """Look the page's records up in one batch; read the bodies of the entries without a final
        record ``readers`` at a time, in parallel, until ``deadline`` (always at least one group, so
        every slice makes progress). The examined entries are a prefix of ``entries``."""
        records = self._records(entries)
        examined: list[tuple[WalEntry, bool]] = []
        to_publish: list[OutboundStatement] = []
        index = 0
        while index < len(entries):
            if examined and deadline is not None and self.monotonic() >= deadline:
                break
            group: list[tuple[WalEntry, bool]] = []
            unread = 0
            while index < len(entries):
                record = records.get(entries[index].name)
                final = record is not None and record.state.final
                if not final and unread == self.readers:
                    break
                group.append((entries[index], final))
                unread += not final
                index += 1
            bodies = self._read([entry for entry, final in group if not final])
            to_publish += [OutboundStatement.from_wal(entry, body) for entry, body in bodies]
            examined += group
        return _Page(examined, to_publish)

    def _read(self, entries: list[WalEntry]) -> list[tuple[WalEntry, bytes]]:
        """The bodies of ``entries``, in their order (in parallel when ``readers`` > 1)."""
        if self.readers <= 1 or len(entries) <= 1:
            return [(entry, self.wal.read(entry.name)[1]) for entry in entries]
        with ThreadPoolExecutor(max_workers=min(self.readers, len(entries))) as pool:
            bodies = list(pool.map(lambda entry: self.wal.read(entry.name)[1], entries))
        return list(zip(entries, bodies, strict=True))

    def _records(self, entries: list[WalEntry]) -> dict[str, ClaimRecord]:
        """Each entry's record by WAL name, in one batched lookup (two when a MsgId was reused: a
        record claimed for another body is not this entry's; its own is under the derived id)."""
        found = self.store.lookup(entry.message_id for entry in entries)
        records: dict[str, ClaimRecord] = {}
        reused: dict[str, WalEntry] = {}
        for entry in entries:
            record = found.get(entry.message_id)
            if record is not None and record.other_body(entry.sha256):
                reused[reused_message_id(entry.message_id, entry.sha256)] = entry
            elif record is not None:
                records[entry.name] = record
        if reused:
            for derived, record in self.store.lookup(reused).items():
                records[reused[derived].name] = record
        return records

    def _advance(self, checkpoint: Checkpoint, page: _Page, ends: bool) -> Checkpoint:
        final_through, blocked = checkpoint.final_through, checkpoint.blocked
        for entry, was_final in page.examined:
            if not was_final:
                blocked = True  # the watermark never passes an entry that is not final yet
            elif not blocked:
                final_through = entry.name
        position = page.examined[-1][0].name if page.examined else checkpoint.position
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

    def _pages(self, after: str | None) -> Iterator[list[WalEntry]]:
        while page := list(self.wal.list(after=after, limit=self.page_size)):
            yield page
            if len(page) < self.page_size:
                return
            after = page[-1].name


def _within(entry: WalEntry, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or entry.ingested_at >= since) and (until is None or entry.ingested_at < until)

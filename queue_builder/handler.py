"""QueueBuilder: IBM MQ → write-ahead log segment (both regions) → Service Bus, then MQCMIT.

The order is the promise (docs/protocols.md, "No loss between MQ and the WAL"):

1. gate — act only while this region holds the lease and has activated in its epoch (cached,
   fail-closed read of the region's gate mirror: :mod:`shared.gate_cache`);
2. MQGET under syncpoint: one unit of work of at most ``batch_size`` messages and ``unit_bytes`` body
   bytes. The byte bound never loses a message: a next message above what the unit has left is not
   taken (``MqSource.get(max_bytes=…)`` raises ``TooLarge`` and MQ keeps it first), the unit ends, and
   the next unit starts with it — alone when it is larger than ``unit_bytes`` itself;
3. message id = MQ MsgId (hex), session id = the statement's account, ingest sequences ``(epoch, n)``
   from the durable :class:`~shared.ports.SequenceAllocator`, one reservation per unit;
4. ONE WAL segment for the unit (:mod:`shared.wal_segment`: index + bodies), create-only, written whole
   in both regions in parallel (``DualRegionWriteAheadLog``), named epoch-major with a random part
   chosen once per unit and kept through the unit's in-place retries;
5. Service Bus send (session, MessageId, the record's WAL locator; dedup by MessageId);
6. gate again, then MQCMIT — a region fenced meanwhile backs out instead, so MQ redelivers to the new
   active region (its copy is deduplicated by MessageId and by the idempotency record).

A segment is written whole or not at all, so a unit either has its segment or not: no per-account
write order is needed. A failure of a dependency before MQCMIT is held (:meth:`QueueBuilder._hold`),
then backs the whole unit out: nothing is lost (MQ still has it) and nothing is delivered twice (same
MessageIds on the retry path, claim per message id).

One message's own permanent failure does not fail its unit: a statement Service Bus refuses as such
(``PublishRejected``, ``MessageTooLarge``) is recorded ``FAILED`` in the idempotency store (so a replay
does not republish its WAL record: it is final), moved to the backout queue and kept in the quarantine
store within the same unit of work, reported (``statement.publish_refused``), and the other messages
are sent and committed; none of them is backed out or counted for it.

Poison messages (a body that kills the process) are told apart from messages backed out for other
reasons (a dependency outage, an app restart, a poison neighbour) by :mod:`queue_builder.backouts`: a
message over ``backout_threshold`` first gets a unit of its own, and only one that keeps failing alone
goes to the backout queue.

Exclusive input: the MQ source lets one reader drain the queue at a time (``MqSource`` contract), and
every run releases it when it ends (``close``: backout of nothing, MQCLOSE, MQDISC), whatever its
outcome. The platform makes the *invocation* a singleton, not the process: the timer runs one
invocation at a time across instances ("only a single instance of a timer-triggered function is run
across all instances. It will not trigger again if there is an outstanding invocation still running",
https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#scale-out), but the next
invocation may land in another worker process ("Function invocations are evenly distributed among
language worker processes", FUNCTIONS_WORKER_PROCESS_COUNT,
https://learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_worker_process_count)
or on another instance once the timer's lease moves. A process that kept the input between runs would
starve the QueueBuilder of every other process and instance (each has its own MQ connection). One
reader per invocation keeps batches from interleaving, and the passive region's QueueBuilder never
opens the queue (the gate is checked before the first get).
A body whose account cannot be read still flows (session ``UNROUTABLE_SESSION``): the runner records it
``FAILED`` with the reason and quarantines it, so bad input has one path and is never lost.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from queue_builder.backouts import Backouts, Verdict
from queue_builder.refusals import publish_each, record_failed
from shared.errors import (
    Interrupted,
    PermanentError,
    RegionNotActive,
    TooLarge,
    TransientError,
)
from shared.gate_cache import CachedGate
from shared.model import (
    QUEUE_BUILDER,
    QUEUE_BUILDER_FAILED,
    Heartbeat,
    MqMessage,
    OutboundStatement,
    segment_name,
)
from shared.ports import (
    BodyStore,
    Heartbeats,
    IdempotencyStore,
    MqSource,
    SequenceAllocator,
    StatementPublisher,
    WriteAheadLog,
)
from shared.telemetry import log_event, metrics
from shared.wal_segment import SegmentInput, encode

log = logging.getLogger("bridge.queue_builder")

_T = TypeVar("_T")

UNROUTABLE_SESSION = "UNROUTABLE"
#: Default of ``QUEUE_BUILDER_UNIT_BYTES``: body bytes of one unit of work (one WAL segment).
DEFAULT_UNIT_BYTES = 4 * 1024 * 1024


@dataclass
class QueueBuilder:
    """Drains MQ for a bounded time per run. One instance per process; not re-entrant.

    One MQ unit of work holds at most ``batch_size`` messages (``QUEUE_BUILDER_BATCH``) and
    ``unit_bytes`` body bytes (``QUEUE_BUILDER_UNIT_BYTES``; a single larger message makes a unit of its
    own) and becomes one WAL segment, written in both regions before anything of the unit is sent.
    """

    region: str
    gate: CachedGate
    sequences: SequenceAllocator
    heartbeats: Heartbeats
    mq: MqSource
    wal: WriteAheadLog
    publisher: StatementPublisher
    quarantine: BodyStore
    records: IdempotencyStore
    session_of: Callable[[bytes], str]
    backout_threshold: int = 5
    batch_size: int = 32
    unit_bytes: int = DEFAULT_UNIT_BYTES
    #: Backouts a suspect message (backout threshold reached) takes alone before the backout queue.
    isolated_tries: int = 2
    #: How many messages' transient backouts are remembered (the oldest are forgotten first).
    transient_memory: int = 10_000
    get_wait_s: float = 0.5
    #: How long a unit of work whose WAL write or send failed is held open and retried (fence
    #: permitting) before it is backed out: ``QUEUE_BUILDER_STALE_S + LEASE_S`` (see :meth:`_hold`).
    hold_s: float = 60.0
    hold_backoff_s: float = 0.5
    #: Kept free at the end of a run for releasing the input and writing the heartbeat.
    end_reserve_s: float = 0.25
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    #: The random part of a segment name (chosen once per unit of work).
    unique: Callable[[], str] = field(default=lambda: secrets.token_hex(6))
    _backouts: Backouts = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.unit_bytes < 1:
            raise ValueError(
                f"batch_size and unit_bytes must be positive: {self.batch_size}, {self.unit_bytes}"
            )
        self._backouts = Backouts(self.backout_threshold, self.isolated_tries, self.transient_memory)

    def run(self, budget_s: float) -> dict[str, object]:
        """Drain until the queue is empty or the run would outlast ``budget_s``; return what this run
        did (also stored for health). The input is released when the run ends, whatever the outcome.

        ``budget_s`` is when the run *ends* (``QUEUE_BUILDER_DRAIN_S``, just under the timer's
        interval), not when it stops starting work: a unit of work is started only while the longest
        unit of this run so far (at least the MQGET wait) and ``end_reserve_s`` (close, heartbeat)
        still fit before it. The first unit also opens the input (MQCONN, MQOPEN) and warms the
        clients, so once a second unit has run it no longer counts as the estimate. The first unit
        always runs, so a run makes progress whatever the budget.
        A unit held through a dependency outage (:meth:`_hold`) may outlast the budget; the timer does
        not start another invocation meanwhile, it fires late (see the module docstring).
        """
        started = self.clock()
        begun = self.monotonic()
        deadline = begun + budget_s
        ingested, units, outcome, detail = 0, 0, "drained", ""
        first, longest = 0.0, 0.0  # the first unit's duration; the longest of the later ones
        try:
            while units == 0 or self.monotonic() + self._estimate(units, first, longest) <= deadline:
                unit_began = self.monotonic()
                count = self._one_unit_of_work()
                units += 1
                duration = self.monotonic() - unit_began
                first, longest = (duration, longest) if units == 1 else (first, max(longest, duration))
                if count == 0:
                    break
                ingested += count
            else:
                outcome = "budget"
        except RegionNotActive as error:
            outcome = "passive"
            log_event(log, logging.INFO, "queue_builder.passive", region=self.region, detail=str(error))
        except TransientError as error:
            outcome, detail = "retry-later", f" ({error})"
            log_event(log, logging.WARNING, "queue_builder.transient", region=self.region, error=str(error))
        finally:
            self._release_input()
        summary: dict[str, object] = {
            "region": self.region,
            "started": started.isoformat(),
            "finished": self.clock().isoformat(),
            "ingested": ingested,
            "outcome": outcome,
        }
        # A run that gave up on a dependency leaves the last good run's beat as it was: the Watchdog's
        # probe fails once no run has completed for QUEUE_BUILDER_STALE_S (hysteresis against a blip)
        # and names the last failure.
        healthy = outcome != "retry-later"
        component = QUEUE_BUILDER if healthy else QUEUE_BUILDER_FAILED
        beat = Heartbeat(
            self.region, component, self.clock(), healthy, f"{outcome}: {ingested} ingested{detail}"[:300]
        )
        with contextlib.suppress(TransientError):  # advisory: the Watchdog reports a stale QueueBuilder
            self.heartbeats.beat(beat)
        return summary

    def _estimate(self, units: int, first: float, longest: float) -> float:
        """What the next unit and the end of the run may take (see :meth:`run`)."""
        return max(self.get_wait_s, first if units == 1 else longest) + self.end_reserve_s

    def _one_unit_of_work(self) -> int:
        """Get one unit, log it as one segment, publish it, commit. Returns how many messages the unit
        took off the queue (sent, or moved to the backout queue)."""
        state = self.gate.check(self.region)
        batch: list[MqMessage] = []
        refused = 0
        try:
            moved = self._get_unit(batch)
            if batch:
                refused = self._log_and_publish(batch, state.epoch)
                self.gate.check(self.region)  # fenced meanwhile → back out, never commit
            self.mq.commit()
        except TransientError:
            for message in batch:  # a dependency failed, not the message: this backout is not its fault
                self._backouts.note_transient(message.message_id)
            self._backout_quietly()
            raise
        except BaseException:
            self._backout_quietly()
            raise
        for message in batch:
            self._backouts.forget(message.message_id)
        metrics.incr("ingested", len(batch) - refused)
        return len(batch) + moved

    def _get_unit(self, batch: list[MqMessage]) -> int:
        """Fill ``batch`` with one unit's messages (count and byte bound, a suspect alone); return how
        many poison messages went to the backout queue on the way."""
        moved, size = 0, 0
        while len(batch) < self.batch_size and size < self.unit_bytes:
            try:
                if batch:
                    message = self.mq.get(0.0, max_bytes=self.unit_bytes - size)
                else:
                    message = self.mq.get(self.get_wait_s)
            except TooLarge:
                break  # it stays first on the queue and opens the next unit
            if message is None:
                break
            verdict = self._backouts.verdict(message, first_in_unit=not batch)
            if verdict is Verdict.PARK:
                reason = self._backouts.reason(message)
                self._to_backout_queue(message, reason, "statement.backout_queue")
                moved += 1
                continue
            batch.append(message)
            size += len(message.body)
            if verdict is Verdict.ALONE:
                break  # if it is poison, it fails alone
        return moved

    def _log_and_publish(self, batch: list[MqMessage], epoch: int) -> int:
        """Number ``batch``, write its segment, send it, each step held through a dependency outage
        (:meth:`_hold`). Returns how many messages Service Bus refused (moved to the backout queue)."""
        first = self._hold(lambda: self.sequences.next(epoch, len(batch)))
        now = self.clock()
        name = segment_name(epoch, first, self.region, self.unique())
        inputs = [
            SegmentInput(m.message_id, self._session(m.body), first + i, now, m.body)
            for i, m in enumerate(batch)
        ]
        segment, data = encode(name, self.region, epoch, now, inputs)
        self._hold(lambda: self.wal.append(segment, data))
        statements = [
            OutboundStatement.from_wal(e, m.body) for e, m in zip(segment.entries, batch, strict=True)
        ]
        refused = self._hold(lambda: publish_each(self.publisher, statements))
        by_id = {m.message_id: m for m in batch}
        entries = {e.message_id: e for e in segment.entries}
        for statement, error in refused:
            entry = entries[statement.message_id]
            self._hold(
                functools.partial(record_failed, self.records, entry, error, region=self.region, now=now)
            )
            self._to_backout_queue(
                by_id[statement.message_id],
                f"Service Bus refused the message ({error.reason}): {error}"[:500],
                "statement.publish_refused",
                session_id=statement.session_id,
                wal_name=statement.wal_name,
            )
        gone = {statement.message_id for statement, _ in refused}
        for entry in segment.entries:
            if entry.message_id not in gone:
                log_event(
                    log,
                    logging.INFO,
                    "statement.ingested",
                    message_id=entry.message_id,
                    session_id=entry.session_id,
                    region=self.region,
                    epoch=entry.epoch,
                    sequence=entry.sequence,
                    wal_name=entry.segment,
                )
        return len(refused)

    def _session(self, body: bytes) -> str:
        try:
            return self.session_of(body)
        except PermanentError:
            return UNROUTABLE_SESSION

    def _hold(self, step: Callable[[], _T]) -> _T:
        """Run ``step``; while it fails with a dependency error, keep the unit of work open and retry
        (backoff ``hold_backoff_s`` doubling to 5 s) as long as the fence allows and for at most
        ``hold_s``; then the error goes up and the unit is backed out.

        Why hold instead of backing out at once: MQ counts every backout on the message, and a
        region that retried a failing unit every run would push good statements past the backout
        threshold for the region that takes over after it (its own process discounts its own
        backouts, the other region cannot). Held, a unit is backed out once per outage, when the
        fence closes (the lease ends) or the hold runs out. A crash point (``Interrupted``) and a
        closed fence are not held. Retrying a step is safe: sequences are reserved once per unit
        (gaps allowed), the segment append is create-only and idempotent for the same bytes (the
        segment's name and bytes are fixed before the first try), sends are deduplicated by MessageId.
        """
        deadline = self.clock() + timedelta(seconds=self.hold_s)
        delay = self.hold_backoff_s
        while True:
            try:
                return step()
            except (RegionNotActive, Interrupted):
                raise
            except TransientError as error:
                if self.clock() + timedelta(seconds=delay) > deadline:
                    raise
                metrics.incr("queue_builder_held")
                log_event(log, logging.WARNING, "queue_builder.held", region=self.region, error=str(error))
            self.sleep(delay)
            delay = min(delay * 2, 5.0)
            self.gate.check(self.region)  # the lease ends while holding → RegionNotActive: back out

    def _to_backout_queue(self, message: MqMessage, reason: str, event: str, **fields: str) -> None:
        """Keep ``message`` in the quarantine store and move it to the backout queue (in this unit of
        work), reported as ``event`` with ``reason``."""
        self.quarantine.put(
            f"mq-backout/{message.message_id}",
            message.body,
            {"message_id": message.message_id, "reason": reason, "region": self.region, **fields},
        )
        self.mq.to_backout_queue(message, reason)
        metrics.incr("mq_backed_out")
        log_event(log, logging.ERROR, event, message_id=message.message_id, reason=reason, **fields)

    def _release_input(self) -> None:
        """Give the exclusive MQ input up at the end of a run (``MqSource.close`` backs out first)."""
        try:
            self.mq.close()
        except TransientError as error:  # a broken connection's handle is released by MQ itself
            log_event(log, logging.WARNING, "queue_builder.close_failed", error=str(error))

    def _backout_quietly(self) -> None:
        try:
            self.mq.backout()
        except TransientError as error:  # the connection is gone: MQ backs the unit of work out itself
            log_event(log, logging.WARNING, "queue_builder.backout_failed", error=str(error))

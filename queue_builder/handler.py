"""QueueBuilder: IBM MQ → write-ahead log (both regions) → Service Bus, then MQCMIT.

The order is the promise (docs/protocols.md, "No loss between MQ and the WAL"):

1. gate — act only while this region holds the lease and has activated in its epoch (cached,
   fail-closed read of the region's gate mirror: :mod:`shared.gate_cache`);
2. MQGET under syncpoint, up to ``batch_size`` messages in one unit of work;
3. message id = MQ MsgId (hex), session id = the statement's account, ingest sequence ``(epoch, n)``
   from the durable :class:`~shared.ports.SequenceAllocator` (the epoch is the lease's, stamped on
   the WAL entry and the message);
4. WAL write, create-only, in both regions (``DualRegionWriteAheadLog``);
5. Service Bus send (session, MessageId, properties; dedup by MessageId);
6. gate again, then MQCMIT — a region fenced meanwhile backs out instead, so MQ redelivers to the new
   active region (its copy is deduplicated by MessageId and by the idempotency record).

Any failure before MQCMIT backs the whole unit of work out: nothing is lost (MQ still has it) and
nothing is delivered twice (same MessageId and WAL name on the retry path, claim per message id).
A message whose backout count reached the threshold is moved to the backout queue, kept in the
quarantine store, and reported, instead of blocking the queue forever.
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
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from shared.errors import Interrupted, PermanentError, RegionNotActive, TransientError
from shared.gate_cache import CachedGate
from shared.model import (
    QUEUE_BUILDER,
    QUEUE_BUILDER_FAILED,
    Heartbeat,
    MqMessage,
    OutboundStatement,
    WalEntry,
)
from shared.ports import (
    BodyStore,
    Heartbeats,
    MqSource,
    SequenceAllocator,
    StatementPublisher,
    WriteAheadLog,
)
from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.queue_builder")

_T = TypeVar("_T")

UNROUTABLE_SESSION = "UNROUTABLE"


@dataclass
class QueueBuilder:
    """Drains MQ for a bounded time per run. One instance per process; not re-entrant.

    ``batch_size`` messages at most make one MQ unit of work (``QUEUE_BUILDER_BATCH``); their WAL
    appends run account by account in order, ``wal_writers`` accounts at a time, and all of them
    finish before anything of the unit is sent.
    """

    region: str
    gate: CachedGate
    sequences: SequenceAllocator
    heartbeats: Heartbeats
    mq: MqSource
    wal: WriteAheadLog
    publisher: StatementPublisher
    quarantine: BodyStore
    session_of: Callable[[bytes], str]
    backout_threshold: int = 5
    batch_size: int = 32
    wal_writers: int = 8
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
    _pool: ThreadPoolExecutor = field(init=False, repr=False)
    _transient_backouts: Counter[str] = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.wal_writers < 1:
            raise ValueError(
                f"batch_size and wal_writers must be positive: {self.batch_size}, {self.wal_writers}"
            )
        self._pool = ThreadPoolExecutor(self.wal_writers, thread_name_prefix="qb-wal")

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
        """Get up to ``batch_size`` messages, log and publish them, commit. Returns how many were got."""
        state = self.gate.check(self.region)
        batch: list[MqMessage] = []
        try:
            while len(batch) < self.batch_size:
                message = self.mq.get(self.get_wait_s if not batch else 0.0)
                if message is None:
                    break
                if self._poison_count(message) >= self.backout_threshold:
                    self._to_backout_queue(message)
                    continue
                batch.append(message)
            if batch:
                self._log_and_publish(batch, state.epoch)
                self.gate.check(self.region)  # fenced meanwhile → back out, never commit
            self.mq.commit()
        except TransientError:
            for message in batch:  # a dependency failed, not the message: this backout is not its fault
                self._transient_backouts[message.message_id] += 1
            self._backout_quietly()
            raise
        except BaseException:
            self._backout_quietly()
            raise
        for message in batch:
            self._transient_backouts.pop(message.message_id, None)
        metrics.incr("ingested", len(batch))
        return len(batch)

    def _poison_count(self, message: MqMessage) -> int:
        """MQ's BackoutCount less the backouts this process made because a dependency (WAL, Service
        Bus, Redis) failed: an outage must not push healthy messages onto the backout queue. A process
        that dies with the message in hand (the poison case) leaves no such note, so it counts."""
        return message.backout_count - self._transient_backouts.get(message.message_id, 0)

    def _log_and_publish(self, batch: list[MqMessage], epoch: int) -> None:
        """Number, log and send ``batch``, each step held through a dependency outage (:meth:`_hold`)."""
        first = self._hold(lambda: self.sequences.next(epoch, len(batch)))
        now = self.clock()
        items = [self._prepare(message, epoch, first + i, now) for i, message in enumerate(batch)]
        self._hold(lambda: self._write_and_send(items))

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
        (gaps allowed), WAL appends are create-only and idempotent for the same body, sends are
        deduplicated by MessageId.
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

    def _write_and_send(self, items: list[tuple[WalEntry, bytes]]) -> None:
        chains: dict[str, list[tuple[WalEntry, bytes]]] = {}
        for entry, body in items:
            chains.setdefault(entry.session_id, []).append((entry, body))
        for future in [self._pool.submit(self._append_in_order, chain) for chain in chains.values()]:
            future.result()  # every WAL write (both regions) done before anything is sent
        self.publisher.publish([OutboundStatement.from_wal(entry, body) for entry, body in items])
        for entry, _ in items:
            log_event(
                log,
                logging.INFO,
                "statement.ingested",
                message_id=entry.message_id,
                session_id=entry.session_id,
                region=self.region,
                epoch=entry.epoch,
                sequence=entry.sequence,
            )

    def _append_in_order(self, chain: list[tuple[WalEntry, bytes]]) -> None:
        """Append one account's entries one after the other (accounts run in parallel).

        A unit that dies halfway through its WAL writes (kill -9, a failed append) thus leaves each
        account's entries a prefix of its messages: the replay re-publishes every entry without a final
        record, and an entry written without its predecessor would reach Service Bus ahead of that
        predecessor, which MQ redelivers later — an inversion.
        """
        for entry, body in chain:
            self.wal.append(entry, body)

    def _prepare(
        self, message: MqMessage, epoch: int, sequence: int, now: datetime
    ) -> tuple[WalEntry, bytes]:
        try:
            session_id = self.session_of(message.body)
        except PermanentError:
            session_id = UNROUTABLE_SESSION
        entry = WalEntry(
            name=WalEntry.name_for(now, epoch, sequence, message.message_id),
            message_id=message.message_id,
            session_id=session_id,
            epoch=epoch,
            sequence=sequence,
            region=self.region,
            ingested_at=now,
            sha256=hashlib.sha256(message.body).hexdigest(),
            size=len(message.body),
        )
        return entry, message.body

    def _to_backout_queue(self, message: MqMessage) -> None:
        reason = f"backout count {message.backout_count} reached threshold {self.backout_threshold}"
        self.quarantine.put(
            f"mq-backout/{message.message_id}",
            message.body,
            {"message_id": message.message_id, "reason": reason, "region": self.region},
        )
        self.mq.to_backout_queue(message, reason)
        metrics.incr("mq_backed_out")
        log_event(log, logging.ERROR, "statement.backout_queue", message_id=message.message_id, reason=reason)

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

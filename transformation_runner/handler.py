"""Transformation Runner: one Service Bus message → at most one delivery per delivery key.

The obvious order (check the flag, deliver, then record) loses or duplicates in every crash window;
this one does not (docs/protocols.md, "No duplicate delivery"):

1. fence — this region must hold the lease and have activated in its epoch (its cached, fail-closed
   gate mirror: :mod:`shared.gate_cache`);
2. claim — create-only ``PENDING`` record with region, epoch, lease, delivery key and the body's
   SHA-256. A final record of the same body means a duplicate: complete without delivering; of another
   body, a reused MQ MsgId: quarantine and record the new message under a derived id, alert. A live
   ``PENDING`` of another worker: retry later.
   An expired ``PENDING`` is *in doubt*: the delivery may or may not have happened. Take it over
   (ETag-conditional), ask the target; if it cannot tell, redeliver with the same key (the receiver's
   duplicate check is the backstop) and count it;
3. translate camt.053 → MT950/MT940 or camt.052 → MT942 (pure; the format per receiver/account from
   the settings); a ``PermanentError`` records ``FAILED`` with the reason, keeps
   the body in quarantine and completes the message: never lost, never retried forever;
4. fence again, then deliver with the delivery key;
5. ``DELIVERED`` (ETag-conditional); 6. the optional backup of the output, best-effort: it runs only
   once the outcome is recorded, so a backup failure is logged and counted and never releases the
   claim or forces a redelivery.

A claim-check body is one ranged, hash-checked read of its WAL segment
(:mod:`transformation_runner.claim_check`); missing, it is retried with the backoff within the
replication window, then recorded ``FAILED`` and quarantined like a body that does not match its hash.

Transient errors propagate: the trigger abandons the message and Service Bus redelivers it (after
``MaxDeliveryCount`` attempts it is dead-lettered, where the runbook's redrive picks it up).
Exactly-once delivery to an external system is impossible in general: "no duplicates" means never two
deliveries under different keys, and every in-doubt redelivery counted and reported.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from shared.breaker import BREAKER, WriteBreaker
from shared.errors import (
    AlreadyExists,
    BridgeError,
    PermanentError,
    PreconditionFailed,
    RegionNotActive,
    TransientError,
)
from shared.gate_cache import CachedGate
from shared.model import (
    ClaimRecord,
    InboundStatement,
    IngestPosition,
    RecordState,
    delivery_key_for,
    reused_message_id,
)
from shared.ports import BodyStore, DeliveryTarget, IdempotencyStore, WriteAheadLog
from shared.telemetry import log_event, metrics
from transformation_runner.claim_check import description, read_body

log = logging.getLogger("bridge.runner")

T = TypeVar("T")


class Translation(Protocol):
    """What the runner needs of a translation result."""

    @property
    def messages(self) -> list[str]: ...

    @property
    def report(self) -> list[dict[str, object]]: ...

    @property
    def formats(self) -> tuple[str, ...]: ...


class ClaimHeld(TransientError):
    """Another worker holds a live claim on the message: retry after its lease (``wait_s``)."""

    def __init__(self, detail: str, wait_s: float | None = None) -> None:
        super().__init__(detail)
        self.wait_s = wait_s


class MessageIdReused(PermanentError):
    """A final record exists for this MsgId, claimed for another body: the MQ MsgId was reused.

    The new message is not a redelivery; completing it as a duplicate would lose it. It is recorded
    ``FAILED`` under :func:`~shared.model.reused_message_id` and its body kept in quarantine under
    that id (docs/protocols.md, "A reused MsgId"; docs/runbook.md, "message-id-reused").
    """

    reason = "message-id-reused"

    def __init__(self, message_id: str, recorded_sha256: str, body_sha256: str) -> None:
        super().__init__(
            f"MQ MsgId {message_id} was already used for another body (recorded SHA-256 "
            f"{recorded_sha256[:16]}…, this body {body_sha256[:16]}…); kept for an operator to resubmit"
        )
        self.message_id = message_id


class Outcome(enum.StrEnum):
    """What happened to one message; every value completes the Service Bus message."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    RECONCILED = "reconciled"  # in doubt, and the target confirmed the earlier delivery
    FAILED = "failed"  # permanent error: recorded and quarantined
    SUPERSEDED = "superseded"  # our lease was taken over meanwhile; the new holder finishes


@dataclass
class TransformationRunner:
    """Handles one message at a time per session; safe to run in many threads and both regions."""

    region: str
    gate: CachedGate
    store: IdempotencyStore
    target: DeliveryTarget
    quarantine: BodyStore
    wal: WriteAheadLog
    translate: Callable[[bytes], Translation]
    lease_s: float = 60.0
    max_claim_wait_s: float = 60.0
    backoff_s: float = 2.0
    backoff_max_s: float = 30.0
    backup: BodyStore | None = None
    #: A claim-check body missing from the WAL is retried this long after the message's enqueue
    #: (WAL_REPLICATION_WINDOW_S), then recorded FAILED (``claim_check.BodyMissing``). Below the
    #: backoff a message gets before MaxDeliveryCount (2 + 4 + … + 18 s = 90 s for 10 deliveries), so
    #: a missing body is recorded and quarantined rather than dead-lettered.
    replication_window_s: float = 60.0
    #: While Cosmos DB accepts no writes, hold the message (its lock renewed by the host) and retry
    #: every ``write_hold_step_s``, for at most ``write_hold_s`` per write (COSMOS_WRITE_HOLD_S):
    #: below the host's lock renewal limit, so no delivery count is spent (shared.breaker).
    write_hold_s: float = 480.0
    write_hold_step_s: float = 5.0
    breaker: WriteBreaker = field(default_factory=lambda: BREAKER)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    _last_position: dict[str, IngestPosition] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handle(self, message: InboundStatement) -> Outcome:
        """Process ``message``; return normally to complete it, raise ``TransientError`` to retry.

        Before a transient error propagates (and the trigger abandons the message) the runner pauses
        ``backoff_s × delivery count`` (at most ``backoff_max_s``): Service Bus redelivers an abandoned
        message at once, so without the pause a fenced region or a dependency outage would spend a
        message's MaxDeliveryCount in milliseconds and dead-letter it (2+4+…+20 s ≈ 2 minutes here).
        """
        try:
            return self._handle(message)
        except TransientError as error:
            metrics.incr("fenced" if isinstance(error, RegionNotActive) else "transient_failures")
            self.sleep(min(self.backoff_max_s, self.backoff_s * max(1, message.delivery_count)))
            raise

    def _handle(self, message: InboundStatement) -> Outcome:
        context = {"message_id": message.message_id, "session_id": message.session_id, "region": self.region}
        state = self.gate.check(self.region)
        context["epoch"] = str(state.epoch)
        if message.body is not None and not message.claim_check:
            body = message.body
        else:
            try:
                body = read_body(self.wal, message, self.clock(), self.replication_window_s)
            except PermanentError as error:
                return self._unreadable(message, state.epoch, error, context)
        sha256 = hashlib.sha256(body).hexdigest()
        record, in_doubt = self._claim(message, state.epoch, sha256)
        if record.state is not RecordState.PENDING:
            if record.other_body(sha256):
                return self._reused(
                    message, original=record, body=body, sha256=sha256, epoch=state.epoch, context=context
                )
            return self._duplicate(record, context)
        try:
            return self._process(message, record, body, in_doubt, context)
        except TransientError:
            self._release(record)
            raise

    def _duplicate(self, record: ClaimRecord, context: Mapping[str, str]) -> Outcome:
        metrics.incr("duplicates_suppressed")
        log_event(log, logging.INFO, "statement.duplicate", state=record.state.value, **context)
        return Outcome.DUPLICATE

    def _reused(
        self,
        message: InboundStatement,
        *,
        original: ClaimRecord,
        body: bytes,
        sha256: str,
        epoch: int,
        context: Mapping[str, str],
    ) -> Outcome:
        """Quarantine and record a message whose MsgId a final record already holds for another body.

        Recorded under its derived id (claimed like any message, so a redelivery of it is a duplicate
        of that record), ``FAILED`` with ``message-id-reused``; an alert event names both hashes."""
        derived = dataclasses.replace(message, message_id=reused_message_id(message.message_id, sha256))
        record, _ = self._claim(derived, epoch, sha256)
        if record.state is not RecordState.PENDING:
            return self._duplicate(record, context)
        metrics.incr("message_id_reused")
        log_event(
            log,
            logging.ERROR,
            "statement.message_id_reused",
            recorded_as=record.message_id,
            recorded_sha256=original.body_sha256,
            body_sha256=sha256,
            **context,
        )
        return self._fail(
            record, body, MessageIdReused(message.message_id, original.body_sha256, sha256), context
        )

    def _process(
        self,
        message: InboundStatement,
        record: ClaimRecord,
        body: bytes,
        in_doubt: bool,
        context: Mapping[str, str],
    ) -> Outcome:
        if in_doubt:
            confirmed = self._confirmed(record, context)
            if confirmed:
                return Outcome.RECONCILED
            metrics.incr("in_doubt_redelivered_same_key")
            log_event(log, logging.WARNING, "statement.in_doubt_redeliver", target_knew=confirmed, **context)
        self._check_order(message)
        try:
            translation = self.translate(body)
        except PermanentError as error:
            return self._fail(record, body, error, context)
        payload = "".join(translation.messages).encode("ascii")
        sent = ",".join(translation.formats)  # MT940, MT942, MT950: recorded with the delivery
        fence = self.gate.check(self.region)  # fence right before the side effect
        self.target.deliver(
            record.delivery_key,
            payload,
            {
                "message_id": message.message_id,
                "session_id": message.session_id,
                "region": self.region,
                "epoch": str(fence.epoch),  # the gate epoch this delivery was fenced under
                "format": sent,
            },
        )
        details = {"pages": str(len(translation.messages)), "format": sent}
        policy = getattr(translation, "policy", None)  # transformation_runner.policy.PolicyTranslation
        if policy:
            details["balance_policy"] = str(policy)
        outcome = self._record(record, details)
        if outcome is Outcome.DELIVERED:
            self._back_up(record, payload, context)
            metrics.incr("delivered")
            latency_ms = self._latency_ms(message)
            log_event(
                log,
                logging.INFO,
                "statement.delivered",
                pages=len(translation.messages),
                format=sent,
                latency_ms=latency_ms,
                **context,
            )
        return outcome

    def _claim(self, message: InboundStatement, epoch: int, sha256: str) -> tuple[ClaimRecord, bool]:
        """Return the record this worker may act on and whether it is in doubt.

        A live claim of another worker is waited out (holding the Service Bus lock, so the session's
        order is kept) when its lease ends within ``max_claim_wait_s``; otherwise ``ClaimHeld``.
        """
        while True:
            try:
                return self._try_claim(message, epoch, sha256)
            except ClaimHeld as held:
                if held.wait_s is None or held.wait_s > self.max_claim_wait_s:
                    raise
                self.sleep(held.wait_s + 0.05)

    def _try_claim(self, message: InboundStatement, epoch: int, sha256: str) -> tuple[ClaimRecord, bool]:
        try:
            record = self._write(
                lambda: self.store.claim(
                    message_id=message.message_id,
                    session_id=message.session_id,
                    region=self.region,
                    epoch=epoch,
                    delivery_key=delivery_key_for(message.message_id),
                    lease_until=self._lease_until(),  # from the attempt that lands, after any hold
                    wal_name=message.wal_name,
                    sequence=message.sequence,
                    body_sha256=sha256,
                )
            )
            return record, False
        except AlreadyExists:
            existing = self.store.get(message.message_id)
        now = self.clock()
        if existing is None:  # deleted between the two calls: let Service Bus retry
            raise ClaimHeld(f"record of {message.message_id} vanished; retrying")
        if existing.state.final:
            return existing, False
        if not existing.lease_expired(now):
            raise ClaimHeld(
                f"{message.message_id} is held by {existing.region} until {existing.lease_until}",
                wait_s=(existing.lease_until - now).total_seconds(),
            )
        if existing.other_body(sha256):
            # Another body's claim, abandoned: its own message (or the replay of its WAL entry)
            # finishes it; only then can this one be told apart as a reused MsgId.
            raise ClaimHeld(f"{message.message_id} is claimed for another body; retrying later")
        metrics.incr("in_doubt")
        try:
            taken = self._write(
                lambda: self.store.take_over(
                    existing, region=self.region, epoch=epoch, lease_until=self._lease_until()
                )
            )
        except PreconditionFailed as error:
            raise ClaimHeld(f"{message.message_id} was taken over concurrently") from error
        return taken, True

    def _lease_until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.lease_s)

    def _write(self, write: Callable[[], T]) -> T:
        """A Cosmos write that waits out write unavailability in hand (:meth:`WriteBreaker.hold`)."""
        return self.breaker.hold(
            write,
            max_hold_s=self.write_hold_s,
            step_s=self.write_hold_step_s,
            clock=self.clock,
            sleep=self.sleep,
        )

    def _release(self, record: ClaimRecord) -> None:
        """Expire our own lease after a transient failure, so the retry need not wait it out.

        The retry then treats the message as in doubt (the failure may have come after the target
        accepted it) and asks the target or redelivers with the same key.
        """
        try:
            self.store.take_over(record, region=self.region, epoch=record.epoch, lease_until=self.clock())
        except BridgeError as error:  # store down or record changed: the lease expires on its own
            log_event(
                log,
                logging.WARNING,
                "statement.release_failed",
                message_id=record.message_id,
                error=str(error),
            )

    def _record(self, record: ClaimRecord, details: Mapping[str, str]) -> Outcome:
        try:
            self._write(lambda: self.store.mark_delivered(record, details))
        except PreconditionFailed:
            # Our lease expired and another worker took the claim over; it delivers with the same key.
            metrics.incr("superseded")
            log_event(log, logging.WARNING, "statement.superseded", message_id=record.message_id)
            return Outcome.SUPERSEDED
        return Outcome.DELIVERED

    def _fail(
        self, record: ClaimRecord, body: bytes, error: PermanentError, context: Mapping[str, str]
    ) -> Outcome:
        self.quarantine.put(
            record.message_id,
            body,
            {"message_id": record.message_id, "reason": error.reason, "region": self.region},
        )
        try:
            details = {"error": str(error)[:1000]}
            policy = getattr(error, "balance_policy", None)  # transformation_runner.policy.PolicyTranslator
            if policy:
                details["balance_policy"] = str(policy)
            self._write(lambda: self.store.mark_failed(record, error.reason, details))
        except PreconditionFailed:
            return Outcome.SUPERSEDED
        metrics.incr("failed")
        log_event(log, logging.ERROR, "statement.failed", reason=error.reason, error=str(error), **context)
        return Outcome.FAILED

    def _latency_ms(self, message: InboundStatement) -> float | None:
        """End-to-end latency from the Service Bus enqueue to this delivery (counted for the average)."""
        if message.enqueued_at is None:
            return None
        latency = round((self.clock() - message.enqueued_at).total_seconds() * 1000, 1)
        metrics.incr("latency_ms_total", int(latency))
        metrics.incr("latency_samples")
        metrics.gauge("latency_ms_last", latency)
        return latency

    def _back_up(self, record: ClaimRecord, payload: bytes, context: Mapping[str, str]) -> None:
        """Keep a copy of the delivered output (OUTPUT_BACKUP_CONTAINER), best-effort: the delivery is
        recorded already, so a failure here is logged and counted, never retried through the message."""
        if self.backup is None:
            return
        try:
            self.backup.put(f"{record.message_id}.fin", payload, {"delivery_key": record.delivery_key})
        except BridgeError as error:
            metrics.incr("backup_failed")
            log_event(log, logging.WARNING, "statement.backup_failed", error=str(error), **context)

    def _unreadable(
        self, message: InboundStatement, epoch: int, error: PermanentError, context: Mapping[str, str]
    ) -> Outcome:
        """The claim-check body cannot be had (``BodyMissing``, ``UnreadableWalEntry``): claim the
        message under the body's expected SHA-256, then record it ``FAILED`` with a description of what
        is missing in quarantine. A final record already there wins (the body was delivered before it
        went missing: a duplicate); an earlier delivery the target confirms is reconciled."""
        record, in_doubt = self._claim(message, epoch, message.wal.sha256)
        described = description(message, error)
        if record.state is not RecordState.PENDING:
            if record.other_body(message.wal.sha256):  # a reused MsgId: recorded under its own id
                return self._reused(
                    message,
                    original=record,
                    body=described,
                    sha256=message.wal.sha256,
                    epoch=epoch,
                    context=context,
                )
            return self._duplicate(record, context)
        if in_doubt and self._confirmed(record, context):
            return Outcome.RECONCILED
        return self._fail(record, described, error, context)

    def _confirmed(self, record: ClaimRecord, context: Mapping[str, str]) -> bool | None:
        """Ask the target whether an in-doubt record's delivery happened; when it confirms, record
        ``DELIVERED`` (reconciled). ``None``: the target cannot tell."""
        confirmed = self.target.was_delivered(record.delivery_key)
        if confirmed:
            self._record(record, {"reconciled": "target confirmed the earlier delivery"})
            log_event(log, logging.WARNING, "statement.in_doubt_reconciled", **context)
        return confirmed

    def _check_order(self, message: InboundStatement) -> None:
        """Count an inversion when a session's ingest position goes backwards in this process."""
        with self._lock:
            last = self._last_position.get(message.session_id)
            if last is not None and message.position < last:
                metrics.incr("inversions")
                log_event(
                    log,
                    logging.ERROR,
                    "statement.inversion",
                    message_id=message.message_id,
                    session_id=message.session_id,
                    position=f"{message.epoch}/{message.sequence}",
                    previous=f"{last.epoch}/{last.sequence}",
                )
            else:
                self._last_position[message.session_id] = message.position

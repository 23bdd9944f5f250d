"""Trace: every recorded step of one statement, read from the durable records (never process counters).

Sources, all durable and shared by both regions:

* the WAL record (Blob, segment ``wal/{epoch}/{first sequence}-{region}-{token}``, one per MQ unit of
  work, :mod:`shared.wal_segment`): taken off MQ and logged at ``ingested_at`` by ``region`` under
  ``epoch``; the Service Bus message carries the same id as its ``MessageId``, the account as its
  session and the record's place in the segment (``queue_builder.handler``);
* the idempotency record (Cosmos DB): the claim (region, epoch, delivery key, lease), how many times it
  was claimed (``attempts`` > 1: taken over after an expired lease, i.e. an in-doubt redelivery or a
  retry after a transient error), and the final ``DELIVERED`` or ``FAILED`` with reason and details
  (balance policy, pages, "target confirmed the earlier delivery");
* the quarantine container (Blob, ``quarantine/{message_id}``) for ``FAILED`` statements;
* the operations journal: resubmit, resend and their approvals (``watchdog.desk``).

A replay re-publishes a WAL entry with its original MessageId, so it is visible only through its
effects on the record (a claim, or an extra attempt); the replay checkpoint is in the status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import BridgeError
from shared.journal import OperationsJournal
from shared.model import ClaimRecord, RecordState, WalEntry
from shared.ports import IdempotencyStore, WriteAheadLog
from shared.telemetry import mask
from shared.wal_records import records_of
from shared.wal_segment import UnreadableWalEntry
from watchdog.wal_scan import record_entry, wal_window

#: How far back a trace looks for the WAL record of a statement that has no idempotency record yet.
SEARCH_DAYS = 2


def quarantine_name(message_id: str) -> str:
    """Where the runner keeps the body of a FAILED statement (``TransformationRunner._fail``)."""
    return message_id


@dataclass
class Tracer:
    """Answers "where is statement X?" and "what happened to account A's statements?"."""

    wal: WriteAheadLog
    store: IdempotencyStore
    journal: OperationsJournal
    quarantine_container: str = "quarantine"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def trace(self, message_id: str) -> dict[str, object]:
        """Every step of ``message_id``; ``found`` is false when no record and no WAL entry exist."""
        record = self.store.get(message_id)
        steps: list[dict[str, object]] = []
        entry = self._wal_entry(message_id, record)
        if entry is not None:
            steps.append(_ingest_step(entry))
            steps.append(
                {
                    "step": "servicebus",
                    "message_id": entry.message_id,
                    "session": mask(entry.session_id),
                    "position": f"{entry.epoch}/{entry.sequence}",
                }
            )
        if record is not None:
            steps.extend(self._record_steps(record))
        steps.extend(self._requests(message_id))
        return {
            "message_id": message_id,
            "found": bool(steps),
            "state": record.state.value if record else ("NO-RECORD" if entry else "UNKNOWN"),
            "steps": steps,
        }

    def trace_account(self, account: str, since: datetime, until: datetime) -> dict[str, object]:
        """One line per statement of ``account`` ingested in ``[since, until)``, oldest first."""
        entries = [e for e in wal_window(self.wal, since, until) if e.session_id == account]
        rows = [
            {
                "message_id": record.message_id if record else e.message_id,
                "ingested_at": e.ingested_at.isoformat(),
                "position": f"{e.epoch}/{e.sequence}",
                "state": record.state.value if record else "NO-RECORD",
                "reason": record.reason if record else None,
            }
            for e, record in zip(entries, records_of(self.store, entries), strict=True)
        ]
        return {
            "account": mask(account),
            "from": since.isoformat(),
            "to": until.isoformat(),
            "statements": rows,
        }

    def _wal_entry(self, message_id: str, record: ClaimRecord | None) -> WalEntry | None:
        """The statement's WAL record: in the record's segment, or — no record yet (stuck before its
        claim) — among the records ingested in the last :data:`SEARCH_DAYS` days (indexes only, no
        bodies)."""
        if record is None or not record.wal_name:
            until = self.clock()
            since = until - timedelta(days=SEARCH_DAYS)
            return next((e for e in wal_window(self.wal, since, until) if e.message_id == message_id), None)
        try:
            return record_entry(self.wal, record)
        except UnreadableWalEntry:  # reported by the reconciliation (unreadable_wal)
            return None

    def _record_steps(self, record: ClaimRecord) -> list[dict[str, object]]:
        steps: list[dict[str, object]] = [
            {
                "step": "claim",
                "region": record.region,
                "epoch": record.epoch,
                "delivery_key": record.delivery_key,
                "attempts": record.attempts,
                "lease_until": record.lease_until.isoformat(),
            }
        ]
        if record.attempts > 1:
            steps.append(
                {
                    "step": "redelivered",
                    "attempts": record.attempts,
                    "same_delivery_key": record.delivery_key,
                    "target_confirmed": "reconciled" in record.details,
                }
            )
        at = record.updated_at.isoformat() if record.updated_at else None
        if record.state is RecordState.DELIVERED:
            steps.append(
                {
                    "step": "delivered",
                    "at": at,
                    "region": record.region,
                    "epoch": record.epoch,
                    "delivery_key": record.delivery_key,
                    "details": dict(record.details),
                }
            )
        elif record.state is RecordState.FAILED:
            steps.append(
                {
                    "step": "failed",
                    "at": at,
                    "region": record.region,
                    "reason": record.reason,
                    "quarantine": f"{self.quarantine_container}/{quarantine_name(record.message_id)}",
                    "details": dict(record.details),
                }
            )
        else:
            steps.append({"step": "pending", "lease_until": record.lease_until.isoformat()})
        return steps

    def _requests(self, message_id: str) -> list[dict[str, object]]:
        steps: list[dict[str, object]] = []
        try:
            names = self.journal.names(f"messages/{message_id}/")
        except BridgeError as error:
            return [{"step": "journal", "error": str(error)}]
        for index_name in names:
            found = self.journal.read(f"requests/{index_name.rsplit('/', 1)[1]}")
            if found is not None:
                request = found[0]
                steps.append({"step": str(request.get("kind")), **request})
        return steps


def _ingest_step(entry: WalEntry) -> dict[str, object]:
    return {
        "step": "ingested",
        "at": entry.ingested_at.isoformat(),
        "region": entry.region,
        "epoch": entry.epoch,
        "sequence": entry.sequence,
        "wal": f"wal/{entry.segment}",
        "offset": entry.offset,
        "size": entry.size,
        "sha256": entry.sha256,
    }

"""Reconciliation: did everything taken off MQ in a window reach MessageWay exactly once, in order?

For the window ``[since, until)`` it compares, from durable records only (so it sees the work of every
instance of both regions, not one process's counters):

* the WAL — every statement taken off MQ (QueueBuilder writes it before MQCMIT);
* the idempotency records (Cosmos DB) — the claim and the final outcome of each;
* the delivery target, where it can tell (``DeliveryTarget.was_delivered``: the folder outbox can, the
  MQ target cannot and answers ``None``);
* the operations journal — resubmits and resends in the window.

Lists: ``stuck`` (no final record ``stuck_after_s`` after ingest), ``failed`` (with reason, quarantine
location and any resubmit), ``in_doubt`` (a ``PENDING`` record whose lease expired: the delivery may or
may not have happened), ``redelivered`` (claimed more than once; delivered under the same key),
``missing_at_target`` (recorded ``DELIVERED`` but the target says it has no such delivery),
``out_of_order`` (an account whose ``DELIVERED`` times do not follow its ingest order ``(epoch,
sequence)``) and ``unreadable_wal`` (WAL segments of the window whose index cannot be read: their
statements are not known). The report is stored as a journal blob (``reports/reconciliation/…``),
summarised in metrics (``bridge.reconcile_*`` gauges, exported to Application Insights) and one log
event ``reconcile.report`` whose ``stuck`` and ``unreadable_wal`` figures the alert ``reconcile-stuck``
watches (infra/modules/alerts.bicep).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import BridgeError
from shared.journal import OperationsJournal
from shared.model import ClaimRecord, RecordState, WalEntry, WalLocator
from shared.ports import DeliveryTarget, IdempotencyStore, WriteAheadLog
from shared.telemetry import log_event, mask, metrics
from shared.wal_records import records_of
from shared.wal_segment import UnreadableWalEntry
from watchdog.trace import quarantine_name
from watchdog.wal_scan import wal_window

log = logging.getLogger("bridge.reconcile")

LATEST = "reports/reconciliation/latest.json"
#: At most this many items are listed per category in a report (the counts are always complete).
MAX_LISTED = 500


@dataclass
class Reconciler:
    """Builds, stores and publishes reconciliation reports."""

    region: str
    wal: WriteAheadLog
    store: IdempotencyStore
    target: DeliveryTarget
    journal: OperationsJournal
    stuck_after_s: float = 900.0
    quarantine_container: str = "quarantine"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self, since: datetime, until: datetime) -> dict[str, object]:
        """Reconcile ``[since, until)``, store the report and publish its summary; return the report."""
        report = self.report(since, until)
        name = f"reports/reconciliation/{until:%Y%m%dT%H%M%S}-{self.region}.json"
        report["stored_as"] = name
        self.journal.put(name, report)
        self.journal.put(LATEST, report)
        counts = report["counts"]
        assert isinstance(counts, dict)
        for key, value in counts.items():
            metrics.gauge(f"reconcile_{key}", float(value))
        level = (
            logging.ERROR
            if counts["stuck"] or counts["missing_at_target"] or counts["unreadable_wal"]
            else logging.INFO
        )
        log_event(log, level, "reconcile.report", region=self.region, report=name, **counts)
        return report

    def daily(self) -> dict[str, object]:
        """The timer's run: the last 24 hours up to now."""
        now = self.clock()
        return self.run(now - timedelta(days=1), now)

    def report(self, since: datetime, until: datetime) -> dict[str, object]:
        """The report of ``[since, until)`` (not stored)."""
        now = self.clock()
        unreadable: list[UnreadableWalEntry] = []
        entries = list(wal_window(self.wal, since, until, unreadable))
        records = dict(zip((e.locator for e in entries), records_of(self.store, entries), strict=True))
        lists: dict[str, list[dict[str, object]]] = defaultdict(list)
        verified = unverifiable = 0
        for entry in entries:
            record = records[entry.locator]
            row = _row(entry, record)
            if record is None or record.state is RecordState.PENDING:
                if (now - entry.ingested_at).total_seconds() > self.stuck_after_s:
                    lists["stuck"].append(row)
                if record is not None and record.lease_expired(now):
                    lists["in_doubt"].append(row)
                continue
            if record.attempts > 1:
                lists["redelivered"].append({**row, "attempts": record.attempts})
            if record.state is RecordState.FAILED:
                location = f"{self.quarantine_container}/{quarantine_name(record.message_id)}"
                lists["failed"].append({**row, "reason": record.reason, "quarantine": location})
                continue
            known = self._delivered(record)
            if known is None:
                unverifiable += 1
            elif known:
                verified += 1
            else:
                lists["missing_at_target"].append(row)
        lists["unreadable_wal"] = [{"segment": error.name, "error": str(error)} for error in unreadable]
        lists["out_of_order"] = _out_of_order(entries, records)
        lists["operator_actions"] = self._actions(since, until)
        counts = {
            "taken_off_mq": len(entries),
            "delivered": sum(1 for r in records.values() if r and r.state is RecordState.DELIVERED),
            "verified_at_target": verified,
            "target_cannot_tell": unverifiable,
            **{key: len(lists[key]) for key in _LISTS},
        }
        return {
            "region": self.region,
            "from": since.isoformat(),
            "to": until.isoformat(),
            "at": now.isoformat(),
            "stuck_after_s": self.stuck_after_s,
            "counts": counts,
            **{key: lists[key][:MAX_LISTED] for key in _LISTS},
        }

    def _delivered(self, record: ClaimRecord) -> bool | None:
        try:
            return self.target.was_delivered(record.delivery_key)
        except BridgeError:
            return None

    def _actions(self, since: datetime, until: datetime) -> list[dict[str, object]]:
        actions = []
        for name in self.journal.names("requests/"):
            stamp = name.split("/", 1)[1][:15]  # request ids start with %Y%m%dT%H%M%S
            if f"{since:%Y%m%dT%H%M%S}" <= stamp < f"{until:%Y%m%dT%H%M%S}":
                found = self.journal.read(name)
                if found is not None:
                    request = found[0]
                    actions.append({k: request.get(k) for k in _ACTION_FIELDS})
        return actions


_LISTS = (
    "stuck",
    "unreadable_wal",
    "failed",
    "in_doubt",
    "redelivered",
    "missing_at_target",
    "out_of_order",
    "operator_actions",
)
_ACTION_FIELDS = (
    "id",
    "kind",
    "message_id",
    "state",
    "requested_by",
    "approved_by",
    "reason",
    "delivery_key",
)


def _row(entry: WalEntry, record: ClaimRecord | None) -> dict[str, object]:
    return {
        "message_id": entry.message_id,
        "account": mask(entry.session_id),
        "ingested_at": entry.ingested_at.isoformat(),
        "position": f"{entry.epoch}/{entry.sequence}",
        "state": record.state.value if record else "NO-RECORD",
        "region": record.region if record else entry.region,
        "policy": record.details.get("balance_policy") if record else None,
    }


def _out_of_order(
    entries: list[WalEntry], records: dict[WalLocator, ClaimRecord | None]
) -> list[dict[str, object]]:
    """Accounts whose DELIVERED times go against ingest order: a statement ingested later was recorded
    delivered before one ingested earlier (both within the window)."""
    by_account: dict[str, list[tuple[WalEntry, datetime]]] = defaultdict(list)
    for entry in entries:
        record = records[entry.locator]
        if record and record.state is RecordState.DELIVERED and record.updated_at is not None:
            by_account[entry.session_id].append((entry, record.updated_at))
    found: list[dict[str, object]] = []
    for account, delivered in by_account.items():
        delivered.sort(key=lambda pair: pair[0].position)
        latest: tuple[WalEntry, datetime] | None = None
        for entry, at in delivered:
            if latest is not None and at < latest[1]:
                found.append(
                    {
                        "account": mask(account),
                        "message_id": entry.message_id,
                        "position": f"{entry.epoch}/{entry.sequence}",
                        "delivered_at": at.isoformat(),
                        "delivered_before": latest[0].message_id,
                        "whose_position": f"{latest[0].epoch}/{latest[0].sequence}",
                    }
                )
            if latest is None or at > latest[1]:
                latest = (entry, at)
    return found

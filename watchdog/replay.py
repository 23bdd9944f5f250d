"""Replay: re-publish every WAL entry that has no final record, in ingest order.

Why: Service Bus Geo-DR moves metadata only, so messages still in a lost region's namespace are gone;
the WAL (written to both regions before MQCMIT) is the copy that survives. Replay publishes the
missing ones again with their original MessageId, session and ``(epoch, sequence)``, so

* order per session holds: the new region replays before it consumes live traffic, and live traffic
  carries a higher epoch;
* nothing is delivered twice: within the duplicate-detection window Service Bus drops the copy; after
  it, the runner finds the final record and completes the copy without delivering.

Incremental and safe to run twice: the checkpoint (a WAL name) only moves past entries that are all
final, so an entry re-published but not yet delivered is examined again next time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from shared import faults
from shared.model import OutboundStatement, WalEntry
from shared.ports import ActiveRegionGate, IdempotencyStore, StatementPublisher, WriteAheadLog
from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.replay")

CHECKPOINT_KEY = "replay:checkpoint"


@dataclass(frozen=True)
class ReplayResult:
    """What one replay did."""

    examined: int
    republished: int
    already_final: int
    checkpoint_before: str | None
    checkpoint_after: str | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Replayer:
    """Replays the WAL through ``publisher``; the checkpoint lives in the gate's document store."""

    wal: WriteAheadLog
    store: IdempotencyStore
    publisher: StatementPublisher
    docs: ActiveRegionGate
    page_size: int = 200

    def run(
        self,
        after: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        use_checkpoint: bool = True,
        older_than: datetime | None = None,
    ) -> ReplayResult:
        """Replay entries after ``after`` (default: the stored checkpoint), optionally only those
        ingested within ``[since, until)``. Only an unfiltered run from the checkpoint moves it.

        ``older_than`` ends the scan at the first entry ingested at or after it (the periodic safety
        net leaves messages that are simply still in flight alone); such a run still moves the
        checkpoint, which then stops before that entry at the latest.
        """
        stored = self._checkpoint() if use_checkpoint else None
        start = after if after is not None else stored
        if start is None and since is not None:
            start = f"{since:%Y%m%d}"  # names start with the day: skip earlier days
        examined = republished = final = 0
        checkpoint, blocked = start, False
        for page in self._pages(start, older_than):
            candidates = [entry for entry in page if _within(entry, since, until)]
            records = self.store.lookup(entry.message_id for entry in candidates)
            to_publish: list[OutboundStatement] = []
            for entry in candidates:
                examined += 1
                record = records.get(entry.message_id)
                if record is not None and record.state.final:
                    final += 1
                    checkpoint = checkpoint if blocked else entry.name
                    continue
                blocked = True  # the checkpoint never passes an entry that is not final yet
                _, body = self.wal.read(entry.name)
                to_publish.append(OutboundStatement.from_wal(entry, body))
            if to_publish:
                self.publisher.publish(to_publish)
                republished += len(to_publish)
        moves_checkpoint = use_checkpoint and after is None and since is None and until is None
        if moves_checkpoint and checkpoint != stored and checkpoint is not None:
            self.docs.put_json(CHECKPOINT_KEY, {"after": checkpoint})
        metrics.incr("replayed", republished)
        result = ReplayResult(
            examined, republished, final, stored, checkpoint if moves_checkpoint else stored
        )
        log_event(log, logging.INFO, "replay.done", **result.as_dict())
        return result

    def _checkpoint(self) -> str | None:
        doc = self.docs.get_json(CHECKPOINT_KEY)
        value = doc.get("after") if doc else None
        return value if isinstance(value, str) else None

    def _pages(self, after: str | None, older_than: datetime | None) -> Iterator[list[WalEntry]]:
        page: list[WalEntry] = []
        for entry in self.wal.list(after=after):
            if older_than is not None and entry.ingested_at >= older_than:
                break
            faults.hit("replay.entry")
            page.append(entry)
            if len(page) >= self.page_size:
                yield page
                page = []
        if page:
            yield page


def _within(entry: WalEntry, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or entry.ingested_at >= since) and (until is None or entry.ingested_at < until)

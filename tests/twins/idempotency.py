"""In-memory twin of :class:`shared.ports.IdempotencyStore`."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from shared.errors import AlreadyExists, NotFound, PreconditionFailed, WritesUnavailable
from shared.model import ClaimRecord, RecordState
from shared.ports import IdempotencyStore, refuse_stale_epoch
from tests.twins._base import Twin


class InMemoryIdempotencyStore(Twin, IdempotencyStore):
    service = "cosmos"

    def __init__(self) -> None:
        super().__init__()
        self._records: dict[str, ClaimRecord] = {}
        #: Off: every write raises ``WritesUnavailable`` as the adapter does while Cosmos DB's write
        #: region is lost (reads still answer, as from a read region).
        self.writes_available = True
        self._etags = itertools.count(1)

    def _check_write(self) -> None:
        self._check()
        if not self.writes_available:
            raise WritesUnavailable(self.service, "writes unavailable: write region lost (in-memory twin)")

    def _etag(self) -> str:
        return f'"{next(self._etags):08x}"'

    def claim(
        self,
        *,
        message_id: str,
        session_id: str,
        region: str,
        epoch: int,
        delivery_key: str,
        lease_until: datetime,
        wal_name: str,
        sequence: int,
        body_sha256: str = "",
    ) -> ClaimRecord:
        with self.lock:
            self._check_write()
            if message_id in self._records:
                raise AlreadyExists("idempotency record", message_id)
            record = ClaimRecord(
                message_id=message_id,
                session_id=session_id,
                state=RecordState.PENDING,
                region=region,
                epoch=epoch,
                delivery_key=delivery_key,
                lease_until=lease_until,
                etag=self._etag(),
                wal_name=wal_name,
                sequence=sequence,
                updated_at=datetime.now(UTC),
                body_sha256=body_sha256,
            )
            self._records[message_id] = record
            return record

    def get(self, message_id: str) -> ClaimRecord | None:
        self._check()
        return self._records.get(message_id)

    def _replace(self, record: ClaimRecord, **changes: object) -> ClaimRecord:
        with self.lock:
            self._check_write()
            current = self._records.get(record.message_id)
            if current is None:
                raise NotFound("idempotency record", record.message_id)
            if current.etag != record.etag:
                raise PreconditionFailed("idempotency record", record.message_id)
            updated = dataclasses.replace(
                current,
                etag=self._etag(),
                updated_at=datetime.now(UTC),
                **changes,  # type: ignore[arg-type]
            )
            self._records[record.message_id] = updated
            return updated

    def take_over(
        self, record: ClaimRecord, *, region: str, epoch: int, lease_until: datetime
    ) -> ClaimRecord:
        refuse_stale_epoch(record, region, epoch)
        return self._replace(
            record, region=region, epoch=epoch, lease_until=lease_until, attempts=record.attempts + 1
        )

    def mark_delivered(self, record: ClaimRecord, details: Mapping[str, str]) -> ClaimRecord:
        return self._replace(record, state=RecordState.DELIVERED, details=dict(details))

    def mark_failed(self, record: ClaimRecord, reason: str, details: Mapping[str, str]) -> ClaimRecord:
        return self._replace(record, state=RecordState.FAILED, reason=reason, details=dict(details))

    def lookup(self, message_ids: Iterable[str]) -> dict[str, ClaimRecord]:
        self._check()
        return {m: self._records[m] for m in message_ids if m in self._records}

    def _updated(self, record: ClaimRecord) -> datetime:
        return record.updated_at or datetime.min.replace(tzinfo=UTC)

    def failed_since(self, since: datetime, limit: int) -> list[ClaimRecord]:
        self._check()
        found = [
            r for r in self._records.values() if r.state is RecordState.FAILED and self._updated(r) >= since
        ]
        return sorted(found, key=self._updated, reverse=True)[: max(0, limit)]

    def claimed_before(self, before: datetime, limit: int) -> list[ClaimRecord]:
        self._check()
        found = [
            r for r in self._records.values() if r.state is RecordState.PENDING and self._updated(r) < before
        ]
        return sorted(found, key=self._updated)[: max(0, limit)]

    def counts(self, since: datetime, now: datetime) -> dict[str, int]:
        self._check()
        recent = [r for r in self._records.values() if r.updated_at is None or r.updated_at >= since]
        return {
            "delivered": sum(r.state is RecordState.DELIVERED for r in recent),
            "failed": sum(r.state is RecordState.FAILED for r in recent),
            "pending": sum(r.state is RecordState.PENDING for r in recent),
            "in_doubt": sum(r.attempts > 1 for r in recent),
            "lease_expired": sum(r.lease_expired(now) for r in self._records.values()),
        }

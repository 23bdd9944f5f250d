"""The idempotency record of each WAL record: one rule for every reader that asks "is it final?".

A WAL record (:class:`~shared.model.WalEntry`) is recorded under its MQ MsgId, except when that MsgId
was reused for another body: the runner then records the new body under
:func:`~shared.model.reused_message_id` (docs/protocols.md, "A reused MsgId"). A record found under the
MsgId but claimed for another body (:meth:`~shared.model.ClaimRecord.other_body`) is therefore not this
entry's; its own is under the derived id. Two batched lookups at most
(:meth:`~shared.ports.IdempotencyStore.lookup`), the second only when a MsgId was reused.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.model import ClaimRecord, WalEntry, reused_message_id
from shared.ports import IdempotencyStore


def records_of(store: IdempotencyStore, entries: Sequence[WalEntry]) -> list[ClaimRecord | None]:
    """The record of each of ``entries``, in their order; ``None`` where an entry has none yet."""
    found = store.lookup(entry.message_id for entry in entries)
    records: list[ClaimRecord | None] = []
    derived: dict[str, int] = {}
    for index, entry in enumerate(entries):
        record = found.get(entry.message_id)
        if record is not None and record.other_body(entry.sha256):
            derived[reused_message_id(entry.message_id, entry.sha256)] = index
            record = None
        records.append(record)
    if derived:
        for derived_id, record in store.lookup(derived).items():
            records[derived[derived_id]] = record
    return records

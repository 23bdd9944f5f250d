"""The claim-check body of a Service Bus message: one ranged read of its WAL segment, hash-checked.

A message larger than ``CLAIM_CHECK_BYTES`` travels without its body; the runner reads ``size`` bytes
at ``offset`` of segment ``wal.segment`` (Blob REST "Get Blob" with ``x-ms-range``:
https://learn.microsoft.com/en-us/rest/api/storageservices/get-blob) and checks them against the
SHA-256 the message carries (:meth:`shared.ports.WriteAheadLog.read_entry`). The dual-region WAL reads
the peer's copy when this region's is missing.

A body in neither copy is classified by the time since the message's enqueue:

* within ``window_s`` (``WAL_REPLICATION_WINDOW_S``): :class:`BodyNotYetInWal`, transient — a copy may
  still be on its way (a degraded one-region write, then its reconcile), so the runner retries with its
  backoff;
* after it: :class:`BodyMissing`, permanent — recorded ``FAILED`` ``wal-body-missing`` with
  :func:`description` in quarantine (docs/runbook.md). Bytes that do not match the hash raise
  :class:`~shared.wal_segment.UnreadableWalEntry` (permanent too).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from shared.errors import NotFound, PermanentError, TransientError
from shared.model import InboundStatement
from shared.ports import WriteAheadLog


class BodyNotYetInWal(TransientError):
    """The claim-check body is in neither WAL copy, within the replication window: retry (with the
    runner's backoff) until a copy arrives or the window ends."""


class BodyMissing(PermanentError):
    """The claim-check body is in neither WAL copy beyond the replication window: retrying cannot
    bring it back. Recorded ``FAILED`` (docs/runbook.md, "wal-body-missing")."""

    reason = "wal-body-missing"


def read_body(wal: WriteAheadLog, message: InboundStatement, now: datetime, window_s: float) -> bytes:
    """``message``'s body from the WAL, or :class:`BodyNotYetInWal` / :class:`BodyMissing` (a message
    without an enqueue time counts as beyond the window) / ``UnreadableWalEntry``."""
    try:
        return wal.read_entry(message.wal)
    except NotFound as error:
        waited = None if message.enqueued_at is None else (now - message.enqueued_at).total_seconds()
        where = f"{message.wal.segment} at {message.wal.offset} ({message.wal.size} bytes)"
        if waited is not None and waited < window_s:
            raise BodyNotYetInWal(
                f"claim-check body of {message.message_id} not in the WAL yet: {where}"
            ) from error
        since = "an unknown time" if waited is None else f"{waited:.0f} s"
        raise BodyMissing(
            f"claim-check body of {message.message_id} is in neither WAL copy {since} after its enqueue "
            f"(replication window {window_s:g} s): {where}"
        ) from error


def description(message: InboundStatement, error: PermanentError) -> bytes:
    """What the quarantine keeps for a message whose body cannot be read: where it should be and why
    not (JSON), so an operator can find the body (the other region's copy, a backup) and resubmit."""
    return json.dumps(
        {
            "message_id": message.message_id,
            "session_id": message.session_id,
            "wal": dataclasses.asdict(message.wal),
            "position": f"{message.epoch}/{message.sequence}",
            "region": message.region,
            "error": str(error),
        }
    ).encode()

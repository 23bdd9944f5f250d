"""The WAL retention policy: when a segment may be deleted (docs/storage.md, "Retention").

A segment is deleted only when all three bounds hold:

1. **every record in it is final** (``DELIVERED`` or ``FAILED``). A final record never changes back
   (every transition is ETag-conditional from ``PENDING``), and replay republishes only records that
   are not final, so no region ever needs a fully final segment for replay, whichever region is
   promoted later;
2. **no Service Bus message can still point at it**: the last of its records became final at least
   the queue's message time to live (``SERVICE_BUS_MESSAGE_TTL_DAYS``, the queue's
   ``defaultMessageTimeToLive``) plus the dead-letter handling window (``DEAD_LETTER_WINDOW_DAYS``)
   ago. Every message that carries a claim check into the segment was published while one of its
   records was not final yet (ingest, replay), so it expired by then or was dead-lettered, and
   "time-to-live isn't observed" in a dead-letter queue, which has "no automatic cleanup"
   (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues): the
   operators' window to redrive or empty it is the second term;
3. **it is older than the audit horizon** (``WAL_AUDIT_HORIZON_DAYS``, from its ``written_at``): what
   an auditor may ask to see byte for byte. Refused when shorter than bound 2's two terms together,
   so the horizon alone never makes bound 2 moot by a configuration mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import ConfigurationError
from shared.model import ClaimRecord, SegmentInfo

#: Why a segment is kept (or ``DELETE``): the keys of the retention slice's counts.
YOUNG = "within_audit_horizon"
NOT_FINAL = "not_final"
IN_FLIGHT = "within_ttl_and_dead_letter_window"
DELETE = "deleted"


def horizon_problem(message_ttl_days: float, dead_letter_days: float, horizon_days: float) -> str | None:
    """The configuration error when the audit horizon is shorter than the message TTL plus the
    dead-letter window (else ``None``): the one statement of that rule (settings and policy use it)."""
    if horizon_days >= message_ttl_days + dead_letter_days:
        return None
    return (
        f"WAL_AUDIT_HORIZON_DAYS ({horizon_days:g}) must be at least SERVICE_BUS_MESSAGE_TTL_DAYS "
        f"({message_ttl_days:g}) + DEAD_LETTER_WINDOW_DAYS ({dead_letter_days:g}) = "
        f"{message_ttl_days + dead_letter_days:g}: a WAL segment must outlive every Service Bus "
        "message and dead letter that can point at it (docs/storage.md, Retention)"
    )


@dataclass(frozen=True)
class RetentionPolicy:
    """The three bounds, in days; construction refuses a horizon shorter than TTL + dead-letter window."""

    message_ttl_days: float
    dead_letter_days: float
    audit_horizon_days: float

    def __post_init__(self) -> None:
        problem = horizon_problem(self.message_ttl_days, self.dead_letter_days, self.audit_horizon_days)
        if problem is not None:
            raise ConfigurationError([problem])

    @property
    def quiet(self) -> timedelta:
        """Bound 2: how long after its last record became final a segment may still be pointed at."""
        return timedelta(days=self.message_ttl_days + self.dead_letter_days)

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.audit_horizon_days)

    def within_horizon(self, info: SegmentInfo, now: datetime) -> bool:
        """Bound 3, from the listing alone (no read): whether ``info`` is younger than the horizon."""
        return now - info.written_at < self.horizon

    def verdict(self, info: SegmentInfo, records: Sequence[ClaimRecord | None], now: datetime) -> str:
        """``DELETE``, or why the segment whose records (one per index entry, ``None`` = no record
        yet) are ``records`` is kept: ``YOUNG``, ``NOT_FINAL`` or ``IN_FLIGHT``.

        A final record without ``updated_at`` (when it became final: both adapters always write it)
        counts as final *now*, so its segment is kept by bound 2 on every pass and left to the storage
        lifecycle safety net: an unknown time never shortens a bound.
        """
        if self.within_horizon(info, now):
            return YOUNG
        if not records or any(r is None or not r.state.final for r in records):
            return NOT_FINAL
        finals = [now if r.updated_at is None else r.updated_at for r in records if r is not None]
        last_final = max([info.written_at, *finals])
        if now - last_final < self.quiet:
            return IN_FLIGHT
        return DELETE

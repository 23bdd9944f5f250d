"""Replay steps for the trace: each statement a replay re-published, recorded as one journal document.

The replay (:mod:`watchdog.replay`) calls its ``on_republished(statements, walk)`` hook right after a
page (or, with WAL segments, a segment) was published to Service Bus. :class:`ReplayRecorder` is that
hook: it writes one small document per re-published statement to the operations journal,

    ``replays/{message_id}/{at:%Y%m%dT%H%M%S.%f}-{region}`` →
    ``{step: "replayed", at, region, epoch, walk, reason, wal, offset, position}``

and :func:`replay_steps` reads them back for :class:`watchdog.trace.Tracer`. Why the journal: it is
durable, both regions read it (``shared.journal.BothRegionsJournal``: written in the replaying region,
read in both), it already holds the desk's other per-statement documents (``messages/{id}/…``), and a
listing by the ``replays/{message_id}/`` prefix is one call per trace. Logs are not a source: they are
sampled, delayed and kept for a limited time.

Cost: one small blob write per re-published statement, ``writers`` at a time, only when a replay
publishes something (activation after a failover, a straggler, an operator's replay) — never on the
normal path. A journal that cannot be written does not stop the replay (the statements are already
published; stopping would leave the new region without its backlog): the gap is logged as an ERROR
event ``replay.trace_unrecorded`` with the message ids and counted (``bridge.replay_trace_unrecorded``),
so a trace without a replay step is explainable from the alerting side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.errors import BridgeError
from shared.journal import OperationsJournal
from shared.model import OutboundStatement
from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.replay")

PREFIX = "replays/"


def replay_reason(walk: str) -> str:
    """Why a walk replays, in words (the walk names of :mod:`watchdog.replay`)."""
    parts = walk.split(":")
    if parts[:2] == ["replay", "activation"] and len(parts) == 4:
        return f"activation of {parts[2]} in epoch {parts[3]}: WAL entries without a final record"
    if parts[:2] == ["replay", "stragglers"]:
        return "straggler replay: no final record after REPLAY_INTERVAL_S"
    if parts[:2] == ["replay", "operator"]:
        who = ":".join(parts[2:]) or "an operator"
        return f"operator replay (POST /api/replay) by {who}"
    return walk


@dataclass
class ReplayRecorder:
    """The replay's ``on_republished`` hook: one ``replays/…`` journal document per statement.

    ``epoch`` answers the epoch this region works in now (the lease it holds), or ``None`` when it
    does not know; the statement's own ingest epoch is kept as ``position``.
    """

    region: str
    journal: OperationsJournal
    epoch: Callable[[], int | None] = lambda: None
    writers: int = 16
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __call__(self, statements: Sequence[OutboundStatement], walk: str) -> None:
        """Record ``statements`` as re-published by ``walk``; never raises (see the module doc)."""
        if not statements:
            return
        at, epoch, reason = self.clock(), self.epoch(), replay_reason(walk)
        stamp = f"{at:%Y%m%dT%H%M%S.%f}-{self.region}"

        def record(statement: OutboundStatement) -> str | None:
            document = {
                "step": "replayed",
                "at": at.isoformat(),
                "region": self.region,
                "epoch": epoch,
                "walk": walk,
                "reason": reason,
                "wal": f"wal/{statement.wal.segment}",
                "offset": statement.wal.offset,
                "position": f"{statement.epoch}/{statement.sequence}",
            }
            try:
                self.journal.put(f"{PREFIX}{statement.message_id}/{stamp}", document)
            except BridgeError:
                return statement.message_id
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(self.writers, len(statements)))) as pool:
            unrecorded = [m for m in pool.map(record, statements) if m is not None]
        if unrecorded:
            metrics.incr("replay_trace_unrecorded", len(unrecorded))
            log_event(
                log,
                logging.ERROR,
                "replay.trace_unrecorded",
                region=self.region,
                walk=walk,
                count=len(unrecorded),
                message_ids=",".join(unrecorded[:50]),
            )


def replay_steps(journal: OperationsJournal, message_id: str) -> list[dict[str, object]]:
    """The ``replayed`` steps of ``message_id``, oldest first (names sort by time within a region)."""
    steps: list[dict[str, object]] = []
    for name in journal.names(f"{PREFIX}{message_id}/"):
        found = journal.read(name)
        if found is not None:
            steps.append(found[0])
    return sorted(steps, key=lambda step: str(step.get("at")))

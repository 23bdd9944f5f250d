"""What the Watchdog's HTTP routes do, as plain functions of JSON in, ``(status, JSON)`` out.

* ``status()`` — the picture a person needs at 3 am: the region lease (holder, epoch, until when,
  from when), each region's health and heartbeat age, activation and QueueBuilder freshness,
  backlog, last failover; ``records``: what the idempotency records say over the last
  :data:`RECORDS_WINDOW_H` hours (the same answer from either region: delivered, FAILED, pending, in
  doubt); ``counters``: this process's own counts since it started (``counters_scope`` says so);
  this process's ``recent_problems`` and, apart, its ``recent_events`` (failovers, operator calls:
  normal, but worth seeing).
* ``failover(body, caller)`` — ``{"target": "DC06", "reason": "...", "force": false}``: a
  :meth:`~shared.ports.RegionAuthority.transfer` of the lease, exactly as an automatic promotion; the
  target starts at ``not_before`` (the current lease plus ``CLOCK_SKEW_S``). Refuses an unhealthy
  target unless forced, needs a reason, and is rate-limited.
* ``replay(body, caller)`` — ``{"after": "<WAL segment name>"}`` or ``{"from": ISO, "to": ISO}`` or ``{}``
  (from the checkpoint); only the lease holder replays.

Every call is audited (who, what, why, result) as a structured log record. Authentication is the
Functions host's (function keys, or Entra ID through App Service authentication): ``caller`` is the
identity the host saw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import BridgeError, LeaseLost
from shared.model import QUEUE_BUILDER, QUEUE_BUILDER_FAILED, REGIONS, Heartbeat, Lease
from shared.ports import CheckpointStore, Heartbeats, RegionAuthority
from shared.telemetry import log_event, metrics, recent_events, recent_problems
from watchdog.controller import WATCHDOG, Watchdog
from watchdog.replay import Replayer
from watchdog.retention import retention_key

log = logging.getLogger("bridge.audit")

Response = tuple[int, dict[str, object]]
#: How far back ``status()["records"]`` counts (records last updated in that window).
RECORDS_WINDOW_H = 24
#: The counts are a handful of Cosmos queries over the whole container: at most one set per this
#: many seconds per process, however often ``status`` is polled (``counted_s_ago`` says how old).
RECORDS_MAX_AGE_S = 15.0
#: Transfer attempts of one failover call that lose only to the holder's renewals.
TRANSFER_ATTEMPTS = 3


class BadRequest(ValueError):
    """The request body is invalid; the message says which field and why."""


@dataclass
class OperatorApi:
    """The operator routes of one region."""

    region: str
    authority: RegionAuthority
    checkpoints: CheckpointStore
    heartbeats: Heartbeats
    watchdog: Watchdog
    replayer: Replayer
    backlog: Callable[[], Mapping[str, object]] = dict
    #: ``IdempotencyStore.counts(since, now)``: the records' answer, not this process's counters.
    record_counts: Callable[[datetime, datetime], Mapping[str, int]] | None = None
    min_failover_interval_s: float = 60.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _counted: tuple[datetime, Mapping[str, int]] | None = field(default=None, init=False, repr=False)

    def status(self) -> Response:
        """Read-only; answers even when some dependencies are down (their errors are in the answer)."""
        now = self.clock()
        try:
            lease = self.authority.read()
        except BridgeError as error:
            return 503, {"region": self.region, "error": f"region lease unreadable: {error}"}
        regions: dict[str, object] = {}
        for region in REGIONS:
            beat = self._safe(self.heartbeats.last, region, WATCHDOG)
            builder = self._safe(self.heartbeats.last, region, QUEUE_BUILDER)
            builder_failed = self._safe(self.heartbeats.last, region, QUEUE_BUILDER_FAILED)
            activation = self._safe(self.checkpoints.activation, region)
            regions[region] = {
                "heartbeat_age_s": round(beat.age_s(now), 1) if isinstance(beat, Heartbeat) else None,
                "health": _beat(beat),
                "activated": _plain(activation),
                "queue_builder": _beat(builder),
                "queue_builder_failed": _beat(builder_failed),
                # The WAL retention's cursor (watchdog.retention): where its pass stands, and when.
                "wal_retention": _plain(self._safe(self.checkpoints.get, retention_key(region))),
            }
        return 200, {
            "region": self.region,
            "active_dc": lease.active_dc if lease else None,
            "epoch": lease.epoch if lease else None,
            "lease": _lease(lease),
            "this_region_active": bool(lease and lease.active_dc == self.region),
            "regions": regions,
            "last_failover": _failover(lease),
            "watchdog": {"last_action": self.watchdog.last_action},
            "backlog": self._safe(self.backlog),
            "records": self._records(now),
            "counters_scope": "this process since it started (not the region, not the records)",
            "counters": metrics.snapshot(),
            "recent_problems": list(recent_problems),
            "recent_events": list(recent_events),
            "at": now.isoformat(),
        }

    def failover(self, body: Mapping[str, object], caller: str) -> Response:
        """Transfer the lease to ``target``; the Watchdogs converge on their next tick."""
        try:
            target, reason, force = failover_request(body)
        except BadRequest as error:
            return self._audit(caller, "failover", body, (400, {"error": str(error)}))
        refused, lease = self._failover_refusal(target, force)
        if refused is not None or lease is None:
            return self._audit(caller, "failover", body, refused or (409, {"error": "no lease"}))
        try:
            new = self._transfer(lease, target, reason=reason, by=caller)
        except LeaseLost:
            return self._audit(
                caller, "failover", body, (409, {"error": "the lease changed meanwhile; read status"})
            )
        except BridgeError as error:
            return self._audit(caller, "failover", body, (503, {"error": f"transfer failed: {error}"}))
        done = {
            "from": lease.active_dc,
            "to": target,
            "epoch": new.epoch,
            "not_before": new.not_before.isoformat(),
            "forced": force,
        }
        return self._audit(caller, "failover", body, (202, done))

    def _transfer(self, lease: Lease, target: str, *, reason: str, by: str) -> Lease:
        """Transfer ``lease`` to ``target``; when the compare-and-set lost only to the holder's own
        renewal (same holder, same epoch: its Watchdog renews every tick), try again on the renewed
        lease, at most :data:`TRANSFER_ATTEMPTS` times. Any other change raises ``LeaseLost``."""
        for attempt in range(1, TRANSFER_ATTEMPTS + 1):
            try:
                return self.watchdog.transfer(lease, target, reason=reason, by=by)
            except LeaseLost as lost:
                current = lost.current
                renewed_only = current is not None and (current.active_dc, current.epoch) == (
                    lease.active_dc,
                    lease.epoch,
                )
                if not renewed_only or current is None or attempt == TRANSFER_ATTEMPTS:
                    raise
                lease = current
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _failover_refusal(self, target: str, force: bool) -> tuple[Response | None, Lease | None]:
        """``(refusal, lease)``: why a failover to ``target`` is refused now, else ``(None, lease)``."""
        try:
            lease = self.authority.read()
        except BridgeError as error:
            return (503, {"error": f"region lease unreadable: {error}"}), None
        if lease is None:
            return (409, {"error": "region lease not initialised"}), None
        if lease.active_dc == target:
            return (409, {"error": f"{target} is already active"}), lease
        age = (self.clock() - lease.at).total_seconds()
        if lease.previous_dc is not None and age < self.min_failover_interval_s and not force:
            retry = round(self.min_failover_interval_s - age)
            limited = f"rate limited: last failover {age:.0f} s ago; retry in {retry} s or force"
            return (429, {"error": limited}), lease
        beat = self._safe(self.heartbeats.last, target, WATCHDOG)
        fresh = isinstance(beat, Heartbeat) and beat.age_s(self.clock()) < self.watchdog.heartbeat_ttl_s
        if not (fresh and isinstance(beat, Heartbeat) and beat.healthy) and not force:
            refusal: dict[str, object] = {
                "error": f"{target} is not healthy (heartbeat fresh: {fresh}); use force to override",
                "health": _beat(beat),
            }
            return (409, refusal), lease
        return None, lease

    def replay(self, body: Mapping[str, object], caller: str) -> Response:
        """Replay the WAL from the checkpoint, after a WAL segment, or within a time window."""
        try:
            after = body.get("after")
            if after is not None and not isinstance(after, str):
                raise BadRequest("after: expected a WAL segment name")
            since, until = time_field(body, "from"), time_field(body, "to")
            if since and until and since >= until:
                raise BadRequest("from must be before to")
        except BadRequest as error:
            return self._audit(caller, "replay", body, (400, {"error": str(error)}))
        lease = self.authority.read()
        if lease is None or lease.active_dc != self.region:
            refused = {"error": f"{self.region} is not active; replay on the active region"}
            return self._audit(caller, "replay", body, (409, refused))
        result = self.replayer.run(after=after, since=since, until=until)
        return self._audit(caller, "replay", body, (200, result.as_dict()))

    def _audit(
        self, caller: str, action: str, body: Mapping[str, object], response: tuple[int, Mapping[str, object]]
    ) -> Response:
        fields = ("target", "force", "after", "from", "to")
        return audit(self.region, caller=caller, action=action, body=body, response=response, fields=fields)

    def _records(self, now: datetime) -> object:
        if self.record_counts is None:
            return None
        if self._counted is None or (now - self._counted[0]).total_seconds() >= RECORDS_MAX_AGE_S:
            counts = self._safe(self.record_counts, now - timedelta(hours=RECORDS_WINDOW_H), now)
            if not isinstance(counts, Mapping):
                return counts  # the error; the next call tries again
            self._counted = (now, counts)
        at, counts = self._counted
        age = round((now - at).total_seconds(), 1)
        return {"window_h": RECORDS_WINDOW_H, "counted_s_ago": age, **counts}

    @staticmethod
    def _safe(read: Callable[..., object], *args: object) -> object:
        try:
            return read(*args)
        except BridgeError as error:
            return {"error": str(error)}


def audit(
    region: str,
    *,
    caller: str,
    action: str,
    body: Mapping[str, object],
    response: tuple[int, Mapping[str, object]],
    fields: tuple[str, ...],
) -> Response:
    """Log one operator call as ``operator.audit`` (who, what, why, result) and return its answer."""
    status, answer = response
    log_event(
        log,
        logging.WARNING if status < 400 else logging.INFO,
        "operator.audit",
        caller=caller,
        action=action,
        region=region,
        reason=str(body.get("reason", ""))[:200],
        request={k: body[k] for k in fields if k in body},
        status=status,
        result=answer.get("error", "ok"),
    )
    return status, {k: v for k, v in answer.items() if k != "_etag"}


def failover_request(body: Mapping[str, object]) -> tuple[str, str, bool]:
    """``(target, reason, force)`` of a failover request; ``BadRequest`` names the invalid field."""
    target = _field(body, "target", str)
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise BadRequest("force: expected true or false")
    if target not in REGIONS:
        raise BadRequest(f"target: expected one of {', '.join(REGIONS)}, got {target!r}")
    return target, reason_of(body), force


def reason_of(body: Mapping[str, object]) -> str:
    """The request's ``reason`` (required, at least 5 characters: it goes to the audit log)."""
    reason = _field(body, "reason", str).strip()
    if len(reason) < 5:
        raise BadRequest("reason: say why (at least 5 characters); it goes to the audit log")
    return reason


def _field(body: Mapping[str, object], name: str, kind: type) -> str:
    value = body.get(name)
    if not isinstance(value, kind):
        raise BadRequest(f"{name}: required ({kind.__name__})")
    return str(value)


def time_field(body: Mapping[str, object], name: str) -> datetime | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadRequest(f"{name}: expected an ISO 8601 time")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name}: not an ISO 8601 time: {raw[:40]!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _lease(lease: Lease | None) -> dict[str, object] | None:
    if lease is None:
        return None
    return {
        "holder": lease.active_dc,
        "epoch": lease.epoch,
        "lease_until": lease.lease_until.isoformat(),
        "not_before": lease.not_before.isoformat(),
        "renewed_at": None if lease.renewed_at is None else lease.renewed_at.isoformat(),
    }


def _failover(lease: Lease | None) -> dict[str, object] | None:
    """The change that began the lease's epoch (``None`` before the first transfer)."""
    if lease is None or lease.previous_dc is None:
        return None
    return {
        "at": lease.at.isoformat(),
        "from": lease.previous_dc,
        "to": lease.active_dc,
        "epoch": lease.epoch,
        "not_before": lease.not_before.isoformat(),
        "reason": lease.reason,
        "by": lease.by,
    }


def _beat(beat: object) -> object:
    if not isinstance(beat, Heartbeat):
        return beat  # None, or the {"error": ...} of an unreadable store
    return {
        "at": beat.at.isoformat(),
        "healthy": beat.healthy,
        "summary": beat.summary,
        "probes": {p.name: {"ok": p.ok, "ms": p.ms, "detail": p.detail} for p in beat.probes},
    }


def _plain(record: object) -> object:
    """A record as JSON-ready fields (times in ISO 8601); ``None`` and error dicts pass through."""
    if record is None or isinstance(record, dict):
        return record
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in vars(record).items()}

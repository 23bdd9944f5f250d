"""What the Watchdog's HTTP routes do, as plain functions of JSON in, ``(status, JSON)`` out.

* ``status()`` — the picture a person needs at 3 am: active region and epoch, since when, each
  region's health and heartbeat age, QueueBuilder freshness, backlog, last failover; ``records``:
  what the idempotency records say over the last :data:`RECORDS_WINDOW_H` hours (the same answer
  from either region: delivered, FAILED, pending, in doubt); ``counters``: this process's own counts
  since it started (``counters_scope`` says so); this process's ``recent_problems`` and, apart,
  its ``recent_events`` (failovers, operator calls: normal, but worth seeing).
* ``failover(body, caller)`` — ``{"target": "DC06", "reason": "...", "force": false}``: a
  compare-and-set flip; refuses an unhealthy target unless forced, needs a reason, and is rate-limited.
* ``replay(body, caller)`` — ``{"after": "<wal name>"}`` or ``{"from": ISO, "to": ISO}`` or ``{}``
  (from the checkpoint); only the active region replays.

Every call is audited (who, what, why, result) as a structured log record. Authentication is the
Functions host's (function keys, or Entra ID through App Service authentication): ``caller`` is the
identity the host saw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import BridgeError, PreconditionFailed
from shared.model import REGIONS
from shared.ports import ActiveRegionGate
from shared.telemetry import log_event, metrics, recent_events, recent_problems
from watchdog.controller import ACTIVATED_KEY, HEALTH_KEY, LAST_FAILOVER_KEY, Watchdog
from watchdog.replay import Replayer

log = logging.getLogger("bridge.audit")

Response = tuple[int, dict[str, object]]
QUEUE_BUILDER_KEY = "queue_builder:last_run:{region}"
#: How far back ``status()["records"]`` counts (records last updated in that window).
RECORDS_WINDOW_H = 24
#: The counts are a handful of Cosmos queries over the whole container: at most one set per this
#: many seconds per process, however often ``status`` is polled (``counted_s_ago`` says how old).
RECORDS_MAX_AGE_S = 15.0


class BadRequest(ValueError):
    """The request body is invalid; the message says which field and why."""


@dataclass
class OperatorApi:
    """The operator routes of one region."""

    region: str
    gate: ActiveRegionGate
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
            state = self.gate.read()
        except BridgeError as error:
            return 503, {"region": self.region, "error": f"gate unreadable: {error}"}
        regions: dict[str, object] = {}
        for region in REGIONS:
            beat = self._safe(self.gate.last_heartbeat, region)
            regions[region] = {
                "heartbeat_age_s": round((now - beat).total_seconds(), 1)
                if isinstance(beat, datetime)
                else None,
                "health": self._safe(self.gate.get_json, HEALTH_KEY.format(region=region)),
                "activated": self._safe(self.gate.get_json, ACTIVATED_KEY.format(region=region)),
                "queue_builder": self._safe(self.gate.get_json, QUEUE_BUILDER_KEY.format(region=region)),
            }
        return 200, {
            "region": self.region,
            "active_dc": state.active_dc if state else None,
            "epoch": state.epoch if state else None,
            "this_region_active": bool(state and state.active_dc == self.region),
            "regions": regions,
            "last_failover": self._safe(self.gate.get_json, LAST_FAILOVER_KEY),
            "watchdog": {
                "last_action": self.watchdog.last_action,
                "gate_replication_lag_s": _json_lag(self.watchdog.copy.last_lag_s),
                "gate_lag_bound_s": self.watchdog.gate_lag_bound_s,
            },
            "backlog": self._safe(self.backlog),
            "records": self._records(now),
            "counters_scope": "this process since it started (not the region, not the records)",
            "counters": metrics.snapshot(),
            "recent_problems": list(recent_problems),
            "recent_events": list(recent_events),
            "at": now.isoformat(),
        }

    def failover(self, body: Mapping[str, object], caller: str) -> Response:
        """Flip the gate to ``target``; the watchdogs converge on their next tick."""
        try:
            target, reason, force = failover_request(body)
        except BadRequest as error:
            return self._audit(caller, "failover", body, (400, {"error": str(error)}))
        last = self.gate.get_json(LAST_FAILOVER_KEY) or {}
        last_at = last.get("at")
        if isinstance(last_at, str):
            age = (self.clock() - datetime.fromisoformat(last_at)).total_seconds()
            if age < self.min_failover_interval_s and not force:
                retry = round(self.min_failover_interval_s - age)
                answer = {
                    "error": f"rate limited: last failover {age:.0f} s ago; retry in {retry} s or force"
                }
                return self._audit(caller, "failover", body, (429, answer))
        state = self.gate.read() or self.gate.initialise(self.watchdog.initial_active)
        if state.active_dc == target:
            return self._audit(caller, "failover", body, (409, {"error": f"{target} is already active"}))
        target_health = self.gate.get_json(HEALTH_KEY.format(region=target)) or {}
        target_alive = self.gate.last_heartbeat(target) is not None
        if not (target_alive and target_health.get("healthy")) and not force:
            refusal = {
                "error": f"{target} is not healthy (heartbeat alive: {target_alive}); use force to override"
            }
            return self._audit(caller, "failover", body, (409, {**refusal, "health": target_health}))
        try:
            new_state = self.watchdog.flip(state, target, reason=reason, caller=caller)
        except PreconditionFailed:
            return self._audit(
                caller, "failover", body, (409, {"error": "the gate changed meanwhile; read status"})
            )
        done = {"from": state.active_dc, "to": target, "epoch": new_state.epoch, "forced": force}
        return self._audit(caller, "failover", body, (202, done))

    def replay(self, body: Mapping[str, object], caller: str) -> Response:
        """Replay the WAL from the checkpoint, after a WAL name, or within a time window."""
        try:
            after = body.get("after")
            if after is not None and not isinstance(after, str):
                raise BadRequest("after: expected a WAL blob name")
            since, until = time_field(body, "from"), time_field(body, "to")
            if since and until and since >= until:
                raise BadRequest("from must be before to")
        except BadRequest as error:
            return self._audit(caller, "replay", body, (400, {"error": str(error)}))
        state = self.gate.read()
        if state is None or state.active_dc != self.region:
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


def _json_lag(lag: float | None) -> float | str | None:
    """``None``: the gate copy is a primary; ``"inf"``: its replication link is down (JSON has no inf)."""
    return "inf" if lag is not None and math.isinf(lag) else lag

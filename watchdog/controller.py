"""The Watchdog's control loop: converge this region to what the gate says, and decide failovers.

Every tick (timer, ~15 s in Azure, 1 s on the local host):

1. probe this region's dependencies and publish the result (``health:<region>``);
2. beat this region's heartbeat (a Redis key with a TTL);
3. read the gate (uncached) and converge:

   * **active, not yet activated in this epoch** → *activate*: wait until the flip is older than
     :attr:`Watchdog.fence_wait_s` (the gate cache TTL plus the largest lag a fence accepts on a
     replica copy: every fenced reader has seen it), replay the WAL backlog into this region's own
     Service Bus namespace, enable consumption; then remember the epoch as activated;
   * **active** and unhealthy while the peer is healthy → *demote*: flip to the peer (only the active
     side demotes);
   * **passive** → keep consumption disabled; count consecutive ticks without the active region's
     heartbeat; after ``misses`` of them, and once the heartbeat has been missing for longer than the
     gate cache TTL plus the safety margin, *promote*: compare-and-set the gate to this region with a
     new epoch on :meth:`~shared.ports.ActiveRegionGate.promotion_gate` (the primary when this copy is
     a replica whose primary answers; then wait, bounded, until the copy shows it), and activate (only
     the passive side promotes). Only a replica cut off from its primary is made writable.
     A miss counts only on a gate copy that can judge the heartbeat: a primary, or a replica whose
     replication lag is below ``HEARTBEAT_TTL_S / 2`` (:attr:`Watchdog.gate_lag_bound_s`). On a staler
     copy a live region's heartbeat expires too, so the count is reset and nothing is promoted
     ("gate copy stale"), except by the explicit link-loss policy (:mod:`watchdog.gate_copy`).

Manual failover (HTTP) only flips the gate; both watchdogs then converge on their next tick, so
automatic and manual failovers share one path. Hysteresis counters live in memory: a restarted
watchdog starts counting again, which can only delay a promotion, never hasten one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import BridgeError, PreconditionFailed, TransientError
from shared.gate_cache import LAG_RESOLUTION_S
from shared.model import GateState, peer_region
from shared.ports import ActiveRegionGate, ConsumptionSwitch
from shared.telemetry import log_event, metrics
from watchdog.gate_copy import GateCopy, link_loss_due
from watchdog.replay import Replayer, SliceResult, activation_walk, straggler_walk

log = logging.getLogger("bridge.watchdog")

HEALTH_KEY = "health:{region}"
ACTIVATED_KEY = "activated:{region}"
LAST_FAILOVER_KEY = "failover:last"

Probe = Callable[[], object]


@dataclass
class Watchdog:
    """One region's watchdog; ``tick`` is idempotent and safe to run concurrently with the peer's."""

    region: str
    gate: ActiveRegionGate
    switch: ConsumptionSwitch
    replayer: Replayer
    probes: Mapping[str, Probe]
    initial_active: str = "DC04"
    heartbeat_ttl_s: float = 10.0
    misses_required: int = 3
    cache_ttl_s: float = 2.0
    gate_max_lag_s: float = 1.0  # GATE_MAX_LAG_S: the fences' bound on a replica copy's lag
    safety_margin_s: float = 5.0
    auto_promote: bool = True
    replay_interval_s: float = 0.0  # 0 = replay on activation and on request only
    replay_slice_s: float = 5.0  # REPLAY_SLICE_S: the replay work one tick may do (watchdog.replay)
    prepare_promotion: Callable[[], None] | None = None
    promote_on_link_loss_s: float = 0.0  # 0 = never promote on a gate copy whose link is down
    primary_reachable: Callable[[], bool] | None = None  # None = cannot tell: no link-loss promotion
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    misses: int = 0
    missing_since: datetime | None = None
    unhealthy_ticks: int = 0
    last_replay: datetime | None = None
    straggler_round_open: bool = False
    gate_errors: int = 0
    last_action: str | None = None
    copy: GateCopy = field(init=False)

    def __post_init__(self) -> None:
        self.copy = GateCopy(self.region)

    @property
    def peer(self) -> str:
        return peer_region(self.region)

    @property
    def gate_lag_bound_s(self) -> float:
        """A copy at least this far behind its primary cannot tell a live region from a dead one.

        A live region beats every Watchdog interval ``I`` and its key lives ``HEARTBEAT_TTL_S``; on a
        copy ``L`` seconds behind, that key can look expired only if ``L > TTL - I``. With
        ``TTL >= 2 I`` (docs/failover.md) ``TTL - I >= TTL / 2``, hence the bound ``TTL / 2``. Redis
        reports the lag in whole seconds; a copy drifting into staleness reports a growing lag on the
        next tick, and promotion needs ``WATCHDOG_MISSES`` misses in a row.
        """
        return self.heartbeat_ttl_s / 2

    @property
    def fence_wait_s(self) -> float:
        """How long after a flip every fence anywhere has stopped passing on the old pair.

        A fence trusts a pair for ``cache_ttl_s`` after the read began, and on a replica copy it reads
        only while the reported lag is at most ``gate_max_lag_s``; Redis reports whole seconds rounded
        down, so such a copy is less than ``gate_max_lag_s + LAG_RESOLUTION_S`` behind
        (:mod:`shared.gate_cache`; docs/failover.md, "The fence on a lagging copy").
        """
        return self.cache_ttl_s + self.gate_max_lag_s + LAG_RESOLUTION_S

    def tick(self) -> dict[str, object]:
        """One pass of the loop; returns what it saw and did (also logged)."""
        health = self.check_health()
        self._publish(HEALTH_KEY.format(region=self.region), health)
        self._beat()
        try:
            state = self.gate.read() or self.gate.initialise(self.initial_active)
        except TransientError as error:
            self.gate_errors += 1
            if self.gate_errors >= self.misses_required:
                self._fail_closed(error)
            raise
        self.gate_errors = 0
        if state.active_dc == self.region:
            action = self._as_active(state, health)
        else:
            action = self._as_passive(state, health)
        self.last_action = action
        return {"region": self.region, "active_dc": state.active_dc, "epoch": state.epoch, "action": action}

    def check_health(self) -> dict[str, object]:
        """Run every probe; a probe passes when it returns without raising."""
        results: dict[str, object] = {}
        for name, probe in self.probes.items():
            started = time.monotonic()
            try:
                detail = probe()
                results[name] = {
                    "ok": True,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                    "detail": detail,
                }
            except Exception as error:  # a probe's failure is data, whatever it is
                results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
        healthy = all(isinstance(r, dict) and r.get("ok") for r in results.values())
        return {"healthy": healthy, "at": self.clock().isoformat(), "probes": results}

    def _fail_closed(self, error: TransientError) -> None:
        """The gate could not be read on ``misses_required`` ticks in a row: stop consuming here, as
        the runner's fence already does message by message (a single blip does not restart the app).

        Without this the fenced runner would keep taking messages only to abandon them, burning their
        delivery count towards the dead-letter queue and holding sessions the other region needs.
        """
        log_event(log, logging.ERROR, "watchdog.gate_unreadable", region=self.region, error=str(error))
        try:
            if self.switch.enabled():
                self.switch.set_enabled(False)
        except TransientError as switch_error:
            log_event(
                log, logging.ERROR, "watchdog.switch_failed", region=self.region, error=str(switch_error)
            )

    # -- active side ------------------------------------------------------------------------------

    def _as_active(self, state: GateState, health: Mapping[str, object]) -> str:
        self.misses, self.missing_since = 0, None
        activated = self.gate.get_json(ACTIVATED_KEY.format(region=self.region)) or {}
        if activated.get("epoch") != state.epoch:
            return "activated" if self.activate(state) else "activating: replaying the WAL"
        if not self.switch.enabled():
            self.switch.set_enabled(True)
        self._replay_stragglers()
        self.unhealthy_ticks = 0 if health.get("healthy") else self.unhealthy_ticks + 1
        if self.unhealthy_ticks >= self.misses_required and self._peer_healthy():
            self.flip(state, self.peer, reason="automatic demotion: own region unhealthy", caller="watchdog")
            self.switch.set_enabled(False)
            return "demoted"
        return "active"

    def _replay_stragglers(self) -> None:
        """Every ``replay_interval_s``, start a round that republishes WAL entries older than that
        interval and still without a final record: the safety net for a message that left Service Bus
        without being delivered (dead-lettered after an outage longer than the runner's backoff). A
        round is a sliced walk (:mod:`watchdog.replay`): one slice per tick until it is done. A copy
        inside the duplicate-detection window is dropped by Service Bus; after it, the claim completes
        a copy of a delivered message without delivering. A straggler delivered this way arrives
        after later statements of its account, and the runner reports that inversion."""
        now = self.clock()
        if not self.replay_interval_s:
            return
        if self.last_replay is None:
            self.last_replay = now  # activation has just replayed everything
            self.straggler_round_open = True  # a round a restarted watchdog left open goes on
        restart = (now - self.last_replay).total_seconds() >= self.replay_interval_s
        if not (self.straggler_round_open or restart):
            return
        if restart:
            self.last_replay = now
        cutoff = now - timedelta(seconds=self.replay_interval_s)
        result = self.replayer.run_slice(
            straggler_walk(self.region), self.replay_slice_s, older_than=cutoff, restart=restart
        )
        self.straggler_round_open = not result.done
        if result.republished:
            log_event(log, logging.WARNING, "watchdog.stragglers_replayed", count=result.republished)

    def activate(self, state: GateState) -> bool:
        """Fence, replay, enable: the steps after a flip made this region active in ``state.epoch``.

        The replay into this region's own namespace runs one bounded slice per call; ``False`` while
        it is not finished (consumption stays off, the next tick goes on), ``True`` once the region is
        activated."""
        last = self.gate.get_json(LAST_FAILOVER_KEY) or {}
        flipped_at = _parse_time(last.get("at")) if last.get("epoch") == state.epoch else None
        if flipped_at is not None:
            # every reader's cached "active" has expired, lagging copies included
            self._wait_beating(self.fence_wait_s - (self.clock() - flipped_at).total_seconds())
        result = self._replay_beating(activation_walk(self.region, state.epoch))
        if not result.done:
            return False
        self.switch.set_enabled(True)
        self.gate.put_json(
            ACTIVATED_KEY.format(region=self.region),
            {"epoch": state.epoch, "at": self.clock().isoformat(), "replay": result.as_dict()},
        )
        log_event(
            log,
            logging.WARNING,
            "watchdog.activated",
            region=self.region,
            epoch=state.epoch,
            replayed=result.republished,
        )
        return True

    def _replay_beating(self, walk: str) -> SliceResult:
        """Run slices of ``walk`` for up to ``heartbeat_ttl_s`` in this tick, beating after each one
        (a slice is bounded by ``replay_slice_s``, so the heartbeat is never older than one slice):
        an activation replays as fast as the region can while the peer keeps seeing it alive."""
        until = self.clock() + timedelta(seconds=self.heartbeat_ttl_s)
        result = self.replayer.run_slice(walk, self.replay_slice_s)
        while not result.done and self.clock() < until:
            self._beat()
            result = self.replayer.run_slice(walk, self.replay_slice_s)
        return result

    def _wait_beating(self, seconds: float) -> None:
        """Sleep ``seconds``, beating at least every ``heartbeat_ttl_s / 2``: the fence wait can outlast
        the heartbeat TTL (locally 3 s against a 3 s TTL), and the peer must not see this region die."""
        deadline = self.clock() + timedelta(seconds=seconds)
        while (remaining := (deadline - self.clock()).total_seconds()) > 0:
            self.sleep(min(remaining, self.heartbeat_ttl_s / 2))
            self._beat()

    def _beat(self) -> None:
        """Beat this region's heartbeat; a failure is logged, not raised."""
        try:
            self.gate.heartbeat(self.region, self.heartbeat_ttl_s, self.clock())
        except TransientError as error:  # e.g. a read-only replica: the passive side may not write
            log_event(log, logging.WARNING, "watchdog.heartbeat_failed", region=self.region, error=str(error))

    # -- passive side -----------------------------------------------------------------------------

    def _as_passive(self, state: GateState, health: Mapping[str, object]) -> str:
        if self.switch.enabled():
            self.switch.set_enabled(False)
        now = self.clock()
        lag = self.copy.lag(self.gate)
        if lag is None or lag < self.gate_lag_bound_s:
            self.copy.fresh(lag)
        if self.gate.last_heartbeat(state.active_dc) is not None:
            self.misses, self.missing_since = 0, None
            return "passive"
        if lag is not None and lag >= self.gate_lag_bound_s:
            waiting = self._copy_stale(lag, now)
            down_s = self.copy.link_down_s(now)
            reason = f"automatic promotion: gate link down {down_s:.0f} s, primary unreachable"
        else:
            waiting = self._count_miss(now)
            reason = "automatic promotion: heartbeat missing"
        return waiting or self._promote(state, health, reason)

    def _count_miss(self, now: datetime) -> str | None:
        """Count a miss seen on a trustworthy copy; ``None`` once enough are counted to promote."""
        self.misses += 1
        self.missing_since = self.missing_since or now
        missing_s = (now - self.missing_since).total_seconds()
        if self.misses >= self.misses_required and missing_s >= self.cache_ttl_s + self.safety_margin_s:
            return None
        return f"passive: active heartbeat missing ({self.misses}/{self.misses_required})"

    def _copy_stale(self, lag: float, now: datetime) -> str | None:
        """Reset the count (this copy's expiries prove nothing); ``None`` only when the link-loss
        policy says to promote anyway (:func:`watchdog.gate_copy.link_loss_due`)."""
        self.misses, self.missing_since = 0, None
        self.copy.stale(lag, self.gate_lag_bound_s, now)
        if link_loss_due(self.copy, lag, now, self.promote_on_link_loss_s, self.primary_reachable):
            return None
        return f"passive: gate copy stale (replication lag {lag:.0f} s); cannot judge the active region"

    def _promote(self, state: GateState, health: Mapping[str, object], reason: str) -> str:
        if not self.auto_promote:
            return "passive: active heartbeat missing, automatic promotion is off"
        if not health.get("healthy"):
            return "passive: active heartbeat missing, but this region is unhealthy"
        if self.prepare_promotion is not None:
            self.prepare_promotion()
        target = self.gate.promotion_gate()
        try:
            new_state = self.flip(state, self.region, reason=reason, caller="watchdog", gate=target)
        except PreconditionFailed:
            return "passive: the gate changed meanwhile (another decision won the compare-and-set)"
        if target is not self.gate and not self._copy_shows(new_state):
            return "promoted at the primary; this region's gate copy does not show it yet"
        self.activate(new_state)  # the replay goes on over the next ticks if it needs more slices
        return "promoted"

    def _copy_shows(self, flipped: GateState) -> bool:
        """Wait, at most the lag bound, until this region's copy shows the flip made at its primary
        and its failover record (written after it, so replicated after it). On ``False`` the next
        tick activates, once the copy says this region is active."""
        deadline = self.clock() + timedelta(seconds=self.gate_lag_bound_s)
        while True:
            try:
                record = self.gate.get_json(LAST_FAILOVER_KEY) or {}
                if self.gate.read() == flipped and record.get("epoch") == flipped.epoch:
                    return True
            except TransientError as error:
                log_event(log, logging.WARNING, "watchdog.gate_copy_unreadable", error=str(error))
            if self.clock() >= deadline:
                log_event(log, logging.WARNING, "watchdog.promotion_not_replicated", epoch=flipped.epoch)
                return False
            self.sleep(0.1)

    # -- shared -----------------------------------------------------------------------------------

    def flip(
        self,
        expected: GateState,
        target: str,
        reason: str,
        caller: str,
        gate: ActiveRegionGate | None = None,
    ) -> GateState:
        """Compare-and-set ``gate`` (default: this region's copy) and record the failover there;
        ``PreconditionFailed`` if stale."""
        gate = gate or self.gate
        new_state = gate.flip(expected, target)
        metrics.incr("failovers")
        record = {
            "at": self.clock().isoformat(),
            "from": expected.active_dc,
            "to": target,
            "epoch": new_state.epoch,
            "reason": reason,
            "by": caller,
        }
        self._publish(LAST_FAILOVER_KEY, record, gate)
        log_event(log, logging.WARNING, "watchdog.flipped", **record)
        return new_state

    def _peer_healthy(self) -> bool:
        if self.gate.last_heartbeat(self.peer) is None:
            return False
        peer_health = self.gate.get_json(HEALTH_KEY.format(region=self.peer)) or {}
        return bool(peer_health.get("healthy"))

    def _publish(self, key: str, value: Mapping[str, object], gate: ActiveRegionGate | None = None) -> None:
        try:
            (gate or self.gate).put_json(key, value)
        except BridgeError as error:
            log_event(log, logging.WARNING, "watchdog.publish_failed", key=key, error=str(error))


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None

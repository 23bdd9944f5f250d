"""The Watchdog's control loop: hold, hand over or take the region lease, and converge this region.

Every tick (timer, 15 s in Azure, 1 s on the local host), in this order:

1. read the authority (:class:`~shared.ports.RegionAuthority`, Cosmos); if this region holds the lease,
   **renew it first** (compare-and-set, ``lease_until = now + LEASE_S``). A renewal whose
   compare-and-set is lost means the lease moved: **demote at once** (consumption off, mirror shows
   the new holder). A renewal that fails for an outage changes nothing: the fences close by
   themselves at ``lease_until - LEASE_GUARD_S``;
2. publish this region's mirror (:class:`~shared.ports.GateMirror`, Redis): the lease as read or
   renewed, and the epoch this region has activated in;
3. probe this region's dependencies and beat (:class:`~shared.ports.Heartbeats`, advisory);
4. converge:

   * **holder, not yet activated in the lease's epoch** → *activate*: wait until ``not_before``
     (a transfer starts the new lease after the old one plus ``CLOCK_SKEW_S``), replay the WAL
     backlog into this region's own namespace (bounded slices, :mod:`watchdog.replay`, the lease
     renewed after each, for at most ``LEASE_S / 2`` per tick: the region does no other work yet), and
     once the walk is done record ``Activation(epoch)``, publish the mirror with it, switch
     consumption on. Fences open only after all of that;
   * **holder, activated** → consumption on while the lease allows work, off once it ended
     (renewals failing); periodic straggler replay; unhealthy for ``WATCHDOG_MISSES`` ticks while the
     peer is healthy → *demote*: transfer to the peer, consumption off;
   * **not the holder** → consumption off; count consecutive ticks on which the holder's lease has
     ended by this clock less ``CLOCK_SKEW_S`` (:meth:`~shared.model.Lease.expired`); after
     ``WATCHDOG_MISSES`` of them, healthy and with automatic promotion on → *promote*: transfer the
     lease to this region (compare-and-set on the version read; one of two racing decisions wins)
     and activate.

5. after the beat, in the steady states (``active``, ``passive``) only: one bounded slice of WAL
   retention on this region's own storage account (:mod:`watchdog.retention`).

Manual failover (:mod:`watchdog.operator`) is the same :meth:`~shared.ports.RegionAuthority.transfer`;
both Watchdogs converge on their next tick. Counters live in memory: a restarted Watchdog counts
again, which can delay a promotion, never hasten one. docs/protocols.md, "One active region".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.errors import AlreadyExists, BridgeError, LeaseLost, TransientError
from shared.model import Activation, GateView, Heartbeat, Lease, ProbeResult, peer_region
from shared.ports import CheckpointStore, ConsumptionSwitch, GateMirror, Heartbeats, RegionAuthority
from shared.telemetry import log_event, metrics
from watchdog.probes import CONTROL_READ, CONTROL_WRITE, TickEvidence
from watchdog.replay import Replayer, activation_walk, straggler_walk
from watchdog.retention import Retention

log = logging.getLogger("bridge.watchdog")

WATCHDOG = "watchdog"
#: The actions of a tick with nothing in progress: the WAL retention runs a slice after these only.
STEADY = ("active", "passive")

Probe = Callable[[], object]


@dataclass
class Watchdog:
    """One region's Watchdog; ``tick`` is idempotent and safe to run concurrently with the peer's."""

    region: str
    authority: RegionAuthority
    mirror: GateMirror
    checkpoints: CheckpointStore
    heartbeats: Heartbeats
    switch: ConsumptionSwitch
    replayer: Replayer
    probes: Mapping[str, Probe]
    role: str = "passive"  # BRIDGE_ROLE: only an active region initialises the authority
    lease_s: float = 60.0
    skew_s: float = 5.0
    guard_s: float = 10.0
    heartbeat_ttl_s: float = 30.0
    misses_required: int = 3
    auto_promote: bool = True
    replay_interval_s: float = 0.0  # 0 = replay on activation and on request only
    replay_slice_s: float = 5.0  # REPLAY_SLICE_S: the replay work one tick may do (watchdog.replay)
    retention: Retention | None = None  # this region's WAL retention (watchdog.retention); None = off
    #: What this tick's lease steps showed, for the control-container probes (watchdog.probes).
    evidence: TickEvidence = field(default_factory=TickEvidence)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    misses: int = 0
    unhealthy_ticks: int = 0
    authority_errors: int = 0
    last_replay: datetime | None = None
    straggler_round_open: bool = False
    last_action: str | None = None
    activated_epoch: int | None = None
    lease: Lease | None = None  # the lease as last read, renewed or transferred here
    replayed_in_activation: dict[int, int] = field(default_factory=dict)  # epoch -> entries so far

    @property
    def peer(self) -> str:
        return peer_region(self.region)

    def tick(self) -> dict[str, object]:
        """One pass of the loop; returns what it saw and did."""
        self.evidence.new_tick()
        lease, action = self._hold()
        if lease is not None:
            self._publish(lease)
        health = self.check_health()
        if lease is None:
            action = action or "authority unreadable"
        elif action is None:
            if lease.active_dc == self.region:
                action = self._as_holder(lease, health)
            else:
                action = self._as_passive(lease, health)
        self._beat(health, action)
        self.last_action = action
        if self.retention is not None and action in STEADY:
            self._retain(self.retention)
        current = self.lease
        return {
            "region": self.region,
            "active_dc": None if current is None else current.active_dc,
            "epoch": None if current is None else current.epoch,
            "action": action,
        }

    def _retain(self, retention: Retention) -> None:
        """One bounded slice of WAL retention, after the beat, in a steady state only: never while
        activating or promoting, and nothing it raises can stop the control loop."""
        try:
            result = retention.run_slice()
        except Exception as error:  # retention must never break the control loop
            log_event(log, logging.ERROR, "wal.retention_failed", region=self.region, error=repr(error))
            return
        if result.counts:
            log_event(log, logging.INFO, "wal.retention", **result.as_dict())

    # -- step 1: the lease ------------------------------------------------------------------------

    def _hold(self) -> tuple[Lease | None, str | None]:
        """Read the authority and, as the holder, renew; ``(lease, action)`` where an action is set
        when the tick has nothing more to decide (demoted, or cannot read)."""
        lease, action = self._read()
        if lease is None:
            return None, action
        was_holder = self.lease is not None and self.lease.active_dc == self.region
        self.lease = lease
        if lease.active_dc != self.region:
            if was_holder:  # moved by another decision between two ticks: stop at once
                metrics.incr("leases_lost")
                self._consume(False)
                return lease, f"demoted: the lease moved to {lease.active_dc} (epoch {lease.epoch})"
            return lease, None
        try:
            renewed = self._renew(lease)
        except LeaseLost as lost:
            return self._demote_lost(lost)
        except TransientError as error:
            metrics.incr("lease_renewal_failures")
            log_event(log, logging.ERROR, "watchdog.renew_failed", region=self.region, error=str(error))
            return lease, None
        self.evidence.note(CONTROL_WRITE, "lease renewed by this tick (a write to the control container)")
        self.lease = renewed
        return renewed, None

    def _read(self) -> tuple[Lease | None, str | None]:
        """The lease in force (an active-role region creates the first one); ``(None, why)`` if none."""
        try:
            lease = self.authority.read()
            if lease is None:
                if self.role != "active":
                    return None, "passive: region lease not initialised yet (the active region creates it)"
                try:
                    lease = self.authority.initialise(self.region, self.lease_s, self.clock())
                    log_event(log, logging.WARNING, "watchdog.lease_initialised", region=self.region)
                except AlreadyExists:  # another instance of this Watchdog created it first
                    lease = self.authority.read()
                    if lease is None:
                        return None, "region lease created and gone again; retrying next tick"
        except TransientError as error:
            self._authority_unreadable(error)
            return None, None
        self.authority_errors = 0
        self.evidence.note(CONTROL_READ, "lease read by this tick")
        return lease, None

    def _renew(self, lease: Lease) -> Lease:
        now = self.clock()
        return self.authority.renew(lease, now + timedelta(seconds=self.lease_s), now)

    def _demote_lost(self, lost: LeaseLost) -> tuple[Lease | None, str]:
        """The lease moved under this holder: stop at once; the fences follow the mirror."""
        metrics.incr("leases_lost")
        log_event(log, logging.WARNING, "watchdog.lease_lost", region=self.region, detail=str(lost))
        self._consume(False)
        if lost.current is not None:
            self.lease = lost.current
        return lost.current, "demoted: lease lost (another decision moved it)"

    def _authority_unreadable(self, error: TransientError) -> None:
        """The authority could not be read: nothing is renewed, so the fences close at the end of the
        lease; after ``misses_required`` ticks consumption is switched off too (a single blip does not
        restart the app, and a fenced runner would only burn delivery counts)."""
        self.authority_errors += 1
        log_event(log, logging.ERROR, "watchdog.authority_unreadable", region=self.region, error=str(error))
        if self.authority_errors >= self.misses_required:
            self._consume(False)

    def _publish(self, lease: Lease) -> None:
        """Mirror ``lease`` for this region's fences (with the epoch activated here, if this region
        holds it); a failure is logged: the fences fail closed on their own."""
        activated = self.activated_epoch if lease.active_dc == self.region else None
        try:
            self.mirror.publish(GateView(lease, activated))
        except TransientError as error:
            log_event(log, logging.WARNING, "watchdog.mirror_failed", region=self.region, error=str(error))

    # -- step 3: health ---------------------------------------------------------------------------

    def check_health(self) -> tuple[ProbeResult, ...]:
        """Run every probe; a probe passes when it returns without raising."""
        results = []
        for name, probe in self.probes.items():
            started = time.monotonic()
            try:
                detail = probe()
                ms = round((time.monotonic() - started) * 1000, 1)
                results.append(ProbeResult(name, True, ms, _one_line(detail)))
            except Exception as error:  # a probe's failure is data, whatever it is
                results.append(ProbeResult(name, False, None, _one_line(f"{type(error).__name__}: {error}")))
        return tuple(results)

    def _beat(self, health: tuple[ProbeResult, ...], action: str) -> None:
        beat = Heartbeat(self.region, WATCHDOG, self.clock(), _healthy(health), action, health)
        try:
            self.heartbeats.beat(beat)
        except TransientError as error:
            log_event(log, logging.WARNING, "watchdog.heartbeat_failed", region=self.region, error=str(error))

    def peer_healthy(self) -> bool:
        """The peer's Watchdog beat within ``heartbeat_ttl_s`` and reported itself healthy."""
        try:
            beat = self.heartbeats.last(self.peer, WATCHDOG)
        except BridgeError:
            return False
        return beat is not None and beat.healthy and beat.age_s(self.clock()) < self.heartbeat_ttl_s

    # -- step 4: the holder -----------------------------------------------------------------------

    def _as_holder(self, lease: Lease, health: tuple[ProbeResult, ...]) -> str:
        self.misses = 0
        if self._activated() != lease.epoch:
            return self.activate(lease)
        if not lease.allows(self.region, self.clock(), self.guard_s):
            self._consume(False)
            return "active: lease ending or ended and not renewed; consumption off"
        self._consume(True)
        self._replay_stragglers()
        self.unhealthy_ticks = 0 if _healthy(health) else self.unhealthy_ticks + 1
        if self.unhealthy_ticks >= self.misses_required and self.peer_healthy():
            return self._hand_over(lease)
        return "active"

    def _hand_over(self, lease: Lease) -> str:
        """Demote an unhealthy holder: transfer to the healthy peer, then stop here at once."""
        try:
            new = self.transfer(
                lease, self.peer, reason="automatic demotion: own region unhealthy", by=WATCHDOG
            )
        except LeaseLost as lost:
            return self._demote_lost(lost)[1]
        except TransientError as error:
            return f"active: unhealthy, demotion failed ({error})"
        self._consume(False)
        return f"demoted: handed over to {new.active_dc} (epoch {new.epoch})"

    def _activated(self) -> int | None:
        """The epoch this region last activated in (read from the store once, then remembered)."""
        if self.activated_epoch is None:
            try:
                done = self.checkpoints.activation(self.region)
            except TransientError as error:
                log_event(log, logging.WARNING, "watchdog.activation_unreadable", error=str(error))
                return None
            self.activated_epoch = None if done is None else done.epoch
        return self.activated_epoch

    def activate(self, lease: Lease) -> str:
        """Wait for ``not_before``, replay, renew, record, publish, consume: the steps that make this
        region the working one in ``lease.epoch`` (each safe to repeat after a crash or an outage: a
        step that fails leaves the fences closed, and the next tick starts again)."""
        try:
            return self._activate(lease)
        except TransientError as error:
            log_event(log, logging.ERROR, "watchdog.activation_failed", region=self.region, error=str(error))
            return f"activating: {error}"

    def _activate(self, lease: Lease) -> str:
        wait_s = (lease.not_before - self.clock()).total_seconds()
        if wait_s > 0:
            # The new lease lasts LEASE_S beyond not_before and the wait is at most LEASE_S +
            # CLOCK_SKEW_S, so no renewal is due while waiting.
            log_event(log, logging.INFO, "watchdog.waiting_not_before", region=self.region, wait_s=wait_s)
            self.sleep(wait_s)
        walk, replayed = (
            activation_walk(self.region, lease.epoch),
            self.replayed_in_activation.get(lease.epoch, 0),
        )
        deadline = self.clock() + timedelta(seconds=self.lease_s / 2)
        try:
            while True:  # bounded slices, the lease renewed between them, for at most LEASE_S / 2
                result = self.replayer.run_slice(walk, self.replay_slice_s)
                replayed += result.republished
                lease = self._renew(lease)
                if result.done or self.clock() >= deadline:
                    break
        except LeaseLost as lost:
            return self._demote_lost(lost)[1]
        finally:
            self.replayed_in_activation = {lease.epoch: replayed}
        if not result.done:  # the next tick goes on; the fences stay closed meanwhile
            return "activating: replaying the WAL"
        self.lease = lease
        activation = Activation(self.region, lease.epoch, self.clock(), replayed)
        self.checkpoints.record_activation(activation)
        self.activated_epoch = lease.epoch
        self.last_replay = self.clock()
        self._publish(lease)
        self._consume(True)
        log_event(
            log,
            logging.WARNING,
            "watchdog.activated",
            region=self.region,
            epoch=lease.epoch,
            replayed=replayed,
        )
        return "activated"

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

    # -- step 4: the passive side -----------------------------------------------------------------

    def _as_passive(self, lease: Lease, health: tuple[ProbeResult, ...]) -> str:
        self._consume(False)
        self.unhealthy_ticks = 0
        if not lease.expired(self.clock(), self.skew_s):
            self.misses = 0
            return "passive"
        self.misses += 1
        blocked = self._promotion_blocked(lease, health)
        if blocked is not None:
            return blocked
        reason = f"automatic promotion: {lease.active_dc}'s lease ended at {lease.lease_until.isoformat()}"
        try:
            new = self.transfer(lease, self.region, reason=reason, by=WATCHDOG)
        except LeaseLost:
            return "passive: the lease changed meanwhile (another decision won the compare-and-set)"
        except TransientError as error:
            return f"passive: promotion failed ({error})"
        self.misses = 0
        return "promoted; " + self.activate(new)

    def _promotion_blocked(self, lease: Lease, health: tuple[ProbeResult, ...]) -> str | None:
        """Why a passive region that saw the lease ended does not promote now (``None``: it does)."""
        if self.misses < self.misses_required:
            return f"passive: {lease.active_dc}'s lease ended ({self.misses}/{self.misses_required})"
        if not self.auto_promote:
            return "passive: active region's lease ended, automatic promotion is off"
        if not _healthy(health):
            return "passive: active region's lease ended, but this region is unhealthy"
        return None

    # -- shared -----------------------------------------------------------------------------------

    def transfer(self, expected: Lease, to: str, *, reason: str, by: str) -> Lease:
        """Move the lease to ``to`` (compare-and-set on ``expected``); ``LeaseLost`` if it changed.

        Run here, the transfer shows in this region's mirror at once (a holder giving the lease
        away has its fences closed within the cache TTL, long before the new holder's
        ``not_before``); its consumption switch follows on the next tick (in Azure the switch is an
        app setting whose change restarts the app, which must not cut the operator's answer)."""
        new = self.authority.transfer(
            expected, to, reason=reason, by=by, now=self.clock(), lease_s=self.lease_s, skew_s=self.skew_s
        )
        self.lease = new
        self._publish(new)
        metrics.incr("failovers")
        log_event(
            log,
            logging.WARNING,
            "watchdog.transferred",
            to=to,
            previous=expected.active_dc,
            epoch=new.epoch,
            not_before=new.not_before.isoformat(),
            reason=reason,
            by=by,
        )
        return new

    def _consume(self, enabled: bool) -> None:
        try:
            if self.switch.enabled() != enabled:
                self.switch.set_enabled(enabled)
        except TransientError as error:
            log_event(log, logging.ERROR, "watchdog.switch_failed", region=self.region, error=str(error))


def _healthy(health: tuple[ProbeResult, ...]) -> bool:
    return all(probe.ok for probe in health)


def _one_line(value: object) -> str:
    text = str(value).strip().splitlines()
    return text[0][:300] if text else ""

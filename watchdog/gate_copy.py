"""Whether this region's copy of the gate can judge the active region (docs/failover.md, "Gate copy
freshness").

A passive region on a Redis replica sees the active region's heartbeat through replication. On a
copy ``L`` seconds behind its primary a live heartbeat can look expired, so a missing heartbeat
proves nothing there; the :class:`~watchdog.controller.Watchdog` asks :class:`GateCopy` what the copy
is worth before it counts a miss. A copy whose link is down (lag ``inf``) can still promote through
the explicit link-loss policy (``PROMOTE_ON_GATE_LINK_LOSS_S``, 0 = never): :func:`link_loss_due`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.errors import TransientError
from shared.ports import ActiveRegionGate
from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.watchdog")


@dataclass
class GateCopy:
    """One Watchdog's view of its gate copy: its lag, and since when it has been stale or cut off.

    ``lag_bound_s`` is the Watchdog's ``gate_lag_bound_s``: a copy at least that far behind cannot
    tell a live region from a dead one.
    """

    region: str
    stale_since: datetime | None = None
    link_down_since: datetime | None = None
    last_lag_s: float | None = None  # what the last tick measured (``GET /api/status``)

    def lag(self, gate: ActiveRegionGate) -> float | None:
        """The copy's replication lag (``None`` on a primary); a copy that cannot say counts as cut off."""
        try:
            self.last_lag_s = gate.replication_lag_s()
        except TransientError as error:
            log_event(log, logging.WARNING, "watchdog.gate_lag_unknown", region=self.region, error=str(error))
            self.last_lag_s = math.inf
        return self.last_lag_s

    def fresh(self, lag: float | None) -> None:
        """The copy can judge again (logged once when a stale stretch ends)."""
        if self.stale_since is not None:
            log_event(log, logging.WARNING, "watchdog.gate_copy_fresh", region=self.region, lag_s=lag)
        self.stale_since = self.link_down_since = None

    def stale(self, lag: float, lag_bound_s: float, now: datetime) -> None:
        """The copy cannot judge: counted, logged once per stretch; a lag of ``inf`` starts the
        link-down clock that :func:`link_loss_due` reads."""
        metrics.incr("watchdog_gate_stale")
        if self.stale_since is None:
            self.stale_since = now
            log_event(
                log,
                logging.WARNING,
                "watchdog.gate_copy_stale",
                region=self.region,
                lag_s=lag,
                bound_s=lag_bound_s,
                detail="replica behind its primary: a missing heartbeat proves nothing; not promoting",
            )
        self.link_down_since = (self.link_down_since or now) if math.isinf(lag) else None

    def link_down_s(self, now: datetime) -> float:
        """How long, by this Watchdog's clock, the copy's link to its primary has been down."""
        return 0.0 if self.link_down_since is None else (now - self.link_down_since).total_seconds()


def link_loss_due(
    copy: GateCopy,
    lag: float,
    now: datetime,
    policy_s: float,
    primary_reachable: Callable[[], bool] | None,
) -> bool:
    """The explicit link-loss policy (``PROMOTE_ON_GATE_LINK_LOSS_S`` = ``policy_s``, 0 = never).

    When the copy's link to its primary has been down (lag ``inf``) for ``policy_s``, and the primary
    itself does not answer, the active region is taken to be gone with its Redis. The price: a
    partition that separates this region from the primary but not the active region from it yields
    two active regions (docs/failover.md). ``primary_reachable`` ``None`` means "cannot tell": never.
    """
    if policy_s <= 0 or not math.isinf(lag) or primary_reachable is None:
        return False
    if copy.link_down_s(now) < policy_s:
        return False
    try:
        reachable = primary_reachable()
    except Exception as error:  # cannot tell is not "gone"
        log_event(log, logging.WARNING, "watchdog.primary_probe_failed", region=copy.region, error=str(error))
        return False
    if reachable:
        return False
    metrics.incr("watchdog_link_loss_promotions")
    return True

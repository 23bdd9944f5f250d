"""Health probes as telemetry, so the Azure Monitor workbook (infra/modules/workbook.bicep) shows what
the status page shows: each probe's last outcome is the gauge ``bridge.probe_<name>_ok`` (1 or 0) and
the MQ probe's answer the gauge ``bridge.mq_depth``; a failure is also the log event
``watchdog.probe_failed`` with the probe's name and error. The probe itself is unchanged: it still
raises, and the Watchdog still judges health from that."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.watchdog")


@dataclass(frozen=True)
class Observed:
    """``probe`` with its outcome recorded as above; ``probe`` itself stays reachable (a
    :class:`~watchdog.probes.Throttled` probe's background check, for one)."""

    region: str
    name: str
    probe: Callable[[], object]

    def __call__(self) -> object:
        try:
            result = self.probe()
        except Exception as error:
            metrics.gauge(f"probe_{self.name}_ok", 0.0)
            log_event(
                log,
                logging.WARNING,
                "watchdog.probe_failed",
                region=self.region,
                probe=self.name,
                error=str(error),
            )
            raise
        metrics.gauge(f"probe_{self.name}_ok", 1.0)
        if self.name == "mq" and isinstance(result, int):
            metrics.gauge("mq_depth", float(result))
        return result


def observed(region: str, probes: Mapping[str, Callable[[], object]]) -> dict[str, Callable[[], object]]:
    """``probes``, each :class:`Observed`."""
    return {name: Observed(region, name, probe) for name, probe in probes.items()}

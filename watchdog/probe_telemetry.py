"""Health probes as telemetry, so the Azure Monitor workbook (infra/modules/workbook.bicep) shows what
the status page shows: each probe's last outcome is the gauge ``bridge.probe_<name>_ok`` (1 or 0) and
the MQ probe's answer the gauge ``bridge.mq_depth``; a failure is also the log event
``watchdog.probe_failed`` with the probe's name and error. The probe itself is unchanged: it still
raises, and the Watchdog still judges health from that."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.watchdog")


def observed(region: str, probes: Mapping[str, Callable[[], object]]) -> dict[str, Callable[[], object]]:
    """``probes`` with each outcome recorded as above."""

    def wrap(name: str, probe: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            try:
                result = probe()
            except Exception as error:
                metrics.gauge(f"probe_{name}_ok", 0.0)
                log_event(
                    log, logging.WARNING, "watchdog.probe_failed", region=region, probe=name, error=str(error)
                )
                raise
            metrics.gauge(f"probe_{name}_ok", 1.0)
            if name == "mq" and isinstance(result, int):
                metrics.gauge("mq_depth", float(result))
            return result

        return run

    return {name: wrap(name, probe) for name, probe in probes.items()}

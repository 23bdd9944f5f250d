"""Run one scenario or the matrix, write ``report.json`` and ``timeline.png``, return the report.

``out/drill/report.json`` is the report of the run (for ``all``: totals plus every scenario under
``scenarios``); each scenario also leaves ``out/drill/<name>/report.json``, ``timeline.png`` and its
whole state (inbox, outbox with ``deliveries.log``, region logs, service logs) for inspection.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dev.drill import report, timeline
from dev.drill.counting import read_deliveries
from dev.drill.harness import Progress
from dev.drill.run import Scenario, run
from dev.drill.scenarios import SCENARIOS


def run_one(
    scenario: Scenario, out: Path, statements: int, rate_per_s: float, timeout_s: float, progress: Progress
) -> dict[str, Any]:
    """Run ``scenario``; write its report and picture under ``out/<name>/``; return its report."""
    result_of_run = run(scenario, out, statements, rate_per_s, timeout_s, progress)
    harness, counts = result_of_run.harness, result_of_run.counts
    rates = report.throughput(harness.host.outbox)
    extra: dict[str, Any] = {
        "failover": result_of_run.failover.as_dict(),
        "rto_s": result_of_run.rto_s,
        "modelled_timings": result_of_run.timings,
        "elapsed_s": result_of_run.elapsed_s,
        "notes": result_of_run.notes,
        "dead_lettered": harness.dead_lettered,
        "throughput_detail": rates,
        "throughput_per_s": max((v for k, v in rates.items() if k != "overall"), default=None),
        "region_counters": harness.counters,
        "azure_ops_per_message": report.ops_per_message(
            harness.counters, harness.servicebus_ops, result_of_run.redis_ops, counts.produced
        ),
    }
    result = report.scenario_report(scenario.name, counts, extra)
    report.write(result, out / scenario.name / "report.json")
    timeline.draw(
        harness.produced,
        read_deliveries(harness.host.outbox),
        harness.events,
        out / scenario.name / "timeline.png",
        f"{scenario.name}: {scenario.title}",
        result,
    )
    return result


def execute(
    names: Sequence[str],
    out: Path,
    statements: int = 300,
    rate_per_s: float = 25.0,
    timeout_s: float = 300.0,
    progress: Progress = print,
) -> dict[str, Any]:
    """Run ``names`` in order; write ``out/report.json`` and ``out/timeline.png``; return the report."""
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}, all")
    reports = []
    for name in names:
        try:
            reports.append(run_one(SCENARIOS[name], out, statements, rate_per_s, timeout_s, progress))
        except Exception as error:  # one broken scenario must not hide the others' figures
            progress(f"!! scenario {name} did not complete: {type(error).__name__}: {error}")
            reports.append({"scenario": name, "ok": False, "error": f"{type(error).__name__}: {error}"})
    result = reports[0] if len(reports) == 1 else report.combined(reports)
    report.write(result, out / "report.json")
    picture = out / names[0] / "timeline.png"
    if picture.exists():
        shutil.copyfile(picture, out / "timeline.png")
    return result

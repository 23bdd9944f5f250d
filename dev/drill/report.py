"""``out/drill/report.json`` and the short human summary printed at the end of a drill.

The fixed keys are those of issue #5; extra keys (``elapsed_s``, ``by_region``, ``bad_failed`` …) say
more. ``ok`` is true when every promise held (:func:`promises`): lost, duplicates, inversions and
seconds_two_active and good_quarantined are zero and every bad body was quarantined and recorded FAILED.

Two counts about in-doubt messages, never to be confused (docs/drill.md, "The figures"):
``in_doubt_statements`` (statements whose idempotency record was taken over, from Cosmos) and
``same_key_repeats`` (deliveries that found their key already delivered, from the outbox's log). The
regions' own process counters (``region_counters``: ``in_doubt``, ``in_doubt_redelivered_same_key``)
count events in one process, not statements, and are kept apart under that key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dev.drill.counting import Counts, read_deliveries
from dev.host import FAST_SETTINGS

SERVICES = ("blob", "cosmos", "servicebus", "redis")
#: The settings behind the local failover figures, and where the Azure expectation is worked out.
LOCAL_TIMING = (
    f"LEASE_S {FAST_SETTINGS['LEASE_S']}, CLOCK_SKEW_S {FAST_SETTINGS['CLOCK_SKEW_S']}, Watchdog every "
    f"{FAST_SETTINGS['WATCHDOG_INTERVAL_S']} s: dev/host.py FAST_SETTINGS"
)
AZURE_TIMING = "expected figure in docs/failover.md, Expected failover time"


def throughput(outbox: Path) -> dict[str, float]:
    """First deliveries per second, overall and per region, over each one's busiest epoch window.

    A region's rate is its first deliveries in one epoch divided by the span from its first to its last
    delivery in that epoch (the best such window counts); ``overall`` spans all first deliveries.
    """
    firsts = [d for d in read_deliveries(outbox) if d.outcome == "delivered"]
    result: dict[str, float] = {}
    if len(firsts) > 1:
        span = max(d.at for d in firsts) - min(d.at for d in firsts)
        result["overall"] = round(len(firsts) / span, 1) if span > 0 else 0.0
    windows: dict[tuple[str, int], list[float]] = {}
    for delivery in firsts:
        windows.setdefault((delivery.region, delivery.epoch), []).append(delivery.at)
    for (region, _), times in windows.items():
        span = max(times) - min(times)
        if len(times) > 10 and span > 0:
            result[region] = max(result.get(region, 0.0), round(len(times) / span, 1))
    return result


def ops_per_message(
    region_counters: Mapping[str, Mapping[str, float]], servicebus_ops: float, redis_ops: float, produced: int
) -> dict[str, float | None]:
    """Azure operations per produced statement: Blob and Cosmos from the regions' adapter counters
    (``ops.blob``/``ops.cosmos``; a killed process's last counts are lost, so these are lower bounds),
    Service Bus and Redis from the servers' own counts."""
    if produced == 0:
        return dict.fromkeys(SERVICES)
    blob = sum(c.get("ops.blob", 0.0) for c in region_counters.values())
    cosmos = sum(c.get("ops.cosmos", 0.0) for c in region_counters.values())
    return {
        "blob": round(blob / produced, 2),
        "cosmos": round(cosmos / produced, 2),
        "servicebus": round(servicebus_ops / produced, 2),
        "redis": round(redis_ops / produced, 2),
    }


def scenario_report(name: str, counts: Counts, extra: Mapping[str, Any]) -> dict[str, Any]:
    """One scenario's object with the fixed keys first."""
    report: dict[str, Any] = {
        "scenario": name,
        "produced": counts.produced,
        "delivered_unique": counts.delivered_unique,
        "lost": counts.lost,
        "duplicates": counts.duplicates,
        "in_doubt_statements": counts.in_doubt_statements,
        "same_key_repeats": counts.same_key_repeats,
        "inversions": counts.inversions,
        "quarantined": counts.quarantined,
        "seconds_two_active": counts.seconds_two_active,
        "failover": extra.get("failover"),
        "rto_s": extra.get("rto_s"),
        "modelled_timings": extra.get("modelled_timings"),
        "throughput_per_s": extra.get("throughput_per_s"),
        "azure_ops_per_message": extra.get("azure_ops_per_message"),
        "bad": counts.bad,
        "bad_failed": counts.bad_failed,
        "good_quarantined": counts.good_quarantined,
        "dead_lettered": extra.get("dead_lettered"),
        "foreign_keys": counts.foreign_keys,
        "by_region": counts.by_region,
        "throughput_detail": extra.get("throughput_detail"),
        "region_counters": extra.get("region_counters"),
        "elapsed_s": extra.get("elapsed_s"),
        "notes": extra.get("notes", []),
        "lost_ids": counts.lost_ids[:20],
    }
    script_failed = any(str(note).startswith("script failed") for note in report["notes"])
    report["ok"] = promises_held(report) and not script_failed
    return report


#: One line each, printed under the summary and drawn in the timeline's results box.
EXPLAINED = (
    "in doubt: statements whose worker stopped between delivering and recording it; the next worker "
    "took the record over and reconciled it or redelivered under the same delivery key",
    "same-key repeats: such redeliveries that found the key already delivered; MessageWay's duplicate "
    "check on the key drops them, so they are not duplicates",
)


def promises(report: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """``(promise, the figure that proves it, held)`` for each promise, from the report's counts."""
    lost, duplicates, inversions = report.get("lost"), report.get("duplicates"), report.get("inversions")
    two_active = report.get("seconds_two_active")
    bad, bad_failed = report.get("bad"), report.get("bad_failed")
    parked = report.get("good_quarantined")
    return [
        ("no data loss", f"lost {lost} of {report.get('produced')}", lost == 0),
        ("no duplicate delivery", f"duplicates {duplicates}", duplicates == 0),
        ("order kept per account", f"inversions {inversions}", inversions == 0),
        ("one active region", f"{two_active} s with both regions delivering", two_active == 0),
        ("bad input kept", f"{bad_failed} of {bad} bad bodies quarantined and FAILED", bad_failed == bad),
        ("good input delivered", f"{parked} good statements parked (quarantine, backout queue)", parked == 0),
    ]


def promises_held(report: Mapping[str, Any]) -> bool:
    """The promises, from the counts (:func:`promises`): nothing lost, duplicated or reordered, never
    two regions active, every bad body FAILED, and no good statement parked in a quarantine or backout
    queue (kept, not lost, but not delivered either: a runbook redrive is not what a fault may cost)."""
    return all(held for _, _, held in promises(report))


def combined(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``SCENARIO=all``: totals at the top level, every scenario's object under ``scenarios``."""
    total: dict[str, Any] = {"scenario": "all"}
    for key in ("produced", "delivered_unique", "lost", "duplicates", "in_doubt_statements"):
        total[key] = sum(int(r.get(key) or 0) for r in reports)
    for key in ("same_key_repeats", "inversions", "quarantined", "bad", "bad_failed", "good_quarantined"):
        total[key] = sum(int(r.get(key) or 0) for r in reports)
    total["seconds_two_active"] = round(sum(float(r.get("seconds_two_active") or 0) for r in reports), 3)
    failovers = [r["failover"] for r in reports if isinstance(r.get("failover"), dict)]
    measured = [f for f in failovers if f.get("total_s") is not None]
    total["failover"] = max(measured, key=lambda f: f["total_s"]) if measured else None
    rates = [float(r["throughput_per_s"]) for r in reports if isinstance(r.get("throughput_per_s"), float)]
    total["throughput_per_s"] = max(rates) if rates else None
    total["azure_ops_per_message"] = reports[0].get("azure_ops_per_message") if reports else None
    total["ok"] = all(bool(r.get("ok")) for r in reports)
    total["scenarios"] = list(reports)
    return total


def write(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def summary(report: Mapping[str, Any]) -> str:
    """What a person reads at the end of ``make demo``: each scenario's line, then each promise by
    name with the figure that proves it, and what "in doubt" and "same-key repeats" mean."""
    lines = []
    rows = report.get("scenarios") or [report]
    for row in rows:
        if "error" in row:
            lines.append(f"FAIL {row['scenario']:<22} did not complete: {row['error']}")
            continue
        failover = row.get("failover") or {}
        verdict = "OK  " if row.get("ok") else "FAIL"
        lines.append(
            f"{verdict} {row['scenario']:<22} produced {row['produced']:>4}"
            f"  delivered {row['delivered_unique']:>4}"
            f"  quarantined {row['quarantined']}  lost {row['lost']}  duplicates {row['duplicates']}"
            f"  inversions {row['inversions']}  two-active {row['seconds_two_active']} s"
            f"  in doubt {row['in_doubt_statements']} (same-key repeats {row['same_key_repeats']})"
        )
        if row.get("rto_s") is not None:
            lines.append(f"     rto_s {row['rto_s']} (fault -> first delivery by the side that recovers)")
        if failover and failover.get("total_s") is not None:
            lines.append(
                f"     failover: detect {failover['detect_s']} s, promote {failover['promote_s']} s, "
                f"first delivery {failover['first_delivery_s']} s, total {failover['total_s']} s "
                f"with the local settings ({LOCAL_TIMING}); Azure's settings: {AZURE_TIMING}"
            )
        if row.get("throughput_per_s") is not None:
            lines.append(
                f"     throughput {row['throughput_per_s']}/s; Azure ops per message "
                f"{row.get('azure_ops_per_message')}"
            )
    lines.append("")
    if "scenarios" in report:
        lines.append(f"Promises, over all {len(rows)} scenarios:")
    else:
        lines.append("Promises:")
    for name, figure, held in promises(report):
        lines.append(f"  {'held  ' if held else 'BROKEN'}  {name:<23} {figure}")
    lines.extend(f"  {line}" for line in EXPLAINED)
    lines.append("ALL PROMISES HELD" if report.get("ok") else "SOME PROMISE BROKEN: see report.json")
    return "\n".join(lines)

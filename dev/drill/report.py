"""``out/drill/report.json`` and the short human summary printed at the end of a drill.

The fixed keys are those of issue #5; extra keys (``elapsed_s``, ``by_region``, ``bad_failed`` …) say
more. ``ok`` is true when every promise held: lost, duplicates, inversions, seconds_two_active and
good_quarantined are zero and every bad body was quarantined and recorded FAILED.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dev.drill.counting import Counts, read_deliveries

SERVICES = ("blob", "cosmos", "servicebus", "redis")


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
        "in_doubt": counts.in_doubt,
        "in_doubt_redelivered_same_key": counts.in_doubt_redelivered_same_key,
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


def promises_held(report: Mapping[str, Any]) -> bool:
    """The promises, from the counts: nothing lost, duplicated or reordered, never two regions active,
    every bad body FAILED, and no good statement parked in a quarantine or backout queue (kept, not
    lost, but not delivered either: a runbook redrive is not what a fault may cost)."""
    zeros = all(report.get(key) == 0 for key in ("lost", "duplicates", "inversions", "good_quarantined"))
    return zeros and report.get("seconds_two_active") == 0 and report.get("bad_failed") == report.get("bad")


def combined(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``SCENARIO=all``: totals at the top level, every scenario's object under ``scenarios``."""
    total: dict[str, Any] = {"scenario": "all"}
    for key in ("produced", "delivered_unique", "lost", "duplicates", "in_doubt"):
        total[key] = sum(int(r.get(key) or 0) for r in reports)
    for key in ("in_doubt_redelivered_same_key", "inversions", "quarantined"):
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
    """A few lines a person reads at the end of ``make demo``."""
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
            f"  in-doubt {row['in_doubt']} (same-key repeats {row['in_doubt_redelivered_same_key']})"
        )
        if row.get("rto_s") is not None:
            lines.append(f"     rto_s {row['rto_s']} (fault -> first delivery by the side that recovers)")
        if failover and failover.get("total_s") is not None:
            lines.append(
                f"     failover: detect {failover['detect_s']} s, promote {failover['promote_s']} s, "
                f"first delivery {failover['first_delivery_s']} s, total {failover['total_s']} s"
            )
        if row.get("throughput_per_s") is not None:
            lines.append(
                f"     throughput {row['throughput_per_s']}/s; Azure ops per message "
                f"{row.get('azure_ops_per_message')}"
            )
    lines.append("ALL PROMISES HELD" if report.get("ok") else "SOME PROMISE BROKEN: see report.json")
    return "\n".join(lines)

"""One measurement of :mod:`bench.pipeline`, run inside ONE source tree (the baseline or the current).

``bench.pipeline`` copies this file out of the repository and runs it with the tree under test as the
working directory and first on ``PYTHONPATH``, so every import below resolves to THAT tree's code.
It therefore uses only interfaces that exist in the baseline (06b6918) and later: ``dev.stack.Stack``,
``dev.host.LocalHost`` and ``FAST_SETTINGS``, ``dev.settings.dev_region``, the folder inbox and outbox,
``dev.drill.generator.plan``, the Watchdog's ``tick`` and the QueueBuilder's ``run(budget_s=...)``.
Nothing here may import ``bench``: the baseline tree has no such module.

``ingest`` — the QueueBuilder alone, in this process, on a private local stack: ``--statements``
put on the folder inbox, then runs on the timer of the tree's own schedule and drain settings
(``QUEUE_BUILDER_SCHEDULE``, ``QUEUE_BUILDER_DRAIN_S``, production defaults): a run starts on each
tick (the timer never overlaps invocations; a run that overran the next tick is followed at once, as
the schedule monitor's past-due catch-up would; without it the tick is skipped) until the inbox is
empty. A background Watchdog tick every 5 s keeps the lease (its CPU is included).

``e2e`` — one region (DC04) as the local host runs it (``python -m dev.region``, the dev stack's fast
settings) on a private local stack, ``--statements`` put on the inbox before it starts, until all are
delivered to the folder outbox; ``--runner-processes N`` sets ``BRIDGE_RUNNER_PROCESSES`` (only trees
that have it: the orchestrator checks) and, on a tree that has ``BRIDGE_PER_FUNCTION``
(:func:`per_function_supported`), ``BRIDGE_PER_FUNCTION=1``: the region process runs the QueueBuilder,
the Watchdog and the routes, and the N runner processes are its children, as Flex Consumption runs
each function on instances of its own. A tree without it keeps the runner in the region process plus
N-1 children (the result's ``per_function`` says which).

CPU of every process is read from ``/proc/<pid>/stat`` (utime + stime) at the start and the end of
the measured span. Prints nothing but progress on stderr; writes its result as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dev.adapters.folder_mq import put_message
from dev.drill.generator import plan
from dev.host import FAST_SETTINGS, LocalHost
from dev.settings import dev_region
from dev.stack import ROOT, Stack, free_port_base
from dev.stack_process import port_free

TICK = os.sysconf("SC_CLK_TCK")
STACK_SERVICES = ("blob-dc04", "blob-dc06", "cosmos", "servicebus", "redis-dc04")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def cpu_s(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds; ``None`` when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5)


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def interval_s(schedule: str) -> float:
    """The interval of a ``*/N * * * * *`` or ``0 */N * * * *`` schedule (the bench needs a fixed one).
    Not ``shared.settings.schedule_interval_s``: the baseline tree does not have it."""
    parts = schedule.split()
    if len(parts) == 6 and parts[0].startswith("*/") and parts[1:] == ["*"] * 5:
        return float(parts[0][2:])
    if len(parts) == 6 and parts[0] == "0" and parts[1].startswith("*/") and parts[2:] == ["*"] * 4:
        return 60.0 * float(parts[1][2:])
    raise SystemExit(f"the bench needs a fixed-interval QUEUE_BUILDER_SCHEDULE, got {schedule!r}")


def free_pair() -> int:
    for base in range(18600, 19000, 2):
        if port_free(base) and port_free(base + 1):
            return base
    raise RuntimeError("no two free ports from 18600")


def put_all(inbox: Path, count: int, accounts: int) -> None:
    for item in plan(count, accounts=accounts):
        put_message(inbox, item.message_id, item.body)


def count_files(folder: Path, suffix: str = "") -> int:
    try:
        return sum(1 for e in os.scandir(folder) if e.name.endswith(suffix))
    except FileNotFoundError:
        return 0


def ingest(stack: Stack, stack_env: dict[str, str], work: Path, count: int, accounts: int) -> dict[str, Any]:
    host = LocalHost(stack_env, state=work / "host", http_base=free_pair())
    # Production defaults for every timing (the dev host's fast values are for drills), so the run
    # length and the timer are the tree's own QUEUE_BUILDER_DRAIN_S and QUEUE_BUILDER_SCHEDULE.
    env = {
        k: v for k, v in host.region_env("DC04").items() if k not in FAST_SETTINGS or k.startswith("DEFAULT_")
    }
    components, dev = dev_region(env)
    settings = components.settings
    tick_s, budget_s = interval_s(settings.queue_builder_schedule), settings.queue_builder_drain_s
    builder, watchdog = components.queue_builder, components.watchdog
    for _ in range(40):
        watchdog.tick()
        if builder.run(budget_s=1.0)["outcome"] != "passive":
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("DC04 did not become active")
    say(f"ingest: putting {count} statements")
    put_all(dev.inbox, count, accounts)
    stop = threading.Event()

    def keep_lease() -> None:
        while not stop.wait(5.0):
            watchdog.tick()

    ticker = threading.Thread(target=keep_lease, daemon=True)
    services = {name: stack.pid(name) for name in STACK_SERVICES}
    before = {name: cpu_s(pid) for name, pid in services.items() if pid}
    cpu0, began = time.process_time(), time.monotonic()
    ticker.start()
    runs, busy, ingested, next_tick = [], 0.0, 0, began
    while ingested < count:
        now = time.monotonic()
        if now < next_tick:
            time.sleep(next_tick - now)
        started = time.monotonic()
        summary = builder.run(budget_s=budget_s)
        ended = time.monotonic()
        busy += ended - started
        ingested += int(str(summary["ingested"]))
        runs.append({"at_s": round(started - began, 3), "s": round(ended - started, 3), **summary})
        say(f"  run {len(runs)}: {summary['ingested']} in {ended - started:.2f} s ({summary['outcome']})")
        if summary["outcome"] not in ("drained", "budget") or len(runs) > 1000:
            raise RuntimeError(f"ingest run failed: {summary}")
        # The next tick after this run's start; a run that overran it is followed at once (past due).
        next_tick = began + (int((started - began) / tick_s) + 1) * tick_s
    wall, cpu = time.monotonic() - began, time.process_time() - cpu0
    stop.set()
    after = {name: cpu_s(pid) for name, pid in services.items() if pid}
    processes = {"queue_builder (this process)": cpu}
    for name, start in before.items():
        end = after.get(name)
        if start is not None and end is not None:
            processes[name] = end - start
    return {
        "mode": "ingest",
        "statements": count,
        "ingested": ingested,
        "tick_s": tick_s,
        "drain_s": budget_s,
        "wall_s": round(wall, 3),
        "busy_s": round(busy, 3),
        "rate_per_s": round(ingested / wall, 2),
        "busy_rate_per_s": round(ingested / busy, 2),
        "cpu_s": {k: round(v, 3) for k, v in processes.items()},
        "cpu_ms_per_statement": {k: round(1000 * v / ingested, 3) for k, v in processes.items()},
        "runs": runs,
    }


def per_function_supported() -> bool:
    """Whether this tree's ``dev.region`` can run the runner only in child processes."""
    return "BRIDGE_PER_FUNCTION" in (ROOT / "dev" / "settings.py").read_text()


def e2e(
    stack: Stack, stack_env: dict[str, str], work: Path, count: int, accounts: int, runner_processes: int
) -> dict[str, Any]:
    host = LocalHost(stack_env, state=work / "host", http_base=free_pair())
    per_function = runner_processes > 1 and per_function_supported()
    layout = ", per function" if per_function else ""
    say(f"e2e: putting {count} statements, runner in {runner_processes} process(es){layout}")
    put_all(host.inbox, count, accounts)
    extra = {"BRIDGE_RUNNER_PROCESSES": str(runner_processes)} if runner_processes > 1 else {}
    if per_function:
        extra["BRIDGE_PER_FUNCTION"] = "1"
    try:
        host.start_region("DC04", extra)
        region = host.processes["DC04"].pid
        began = time.monotonic()
        time.sleep(0.5)  # the runner-only children start with the region
        runs_runner = "" if per_function else ", runner"
        pids = {f"region (QueueBuilder, Watchdog{runs_runner})": region}
        for n, child in enumerate(sorted(children(region)), start=2):
            pids[f"runner process {n}"] = child
        pids.update({name: pid for name in STACK_SERVICES if (pid := stack.pid(name))})
        before = {name: cpu_s(pid) for name, pid in pids.items()}
        delivered, ingested_at, deadline = 0, None, began + 600
        while delivered < count and time.monotonic() < deadline:
            time.sleep(0.25)
            delivered = count_files(host.outbox, ".fin")
            if ingested_at is None and count_files(host.inbox / "new") == 0:
                ingested_at = time.monotonic() - began
        wall = time.monotonic() - began
        after = {name: cpu_s(pid) for name, pid in pids.items()}
    finally:
        host.stop()
    if delivered < count:
        raise RuntimeError(f"only {delivered} of {count} delivered in 600 s")
    times = sorted(_delivery_times(host.outbox))
    lo, hi = times[len(times) // 10], times[(9 * len(times)) // 10]
    by_pid: dict[str, int] = {}
    for entry in _log(host.outbox):
        if entry.get("outcome") == "delivered":
            by_pid[entry.get("pid", "?")] = by_pid.get(entry.get("pid", "?"), 0) + 1
    processes = {
        name: after[name] - start  # type: ignore[operator]
        for name, start in before.items()
        if start is not None and after.get(name) is not None
    }
    return {
        "mode": "e2e",
        "statements": count,
        "runner_processes": runner_processes,
        "per_function": per_function,
        "delivered": delivered,
        "wall_s": round(wall, 3),
        "ingest_done_s": None if ingested_at is None else round(ingested_at, 3),
        "rate_per_s": round(delivered / wall, 2),
        "steady_rate_per_s": round((8 * len(times) // 10) / (hi - lo), 2) if hi > lo else None,
        "deliveries_by_pid": by_pid,
        "cpu_s": {k: round(v, 3) for k, v in processes.items()},
        "cpu_ms_per_statement": {k: round(1000 * v / delivered, 3) for k, v in processes.items()},
    }


def _log(outbox: Path) -> list[dict[str, str]]:
    path = outbox / "deliveries.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _delivery_times(outbox: Path) -> list[float]:
    from datetime import datetime  # noqa: PLC0415

    return [
        datetime.fromisoformat(e["at"]).timestamp() for e in _log(outbox) if e.get("outcome") == "delivered"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["ingest", "e2e"])
    parser.add_argument("--statements", type=int, required=True)
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--runner-processes", type=int, default=1)
    parser.add_argument("--work", type=Path, required=True, help="a fresh folder for this measurement")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    stack = Stack(ROOT, free_port_base(17700), args.work / "stack")
    say(f"tree {ROOT}: private stack on ports {stack.port_base}+")
    stack_env = stack.up()
    try:
        if args.mode == "ingest":
            result = ingest(stack, stack_env, args.work, args.statements, args.accounts)
        else:
            result = e2e(stack, stack_env, args.work, args.statements, args.accounts, args.runner_processes)
    finally:
        stack.down()
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

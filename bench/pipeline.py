"""Ingest and end-to-end benchmark, baseline against the current tree in ONE run (issue 15):
``python -m bench.pipeline`` (``make bench-pipeline``; docs/benchmarks.md, "Ingest and delivery").

For each of two source trees — the baseline commit (``--baseline``, default ``06b6918``, the commit
before issue 15, checked out with ``git worktree add --detach`` into a temporary folder) and the
current working tree (uncommitted changes included) — it runs the SAME driver,
:mod:`bench.pipeline_driver`, copied out of the repository and run with that tree first on
``PYTHONPATH``, so each measurement runs that tree's code on that tree's local stack:

* ``ingest`` — the QueueBuilder alone, in the driver's process, on the tree's own timer settings
  (statements/s over the wall time of the timer's runs, statements/s while a run is busy, CPU per
  statement of the QueueBuilder process and of the stack's servers);
* ``e2e`` — region DC04 as the local host runs it, every statement put before it starts, until all
  are delivered (statements/s from the region's start to the last delivery, and between the 10th and
  90th percentile deliveries; CPU per statement of each process), with the runner in 1 process, and in
  2 where the tree supports ``BRIDGE_RUNNER_PROCESSES`` (the baseline does not): per function where
  the tree supports ``BRIDGE_PER_FUNCTION`` (the region process runs the QueueBuilder, the Watchdog and
  the routes, the runner runs in 2 child processes, as Flex Consumption scales each function on
  instances of its own), else the region process and one child.

The machine is shared, so the measurements run in ``--rounds`` rounds, each alternating the trees
(ingest baseline, ingest current, e2e baseline, e2e current, e2e current with 2 runner processes),
each measurement on a fresh private stack: both sides of a ratio ran a minute or two apart under the
same load. A ratio is computed per round (current / baseline of the SAME round) and reported as the
median of those per-round ratios with the range; the table gives the median of each figure over the
rounds. Writes everything as JSON (``--json``). Targets of the issue: ingest >= 3x the baseline,
end-to-end >= 2x with the runner in 2 processes. Timings are of this machine (2 cores shared with the
local servers), not Azure's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("pipeline_driver.py")
BASELINE = "06b6918"
RUNNER_PROCESSES_MARK = "BRIDGE_RUNNER_PROCESSES"  # a tree whose dev/ names it can run several

#: Results of one measurement name (e.g. ``"ingest@current"``), one per round, in round order.
Results = dict[str, list[dict[str, Any]]]

#: Each reported ratio: label -> (numerator, denominator, target or None, figure compared). The
#: issue's targets are on ``rate_per_s`` (whole run, start-up included); the steady ratio (10th to 90th
#: percentile delivery) is reported beside them, without a target.
RATIOS: dict[str, tuple[str, str, float | None, str]] = {
    "ingest, current / baseline": ("ingest@current", "ingest@baseline", 3.0, "rate_per_s"),
    "end to end, runner in 1 process, current / baseline": (
        "e2e-1@current",
        "e2e-1@baseline",
        None,
        "rate_per_s",
    ),
    "end to end, runner in 2 processes current / runner in 1 process baseline": (
        "e2e-2@current",
        "e2e-1@baseline",
        2.0,
        "rate_per_s",
    ),
    "end to end steady (10th-90th percentile), runner in 2 processes current / 1 process baseline": (
        "e2e-2@current",
        "e2e-1@baseline",
        None,
        "steady_rate_per_s",
    ),
}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def baseline_tree(commit: str, parent: Path) -> Iterator[Path]:
    """``commit`` checked out in a temporary worktree (with this tree's node_modules and .venv)."""
    tree = parent / "baseline"
    git("worktree", "add", "--detach", str(tree), commit)
    try:
        for shared in ("node_modules", ".venv"):
            if (ROOT / shared).exists() and not (tree / shared).exists():
                (tree / shared).symlink_to((ROOT / shared).resolve())
        yield tree
    finally:
        git("worktree", "remove", "--force", str(tree))


def supports_runner_processes(tree: Path) -> bool:
    return RUNNER_PROCESSES_MARK in (tree / "dev" / "settings.py").read_text()


def measure(
    tree: Path, driver: Path, work: Path, mode: str, statements: int, accounts: int, processes: int = 1
) -> dict[str, Any]:
    """Run the driver in ``tree``; its JSON result, with the wall time the measurement took."""
    out = work / "result.json"
    command = [
        sys.executable,
        str(driver),
        mode,
        f"--statements={statements}",
        f"--accounts={accounts}",
        f"--runner-processes={processes}",
        f"--work={work}",
        f"--out={out}",
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("BRIDGE_STACK_PORT_BASE", None)  # the driver picks a free private block itself
    started = time.monotonic()
    subprocess.run(command, cwd=tree, env=env, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    result["took_s"] = round(time.monotonic() - started, 1)
    return result


def round_ratios(results: Results, new: str, old: str, figure: str = "rate_per_s") -> list[float]:
    """``new / old`` of ``figure`` in each round in which both were measured (same round only), in
    round order; a result without ``round`` is the n-th of its list."""
    olds = {run.get("round", index): run for index, run in enumerate(results.get(old, []))}
    found = []
    for index, run in enumerate(results.get(new, [])):
        base = olds.get(run.get("round", index))
        if base is not None and base.get(figure) and run.get(figure) is not None:
            found.append(float(run[figure]) / float(base[figure]))
    return found


def ratios(results: Results) -> dict[str, dict[str, Any]]:
    """Every ratio of :data:`RATIOS`: its per-round values, their median, and the target."""
    found: dict[str, dict[str, Any]] = {}
    for label, (new, old, target, figure) in RATIOS.items():
        per_round = round_ratios(results, new, old, figure)
        found[label] = {
            "per_round": [round(value, 2) for value in per_round],
            "median": round(statistics.median(per_round), 2) if per_round else None,
            "target": target,
        }
    return found


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _steady(result: dict[str, Any]) -> float | None:
    value = result.get("busy_rate_per_s") or result.get("steady_rate_per_s")
    return None if value is None else float(value)


def _cpu(runs: list[dict[str, Any]], process: str) -> list[float]:
    return [
        float(run["cpu_ms_per_statement"][process]) for run in runs if process in run["cpu_ms_per_statement"]
    ]


def table(results: Results) -> str:
    """The Markdown table of docs/benchmarks.md: per measurement, the median over its rounds."""
    lines = [
        "| measurement | tree | rounds | statements/s (median) | per round | busy or steady /s (median) "
        "| CPU ms per statement, median (process: ms) |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for name, runs in results.items():
        kind, tree = name.split("@")
        rates = [float(run["rate_per_s"]) for run in runs]
        steady = _median([s for run in runs if (s := _steady(run)) is not None])
        processes = list(dict.fromkeys(p for run in runs for p in run["cpu_ms_per_statement"]))
        cpu = ", ".join(f"{p}: {_median(_cpu(runs, p)) or 0:.2f}" for p in processes)
        per_round = " / ".join(f"{r:.1f}" for r in rates)
        shown = "-" if steady is None else f"{steady:.1f}"
        lines.append(
            f"| {kind} | {tree} | {len(runs)} | {_median(rates) or 0:.1f} | {per_round} | {shown} | {cpu} |"
        )
    return "\n".join(lines)


def ratio_table(found: dict[str, dict[str, Any]]) -> str:
    lines = ["| ratio | target | per round | median |", "|---|---|---|---:|"]
    for label, ratio in found.items():
        target = "—" if ratio["target"] is None else f"≥ {ratio['target']:g}×"
        per_round = " / ".join(f"{value:.2f}×" for value in ratio["per_round"]) or "n/a"
        median = "n/a" if ratio["median"] is None else f"{ratio['median']:.2f}×"
        lines.append(f"| {label} | {target} | {per_round} | {median} |")
    return "\n".join(lines)


def plan(
    rounds: int, trees: dict[str, Path], ingest: int, e2e: int
) -> list[tuple[int, str, str, str, int, int]]:
    """(round, name, tree, mode, statements, runner processes), alternating the trees in each round."""
    steps: list[tuple[int, str, str, str, int, int]] = []
    for number in range(1, rounds + 1):
        for tree in trees:
            steps.append((number, f"ingest@{tree}", tree, "ingest", ingest, 1))
        for tree in trees:
            steps.append((number, f"e2e-1@{tree}", tree, "e2e", e2e, 1))
        for tree, path in trees.items():
            if supports_runner_processes(path):
                steps.append((number, f"e2e-2@{tree}", tree, "e2e", e2e, 2))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", default=BASELINE, help=f"the commit to compare with (default {BASELINE})"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds, each alternating the trees (default 3)"
    )
    parser.add_argument("--statements", type=int, default=3000, help="statements for ingest (default 3000)")
    parser.add_argument(
        "--e2e-statements", type=int, default=1000, help="statements end to end (default 1000)"
    )
    parser.add_argument(
        "--accounts", type=int, default=40, help="accounts (Service Bus sessions), default 40"
    )
    parser.add_argument("--json", type=Path, help="write every result here")
    args = parser.parse_args(argv)
    began = time.monotonic()
    commit = git("rev-parse", "--short", args.baseline)
    head = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
        parent = Path(folder)
        driver = parent / "driver" / "pipeline_driver.py"  # outside both trees: imports resolve to the tree
        driver.parent.mkdir()
        shutil.copy2(DRIVER, driver)
        with baseline_tree(commit, parent) as base:
            trees = {"baseline": base, "current": ROOT}
            for number, name, tree, mode, statements, processes in plan(
                args.rounds, trees, args.statements, args.e2e_statements
            ):
                print(f"== round {number}: {name} ({statements} statements)", flush=True)
                work = parent / f"{number}-{name.replace('@', '-')}"
                result = measure(trees[tree], driver, work, mode, statements, args.accounts, processes)
                result["round"] = number
                results.setdefault(name, []).append(result)
                print(f"   {result['rate_per_s']} statements/s, took {result['took_s']} s", flush=True)
    found = ratios(results)
    summary: dict[str, Any] = {
        "baseline": commit,
        "current": f"{head}{' + uncommitted changes' if dirty else ''}",
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores",
        "rounds": args.rounds,
        "took_s": round(time.monotonic() - began, 1),
        "ratios": found,
        "results": results,
    }
    print()
    print(f"baseline {summary['baseline']}, current {summary['current']}, {summary['machine']}")
    print(table(results))
    print()
    print(ratio_table(found))
    print(f"took {summary['took_s']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

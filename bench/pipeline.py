"""Ingest and end-to-end benchmark, baseline against the current tree in ONE run (issue 15):
``python -m bench.pipeline`` (``make bench-pipeline``).

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
  2 where the tree supports ``BRIDGE_RUNNER_PROCESSES`` (the baseline does not).

Measurements alternate between the trees (ingest baseline, ingest current, e2e baseline, e2e current,
e2e current with 2 runner processes), each on a fresh private stack, so both sides of a ratio ran
minutes apart under the same machine load. Prints a table and the ratios, writes everything as JSON
(``--json``). Targets of the issue: ingest >= 3x the baseline, end-to-end >= 2x with the runner in 2
processes. Timings are of this machine (2 cores shared with the local servers), not Azure's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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


def ratio(new: float | None, old: float | None) -> str:
    return f"{new / old:.2f}x" if new and old else "n/a"


def table(results: dict[str, dict[str, Any]]) -> str:
    """The Markdown table of docs/benchmarks.md."""
    lines = [
        "| measurement | tree | statements/s | busy or steady /s | CPU ms per statement (process: ms) |",
        "|---|---|---:|---:|---|",
    ]
    for name, result in results.items():
        kind, tree = name.split("@")
        steady = result.get("busy_rate_per_s") or result.get("steady_rate_per_s")
        cpu = ", ".join(f"{k}: {v:.2f}" for k, v in result["cpu_ms_per_statement"].items())
        lines.append(f"| {kind} | {tree} | {result['rate_per_s']:.1f} | {steady or '-'} | {cpu} |")
    return "\n".join(lines)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    def rate(name: str) -> float | None:
        found = results.get(name)
        return None if found is None else float(found["rate_per_s"])

    return {
        "ingest current/baseline (target >= 3x)": ratio(rate("ingest@current"), rate("ingest@baseline")),
        "e2e 1 runner process current/baseline": ratio(rate("e2e-1@current"), rate("e2e-1@baseline")),
        "e2e 2 runner processes current / baseline 1 (target >= 2x)": ratio(
            rate("e2e-2@current"), rate("e2e-1@baseline")
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", default=BASELINE, help=f"the commit to compare with (default {BASELINE})"
    )
    parser.add_argument("--statements", type=int, default=4000, help="statements for ingest (default 4000)")
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
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
        parent = Path(folder)
        driver = parent / "driver" / "pipeline_driver.py"  # outside both trees: imports resolve to the tree
        driver.parent.mkdir()
        shutil.copy2(DRIVER, driver)
        with baseline_tree(commit, parent) as base:
            trees = {"baseline": base, "current": ROOT}
            plan: list[tuple[str, str, str, int, int]] = []
            for tree in trees:
                plan.append((f"ingest@{tree}", tree, "ingest", args.statements, 1))
            for tree in trees:
                plan.append((f"e2e-1@{tree}", tree, "e2e", args.e2e_statements, 1))
            for tree, path in trees.items():
                if supports_runner_processes(path):
                    plan.append((f"e2e-2@{tree}", tree, "e2e", args.e2e_statements, 2))
            results: dict[str, dict[str, Any]] = {}
            for name, tree, mode, statements, processes in plan:
                print(f"== {name} ({statements} statements)", flush=True)
                work = parent / name.replace("@", "-")
                results[name] = measure(trees[tree], driver, work, mode, statements, args.accounts, processes)
                print(
                    f"   {results[name]['rate_per_s']} statements/s, took {results[name]['took_s']} s",
                    flush=True,
                )
    found = ratios(results)
    summary: dict[str, Any] = {
        "baseline": commit,
        "current": f"{head}{' + uncommitted changes' if dirty else ''}",
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores",
        "took_s": round(time.monotonic() - began, 1),
        "ratios": found,
        "results": results,
    }
    print()
    print(f"baseline {summary['baseline']}, current {summary['current']}, {summary['machine']}")
    print(table(results))
    for label, value in found.items():
        print(f"{label}: {value}")
    print(f"took {summary['took_s']} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

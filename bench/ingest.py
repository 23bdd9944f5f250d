"""QueueBuilder ingest alone: the commit before the WAL segments against this tree, in one run.

Command (docs/benchmarks.md, "QueueBuilder ingest: one WAL segment per unit of work")::

    .venv/bin/python -m bench.ingest --base 06b6918 --statements 1000 --rounds 3

``--base`` is checked out into a temporary git worktree; both trees then run the SAME measurement on
one private local stack (Azurite for both regions' WAL, the Service Bus endpoint, the Cosmos server,
Redis; :class:`dev.stack.Stack` on free ports), each in a fresh child process whose imports come from
its tree (``PYTHONPATH``), so only the project's code differs. A child gets its own inbox folder, WAL
container and Cosmos database, so neither contender sees the other's state:

1. it builds DC04 exactly as the local host does (:func:`dev.settings.dev_region`: production adapters,
   folder inbox instead of IBM MQ; the host's fast settings with a 900 s lease, because no Watchdog
   renews it during the measurement), ticks the Watchdog until the region may ingest;
2. the parent has already put ``--statements`` camt.053 statements in its inbox (the drill's generator,
   :func:`dev.drill.generator.plan`: 1-6 entries, every 25th one large, 40 accounts; fresh message ids
   per child, so Service Bus duplicate detection drops nothing);
3. it calls ``QueueBuilder.run`` (8 s budget, the Azure drain) until every statement is ingested, and
   reports the wall time and its process CPU time (``time.process_time``: every thread of the child,
   the Azure SDKs' included) from the first run to the last.

Rounds alternate the contenders (base, head, base, head, ...) so each ratio compares runs minutes apart
under the same load; the table gives each round and the median. Nothing here is a test: the figures
are what this machine measured (docs/benchmarks.md says where local timing differs from Azure's).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from dev.adapters.folder_mq import put_message
from dev.drill.generator import plan
from dev.host import LocalHost
from dev.stack import ROOT, Stack, free_port_base

#: The child: runs inside one tree (``sys.path[0]`` = that tree), prints one JSON line.
CHILD = r"""
import json, sys, time
from dev.settings import dev_region
from shared.errors import RegionNotActive

components, _ = dev_region()
region = components.settings.region
deadline = time.monotonic() + 120
while True:
    components.watchdog.tick()
    try:
        components.queue_builder.gate.check(region)
        break
    except RegionNotActive:
        if time.monotonic() > deadline:
            raise SystemExit("the region never became active")
        time.sleep(0.5)
wanted, ingested, runs = int(sys.argv[1]), 0, 0
cpu, wall = time.process_time(), time.perf_counter()
while ingested < wanted and time.perf_counter() - wall < 600:
    summary = components.queue_builder.run(budget_s=8.0)
    if summary["outcome"] != "drained":
        raise SystemExit(f"a QueueBuilder run ended {summary}")
    ingested += int(summary["ingested"])
    runs += 1
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"ingested": ingested, "runs": runs, "wall_s": wall, "cpu_s": cpu}))
"""


def _worktree(commit: str, where: Path) -> Path:
    tree = where / f"base-{commit}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True)
    return tree


def _measure(
    tree: Path, label: str, stack_env: dict[str, str], run_dir: Path, statements: int
) -> dict[str, float]:
    """One child run of ``tree`` on the shared stack, with state of its own."""
    tag = f"{label}{uuid.uuid4().hex[:8]}"
    host = LocalHost(stack_env, state=run_dir / tag)
    env = host.region_env(
        "DC04",
        {
            "WAL_CONTAINER": f"bench-{tag}",
            "COSMOS_DATABASE": f"bench-{tag}",
            "QUEUE_BUILDER_DRAIN_S": "8",
            "LEASE_S": "900",  # no Watchdog runs beside the QueueBuilder to renew the drill's 6 s lease
        },
    )
    for planned in plan(statements, seed=11):
        put_message(host.inbox, f"{uuid.uuid4().hex}{planned.message_id[:16]}", planned.body)
    child_env = {**os.environ, **env, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(statements)],
        cwd=tree,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["ingested"] < statements:
        raise SystemExit(f"{label} ingested {result['ingested']} of {statements}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit before the change (e.g. 06b6918)")
    parser.add_argument("--statements", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    base = _worktree(args.base, work)
    stack = Stack(ROOT, free_port_base(17300), work / "stack")
    rows: list[tuple[int, str, dict[str, float]]] = []
    try:
        stack_env = stack.up()
        for round_no in range(1, args.rounds + 1):
            for label, tree in (("base", base), ("head", ROOT)):
                result = _measure(tree, label, stack_env, work, args.statements)
                rows.append((round_no, label, result))
                print(
                    f"round {round_no} {label}: {result['ingested']:.0f} in {result['wall_s']:.2f} s "
                    f"({result['ingested'] / result['wall_s']:.1f}/s), CPU {result['cpu_s']:.2f} s "
                    f"({1000 * result['cpu_s'] / result['ingested']:.2f} ms per statement)",
                    flush=True,
                )
    finally:
        stack.down()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    _table(rows, args)
    return 0


def _table(rows: list[tuple[int, str, dict[str, float]]], args: argparse.Namespace) -> None:
    def rate(result: dict[str, float]) -> float:
        return result["ingested"] / result["wall_s"]

    def cpu_ms(result: dict[str, float]) -> float:
        return 1000 * result["cpu_s"] / result["ingested"]

    by_round: dict[int, dict[str, dict[str, float]]] = {}
    for round_no, label, result in rows:
        by_round.setdefault(round_no, {})[label] = result
    print(f"\nQueueBuilder ingest, {args.statements} statements, base {args.base} against this tree")
    print("| round | base /s | head /s | ratio | base CPU ms/stmt | head CPU ms/stmt | CPU ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    ratios, cpu_ratios = [], []
    for round_no, pair in sorted(by_round.items()):
        base, head = pair["base"], pair["head"]
        ratios.append(rate(head) / rate(base))
        cpu_ratios.append(cpu_ms(base) / cpu_ms(head))
        print(
            f"| {round_no} | {rate(base):.1f} | {rate(head):.1f} | {ratios[-1]:.2f}× | {cpu_ms(base):.2f} | "
            f"{cpu_ms(head):.2f} | {cpu_ratios[-1]:.2f}× |"
        )
    print(f"| median | | | {statistics.median(ratios):.2f}× | | | {statistics.median(cpu_ratios):.2f}× |")


if __name__ == "__main__":
    raise SystemExit(main())

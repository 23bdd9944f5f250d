"""``python -m dev.drill --scenario <name|all>`` (``make demo`` runs ``default``; ``make drill``).

Starts a private local stack and both regions, feeds camt.053 statements into the inbox, runs the
scenario's faults, waits (bounded) until every statement is delivered or quarantined, stops
everything, prints a summary and writes ``out/drill/report.json`` and ``out/drill/timeline.png``.
Exit status 0 when every promise held, 1 otherwise. See docs/drill.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dev.drill.matrix import execute
from dev.drill.report import summary
from dev.drill.scenarios import SCENARIOS
from dev.stack import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.drill", description=__doc__)
    parser.add_argument("--scenario", default="default", help=f"one of {', '.join(SCENARIOS)}, or all")
    parser.add_argument("--statements", type=int, default=300, help="statements per scenario")
    parser.add_argument("--rate", type=float, default=25.0, help="statements put per second")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the outbox")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "drill")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if args.scenario != "all" and args.scenario not in SCENARIOS:
        parser.error(f"unknown scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}, all")
    result = execute(
        names, args.out, args.statements, args.rate, args.timeout, lambda line: print(line, flush=True)
    )
    print()
    print(summary(result))
    print(f"report: {args.out / 'report.json'}   timeline: {args.out / 'timeline.png'}")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

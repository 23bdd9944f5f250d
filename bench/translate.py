"""Translation benchmark: ``python -m bench.translate`` (``make bench``).

Builds camt.053 statements of 1k, 10k and 50k entries (bench/statements.py, fixed seed), then, for
each file and each contender, runs a fresh child process that loads the file, runs the contender
``--repeat`` times and reports its best CPU time and the peak RSS of its first run:

* ``iterparse`` — a bare ``lxml.etree.iterparse`` loop over every element (the baseline);
* ``translate`` — :func:`transformation_runner.translate.translate` to MT950 (all messages and the
  report in memory);
* ``mt940`` — the same to MT940 (every entry with its ``:86:``);
* ``stream`` / ``stream940`` — :func:`transformation_runner.translate.iter_pages` to MT950 / MT940,
  pages written to /dev/null;
* ``pycamt`` — ``pycamt.Camt053Parser(...).get_transactions()`` (a whole-tree camt.053 parser; run
  once, and only up to ``--pycamt-max`` entries: its time grows with the square of the size).

CPU time (``time.process_time``) rather than wall time, so a busy machine disturbs the ratio less.
Peak RSS is the child's ``VmHWM`` (``ru_maxrss`` would inherit the parent's peak across fork/exec).
Results are printed as a Markdown table for docs/benchmarks.md. Goals: translate ≤ 2.5× iterparse,
peak RSS < 150 MB at 50k entries and flat as the size grows; MT940 within 10 % of MT950 in CPU time
and peak RSS (each round runs both on the same file, back to back, so the ratio compares runs made
under the same machine load).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from lxml import etree
from pycamt.parser import Camt053Parser

from bench.statements import StatementSpec, build, random_entries
from transformation_runner.translate import TranslationOptions, iter_pages, translate

CONTENDERS = ("iterparse", "translate", "mt940", "stream", "stream940", "pycamt")
SENDER, RECEIVER = "COBADEFFXXX", "DEUTDEFFXXX"


def _iterparse(body: bytes) -> None:
    for _ in etree.iterparse(BytesIO(body), events=("end",)):
        pass


def _options(target: str) -> TranslationOptions:
    return TranslationOptions(sender_bic=SENDER, receiver_bic=RECEIVER, format=target)


def _translate(body: bytes, target: str = "MT950") -> None:
    translate(body, _options(target))


def _stream(body: bytes, target: str = "MT950") -> None:
    with open("/dev/null", "w") as sink:
        for page in iter_pages(body, _options(target)):
            sink.write(page.message)


def _pycamt(body: bytes) -> None:
    parser = Camt053Parser(body)
    parser.get_statement_info()
    parser.get_transactions()


RUNNERS: dict[str, Callable[[bytes], None]] = {
    "iterparse": _iterparse,
    "translate": _translate,
    "mt940": lambda body: _translate(body, "MT940"),
    "stream": _stream,
    "stream940": lambda body: _stream(body, "MT940"),
    "pycamt": _pycamt,
}


def child(contender: str, path: Path, repeat: int) -> None:
    """Run one contender on one file in this (fresh) process; print JSON on stdout."""
    body = path.read_bytes()
    run = RUNNERS[contender]
    start = time.process_time()
    run(body)
    best = time.process_time() - start
    # Peak RSS of one run; repeats would add the allocator's leftovers from earlier runs.
    peak_kb = _peak_rss_kb()
    for _ in range(repeat - 1):
        start = time.process_time()
        run(body)
        best = min(best, time.process_time() - start)
    print(json.dumps({"seconds": best, "peak_rss_mb": peak_kb / 1024, "body_mb": len(body) / 2**20}))


def _peak_rss_kb() -> int:
    """VmHWM of this process image: ``ru_maxrss`` would carry the parent's peak across fork/exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(contender: str, path: Path, repeat: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.translate", "--child", contender, str(path), "--repeat", str(repeat)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.translate")
    parser.add_argument("--sizes", default="1000,10000,50000", help="entries per statement, comma-separated")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per child, more below 10k entries (best kept)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh children per contender and size (median is shown)"
    )
    parser.add_argument(
        "--pycamt-max", type=int, default=10_000, help="largest size given to pycamt (its time grows ~n^2)"
    )
    parser.add_argument("--child", nargs=2, metavar=("CONTENDER", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), args.repeat)
        return 0
    print(
        f"python {platform.python_version()}, {platform.machine()}, repeat={args.repeat}, "
        f"rounds={args.rounds}, CPU seconds (median over rounds of the best of each child)"
    )
    print()
    print(
        "| entries | file MB | iterparse s | MT950 s | ratio (min–max) | MT940 s | MT940/MT950 (min–max) "
        "| stream s | stream940 s | pycamt s | peak RSS MB: iterparse / MT950 / MT940 / stream / stream940 "
        "/ pycamt |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(folder) / f"camt053_{size}.xml"
            path.write_bytes(
                build([StatementSpec(entries=random_entries(size, seed=size))], app_header=False)
            )
            print(_row(size, path, args), flush=True)
    return 0


def _row(size: int, path: Path, args: argparse.Namespace) -> str:
    """One table row: every round runs the contenders back to back, so each ratio compares runs made
    under the same machine load; the row shows the median ratio and its range over the rounds."""
    # Small files run more often per child (best of up to 30), so a row is never a single 30 ms sample.
    repeat = min(30, max(args.repeat, args.repeat * 10_000 // size))
    rounds = [{name: measure(name, path, repeat) for name in CONTENDERS[:-1]} for _ in range(args.rounds)]
    first = dict(rounds[0])
    if size <= args.pycamt_max:
        first["pycamt"] = measure("pycamt", path, 1)

    def median(name: str) -> float:
        return statistics.median(r[name]["seconds"] for r in rounds)

    ratios = sorted(r["translate"]["seconds"] / r["iterparse"]["seconds"] for r in rounds)
    formats = sorted(r["mt940"]["seconds"] / r["translate"]["seconds"] for r in rounds)
    rss = " / ".join(f"{first[n]['peak_rss_mb']:.0f}" if n in first else "-" for n in CONTENDERS)
    pycamt = f"{first['pycamt']['seconds']:.2f}" if "pycamt" in first else "not run"
    return (
        f"| {size:,} | {first['iterparse']['body_mb']:.1f} | {median('iterparse'):.2f} | "
        f"{median('translate'):.2f} | {statistics.median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f}) | "
        f"{median('mt940'):.2f} | {statistics.median(formats):.3f}× ({formats[0]:.3f}–{formats[-1]:.3f}) | "
        f"{median('stream'):.2f} | {median('stream940'):.2f} | {pycamt} | {rss} |"
    )


if __name__ == "__main__":
    sys.exit(main())

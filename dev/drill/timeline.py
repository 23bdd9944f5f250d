"""``out/drill/timeline.png``: per message, when it was put on the inbox and when (and by which region)
it was first delivered; the drill's events (kills, promotions, failover) as numbered vertical lines,
listed by number beside the plot; and a results box with each promise and the figure that proves it.

Event labels never overlap the plot, the title or each other: the plot carries only the numbers
(staggered into rows where events are close), the names are in the list on the right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from dev.drill.counting import Delivery
from dev.drill.generator import Produced
from dev.drill.harness import Event
from dev.drill.report import EXPLAINED, promises
from shared.model import delivery_key_for

COLOURS = {"DC04": "tab:blue", "DC06": "tab:orange"}
SHOWN_EVENTS = ("kill", "flip", "activated", "failover", "exited", "cut", "hold", "restore", "stop", "start ")
#: Two event numbers closer than this share of the x range go into different rows.
MIN_GAP = 0.035
ROWS = 4
FONT = 8.5
LINE_SPACING = 1.2  # matplotlib's default linespacing for multi-line text


def _rows(xs: Sequence[float], span: float) -> list[int]:
    """A row per event (sorted by x) so that numbers in one row are at least ``MIN_GAP`` apart."""
    last: list[float | None] = [None] * ROWS
    rows = []
    for x in xs:
        row = next((r for r, at in enumerate(last) if at is None or x - at >= MIN_GAP * span), ROWS - 1)
        last[row] = x
        rows.append(row)
    return rows


def _events(axes: Axes, events: Sequence[Event], origin: float) -> list[str]:
    """Numbered lines on ``axes``; return the list lines ``"n  t s  name"``."""
    shown = [e for e in sorted(events, key=lambda e: e.at) if any(w in e.name for w in SHOWN_EVENTS)]
    shown = [e for e in shown if e.at >= origin - 5]
    xs = [e.at - origin for e in shown]
    low, high = axes.get_xlim()
    top = blended_transform_factory(axes.transData, axes.transAxes)
    listed = []
    for number, (event, x, row) in enumerate(zip(shown, xs, _rows(xs, high - low), strict=True), start=1):
        axes.axvline(x, color="grey", linestyle="--", linewidth=0.8, zorder=0)
        axes.text(
            x,
            0.97 - row * 0.055,
            str(number),
            transform=top,
            ha="center",
            va="center",
            fontsize=7,
            bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white", "edgecolor": "grey"},
        )
        listed.append(f"{number:>2}  {x:6.1f} s  {event.name}")
    return listed


def _results(report: Mapping[str, Any]) -> list[str]:
    verdict = "ALL PROMISES HELD" if report.get("ok") else "SOME PROMISE BROKEN"
    lines = [verdict]
    lines += [f"{'held' if held else 'BROKEN'} {name}: {figure}" for name, figure, held in promises(report)]
    lines.append(
        f"in doubt {report.get('in_doubt_statements')}, same-key repeats {report.get('same_key_repeats')}"
    )
    failover = report.get("failover") or {}
    if failover.get("total_s") is not None:
        lines.append(
            f"failover {failover['total_s']} s (detect {failover['detect_s']}, promote "
            f"{failover['promote_s']}, first delivery {failover['first_delivery_s']}), local settings"
        )
    return lines


def _height(axes: Axes, lines: int) -> float:
    """The height of ``lines`` lines of :data:`FONT`-point text, as a fraction of ``axes``."""
    pixels = axes.get_window_extent().height
    return lines * FONT * LINE_SPACING * axes.figure.dpi / 72 / pixels


def _wrap(text: str, width: int = 56) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def draw(
    produced: Sequence[Produced],
    deliveries: Sequence[Delivery],
    events: Sequence[Event],
    path: Path,
    title: str,
    report: Mapping[str, Any] | None = None,
) -> None:
    """Write the picture to ``path`` (PNG); ``report`` (the scenario's report) fills the results box."""
    if not produced:
        return
    origin = min(p.put_at for p in produced)
    first: dict[str, Delivery] = {}
    for delivery in deliveries:
        if delivery.outcome == "delivered":
            first.setdefault(delivery.key, delivery)
    figure, (axes, side) = plt.subplots(
        1, 2, figsize=(15, 7), dpi=100, gridspec_kw={"width_ratios": [2.2, 1]}
    )
    index = {p.message_id: n for n, p in enumerate(produced)}
    axes.scatter(
        [p.put_at - origin for p in produced],
        [index[p.message_id] for p in produced],
        s=4,
        c="lightgrey",
        label="put on the inbox",
    )
    for region, colour in COLOURS.items():
        points = [
            (first[k].at - origin, index[p.message_id])
            for p in produced
            if (k := delivery_key_for(p.message_id)) in first and first[k].region == region
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.scatter(xs, ys, s=6, c=colour, label=f"delivered by {region}")
    bad = [index[p.message_id] for p in produced if p.bad]
    if bad:
        axes.scatter(
            [produced[n].put_at - origin for n in bad], bad, s=30, marker="x", c="red", label="bad body"
        )
    axes.set_ylim(-0.02 * len(produced), len(produced) * 1.3)  # headroom for the event numbers
    axes.set_xlabel("seconds since the first put")
    axes.set_ylabel("message (put order)")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize=8)
    listed = _events(axes, events, origin)

    side.axis("off")
    figure.tight_layout()
    below: list[str] = []
    if report is not None:
        results = [line for entry in _results(report) for line in _wrap(entry)]
        colour = "#e6f4ea" if report.get("ok") else "#fce8e6"
        box = {"boxstyle": "round,pad=0.6", "facecolor": colour, "edgecolor": "grey"}
        side.text(0.02, 0.99, "\n".join(results), va="top", family="monospace", fontsize=FONT, bbox=box)
        below += [line for entry in EXPLAINED for line in _wrap(entry)]
        below.append("")
        offset = _height(side, len(results) + 2)
    else:
        offset = 0.0
    below += ["Events (numbered in the plot)", *listed]
    side.text(0.02, 0.99 - offset, "\n".join(below), va="top", family="monospace", fontsize=FONT)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)

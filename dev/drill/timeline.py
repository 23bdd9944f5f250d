"""``out/drill/timeline.png``: per message, when it was put on the inbox and when (and by which region)
it was first delivered; the drill's events (kills, promotions, failover) as labelled vertical lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dev.drill.counting import Delivery
from dev.drill.generator import Produced
from dev.drill.harness import Event
from shared.model import delivery_key_for

COLOURS = {"DC04": "tab:blue", "DC06": "tab:orange"}
SHOWN_EVENTS = ("kill", "flip", "activated", "failover", "exited", "cut", "hold", "restore", "stop", "start ")


def draw(
    produced: Sequence[Produced],
    deliveries: Sequence[Delivery],
    events: Sequence[Event],
    path: Path,
    title: str,
) -> None:
    """Write the picture to ``path`` (PNG)."""
    if not produced:
        return
    origin = min(p.put_at for p in produced)
    first: dict[str, Delivery] = {}
    for delivery in deliveries:
        if delivery.outcome == "delivered":
            first.setdefault(delivery.key, delivery)
    figure, axes = plt.subplots(figsize=(12, 6), dpi=100)
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
    for event in sorted(events, key=lambda e: e.at):
        if any(word in event.name for word in SHOWN_EVENTS) and event.at >= origin - 5:
            axes.axvline(event.at - origin, color="grey", linestyle="--", linewidth=0.8)
            axes.text(event.at - origin, len(produced) * 1.01, event.name, rotation=60, fontsize=7)
    axes.set_xlabel("seconds since the first put")
    axes.set_ylabel("message (put order)")
    axes.set_title(title, pad=40)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)

"""The demo's proof explains itself (no services): the summary names each promise with its figure and
explains "in doubt" and "same-key repeats"; report.json keeps the two in-doubt counts apart; the
timeline has a results box and event numbers that never share a spot."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image

from dev.drill import report, timeline
from dev.drill.counting import Counts, Delivery
from dev.drill.generator import Produced
from dev.drill.harness import Event
from shared.model import delivery_key_for


def a_report(**changes: int) -> dict[str, object]:
    counts = Counts(produced=60)
    counts.delivered_unique, counts.quarantined, counts.bad, counts.bad_failed = 57, 3, 3, 3
    counts.in_doubt_statements, counts.same_key_repeats = 2, 1
    for name, value in changes.items():
        setattr(counts, name, value)
    failover = {"detect_s": 4.2, "promote_s": 3.5, "first_delivery_s": 0.8, "total_s": 8.5}
    extra = {"failover": failover, "region_counters": {"DC04": {"in_doubt": 5.0}}}
    return report.scenario_report("default", counts, extra)


def test_the_two_in_doubt_counts_have_distinct_names() -> None:
    result = a_report()
    assert (result["in_doubt_statements"], result["same_key_repeats"]) == (2, 1)
    assert "in_doubt" not in result and "in_doubt_redelivered_same_key" not in result
    assert result["region_counters"] == {"DC04": {"in_doubt": 5.0}}  # the process's own, kept apart
    assert report.combined([result, result])["in_doubt_statements"] == 4


def test_the_summary_names_every_promise_with_its_figure_and_explains_the_terms() -> None:
    text = report.summary(a_report())
    for line in (
        "  held    no data loss            lost 0 of 60",
        "  held    no duplicate delivery   duplicates 0",
        "  held    order kept per account  inversions 0",
        "  held    one active region       0.0 s with both regions delivering",
        "  held    bad input kept          3 of 3 bad bodies quarantined and FAILED",
    ):
        assert line in text.splitlines()
    assert "in doubt 2 (same-key repeats 1)" in text
    assert "  in doubt: statements whose worker stopped between delivering and recording it" in text
    assert "  same-key repeats: such redeliveries that found the key already delivered" in text
    assert "total 8.5 s with the local settings (LEASE_S 6, CLOCK_SKEW_S 1, Watchdog every 1 s" in text
    assert "docs/failover.md, Expected failover time" in text
    assert text.splitlines()[-1] == "ALL PROMISES HELD"


def test_the_matrix_summary_counts_every_promise_over_all_scenarios() -> None:
    # found by the full matrix: the totals lacked good_quarantined, so "good input delivered" read
    # "BROKEN ... None good statements parked" above "ALL PROMISES HELD"
    lines = report.summary(report.combined([a_report(), a_report()])).splitlines()
    assert "  held    good input delivered    0 good statements parked (quarantine, backout queue)" in lines
    assert not [line for line in lines if "BROKEN" in line]
    assert lines[-1] == "ALL PROMISES HELD"
    parked = report.summary(report.combined([a_report(), a_report(good_quarantined=2)])).splitlines()
    assert "  BROKEN  good input delivered    2 good statements parked (quarantine, backout queue)" in parked


def test_a_broken_promise_is_named() -> None:
    text = report.summary(a_report(lost=1))
    assert "  BROKEN  no data loss            lost 1 of 60" in text.splitlines()
    assert text.splitlines()[-1] == "SOME PROMISE BROKEN: see report.json"


def test_close_events_get_different_rows() -> None:
    rows = timeline._rows([0.0, 0.1, 0.2, 5.0, 10.0, 10.05], span=10.0)
    assert rows == [0, 1, 2, 0, 0, 1]


def test_the_timeline_has_room_for_the_results_and_the_events(tmp_path: Path) -> None:
    produced = [Produced(f"{n:048x}", "CH93", n, 100, 1, put_at=1000.0 + n * 0.1) for n in range(30)]
    deliveries = [
        Delivery(delivery_key_for(p.message_id), p.message_id, "CH93", "DC04", 1, p.put_at + 1, "delivered")
        for p in produced
    ]
    events = [Event(1000.0 + t, name) for t, name in ((1.0, "kill -9 DC04"), (1.1, "gate flip -> DC06"))]
    path = tmp_path / "timeline.png"
    timeline.draw(produced, deliveries, events, path, "default: a title", a_report())
    height, width, _ = matplotlib.image.imread(path).shape
    assert (width, height) == (1500, 700)

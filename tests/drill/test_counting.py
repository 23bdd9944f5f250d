"""The drill's counting rules on hand-written outboxes (no services): what counts as lost, duplicate,
in doubt, inverted, and how long both regions delivered at once."""

from __future__ import annotations

import json
from pathlib import Path

from dev.drill.counting import count, inversions, read_deliveries, two_active_seconds
from dev.drill.generator import Produced
from shared.model import delivery_key_for

A, B, C, D = ("a" * 48, "b" * 48, "c" * 48, "d" * 48)


def produced(message_id: str, account: str, order: int, bad: str = "") -> Produced:
    return Produced(message_id, account, order, size=100, entries=1, bad=bad)


def write_outbox(outbox: Path, lines: list[tuple[str, str, str, int, str, str]]) -> None:
    """``(message_id, session, region, epoch, at, outcome)`` per attempt; a ``.fin`` per first delivery."""
    outbox.mkdir(parents=True, exist_ok=True)
    with (outbox / "deliveries.log").open("w") as log:
        for message_id, session, region, epoch, at, outcome in lines:
            key = delivery_key_for(message_id) if len(message_id) == 48 else message_id
            record = {"key": key, "message_id": message_id, "session_id": session, "region": region}
            log.write(json.dumps({**record, "epoch": str(epoch), "at": at, "outcome": outcome}) + "\n")
            if outcome == "delivered":
                (outbox / f"{key}.fin").write_text("payload")


def test_clean_run_counts_zeros(tmp_path: Path) -> None:
    write_outbox(
        tmp_path,
        [
            (A, "X", "DC04", 1, "2026-01-01T00:00:01+00:00", "delivered"),
            (B, "X", "DC06", 2, "2026-01-01T00:00:05+00:00", "delivered"),
        ],
    )
    counts = count(
        [produced(A, "X", 0), produced(B, "X", 1), produced(C, "Y", 0, bad="unbalanced")],
        tmp_path,
        quarantine={C},
        records={C: {"state": "FAILED"}},
    )
    assert (counts.delivered_unique, counts.lost, counts.duplicates, counts.inversions) == (2, 0, 0, 0)
    assert (counts.quarantined, counts.bad_failed, counts.seconds_two_active) == (1, 1, 0.0)
    assert counts.by_region == {"DC04": 1, "DC06": 1}


def test_missing_delivery_is_lost_and_a_delivered_bad_body_is_a_duplicate(tmp_path: Path) -> None:
    write_outbox(tmp_path, [(C, "Y", "DC04", 1, "2026-01-01T00:00:01+00:00", "delivered")])
    counts = count([produced(A, "X", 0), produced(C, "Y", 0, bad="invalid_xml")], tmp_path, set(), {})
    assert counts.lost == 2 and counts.lost_ids == [A, C]
    assert counts.duplicates == 1


def test_foreign_key_is_a_duplicate_and_a_repeat_is_in_doubt_same_key(tmp_path: Path) -> None:
    write_outbox(
        tmp_path,
        [
            (A, "X", "DC04", 1, "2026-01-01T00:00:01+00:00", "delivered"),
            (A, "X", "DC06", 2, "2026-01-01T00:00:09+00:00", "repeat"),
            ("f" * 48 + "-other", "X", "DC06", 2, "2026-01-01T00:00:09+00:00", "delivered"),
        ],
    )
    counts = count([produced(A, "X", 0)], tmp_path, set(), {A: {"attempts": 2}})
    assert counts.duplicates == 1 and counts.foreign_keys == 1
    assert counts.same_key_repeats == 1 and counts.in_doubt_statements == 1


def test_inversion_is_a_first_delivery_after_a_later_one_of_the_same_account(tmp_path: Path) -> None:
    write_outbox(
        tmp_path,
        [
            (B, "X", "DC04", 1, "2026-01-01T00:00:01+00:00", "delivered"),
            (D, "Y", "DC04", 1, "2026-01-01T00:00:02+00:00", "delivered"),
            (A, "X", "DC04", 1, "2026-01-01T00:00:03+00:00", "delivered"),
            (C, "Y", "DC04", 1, "2026-01-01T00:00:04+00:00", "delivered"),
        ],
    )
    items = [produced(A, "X", 0), produced(B, "X", 1), produced(C, "Y", 0), produced(D, "Y", 1)]
    assert inversions(items, read_deliveries(tmp_path)) == 2


def test_two_active_is_the_overlap_of_the_regions_delivery_windows(tmp_path: Path) -> None:
    write_outbox(
        tmp_path,
        [
            (A, "X", "DC04", 1, "2026-01-01T00:00:00+00:00", "delivered"),
            (B, "X", "DC06", 2, "2026-01-01T00:00:07+00:00", "delivered"),
            (C, "Y", "DC04", 1, "2026-01-01T00:00:10+00:00", "delivered"),
            (D, "Y", "DC06", 2, "2026-01-01T00:00:12+00:00", "delivered"),
        ],
    )
    # DC04 epoch 1 spans 0..10 s, DC06 epoch 2 spans 7..12 s: both delivered during 7..10 s.
    assert two_active_seconds(read_deliveries(tmp_path)) == 3.0

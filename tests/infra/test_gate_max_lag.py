"""``GATE_MAX_LAG_S`` (F) keeps its bounds in every configuration we ship (docs/failover.md, "The fence
on a lagging copy" and "What must stay true whatever the values"):

* F < ``HEARTBEAT_TTL_S / 2`` (also refused by ``Settings.from_mapping``): a region cut off from its
  primary stops passing its fence before the peer can judge its heartbeat expired;
* F >= the local stack's ``repl-ping-replica-period``: an idle but healthy replica reports a lag of at
  most that period, so an active region reading it is not fenced between pings.

Checked for both Azure parameter files, local.settings.json.example and the local host's
``FAST_SETTINGS`` (which leaves F at the ``Settings`` default).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from dev.host import FAST_SETTINGS
from dev.stack_services import specs
from shared.settings import Settings
from tests.infra.test_failover_timing import EXAMPLE, REGION_TUNING

DEFAULT = next(f.metadata["default"] for f in fields(Settings) if f.name == "gate_max_lag_s")


def _cases() -> list[tuple[str, float, float]]:
    """(where, GATE_MAX_LAG_S, HEARTBEAT_TTL_S) of every configuration we ship."""
    cases = [
        (f"infra/{name}.bicepparam", float(t["GATE_MAX_LAG_S"]), float(t["HEARTBEAT_TTL_S"]))
        for name, t in REGION_TUNING.items()
    ]
    cases.append(
        (
            "local.settings.json.example",
            float(EXAMPLE["GATE_MAX_LAG_S"]),
            float(EXAMPLE["HEARTBEAT_TTL_S"]),
        )
    )
    cases.append(
        (
            "dev/host.py FAST_SETTINGS",
            float(FAST_SETTINGS.get("GATE_MAX_LAG_S", DEFAULT)),
            float(FAST_SETTINGS["HEARTBEAT_TTL_S"]),
        )
    )
    return cases


def _ping_period_s(tmp: Path) -> float:
    command = specs(tmp, 17000, tmp / "state")["redis-dc04"].command
    return float(command[command.index("--repl-ping-replica-period") + 1])


@pytest.mark.parametrize(("where", "lag", "heartbeat"), _cases(), ids=str)
def test_the_fence_lag_bound_sits_between_the_ping_period_and_half_the_heartbeat_ttl(
    where: str, lag: float, heartbeat: float, tmp_path: Path
) -> None:
    assert lag < heartbeat / 2, f"{where}: GATE_MAX_LAG_S {lag} >= HEARTBEAT_TTL_S / 2 ({heartbeat / 2})"
    assert lag >= _ping_period_s(tmp_path), f"{where}: GATE_MAX_LAG_S {lag} below the replica ping period"


def test_both_regions_use_the_same_bound() -> None:
    assert REGION_TUNING["dc04"]["GATE_MAX_LAG_S"] == REGION_TUNING["dc06"]["GATE_MAX_LAG_S"]

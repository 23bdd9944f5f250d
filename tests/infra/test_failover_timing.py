"""The failover timing settings keep the invariants of docs/failover.md ("What must stay true").

For the Azure parameter files, the local example settings and the local host's defaults:

* ``HEARTBEAT_TTL_S`` >= 2 x the Watchdog interval: a live region beats every interval, so its key
  never expires between beats, and the gate copy bound ``HEARTBEAT_TTL_S / 2`` holds
  (watchdog/controller.py ``gate_lag_bound_s``);
* ``HEARTBEAT_TTL_S`` > ``GATE_CACHE_TTL_S`` (also refused by ``Settings.from_mapping``);
* ``LEASE_S`` - ``LEASE_GUARD_S`` >= 2 x the Watchdog interval: one failed renewal never closes the
  active region's fences (docs/failover.md, "What must stay true").

The Watchdog interval is the longest gap between two firings of ``WATCHDOG_SCHEDULE``, an NCRONTAB
expression with seconds (``{second} {minute} {hour} {day} {month} {day-of-week}``,
https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions).
The small reader below supports what the project uses in the second and minute fields (``*``,
``N``, ``*/N``, comma lists of those) and ``*`` elsewhere; anything else fails the test loudly.
The Azure column of the tunables table in docs/failover.md must state the parameter files' values.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest

from dev.host import AZURE_TIMING, FAST_SETTINGS
from dev.settings import DEV_FOLDERS, DevSettings
from tests.infra.bicep import INFRA, ROOT, parse_bicepparam

REGION_TUNING = {
    name: parse_bicepparam(INFRA / f"{name}.bicepparam").values["tuning"] for name in ("dc04", "dc06")
}
EXAMPLE = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]


def _field(text: str, size: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if part == "*":
            values.update(range(size))
        elif part.startswith("*/") and part[2:].isdigit() and int(part[2:]) > 0:
            values.update(range(0, size, int(part[2:])))
        elif part.isdigit() and int(part) < size:
            values.add(int(part))
        else:
            raise ValueError(f"unsupported NCRONTAB field {text!r}")
    return values


def ncrontab_interval_s(expression: str) -> int:
    """The longest gap in seconds between two firings of a six-field NCRONTAB expression."""
    parts = expression.split()
    if len(parts) != 6 or any(p != "*" for p in parts[2:]):
        raise ValueError(f"unsupported NCRONTAB expression {expression!r}")
    seconds, minutes = _field(parts[0], 60), _field(parts[1], 60)
    firings = sorted(m * 60 + s for m in minutes for s in seconds)
    gaps = [b - a for a, b in itertools.pairwise(firings)]
    gaps.append(firings[0] + 3600 - firings[-1])  # the hour wraps (hours are all "*")
    return max(gaps)


def test_the_ncrontab_reader() -> None:
    assert ncrontab_interval_s("*/15 * * * * *") == 15
    assert ncrontab_interval_s("*/5 * * * * *") == 5
    assert ncrontab_interval_s("* * * * * *") == 1
    assert ncrontab_interval_s("0 */5 * * * *") == 300
    assert ncrontab_interval_s("0 * * * * *") == 60
    assert ncrontab_interval_s("*/25 * * * * *") == 25  # 0, 25, 50: the longest gap counts
    assert ncrontab_interval_s("0,10 * * * * *") == 50
    for bad in ("*/15 * * * *", "0 0 */2 * * *", "1-5 * * * * *", "*/0 * * * * *"):
        with pytest.raises(ValueError, match="unsupported"):
            ncrontab_interval_s(bad)


def _configurations(first: str, second: str) -> list[tuple[str, float, float, float]]:
    """(where, setting ``first``, setting ``second``, Watchdog interval) of every configuration we ship:
    both parameter files, the example settings and the local host's FAST_SETTINGS."""
    dev = DevSettings.from_mapping({**FAST_SETTINGS, **dict.fromkeys(DEV_FOLDERS, "/unused")})
    cases = [
        (
            f"infra/{name}.bicepparam",
            float(tuning[first]),
            float(tuning[second]),
            float(ncrontab_interval_s(tuning["WATCHDOG_SCHEDULE"])),
        )
        for name, tuning in REGION_TUNING.items()
    ]
    cases.append(
        (
            "local.settings.json.example",
            float(EXAMPLE[first]),
            float(EXAMPLE[second]),
            float(ncrontab_interval_s(EXAMPLE["WATCHDOG_SCHEDULE"])),
        )
    )
    cases.append(
        (
            "dev/host.py AZURE_TIMING",
            float(AZURE_TIMING[first]),
            float(AZURE_TIMING[second]),
            float(AZURE_TIMING["WATCHDOG_INTERVAL_S"]),
        )
    )
    cases.append(
        (
            "dev/host.py FAST_SETTINGS",
            float(FAST_SETTINGS[first]),
            float(FAST_SETTINGS[second]),
            dev.watchdog_interval_s,
        )
    )
    return cases


def _cases() -> list[tuple[str, float, float, float]]:
    """(where, heartbeat TTL, gate cache TTL, Watchdog interval) of every configuration we ship."""
    return _configurations("HEARTBEAT_TTL_S", "GATE_CACHE_TTL_S")


@pytest.mark.parametrize(("where", "heartbeat", "cache", "interval"), _cases(), ids=str)
def test_the_heartbeat_outlives_two_watchdog_ticks_and_the_gate_cache(
    where: str, heartbeat: float, cache: float, interval: float
) -> None:
    assert heartbeat >= 2 * interval, f"{where}: HEARTBEAT_TTL_S {heartbeat} < 2 x interval {interval}"
    assert heartbeat > cache, f"{where}: HEARTBEAT_TTL_S {heartbeat} <= GATE_CACHE_TTL_S {cache}"


_ROW = re.compile(r"^\| `([A-Z_]+)`[^|]*\|.*\| \*\*(?:`([^`]+)`|([^*]+))\*\*[^|]*\|$")


def test_the_failover_doc_states_the_azure_values_of_the_parameter_files() -> None:
    rows = {
        m.group(1): (m.group(2) or m.group(3)).strip()
        for line in (ROOT / "docs" / "failover.md").read_text().splitlines()
        if (m := _ROW.match(line))
    }
    checked = set(rows) & set(REGION_TUNING["dc04"])
    assert {"HEARTBEAT_TTL_S", "WATCHDOG_SCHEDULE", "GATE_CACHE_TTL_S"} <= checked
    assert {"LEASE_S", "CLOCK_SKEW_S", "LEASE_GUARD_S"} <= checked
    for name in sorted(checked):
        for region, tuning in REGION_TUNING.items():
            stated = f"docs/failover.md {name}={rows[name]!r}, {region}={tuning[name]!r}"
            assert rows[name] == tuning[name], stated


def _lease_cases() -> list[tuple[str, float, float, float]]:
    """(where, LEASE_S, LEASE_GUARD_S, Watchdog interval) of every configuration we ship."""
    return _configurations("LEASE_S", "LEASE_GUARD_S")


@pytest.mark.parametrize(("where", "lease", "guard", "interval"), _lease_cases(), ids=str)
def test_the_lease_outlives_two_watchdog_ticks_beyond_its_guard(
    where: str, lease: float, guard: float, interval: float
) -> None:
    assert lease - guard >= 2 * interval, f"{where}: LEASE_S {lease} - LEASE_GUARD_S {guard} < 2 x {interval}"


#: Local timer intervals and the schedules they stand in for.
_TIMERS = {"QUEUE_BUILDER_INTERVAL_S": "QUEUE_BUILDER_SCHEDULE", "WATCHDOG_INTERVAL_S": "WATCHDOG_SCHEDULE"}


@pytest.mark.parametrize("region", sorted(REGION_TUNING))
def test_the_drills_azure_timing_is_the_deployed_timing(region: str) -> None:
    """dev/host.py AZURE_TIMING (the drill's ``throughput`` scenario) is the parameter files' values,
    the timers' schedules as intervals, for every timing setting the local host shortens except
    ``COSMOS_WRITE_HOLD_S`` (bound to the local consumer's lock renewal)."""
    tuning = REGION_TUNING[region]
    timing = {name for name in FAST_SETTINGS if name.endswith(("_S", "_MISSES"))} - {"COSMOS_WRITE_HOLD_S"}
    assert set(AZURE_TIMING) == timing
    for name, value in AZURE_TIMING.items():
        if name in _TIMERS:
            deployed = float(ncrontab_interval_s(tuning[_TIMERS[name]]))
        else:
            deployed = float(tuning[name])
        assert float(value) == deployed, f"AZURE_TIMING {name}={value}; {region}.bicepparam {deployed:g}"

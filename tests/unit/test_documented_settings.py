"""Documented settings and failover figures agree with the code, the local host and the parameter files.

The sources of truth: ``shared/settings.py`` (each setting's default, which is also the Azure
recommendation), ``dev/host.py`` ``FAST_SETTINGS`` (the local host and the drill), ``infra/*.bicepparam``
(what is deployed) and ``dev/servicebus/config.py`` (the local Service Bus queue). What is checked:

* every ``(default V)`` a document gives a setting, with its unit (s, min, h, MB);
* the tunables table of docs/failover.md: the Azure column is the code's default, the local column
  ``FAST_SETTINGS`` (or the default where it sets nothing); the Service Bus rows against the parameter
  file and the local queue's defaults;
* docs/failover.md "Expected failover time" (the Cosmos lease protocol): its settings rows, and the
  detect, fence-gap and planned-wait figures recomputed from those settings with the formula the
  document states; the README's table repeats the same figures and settings;
* the runbook's "What happens" paragraph names the deployed values;
* local.settings.json.example holds every setting's default, except the local connection values named
  below with their reason.

When a default or a timing setting changes, this test names every place that still says the old value.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from pathlib import Path

import pytest

from dev.host import FAST_SETTINGS
from dev.servicebus.config import QueueConfig
from shared.settings import Settings
from tests.infra.bicep import INFRA, ROOT, parse_bicepparam
from tests.infra.test_failover_timing import ncrontab_interval_s

DOCS = ROOT / "docs"
DEFAULTS: dict[str, str] = {
    f.metadata["env"]: f.metadata["default"]
    for f in fields(Settings)
    if not f.metadata.get("connection") and f.metadata["default"] is not None
}
TUNING = parse_bicepparam(INFRA / "dc04.bicepparam").values["tuning"]
SHARED = parse_bicepparam(INFRA / "shared.bicepparam").values
UNITS = {"": 1.0, "s": 1.0, "min": 60.0, "h": 3600.0, "MB": 2.0**20}
#: local.settings.json.example values that are local on purpose (the code's default is Azure's).
LOCAL_EXAMPLE = {
    "MQ_MODE": "the folder inbox stands in for IBM MQ locally (default ibmmq)",
    "MESSAGEWAY_MODE": "the folder outbox stands in for MessageWay locally (default ibmmq)",
    "MQ_INBOX_DIR": "folder mode only",
    "MESSAGEWAY_OUTBOX_DIR": "folder mode only",
    "CONSUMPTION_SWITCH_DIR": "local host only (the Watchdog flips a file, not the app setting)",
    "DEFAULT_SENDER_BIC": "example BICs for the drill's statements; empty by default",
    "DEFAULT_RECEIVER_BIC": "example BICs for the drill's statements; empty by default",
    "BRIDGE_ROLE": "the example is DC04's (BRIDGE_REGION), deployed active (dc04.bicepparam role); "
    "the code's default passive never creates the lease",
}
ROLES = {name: parse_bicepparam(INFRA / f"{name}.bicepparam").values["role"] for name in ("dc04", "dc06")}


def local_value(name: str) -> str:
    return FAST_SETTINGS[name] if name in FAST_SETTINGS else DEFAULTS[name]


def same(stated: str, expected: str) -> bool:
    """``stated`` (a document's text, maybe with a unit) equals the setting value ``expected``."""
    stated = stated.strip().strip("`").strip()
    if stated == expected:
        return True
    match = re.fullmatch(r"(-?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(s|min|h|MB)?", stated)
    try:
        number = float(expected)
    except ValueError:
        return False
    if not match:
        return False
    return math.isclose(float(match.group(1).replace(",", "")) * UNITS[match.group(2) or ""], number)


def iso_duration_s(text: str) -> float:
    """``PT1M`` -> 60: the ISO 8601 durations the parameter files use (hours, minutes, seconds)."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", text)
    assert match, f"unsupported duration {text!r}"
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600.0 + minutes * 60.0 + seconds


def table(doc: Path, header_start: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table whose header row starts with ``header_start``."""
    lines = doc.read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def bold(cell: str) -> str:
    match = re.search(r"\*\*(.+?)\*\*", cell)
    assert match, f"no bold value in {cell!r}"
    return match.group(1)


# -- "(default V)" anywhere --------------------------------------------------------------------------

_DEFAULT = re.compile(r"`([A-Z][A-Z0-9_]+)` \(default ([^,;)=]+?)(?:[,;)=]| = )")


def test_every_stated_default_is_the_code_default() -> None:
    found = []
    for doc in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            for name, stated in _DEFAULT.findall(line):
                if name in DEFAULTS:
                    found.append(name)
                    where = f"{doc.relative_to(ROOT)}:{number}"
                    assert same(stated, DEFAULTS[name]), (
                        f"{where}: {name} default {stated!r}, code {DEFAULTS[name]!r}"
                    )
    assert {"REPLAY_INTERVAL_S", "MAX_BODY_BYTES", "QUEUE_BUILDER_BATCH"} <= set(found)


# -- docs/failover.md, the tunables table ------------------------------------------------------------


def tunable_rows() -> list[tuple[str, str, str, str]]:
    """``(azure name, local name, local cell, azure cell)`` of each row naming one setting."""
    rows = []
    for cells in table(DOCS / "failover.md", "| Setting |"):
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        if not names or names[0] not in DEFAULTS or "," in cells[0] or names[0] == "BRIDGE_ROLE":
            continue
        local = re.search(r"`([A-Z][A-Z0-9_]+)` \(local\)", cells[0])
        rows.append((names[0], local.group(1) if local else names[0], cells[3], cells[4]))
    return rows


def test_the_tunables_table_states_the_defaults_and_the_local_values() -> None:
    rows = tunable_rows()
    required = {
        "HEARTBEAT_TTL_S",
        "WATCHDOG_SCHEDULE",
        "CLAIM_LEASE_S",
        "LEASE_S",
        "CLOCK_SKEW_S",
        "LEASE_GUARD_S",
    }
    assert required <= {r[0] for r in rows}
    for name, local_name, local_cell, azure_cell in rows:
        assert same(bold(azure_cell), DEFAULTS[name]), (
            f"failover.md {name}: Azure {azure_cell!r}, code {DEFAULTS[name]!r}"
        )
        assert same(bold(azure_cell), TUNING[name]), (
            f"failover.md {name}: Azure {azure_cell!r}, deployed {TUNING[name]!r}"
        )
        assert same(local_cell, local_value(local_name)), (
            f"failover.md {local_name}: local {local_cell!r}, FAST_SETTINGS {local_value(local_name)!r}"
        )


def test_the_role_row_states_the_deployed_and_local_roles() -> None:
    """``BRIDGE_ROLE`` differs per region: DC04 active, DC06 passive, locally and in the parameter files."""
    cells = next(c for c in table(DOCS / "failover.md", "| Setting |") if c[0] == "`BRIDGE_ROLE`")
    assert ROLES == {"dc04": "active", "dc06": "passive"}
    assert cells[3] == f"DC04 {ROLES['dc04']}, DC06 {ROLES['dc06']}"
    assert "`role`" in bold(cells[4])
    assert DEFAULTS["BRIDGE_ROLE"] == "passive"


def test_the_service_bus_rows_state_the_parameter_file_and_the_local_queue() -> None:
    rows = {cells[0]: cells for cells in table(DOCS / "failover.md", "| Setting |")}
    local = QueueConfig()
    checks = {
        "Service Bus `LockDuration`": (local.lock_duration_s, iso_duration_s(SHARED["lockDuration"])),
        "Service Bus `MaxDeliveryCount`": (local.max_delivery_count, SHARED["maxDeliveryCount"]),
        "Service Bus duplicate detection window": (
            local.dup_window_s,
            iso_duration_s(SHARED["duplicateDetectionWindow"]),
        ),
    }
    for row, (local_value_, azure_value) in checks.items():
        cells = rows[row]
        assert same(cells[3], str(float(local_value_))), f"failover.md {row}: local {cells[3]!r}"
        assert same(bold(cells[4]), str(float(azure_value))), f"failover.md {row}: Azure {cells[4]!r}"


# -- docs/failover.md "Expected failover time", README ------------------------------------------------

SYMBOLS = {
    "L": "LEASE_S",
    "K": "CLOCK_SKEW_S",
    "G": "LEASE_GUARD_S",
    "M": "WATCHDOG_MISSES",
    "C": "GATE_CACHE_TTL_S",
}


def expected_rows() -> dict[str, list[str]]:
    return {cells[0]: cells for cells in table(DOCS / "failover.md", "| | Local (`make demo`")}


def settings_of(column: int) -> dict[str, float]:
    """L, K, G, I, M, C as the table states them in ``column`` (1 local, 2 Azure)."""
    rows = expected_rows()
    values = {}
    for label, cells in rows.items():
        symbol = label.split(" ", 1)[0]
        if symbol in (*SYMBOLS, "I") and len(label.split()) >= 2:
            values[symbol] = float(cells[column])
    return values


def test_the_expected_failover_table_states_the_settings_in_force() -> None:
    local, azure = settings_of(1), settings_of(2)
    assert set(local) == set(azure) == {*SYMBOLS, "I"}
    for symbol, name in SYMBOLS.items():
        assert local[symbol] == float(local_value(name)), f"failover.md local {symbol} ({name})"
        assert azure[symbol] == float(TUNING[name]), f"failover.md Azure {symbol} ({name})"
    assert local["I"] == float(FAST_SETTINGS["WATCHDOG_INTERVAL_S"])
    assert azure["I"] == float(ncrontab_interval_s(TUNING["WATCHDOG_SCHEDULE"]))


def detect_range(v: dict[str, float]) -> tuple[float, float]:
    """The document's formula: L − r + K + (M − 1) × I + up to I, with 0 ≤ r < I: L + K + (M − 1) × I ± I."""
    middle = v["L"] + v["K"] + (v["M"] - 1) * v["I"]
    return middle - v["I"], middle + v["I"]


def _figure(low: float, high: float) -> str:
    return f"{low:g}–{high:g} s"


def _row(prefix: str) -> list[str]:
    return next(cells for label, cells in expected_rows().items() if label.startswith(prefix))


@pytest.mark.parametrize("column", [1, 2], ids=["local", "azure"])
def test_the_expected_figures_follow_from_the_settings(column: int) -> None:
    values = settings_of(column)
    detect = _row("detect")
    assert bold(detect[column]) == _figure(*detect_range(values)), f"failover.md detect: {detect[column]!r}"
    fence = _row("fence gap")
    assert bold(fence[column]) == f"{values['G'] + values['K']:g} s", f"failover.md fence: {fence[column]!r}"
    planned = _row("planned failover")
    assert bold(planned[column]) == f"{values['L'] + values['K']:g} s", (
        f"failover.md planned: {planned[column]!r}"
    )
    expected = _row("**expected")
    assert _figure(*detect_range(values)).split(" s")[0] in expected[column], (
        f"failover.md expected total does not build on the detect figure: {expected[column]!r}"
    )


def test_the_readme_repeats_the_expected_and_measured_figures() -> None:
    expected, measured = _row("**expected"), _row("**measured")
    readme = {cells[0]: cells for cells in table(ROOT / "README.md", "| region death to first delivery")}
    assert readme["expected"][1] == bold(expected[1])
    assert readme["expected"][2].startswith(bold(expected[2]))
    assert readme["measured"][1] == bold(measured[1])
    assert "docs/failover.md#expected-failover-time" in (ROOT / "README.md").read_text()
    detect = _figure(*detect_range(settings_of(2)))
    assert f"detection {detect}" in readme["expected"][2]
    for column, values in ((1, settings_of(1)), (2, settings_of(2))):
        stated = dict(re.findall(r"`([A-Z][A-Z0-9_]+)` (\S+?)[,;)]", readme["settings"][column]))
        assert {"LEASE_S", "CLOCK_SKEW_S", "WATCHDOG_MISSES"} <= set(stated), readme["settings"][column]
        for symbol, name in SYMBOLS.items():
            if name in stated:
                assert same(stated[name], str(values[symbol])), f"README {name} {stated[name]!r}"
        assert f"Watchdog every {values['I']:g} s" in readme["settings"][column]


def test_the_runbook_names_the_deployed_timing() -> None:
    text = (DOCS / "runbook.md").read_text()
    paragraph = text[text.index("**What happens** (the deployed settings") :].split("\n\n", 1)[0]
    stated = dict(re.findall(r"`([A-Z][A-Z0-9_]+)` (\S+?)[,;)]", paragraph))
    assert {"LEASE_S", "CLOCK_SKEW_S", "LEASE_GUARD_S", "WATCHDOG_MISSES"} <= set(stated)
    for name, value in stated.items():
        assert same(value, TUNING[name]), f"runbook.md {name} {value!r}, deployed {TUNING[name]!r}"
    assert f"Watchdog every {ncrontab_interval_s(TUNING['WATCHDOG_SCHEDULE'])} s" in paragraph
    detect = _figure(*detect_range(settings_of(2)))
    assert f"**{detect.replace(' s', ' s after t0')}**" in text


# -- local.settings.json.example ---------------------------------------------------------------------


def test_the_example_settings_hold_the_code_defaults() -> None:
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    for name, value in example.items():
        if name in DEFAULTS and name not in LOCAL_EXAMPLE:
            assert value == DEFAULTS[name], (
                f"local.settings.json.example {name}={value!r}, code {DEFAULTS[name]!r}"
            )
    assert example["BRIDGE_REGION"] == "DC04" and example["BRIDGE_ROLE"] == ROLES["dc04"]
    missing = set(DEFAULTS) - set(example)
    assert not missing, f"local.settings.json.example lacks {sorted(missing)}"

"""The gate is initialised from the regions' deployed roles, not from a hard-coded "DC04".

main.bicep sets ``GATE_INITIAL_ACTIVE`` to the region whose role is ``active`` (its own code when
active, the peer's when passive); the Watchdog initialises the gate to that region when no gate exists
yet. Both regions must name the same region, or the first two Watchdogs would race to initialise
different ones.
"""

from __future__ import annotations

from typing import Any

import pytest

import bootstrap
from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.infra.bicep import INFRA, key, parse_bicep, parse_bicepparam
from tests.unit.test_settings import LOCAL
from tests.unit.twins import twin_ports

MAIN = parse_bicep(INFRA / "main.bicep")
REGION_FILES = [parse_bicepparam(INFRA / f"{r}.bicepparam") for r in ("dc04", "dc06")]


def _evaluate_initial_active(values: dict[str, Any]) -> str:
    """main.bicep's ``initialActive`` for one parameter file, after checking its expression's shape."""
    expression = MAIN["variables"]["initialActive"]["value"]
    assert expression == {
        "operator": {
            "type": "conditional",
            "operands": {"condition": "isPassive", "true_value": "peerRegion", "false_value": "region"},
        }
    }
    return str(values["peerRegion"] if values["role"] == "passive" else values["region"])


def test_the_setting_comes_from_the_role_and_both_regions_agree() -> None:
    settings = {key(k): v for k, v in MAIN["variables"]["appSettingsBase"]["value"].items()}
    assert settings["GATE_INITIAL_ACTIVE"] == "initialActive"
    initial = {f.values["region"]: _evaluate_initial_active(f.values) for f in REGION_FILES}
    active = [f.values["region"] for f in REGION_FILES if f.values["role"] == "active"]
    assert initial == {"DC04": active[0], "DC06": active[0]}


def test_after_a_role_swap_in_the_files_both_regions_name_the_new_active_region() -> None:
    swap = {"active": "passive", "passive": "active"}
    swapped = [{**f.values, "role": swap[f.values["role"]]} for f in REGION_FILES]
    assert {_evaluate_initial_active(values) for values in swapped} == {"DC06"}


@pytest.mark.parametrize("initial", ["DC04", "DC06"])
def test_the_watchdog_initialises_a_missing_gate_to_the_configured_region(initial: str) -> None:
    ports = twin_ports()
    settings = Settings.from_mapping({**LOCAL, "BRIDGE_REGION": "DC06", "GATE_INITIAL_ACTIVE": initial})
    watchdog = bootstrap.wire(settings, ports).watchdog
    assert ports.gate.read() is None
    watchdog.tick()
    state = ports.gate.read()
    assert state is not None and state.active_dc == initial


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="GATE_INITIAL_ACTIVE"):
        Settings.from_mapping({**LOCAL, "GATE_INITIAL_ACTIVE": "DC05"})

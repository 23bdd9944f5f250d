"""infra/deploy.sh, run against stand-ins for ``az``, ``func`` and the deploy host's Python
(tests/infra/standin_azure.py) that record every call as a real one would be asked and keep the
subscription's state between calls and between runs.

Proved here: the passive region (from the LIVE gate) is deployed, published and health-checked before
the active one; every read of live state fails closed on any error but "not found"; and the script
runs twice (and after a Cosmos DB failover) without the second run breaking or moving anything.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, parse_bicep, parse_bicepparam
from tests.infra.standin_azure import OPERATOR_CLIENT_ID, StandinAzure

SCRIPT = INFRA / "deploy.sh"
SHARED = parse_bicepparam(INFRA / "shared.bicepparam").values
CHANGES = ("deployment sub create", "deployment group create", "functionapp publish")


def _app(region: str) -> str:
    # The name naming.bicep gives the function app (nameFormats.functionApp).
    fmt = parse_bicep(INFRA / "naming.bicep")["variables"]["nameFormats"]["value"]["functionApp"]
    return fmt.format(SHARED["workload"], region.lower(), SHARED["suffix"])


def _index(calls: list[str], fragment: str) -> int:
    matches = [i for i, call in enumerate(calls) if fragment in call]
    assert matches, f"no call with {fragment!r} in {calls}"
    return matches[0]


def _changes(calls: list[str]) -> list[str]:
    return [call for call in calls if any(change in call for change in CHANGES)]


@pytest.fixture
def azure(tmp_path: Path) -> StandinAzure:
    return StandinAzure(tmp_path)


def test_first_deployment_both_infrastructures_then_the_active_region_code_first(
    azure: StandinAzure,
) -> None:
    """No gate yet, nothing runs: both regions' infrastructure (each needs the other's private
    endpoints), then the code of the region that will be active (its Watchdog initialises the gate and
    heartbeats, so the passive one does not promote itself), then the passive region's."""
    run = azure.run(SCRIPT, "--yes")
    assert run.code == 0, run.output
    order = [
        _index(run.calls, "bicep build --file"),
        _index(run.calls, "provider show --namespace Microsoft.Cache"),
        _index(run.calls, "cosmosdb show"),
        _index(run.calls, "deployment sub what-if"),
        _index(run.calls, "deployment sub create"),
        _index(run.calls, "deployment group create --resource-group rg-bridge-dc06"),
        _index(run.calls, "deployment group create --resource-group rg-bridge-dc04"),
        _index(run.calls, f"functionapp publish {_app('DC04')} --python"),
        _index(run.calls, "health --url https://func-bridge-dc04"),
        _index(run.calls, f"functionapp publish {_app('DC06')} --python"),
        _index(run.calls, "health --url https://func-bridge-dc06"),
    ]
    assert order == sorted(order), run.calls
    assert "dc06.bicepparam" in run.calls[order[5]] and "dc04.bicepparam" in run.calls[order[6]]
    # Stage 1's operator app registration reaches both regions' Easy Auth.
    assert "--query properties.outputs.operatorAuthClientId.value" in run.calls[order[4]]
    for region_create in (run.calls[order[5]], run.calls[order[6]]):
        assert f"operatorAuthClientId={OPERATOR_CLIENT_ID}" in region_create
    assert "--region DC04" in run.calls[order[8]] and "/api/status" in run.calls[order[8]]
    assert all(call.endswith(f"(cwd {INFRA.parent})") for call in run.calls if call.startswith("func "))
    # Each region's control app gets the same package just before its bridge app.
    for region in ("DC04", "DC06"):
        control_app = _app(region).replace(f"-{SHARED['suffix']}", f"-ctl-{SHARED['suffix']}")
        control = _index(run.calls, f"functionapp publish {control_app} --python")
        assert control == _index(run.calls, f"functionapp publish {_app(region)} --python") - 1
    # Nothing existed, so the design's Cosmos order was sent and the Redis founder alone.
    create = run.calls[order[4]]
    assert 'cosmosFailoverOrder=["westus2","westcentralus","westus3"]' in create
    assert "redisJoinerLinked=false" in create
    assert "No gate yet (first deployment): DC04 is active" in run.output
    assert azure.state["gate"] == "DC04"


def test_with_a_live_region_each_region_is_done_completely_passive_first(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    run = azure.run(SCRIPT, "--yes")
    assert run.code == 0, run.output
    order = [
        _index(run.calls, "python live_state.py gate"),
        _index(run.calls, "deployment sub create"),
        _index(run.calls, "deployment group create --resource-group rg-bridge-dc06"),
        _index(run.calls, f"functionapp publish {_app('DC06')} --python"),
        _index(run.calls, "health --url https://func-bridge-dc06"),
        _index(run.calls, "deployment group create --resource-group rg-bridge-dc04"),
        _index(run.calls, f"functionapp publish {_app('DC04')} --python"),
        _index(run.calls, "health --url https://func-bridge-dc04"),
    ]
    assert order == sorted(order), run.calls


def test_the_second_run_succeeds_and_asks_azure_for_the_same_changes(azure: StandinAzure) -> None:
    first = azure.run(SCRIPT, "--yes")
    second = azure.run(SCRIPT, "--yes")
    assert (first.code, second.code) == (0, 0), second.output
    assert sorted(c.split(" --name ")[0] for c in _changes(second.calls)) == sorted(
        c.split(" --name ")[0] for c in _changes(first.calls)
    )
    create = second.calls[_index(second.calls, "deployment sub create")]
    assert "redisJoinerLinked=true" in create, "the founder must be re-sent with both members"
    assert "The live gate and the parameter files agree: DC04 is active" in second.output
    assert _index(second.calls, "python live_state.py gate") < _index(second.calls, "deployment sub what-if")
    assert azure.state["stage1_runs"] == 2
    assert "write_region_moves" not in azure.state


def test_a_rerun_after_a_cosmos_failover_keeps_the_new_write_region(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    azure.update(cosmos_order=["westcentralus", "westus2", "westus3"])  # service-managed failover
    run = azure.run(SCRIPT, "--yes")
    assert run.code == 0, run.output
    create = run.calls[_index(run.calls, "deployment sub create")]
    assert 'cosmosFailoverOrder=["westcentralus","westus2","westus3"]' in create
    assert "write_region_moves" not in azure.state
    assert azure.state["cosmos_order"] == ["westcentralus", "westus2", "westus3"]


def test_the_stand_in_catches_the_old_second_run(azure: StandinAzure) -> None:
    """What the old script sent on every run (the design's Cosmos order, the Redis founder alone) is
    refused or moves the write region once the first run and a failover have happened."""
    assert azure.run(SCRIPT, "--yes").code == 0
    azure.update(cosmos_order=["westcentralus", "westus2", "westus3"])
    stale = ['cosmosFailoverOrder=["westus2","westcentralus","westus3"]']
    refused = azure.az("deployment", "sub", "create", "--parameters", *stale, "redisJoinerLinked=false")
    assert refused.returncode == 1 and "(BadRequest)" in refused.stderr
    assert (
        azure.az("deployment", "sub", "create", "--parameters", *stale, "redisJoinerLinked=true").returncode
        == 0
    )
    assert azure.state["write_region_moves"] == [["westcentralus", "westus2"]]


def test_after_a_failover_stale_role_files_are_refused_before_any_change(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    azure.update(gate="DC06")  # DC06 was promoted; the files still make DC04 active
    run = azure.run(SCRIPT, "--yes")
    assert run.code == 3
    assert "the parameter files make DC04 active but the live gate says DC06" in run.output
    assert not _changes(run.calls) and not [c for c in run.calls if "what-if" in c], run.calls


def test_force_roles_deploys_the_live_passive_region_first(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    azure.update(gate="DC06")
    run = azure.run(SCRIPT, "--yes", "--force-roles", "--skip-publish")
    assert run.code == 0, run.output
    assert "WARNING (--force-roles)" in run.output
    dc04 = _index(run.calls, "deployment group create --resource-group rg-bridge-dc04")
    dc06 = _index(run.calls, "deployment group create --resource-group rg-bridge-dc06")
    assert dc04 < _index(run.calls, "health --url https://func-bridge-dc04") < dc06
    assert not [c for c in run.calls if c.startswith("func ")]


@pytest.mark.parametrize(
    "failing",
    [
        "cosmosdb show",
        "resource show --ids",
        "provider show",
        "list-flexconsumption-locations",
        "group exists",
    ],
)
def test_any_error_reading_live_state_stops_before_any_change(azure: StandinAzure, failing: str) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    run = azure.run(SCRIPT, "--yes", AZ_FAIL=failing)
    assert run.code == 3, run.output
    assert "(AuthorizationFailed)" in run.output
    assert not _changes(run.calls), run.calls


def test_an_unreadable_gate_stops_before_any_change(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    run = azure.run(SCRIPT, "--yes", GATE_UNREADABLE="1")
    assert run.code == 3
    assert "cannot read the live gate" in run.output
    assert not _changes(run.calls)


def test_an_unhealthy_passive_region_stops_before_the_active_one(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    run = azure.run(SCRIPT, "--yes", UNHEALTHY="DC06")
    assert run.code == 3
    assert "DC06 is not healthy after its deployment" in run.output
    assert not [c for c in run.calls if ("rg-bridge-dc04" in c and "create" in c) or _app("DC04") in c]


def test_on_the_first_deployment_an_unhealthy_active_region_stops_before_the_passive_code(
    azure: StandinAzure,
) -> None:
    run = azure.run(SCRIPT, "--yes", UNHEALTHY="DC04")
    assert run.code == 3
    assert "DC04 is not healthy after its deployment" in run.output
    assert not [c for c in run.calls if _app("DC06") in c]


def test_the_operator_can_stop_between_the_regions(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    run = azure.run(SCRIPT, stdin="y\nn\n")
    assert run.code == 1
    assert "Stopped before DC04" in run.output
    assert _index(run.calls, "health --url https://func-bridge-dc06") >= 0
    assert not [c for c in run.calls if ("rg-bridge-dc04" in c and "create" in c) or _app("DC04") in c]


def test_declining_the_first_question_deploys_nothing(azure: StandinAzure) -> None:
    run = azure.run(SCRIPT, stdin="n\n")
    assert run.code == 1
    assert _index(run.calls, "deployment sub what-if") >= 0
    assert not _changes(run.calls)


def test_what_if_covers_existing_region_groups_and_deploys_nothing(azure: StandinAzure) -> None:
    assert azure.run(SCRIPT, "--yes").code == 0
    run = azure.run(SCRIPT, "--what-if-only")
    assert run.code == 0, run.output
    assert _index(run.calls, "deployment group what-if --resource-group rg-bridge-dc04") >= 0
    assert _index(run.calls, "deployment group what-if --resource-group rg-bridge-dc06") >= 0
    assert not _changes(run.calls)


def test_a_region_without_azure_managed_redis_is_refused_before_any_change(azure: StandinAzure) -> None:
    run = azure.run(SCRIPT, "--yes", REDIS_REGIONS="westus2 westus3")
    assert run.code == 3
    assert "Azure Managed Redis is not offered in westcentralus" in run.output
    assert not _changes(run.calls)


def test_one_region_only(azure: StandinAzure) -> None:
    run = azure.run(SCRIPT, "--yes", "--regions", "DC06")
    assert run.code == 0, run.output
    assert not [c for c in run.calls if "rg-bridge-dc04" in c or _app("DC04") in c]
    assert _index(run.calls, f"publish {_app('DC06')}") >= 0


@pytest.mark.parametrize("args", [["--regions", "DC05"], ["--bogus"]])
def test_bad_arguments_fail_before_touching_azure(azure: StandinAzure, args: list[str]) -> None:
    run = azure.run(SCRIPT, *args)
    assert run.code in (2, 3)
    assert not [c for c in run.calls if "deployment" in c]


def test_after_a_failover_with_updated_files_the_new_passive_region_goes_first(
    azure: StandinAzure, tmp_path: Path
) -> None:
    """DC06 is active (live gate) and the files say so: DC04, now passive, is deployed and checked
    first, without --force-roles."""
    assert azure.run(SCRIPT, "--yes").code == 0
    azure.update(gate="DC06")
    copy = tmp_path / "repo" / "infra"
    shutil.copytree(INFRA, copy)
    for name, role in (("dc04", "passive"), ("dc06", "active")):
        path = copy / f"{name}.bicepparam"
        path.write_text(
            re.sub(r"^param role = '\w+'$", f"param role = '{role}'", path.read_text(), flags=re.M)
        )
    run = azure.run(copy / "deploy.sh", "--yes")
    assert run.code == 0, run.output
    assert "The live gate and the parameter files agree: DC06 is active" in run.output
    order = [
        _index(run.calls, "deployment group create --resource-group rg-bridge-dc04"),
        _index(run.calls, "health --url https://func-bridge-dc04"),
        _index(run.calls, "deployment group create --resource-group rg-bridge-dc06"),
    ]
    assert order == sorted(order), run.calls

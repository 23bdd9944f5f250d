"""infra/deploy.sh, run against stand-in `az` and `func` commands that record their arguments.

The stand-ins answer the few queries the script makes (the live runner switch, whether a resource
group exists) from environment variables, so each test states the Azure it pretends to face.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, parse_bicep, parse_bicepparam

SCRIPT = INFRA / "deploy.sh"
SHARED = parse_bicepparam(INFRA / "shared.bicepparam").values

FAKE_AZ = r"""#!/usr/bin/env bash
echo "az $*" >> "$CALLS"
case "$*" in
  "functionapp config appsettings list"*)
    case "$*" in
      *-dc04-*) printf '%s' "${LIVE_DISABLED_DC04:-}" ;;
      *-dc06-*) printf '%s' "${LIVE_DISABLED_DC06:-}" ;;
    esac
    [[ -n "${APPS_EXIST:-}" ]] || exit 3 ;;
  "group exists"*) echo "${GROUPS_EXIST:-false}" ;;
esac
exit 0
"""

FAKE_FUNC = """#!/usr/bin/env bash
echo "func $* (cwd $(pwd))" >> "$CALLS"
"""


def _app(region: str) -> str:
    # The name naming.bicep gives the function app (nameFormats.functionApp).
    fmt = parse_bicep(INFRA / "naming.bicep")["variables"]["nameFormats"]["value"]["functionApp"]
    return fmt.format(SHARED["workload"], region.lower(), SHARED["suffix"])


def run(tmp_path: Path, *args: str, stdin: str = "", **env: str) -> tuple[int, list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in (("az", FAKE_AZ), ("func", FAKE_FUNC)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.write_text("")
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), **env}
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=30,
        check=False,
    )
    return done.returncode, calls.read_text().splitlines(), done.stdout + done.stderr


def _index(calls: list[str], fragment: str) -> int:
    matches = [i for i, call in enumerate(calls) if fragment in call]
    assert matches, f"no call with {fragment!r} in {calls}"
    return matches[0]


def test_first_deployment_runs_what_if_then_shared_then_regions_then_publish(tmp_path: Path) -> None:
    code, calls, output = run(tmp_path, "--yes")
    assert code == 0, output
    order = [
        _index(calls, "bicep build --file"),
        _index(calls, "deployment sub what-if"),
        _index(calls, "deployment sub create"),
        _index(calls, "deployment group create --resource-group rg-bridge-dc04"),
        _index(calls, "deployment group create --resource-group rg-bridge-dc06"),
        _index(calls, f"func azure functionapp publish {_app('DC04')} --python"),
        _index(calls, f"func azure functionapp publish {_app('DC06')} --python"),
    ]
    assert order == sorted(order), calls
    assert "shared.bicepparam" in calls[_index(calls, "deployment sub create")]
    assert "dc04.bicepparam" in calls[_index(calls, "rg-bridge-dc04 --name")]
    assert (
        "dc06.bicepparam" in calls[_index(calls, "deployment group create --resource-group rg-bridge-dc06")]
    )
    assert all(call.endswith(f"(cwd {INFRA.parent})") for call in calls if call.startswith("func "))


def test_what_if_covers_existing_region_groups_and_deploys_nothing(tmp_path: Path) -> None:
    code, calls, output = run(tmp_path, "--what-if-only", GROUPS_EXIST="true")
    assert code == 0, output
    assert _index(calls, "deployment group what-if --resource-group rg-bridge-dc04") >= 0
    assert _index(calls, "deployment group what-if --resource-group rg-bridge-dc06") >= 0
    assert not [c for c in calls if " create " in f"{c} " or c.startswith("func ")], calls


def test_declining_the_confirmation_deploys_nothing(tmp_path: Path) -> None:
    code, calls, _ = run(tmp_path, stdin="n\n")
    assert code == 1
    assert _index(calls, "deployment sub what-if") >= 0
    assert not [c for c in calls if "create" in c or c.startswith("func ")], calls


def test_redeploy_with_roles_matching_the_live_switch_proceeds(tmp_path: Path) -> None:
    code, calls, output = run(
        tmp_path,
        "--yes",
        "--skip-publish",
        APPS_EXIST="1",
        LIVE_DISABLED_DC04="false",
        LIVE_DISABLED_DC06="true",
    )
    assert code == 0, output
    assert _index(calls, "deployment group create --resource-group rg-bridge-dc06") >= 0
    assert not [c for c in calls if c.startswith("func ")]


def test_redeploy_after_a_failover_with_stale_roles_is_refused_before_any_change(tmp_path: Path) -> None:
    # DC06 was promoted (its runner is enabled, DC04's disabled) but the files still say DC04 active.
    code, calls, output = run(
        tmp_path, "--yes", APPS_EXIST="1", LIVE_DISABLED_DC04="true", LIVE_DISABLED_DC06="false"
    )
    assert code == 3
    assert "role=active but the live runner switch is Disabled=true" in output
    assert not [c for c in calls if "create" in c or "what-if" in c or c.startswith("func ")], calls


def test_force_roles_overrides_the_guard_and_says_so(tmp_path: Path) -> None:
    code, _, output = run(
        tmp_path, "--yes", "--force-roles", "--skip-publish", APPS_EXIST="1", LIVE_DISABLED_DC04="true"
    )
    assert code == 0, output
    assert "WARNING (--force-roles)" in output


def test_one_region_only(tmp_path: Path) -> None:
    code, calls, output = run(tmp_path, "--yes", "--regions", "DC06")
    assert code == 0, output
    assert not [c for c in calls if "rg-bridge-dc04" in c or _app("DC04") in c]
    assert _index(calls, f"publish {_app('DC06')}") >= 0


@pytest.mark.parametrize("args", [["--regions", "DC05"], ["--bogus"]])
def test_bad_arguments_fail_before_touching_azure(tmp_path: Path, args: list[str]) -> None:
    code, calls, _ = run(tmp_path, *args)
    assert code in (2, 3)
    assert not [c for c in calls if "deployment" in c]

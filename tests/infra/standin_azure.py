"""Stand-ins for ``az``, ``func`` and the deploy host's Python, for running infra/deploy.sh in tests.

They record every call with its full argument list (``calls.log``, one shell-quoted line each) and keep
the state a real subscription would have between calls and between runs (``state.json``), so a test
can run deploy.sh twice and see what the second run asks of Azure. The ARM behaviours the issue is
about are emulated as Azure documents them:

* ``az`` exits 3 with ``(ResourceNotFound)`` for a missing resource
  (https://github.com/Azure/azure-cli#exit-codes);
* a stage 1 PUT whose Cosmos DB failover order differs from the live one moves the write region (a
  change of failover priorities is a failover:
  https://learn.microsoft.com/azure/cosmos-db/how-to-manage-database-account#set-failover-priorities-for-your-azure-cosmos-db-account),
  recorded in ``state["write_region_moves"]``;
* re-sending the Redis founder with only itself once the joiner has linked is refused, as the
  service refuses a PUT that would unlink a member
  (https://learn.microsoft.com/azure/redis/how-to-active-geo-replication);
* ``AZ_FAIL`` (a substring) makes any matching ``az`` call fail with ``(AuthorizationFailed)``: an
  error that is not "not found".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
DISPLAY = {"westus2": "West US 2", "westcentralus": "West Central US", "westus3": "West US 3"}
#: The client id stage 1's operator app registration gets (output operatorAuthClientId).
OPERATOR_CLIENT_ID = "5e1f0c2a-7b3d-4c8e-9f10-a2b3c4d5e6f7"

_AZ = r"""
import json, os, shlex, sys
args = sys.argv[1:]
line = " ".join(args)
state_path = os.environ["STANDIN_STATE"]
state = json.load(open(state_path))
with open(os.environ["STANDIN_CALLS"], "a") as calls:
    calls.write("az " + shlex.join(args) + "\n")

def save():
    json.dump(state, open(state_path, "w"), indent=1)

def not_found(what):
    print(f"ERROR: (ResourceNotFound) The Resource '{what}' was not found.", file=sys.stderr)
    sys.exit(3)

def option(name):
    return args[args.index(name) + 1] if name in args else ""

fail = os.environ.get("AZ_FAIL", "")
if fail and fail in line:
    print("ERROR: (AuthorizationFailed) The client does not have authorization to perform action.",
          file=sys.stderr)
    sys.exit(1)

DISPLAY = %(display)r
if line.startswith("account show"):
    print(%(subscription)r if "id -o tsv" in line else "Subscription  test")
elif line.startswith("bicep build"):
    pass
elif line.startswith("provider show --namespace Microsoft.Cache"):
    regions = os.environ.get("REDIS_REGIONS", "westus2 westcentralus westus3").split()
    print("\n".join(DISPLAY.get(r, r) for r in regions))
elif line.startswith("functionapp list-flexconsumption-locations"):
    print("\n".join(["westus2", "westcentralus", "westus3"]))
elif line.startswith("cosmosdb show"):
    if not state.get("cosmos_order"):
        not_found(option("-n"))
    if "documentEndpoint" in line:
        print(f"https://{option('-n')}.documents.azure.com:443/")
    else:
        print("\n".join(DISPLAY[r] for r in state["cosmos_order"]))
elif line.startswith("resource show --ids"):
    target = option("--ids")
    if target.endswith("/databases/default"):
        name = target.split("/")[-3]
        if name not in state.get("redis_members", []):
            not_found(target)
        prefix = target.rsplit("/", 3)[0]
        print("\n".join(f"{prefix}/{m}/databases/default" for m in state["redis_members"]))
    else:
        name = target.split("/")[-1]
        if name not in state.get("redis_members", []):
            not_found(target)
        print(f"{name}.westus2.redis.azure.net")
elif line.startswith("group exists"):
    print("true" if option("--name") in state.get("groups", []) else "false")
elif line.startswith("deployment sub what-if") or line.startswith("deployment group what-if"):
    group = option("--resource-group")
    if group and group not in state.get("groups", []):
        print(f"ERROR: (ResourceGroupNotFound) Resource group '{group}' could not be found.", file=sys.stderr)
        sys.exit(3)
elif line.startswith("deployment sub create"):
    overrides = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
    order = json.loads(overrides.get("cosmosFailoverOrder", "null") or "null")
    linked = overrides.get("redisJoinerLinked") == "true"
    members = state.get("redis_members", [])
    if len(members) == 2 and not linked:
        print("ERROR: (BadRequest) The geo-replication group of the founder cannot drop a linked "
              "database in a PUT; force-unlink it first.", file=sys.stderr)
        sys.exit(1)
    live = state.get("cosmos_order")
    if live and order and order[0] != live[0]:
        state.setdefault("write_region_moves", []).append([live[0], order[0]])
    state["cosmos_order"] = order
    state["redis_members"] = ["redis-bridge-dc04-x7q2", "redis-bridge-dc06-x7q2"]
    state["groups"] = ["rg-bridge-shared", "rg-bridge-dc04", "rg-bridge-dc06"]
    state["stage1_runs"] = state.get("stage1_runs", 0) + 1
    save()
    if option("--query") == "properties.outputs.operatorAuthClientId.value":
        print(%(operator_client_id)r)  # the registration shared.bicep declares (modules/operator-app.bicep)
elif line.startswith("deployment group create"):
    group = option("--resource-group")
    if group not in state.get("groups", []):
        print(f"ERROR: (ResourceGroupNotFound) Resource group '{group}' could not be found.", file=sys.stderr)
        sys.exit(3)
    state.setdefault("apps", []).append(group.removeprefix("rg-bridge-"))
    save()
elif line.startswith("functionapp show"):
    region = option("-n").split("-")[2]
    if region not in state.get("apps", []):
        not_found(option("-n"))
    print(f"{option('-n')}.azurewebsites.net")
elif line.startswith("functionapp keys list"):
    print("function-key-" + option("-n"))
else:
    print("stand-in az: unexpected call: " + line, file=sys.stderr)
    sys.exit(2)
"""

_PYTHON = r"""
import json, os, shlex, sys
args = sys.argv[1:]
with open(os.environ["STANDIN_CALLS"], "a") as calls:
    key = os.environ.get("BRIDGE_FUNCTION_KEY")
    calls.write("python " + shlex.join([os.path.basename(args[0]), *args[1:]])
                + (f" (BRIDGE_FUNCTION_KEY={key})" if key else "") + "\n")
state = json.load(open(os.environ["STANDIN_STATE"]))
if args[1] == "gate":
    if os.environ.get("GATE_UNREADABLE"):
        print("Cosmos DB gate unreadable: ServiceRequestError", file=sys.stderr)
        sys.exit(1)
    if not state.get("gate"):
        sys.exit(4)
    print(state["gate"])
elif args[1] == "health":
    region = args[args.index("--region") + 1]
    if region in os.environ.get("UNHEALTHY", "").split():
        sys.exit(1)
    # A running Watchdog whose BRIDGE_ROLE is active initialises a missing gate to its own region
    # (main.bicep: BRIDGE_ROLE = the parameter file's role; DC04 is the active one).
    state.setdefault("gate", os.environ.get("STANDIN_ACTIVE_REGION", "DC04"))
    json.dump(state, open(os.environ["STANDIN_STATE"], "w"), indent=1)
"""

_FUNC = r"""#!/usr/bin/env bash
printf 'func %s (cwd %s)\n' "$*" "$(pwd)" >> "$STANDIN_CALLS"
"""


@dataclass
class Run:
    code: int
    calls: list[str]
    output: str


class StandinAzure:
    """A subscription as the stand-ins see it, kept across runs of deploy.sh."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.state_path = root / "state.json"
        self.state_path.write_text("{}")
        self.calls_path = root / "calls.log"
        python = f"#!{sys.executable} -IS\n"  # isolated, no site-packages: quick to start
        az = _AZ % {
            "display": DISPLAY,
            "subscription": SUBSCRIPTION,
            "operator_client_id": OPERATOR_CLIENT_ID,
        }
        for name, body in (("az", python + az), ("python", python + _PYTHON), ("func", _FUNC)):
            (self.bin / name).write_text(body)
            (self.bin / name).chmod(0o755)

    @property
    def state(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.state_path.read_text())
        return loaded

    def update(self, **values: object) -> None:
        self.state_path.write_text(json.dumps({**self.state, **values}))

    def _environment(self, **env: str) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "STANDIN_CALLS": str(self.calls_path),
            "STANDIN_STATE": str(self.state_path),
            "PYTHON": str(self.bin / "python"),
            **env,
        }

    def az(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One call of the stand-in ``az`` itself."""
        return subprocess.run(
            [str(self.bin / "az"), *args],
            env=self._environment(),
            capture_output=True,
            text=True,
            check=False,
        )

    def run(self, script: Path, *args: str, stdin: str = "", **env: str) -> Run:
        self.calls_path.write_text("")
        done = subprocess.run(
            ["bash", str(script), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._environment(**env),
            timeout=60,
            check=False,
        )
        return Run(done.returncode, self.calls_path.read_text().splitlines(), done.stdout + done.stderr)

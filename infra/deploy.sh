#!/usr/bin/env bash
# Deploy the statement bridge to Azure: what-if, then the shared stage, then each region, then the
# code. docs/deployment.md explains every step; docs/runbook.md says when NOT to run this.
#
#   infra/deploy.sh [--what-if-only] [--yes] [--skip-publish] [--regions "DC04 DC06"]
#                   [--location westus2] [--force-roles]
#
#   --what-if-only  show what would change (az deployment ... what-if) and stop
#   --yes           do not ask before deploying
#   --skip-publish  deploy the infrastructure only (no `func azure functionapp publish`)
#   --regions       which regions to deploy (default: both, DC04 first)
#   --location      where the subscription-level deployment record of stage 1 is kept
#   --force-roles   deploy even if a region's parameter file contradicts the live active region
#
# Needs: az (logged in, subscription selected: `az account set -s <id>`), and Azure Functions Core
# Tools (`func`) for the publish step. Run from anywhere; paths are relative to the repository.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$ROOT/infra"
WHAT_IF_ONLY=0
ASSUME_YES=0
PUBLISH=1
FORCE_ROLES=0
REGIONS="DC04 DC06"
LOCATION="westus2"
STAMP="$(date -u +%Y%m%d%H%M%S)"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --what-if-only) WHAT_IF_ONLY=1 ;;
    --yes) ASSUME_YES=1 ;;
    --skip-publish) PUBLISH=0 ;;
    --force-roles) FORCE_ROLES=1 ;;
    --regions) REGIONS="$2"; shift ;;
    --location) LOCATION="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'deploy.sh: %s\n' "$*" >&2; exit 3; }

# The value of `param <name> = '<value>'` in a parameter file (parameter files hold literals only).
param() {
  local value
  value="$(sed -n "s/^param $1 = '\(.*\)'[[:space:]]*$/\1/p" "$2")"
  [[ -n "$value" ]] || fail "$2 does not set param $1"
  printf '%s' "$value"
}

param_file() { printf '%s/%s.bicepparam' "$INFRA" "$(tr '[:upper:]' '[:lower:]' <<<"$1")"; }
resource_group() { param "resourceGroup$(sed 's/DC/Dc/' <<<"$1")" "$INFRA/shared.bicepparam"; }
app_name() {
  local lower
  lower="$(tr '[:upper:]' '[:lower:]' <<<"$1")"
  printf 'func-%s-%s-%s' "$(param workload "$INFRA/shared.bicepparam")" "$lower" \
    "$(param suffix "$INFRA/shared.bicepparam")"
}

for region in $REGIONS; do
  [[ "$region" == DC04 || "$region" == DC06 ]] || fail "unknown region $region (DC04 or DC06)"
  [[ -f "$(param_file "$region")" ]] || fail "missing $(param_file "$region")"
done

say "Azure context"
command -v az >/dev/null || fail "the Azure CLI (az) is not installed"
az account show --query "{subscription: name, id: id, user: user.name}" -o table

say "Compile (az bicep build)"
for template in "$INFRA/shared.bicep" "$INFRA/main.bicep"; do
  az bicep build --file "$template" --stdout >/dev/null
  echo "ok  ${template#"$ROOT"/}"
done

# A region's role in its parameter file must match the live runner switch: after a failover the
# Watchdog has flipped AzureWebJobs.transformation_runner.Disabled, and deploying stale roles would
# switch the active region's consumption off (docs/runbook.md#after-a-failover-before-any-redeploy).
say "Roles: parameter files vs. live runner switch"
for region in $REGIONS; do
  file="$(param_file "$region")"
  role="$(param role "$file")"
  expected="false"
  [[ "$role" == passive ]] && expected="true"
  group="$(resource_group "$region")"
  app="$(app_name "$region")"
  live="$(az functionapp config appsettings list -g "$group" -n "$app" \
    --query "[?name=='AzureWebJobs.transformation_runner.Disabled'].value | [0]" -o tsv 2>/dev/null || true)"
  if [[ -z "$live" ]]; then
    echo "$region: $app not deployed yet; role $role from ${file#"$ROOT"/}"
  elif [[ "$live" != "$expected" ]]; then
    message="$region: ${file#"$ROOT"/} says role=$role but the live runner switch is Disabled=$live"
    if [[ $FORCE_ROLES -eq 1 ]]; then
      echo "WARNING (--force-roles): $message"
    else
      fail "$message. Update role in both region parameter files to match the active region (GET /api/status), or pass --force-roles."
    fi
  else
    echo "$region: role $role matches the live switch (Disabled=$live)"
  fi
done

say "What-if: stage 1 (shared.bicep, subscription scope)"
az deployment sub what-if --location "$LOCATION" --name "bridge-shared-$STAMP" \
  --parameters "$INFRA/shared.bicepparam"

for region in $REGIONS; do
  group="$(resource_group "$region")"
  say "What-if: stage 2 (main.bicep) for $region in $group"
  if [[ "$(az group exists --name "$group")" == "true" ]]; then
    az deployment group what-if --resource-group "$group" --name "bridge-$region-$STAMP" \
      --parameters "$(param_file "$region")"
  else
    echo "$group does not exist yet (stage 1 creates it): no what-if for $region"
  fi
done

if [[ $WHAT_IF_ONLY -eq 1 ]]; then
  say "What-if only: nothing deployed"
  exit 0
fi

if [[ $ASSUME_YES -ne 1 ]]; then
  read -r -p "Deploy stage 1, then ${REGIONS// / and }, then publish? [y/N] " answer
  [[ "$answer" == y || "$answer" == Y ]] || { echo "Nothing deployed."; exit 1; }
fi

say "Deploy stage 1 (shared.bicep)"
az deployment sub create --location "$LOCATION" --name "bridge-shared-$STAMP" \
  --parameters "$INFRA/shared.bicepparam" -o none

for region in $REGIONS; do
  group="$(resource_group "$region")"
  say "Deploy stage 2 (main.bicep) for $region in $group"
  az deployment group create --resource-group "$group" --name "bridge-$region-$STAMP" \
    --parameters "$(param_file "$region")" -o none
done

if [[ $PUBLISH -eq 1 ]]; then
  command -v func >/dev/null || fail "Azure Functions Core Tools (func) not installed; publish with --skip-publish and later"
  for region in $REGIONS; do
    app="$(app_name "$region")"
    say "Publish the code to $app ($region)"
    (cd "$ROOT" && func azure functionapp publish "$app" --python)
  done
fi

say "Done. Check: docs/runbook.md#after-a-deployment"

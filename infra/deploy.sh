#!/usr/bin/env bash
# Deploy the statement bridge to Azure, safely re-runnable (docs/deployment.md#deploy):
#   compile -> pre-flight (region offers) -> read the LIVE state (active region from the gate, Cosmos
#   failover order, Redis group) -> role guard -> what-if -> stage 1 -> the PASSIVE region (infra,
#   code, health check) -> pause -> the ACTIVE region (infra, code, health check). On the very first
#   deployment (no gate yet) both regions' infrastructure comes first, then the active region's code
#   (so its Watchdog starts the gate and heartbeats), then the passive region's.
# Every read of live state fails closed: "not found" means "not deployed yet", any other error stops
# the script before anything changes. docs/runbook.md says when NOT to run this.
#
#   infra/deploy.sh [--what-if-only] [--yes] [--skip-publish] [--no-health-check]
#                   [--regions "DC04 DC06"] [--location westus2] [--force-roles]
#
#   --what-if-only     show what would change (az deployment ... what-if) and stop
#   --yes              do not ask (neither before deploying nor between the regions)
#   --skip-publish     deploy the infrastructure only (no `func azure functionapp publish`)
#   --no-health-check  do not wait for a region's Watchdog to report healthy (only for a first
#                      infrastructure-only deployment: there is no code to answer yet)
#   --regions          which regions to deploy (default both; passive first once a region is live)
#   --location         where the subscription-level deployment record of stage 1 is kept
#   --force-roles      deploy even if the parameter files' roles contradict the live gate
#
# Needs: az (logged in, subscription selected: `az account set -s <id>`), Azure Functions Core Tools
# (`func`) for the publish step, the repository's Python (.venv) for infra/live_state.py, and a host
# inside the network (every data service is private). Run from anywhere.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$ROOT/infra"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WHAT_IF_ONLY=0
ASSUME_YES=0
PUBLISH=1
HEALTH_CHECK=1
FORCE_ROLES=0
REGIONS="DC04 DC06"
LOCATION="westus2"
STAMP="$(date -u +%Y%m%d%H%M%S)"
NOT_FOUND=4

while [[ $# -gt 0 ]]; do
  case "$1" in
    --what-if-only) WHAT_IF_ONLY=1 ;;
    --yes) ASSUME_YES=1 ;;
    --skip-publish) PUBLISH=0 ;;
    --no-health-check) HEALTH_CHECK=0 ;;
    --force-roles) FORCE_ROLES=1 ;;
    --regions) REGIONS="$2"; shift ;;
    --location) LOCATION="$2"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
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

# The strings of `param <name> = [ '<a>' '<b>' ... ]` (one per line), space-separated.
param_list() {
  local values
  values="$(awk -v name="$1" '
    $0 ~ "^param " name " = \\[" { inside = 1; next }
    inside && /^\]/ { inside = 0 }
    inside { gsub(/[ \x27]/, ""); if ($0 != "") printf "%s ", $0 }' "$2")"
  [[ -n "$values" ]] || fail "$2 does not set param $1 as a list"
  printf '%s' "${values% }"
}

SHARED_PARAMS="$INFRA/shared.bicepparam"
param_file() { printf '%s/%s.bicepparam' "$INFRA" "$(tr '[:upper:]' '[:lower:]' <<<"$1")"; }
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }
resource_group() { param "resourceGroup$(sed 's/DC/Dc/' <<<"$1")" "$SHARED_PARAMS"; }
WORKLOAD="$(param workload "$SHARED_PARAMS")"
SUFFIX="$(param suffix "$SHARED_PARAMS")"
SHARED_GROUP="$(param resourceGroupShared "$SHARED_PARAMS")"
app_name() { printf 'func-%s-%s-%s' "$WORKLOAD" "$(lower "$1")" "$SUFFIX"; }
# The region's control app (the runner switch only; docs/security.md#control-plane-rights): same package.
control_app_name() { printf 'func-%s-%s-ctl-%s' "$WORKLOAD" "$(lower "$1")" "$SUFFIX"; }
COSMOS="cosmos-$WORKLOAD-$SUFFIX"
redis_name() { printf 'redis-%s-%s-%s' "$WORKLOAD" "$(lower "$1")" "$SUFFIX"; }
peer_of() { [[ "$1" == DC04 ]] && echo DC06 || echo DC04; }

for region in $REGIONS; do
  [[ "$region" == DC04 || "$region" == DC06 ]] || fail "unknown region $region (DC04 or DC06)"
  [[ -f "$(param_file "$region")" ]] || fail "missing $(param_file "$region")"
done

# Run a read-only `az` command. Prints its output and returns 0, or returns $NOT_FOUND when Azure says
# the resource does not exist (az exits 3 on a missing ARM resource: https://github.com/Azure/azure-cli#exit-codes,
# or reports a *NotFound error code). Any other failure stops the script: an error is never read as
# "not deployed yet".
az_read() {
  local out err rc=0
  err="$(mktemp)"
  out="$(az "$@" 2>"$err")" || rc=$?
  if [[ $rc -eq 0 ]]; then
    rm -f "$err"
    printf '%s' "$out"
    return 0
  fi
  if [[ $rc -eq 3 ]] || grep -qE '\((ResourceNotFound|ResourceGroupNotFound|ParentResourceNotFound|NotFound)\)' "$err"; then
    rm -f "$err"
    return "$NOT_FOUND"
  fi
  printf 'deploy.sh: az %s failed (exit %s): %s\n' "$*" "$rc" "$(cat "$err")" >&2
  rm -f "$err"
  exit 3
}

# lookup <var> <az arguments...>: sets <var> to the output and returns 0, or returns $NOT_FOUND; any
# other failure exits (az_read runs in a subshell, so its own exit could not stop the script here).
lookup() {
  local __name="$1" __out __rc=0
  shift
  __out="$(az_read "$@")" || __rc=$?
  [[ $__rc -eq 0 || $__rc -eq $NOT_FOUND ]] || exit 3
  printf -v "$__name" '%s' "$__out"
  return "$__rc"
}

say "Azure context"
command -v az >/dev/null || fail "the Azure CLI (az) is not installed"
az account show --query "{subscription: name, id: id, user: user.name}" -o table

say "Compile (az bicep build)"
for template in "$INFRA/shared.bicep" "$INFRA/main.bicep"; do
  az bicep build --file "$template" --stdout >/dev/null
  echo "ok  ${template#"$ROOT"/}"
done

# Azure Managed Redis and Flex Consumption are not offered in every region: ask the subscription's
# resource providers rather than assume (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-providers-and-types).
say "Pre-flight: services offered in the target regions"
squash() { tr '[:upper:]' '[:lower:]' | tr -d ' '; }
redis_offered="$(az_read provider show --namespace Microsoft.Cache \
  --query "resourceTypes[?resourceType=='redisEnterprise'].locations[]" -o tsv | squash)" \
  || fail "cannot list where Azure Managed Redis is offered"
for location in $(param_list redisLocations "$SHARED_PARAMS"); do
  grep -qx "$location" <<<"$redis_offered" \
    || fail "Azure Managed Redis is not offered in $location: set redisLocations in shared.bicepparam (docs/deployment.md#redis-azure-managed-redis-with-active-geo-replication)"
  echo "ok  Azure Managed Redis in $location"
done
flex_offered="$(az_read functionapp list-flexconsumption-locations --query "[].name" -o tsv | squash)" \
  || fail "cannot list where Flex Consumption is offered"
for region in $REGIONS; do
  location="$(param location "$(param_file "$region")")"
  grep -qx "$location" <<<"$flex_offered" || fail "Flex Consumption is not offered in $location"
  echo "ok  Flex Consumption in $location"
done

say "Live state"
# Cosmos DB failover order: a PUT with other priorities IS a failover request, so a re-run keeps the
# live order (after a service-managed failover the write region may be West Central US).
cosmos_order="$(param_list cosmosFailoverOrder "$SHARED_PARAMS")"
cosmos_exists=0
if lookup live_order cosmosdb show -g "$SHARED_GROUP" -n "$COSMOS" \
  --query "sort_by(failoverPolicies, &failoverPriority)[].locationName" -o tsv; then
  cosmos_exists=1
  cosmos_order="$(squash <<<"$live_order" | tr '\n' ' ')"
  cosmos_order="${cosmos_order% }"
  echo "Cosmos DB $COSMOS: live failover order $cosmos_order (kept)"
else
  echo "Cosmos DB $COSMOS: not deployed yet; failover order $cosmos_order from shared.bicepparam"
fi
cosmos_json="[$(sed "s/[^ ]*/\"&\"/g; s/ /,/g" <<<"$cosmos_order")]"

# Redis: once the joiner has linked, the founder must be re-sent with both members.
founder="$(param redisGroupFounder "$SHARED_PARAMS")"
joiner="$(peer_of "$founder")"
database_id() {
  printf '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Cache/redisEnterprise/%s/databases/default' \
    "$SUBSCRIPTION" "$SHARED_GROUP" "$(redis_name "$1")"
}
SUBSCRIPTION="$(az_read account show --query id -o tsv)"
joiner_linked=false
if lookup linked resource show --ids "$(database_id "$founder")" \
  --query "properties.geoReplication.linkedDatabases[].id" -o tsv; then
  if grep -qix "$(database_id "$joiner")" <<<"$linked"; then joiner_linked=true; fi
  echo "Redis group: founder $(redis_name "$founder") has the joiner linked: $joiner_linked"
else
  echo "Redis group: founder $(redis_name "$founder") not deployed yet"
fi

# The active region, from the gate's authority (the Cosmos DB control item), with the Redis mirror
# as fallback (infra/live_state.py). Not found = nothing has started yet: the parameter files decide.
files_active=""
for region in DC04 DC06; do
  [[ "$(param role "$(param_file "$region")")" == active ]] && files_active="$files_active$region"
done
[[ "$files_active" == DC04 || "$files_active" == DC06 ]] \
  || fail "exactly one region parameter file must say role = 'active' (found: '${files_active:-none}')"
live_active=""
if [[ $cosmos_exists -eq 1 ]]; then
  endpoint="$(az_read cosmosdb show -g "$SHARED_GROUP" -n "$COSMOS" --query documentEndpoint -o tsv)"
  redis_host=""
  if lookup host resource show --ids "$(dirname "$(dirname "$(database_id "$files_active")")")" \
    --query properties.hostName -o tsv; then
    redis_host="$host:10000"
  fi
  rc=0
  live_active="$("$PYTHON" "$INFRA/live_state.py" gate --endpoint "$endpoint" \
    --database "$(param cosmosDatabase "$SHARED_PARAMS")" \
    --container "$(param cosmosControlContainer "$SHARED_PARAMS")" --item gate \
    --redis-host "$redis_host")" || rc=$?
  if [[ $rc -eq $NOT_FOUND ]]; then
    live_active=""
  elif [[ $rc -ne 0 ]]; then
    fail "cannot read the live gate (exit $rc); nothing was changed. Run from a host inside the network with Cosmos DB data read access (docs/deployment.md#deploy)."
  fi
fi

say "Roles: parameter files vs. the live gate"
if [[ -z "$live_active" ]]; then
  active="$files_active"
  echo "No gate yet (first deployment): $active is active per its parameter file"
elif [[ "$live_active" != "$files_active" ]]; then
  message="the parameter files make $files_active active but the live gate says $live_active"
  if [[ $FORCE_ROLES -eq 1 ]]; then
    echo "WARNING (--force-roles): $message"
    active="$live_active"
  else
    fail "$message. Set role in both region parameter files to match (docs/runbook.md#after-a-failover-before-any-redeploy), or pass --force-roles."
  fi
else
  active="$live_active"
  echo "The live gate and the parameter files agree: $active is active"
fi
passive="$(peer_of "$active")"
order=""
for region in "$passive" "$active"; do
  [[ " $REGIONS " == *" $region "* ]] && order="$order $region"
done
order="${order# }"
echo "Order: ${order// / then } (passive first: Flex Consumption has no deployment slots)"

SHARED_OVERRIDES=(--parameters "cosmosFailoverOrder=$cosmos_json" "redisJoinerLinked=$joiner_linked")

say "What-if: stage 1 (shared.bicep, subscription scope)"
az deployment sub what-if --location "$LOCATION" --name "bridge-shared-$STAMP" \
  --parameters "$SHARED_PARAMS" "${SHARED_OVERRIDES[@]}"

for region in $order; do
  group="$(resource_group "$region")"
  say "What-if: stage 2 (main.bicep) for $region in $group"
  exists="$(az_read group exists --name "$group")"
  if [[ "$exists" == "true" ]]; then
    az deployment group what-if --resource-group "$group" --name "bridge-$region-$STAMP" \
      --parameters "$(param_file "$region")"
  elif [[ "$exists" == "false" ]]; then
    echo "$group does not exist yet (stage 1 creates it): no what-if for $region"
  else
    fail "az group exists answered '$exists' for $group"
  fi
done

if [[ $WHAT_IF_ONLY -eq 1 ]]; then
  say "What-if only: nothing deployed"
  exit 0
fi

confirm() {
  [[ $ASSUME_YES -eq 1 ]] && return 0
  local answer
  read -r -p "$1 [y/N] " answer || answer=""
  [[ "$answer" == y || "$answer" == Y ]]
}

confirm "Deploy stage 1, then ${order// / then }?" || { echo "Nothing deployed."; exit 1; }

say "Deploy stage 1 (shared.bicep)"
# Its output operatorAuthClientId (the operators' app registration) goes to both regions' Easy Auth.
OPERATOR_CLIENT_ID="$(az deployment sub create --location "$LOCATION" --name "bridge-shared-$STAMP" \
  --parameters "$SHARED_PARAMS" "${SHARED_OVERRIDES[@]}" \
  --query properties.outputs.operatorAuthClientId.value -o tsv)" || fail "stage 1 failed"
[[ -n "$OPERATOR_CLIENT_ID" ]] || fail "stage 1 gave no operatorAuthClientId (the operators' app registration)"

deploy_infra() {
  local region="$1" group
  group="$(resource_group "$region")"
  say "Deploy stage 2 (main.bicep) for $region in $group"
  az deployment group create --resource-group "$group" --name "bridge-$region-$STAMP" \
    --parameters "$(param_file "$region")" "operatorAuthClientId=$OPERATOR_CLIENT_ID" -o none
}

publish_and_check() {
  local region="$1" group app host key
  group="$(resource_group "$region")"
  app="$(app_name "$region")"
  if [[ $PUBLISH -eq 1 ]]; then
    command -v func >/dev/null || fail "Azure Functions Core Tools (func) not installed; use --skip-publish and publish later"
    say "Publish the code to $(control_app_name "$region") ($region's control app), then to $app"
    (cd "$ROOT" && func azure functionapp publish "$(control_app_name "$region")" --python)
    (cd "$ROOT" && func azure functionapp publish "$app" --python)
  fi
  if [[ $HEALTH_CHECK -eq 1 ]]; then
    say "Health check: $region's Watchdog (GET /api/status)"
    host="$(az_read functionapp show -g "$group" -n "$app" --query defaultHostName -o tsv)"
    key="$(az_read functionapp keys list -g "$group" -n "$app" --query functionKeys.default -o tsv)"
    BRIDGE_FUNCTION_KEY="$key" "$PYTHON" "$INFRA/live_state.py" health \
      --url "https://$host/api/status" --region "$region" \
      || fail "$region is not healthy after its deployment; stopped before the next region (docs/runbook.md#after-a-deployment)"
  fi
}

pause_before() {  # pause_before <region just done> <next region>
  local done_text="deployed"
  [[ $HEALTH_CHECK -eq 1 ]] && done_text="deployed and healthy"
  confirm "$1 is $done_text. Go on with $2?" || { echo "Stopped before $2."; exit 1; }
}

if [[ -z "$live_active" ]]; then
  # The very first deployment: no gate, nothing runs, no traffic to protect. Both regions'
  # infrastructure first (each region's app reaches services through the OTHER region's private
  # endpoints: docs/deployment.md#private-networking-and-dns); then the code of the region that will
  # be active, so that its Watchdog initialises the gate and heartbeats before the passive region
  # starts (a passive Watchdog that never sees the active region's heartbeat promotes itself).
  for region in $order; do deploy_infra "$region"; done
  code_order=""
  for region in "$active" "$passive"; do
    [[ " $REGIONS " == *" $region "* ]] && code_order="$code_order $region"
  done
  previous=""
  for region in $code_order; do
    [[ -z "$previous" ]] || pause_before "$previous" "$region"
    publish_and_check "$region"
    previous="$region"
  done
else
  # A region is live: each region completely (infrastructure, code, health), passive first, so a
  # bad change shows where no traffic flows (Flex Consumption has no deployment slots).
  previous=""
  for region in $order; do
    [[ -z "$previous" ]] || pause_before "$previous" "$region"
    deploy_infra "$region"
    publish_and_check "$region"
    previous="$region"
  done
fi

say "Done. Check: docs/runbook.md#after-a-deployment"

"""The two data-plane reads infra/deploy.sh makes, on the deploy host (docs/deployment.md#deploy).

``gate``: which region is active, from the AUTHORITY, the Cosmos DB control item (container
``control``, id ``gate``: ``active_dc``, ``epoch``, ``lease_until``, changed only by ETag
compare-and-set). If the authority cannot be read, the Redis mirror of ``active_dc`` (written after the
authority changes) is read instead. Exit codes, so that deploy.sh fails closed:

* 0: the active region is printed (``DC04`` or ``DC06``);
* 4: NOT FOUND, the control item does not exist (the first deployment: nothing is running);
* 1: anything else (unreachable, forbidden, a malformed item, both sources unreadable).

``health``: ``GET https://<app>/api/status`` (the Watchdog's status route; the function key comes from
the environment variable ``BRIDGE_FUNCTION_KEY``, never the command line) until the region reports
itself healthy with a fresh heartbeat, or the attempts run out (exit 1 with the reasons).

Authentication is the deployer's Azure CLI login (``AzureCliCredential``); the deployer needs the
Cosmos DB Built-in Data Reader role (and, for the fallback, a Redis access policy) and a host inside
the network, since every data service is private (docs/deployment.md#prerequisites-owned-by-other-teams).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.model import REGIONS

FOUND, NOT_FOUND, UNREADABLE = 0, 4, 1
DEFAULT_MAX_HEARTBEAT_AGE_S = 90.0


class NotFound(Exception):
    """The gate does not exist in this source."""


def _region(value: object, source: str) -> str:
    if value not in REGIONS:
        raise ValueError(f"{source}: active_dc is {value!r}, expected one of {', '.join(REGIONS)}")
    return str(value)


def _credential() -> Any:
    from azure.identity import AzureCliCredential  # noqa: PLC0415 - only on the deploy host

    return AzureCliCredential()


def read_gate_item(container: Any, item: str) -> str:
    """``active_dc`` of the control item ``item`` in a Cosmos DB container; :class:`NotFound` if the
    item does not exist (HTTP 404), every other failure as the SDK raised it."""
    from azure.cosmos import exceptions  # noqa: PLC0415

    try:
        document = container.read_item(item=item, partition_key=item)
    except exceptions.CosmosResourceNotFoundError as error:
        raise NotFound(item) from error
    return _region(document.get("active_dc"), f"Cosmos DB item {item}")


def read_cosmos(endpoint: str, database: str, container: str, item: str, timeout_s: float) -> str:
    from azure.cosmos import CosmosClient  # noqa: PLC0415

    client = CosmosClient(endpoint, credential=_credential(), connection_timeout=timeout_s)
    return read_gate_item(client.get_database_client(database).get_container_client(container), item)


def read_redis(host: str, key: str, timeout_s: float) -> str:
    import redis  # noqa: PLC0415

    from shared.adapters.redis_auth import AZURE_REDIS_PORT, EntraIdCredentialProvider  # noqa: PLC0415

    name, _, port = host.partition(":")
    client = redis.Redis(
        host=name,
        port=int(port or AZURE_REDIS_PORT),
        ssl=True,
        credential_provider=EntraIdCredentialProvider(_credential()),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    value = client.get(key)
    if value is None:
        raise NotFound(key)
    text = value.decode() if isinstance(value, bytes) else str(value)
    return _region(text, f"Redis {key}")


def gate(args: argparse.Namespace) -> int:
    try:
        print(read_cosmos(args.endpoint, args.database, args.container, args.item, args.timeout))
        return FOUND
    except NotFound:
        print("not found: the gate has not been initialised (no region has started)", file=sys.stderr)
        return NOT_FOUND
    except Exception as error:  # every other failure: try the mirror, else fail closed
        print(f"Cosmos DB gate unreadable: {type(error).__name__}: {error}", file=sys.stderr)
    if not args.redis_host:
        return UNREADABLE
    try:
        active = read_redis(args.redis_host, args.redis_key, args.timeout)
    except Exception as error:  # NotFound included: an empty mirror cannot vouch for anything
        print(f"Redis mirror unreadable too: {type(error).__name__}: {error}", file=sys.stderr)
        return UNREADABLE
    print(f"WARNING: read the Redis mirror, not the authority: {active}", file=sys.stderr)
    print(active)
    return FOUND


def health_verdict(status: dict[str, Any], region: str, max_age_s: float) -> str | None:
    """None if ``status`` (the status route's body) shows ``region`` healthy, else the reason."""
    if status.get("region") != region:
        return f"the answer is from {status.get('region')!r}, not {region}"
    own = (status.get("regions") or {}).get(region) or {}
    health = own.get("health") or {}
    if health.get("healthy") is not True:
        failing = [name for name, probe in (health.get("probes") or {}).items() if not probe.get("ok")]
        return f"not healthy (failing probes: {', '.join(failing) or 'no health published yet'})"
    age = own.get("heartbeat_age_s")
    if not isinstance(age, (int, float)) or age > max_age_s:
        return f"heartbeat age {age!r} s (at most {max_age_s:g} s expected)"
    return None


def health(args: argparse.Namespace) -> int:
    if not args.url.startswith("https://"):
        print(f"refusing {args.url!r}: the status route is called over https only", file=sys.stderr)
        return UNREADABLE
    key = os.environ.get("BRIDGE_FUNCTION_KEY", "")
    reason = "no attempt"
    for attempt in range(1, args.attempts + 1):
        request = urllib.request.Request(args.url, headers={"x-functions-key": key})  # noqa: S310 - https only
        try:
            with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310 - https URL from az
                verdict = health_verdict(json.load(response), args.region, args.max_heartbeat_age)
        except (OSError, ValueError) as error:  # HTTP errors, refused, timeouts, not JSON
            verdict = f"{type(error).__name__}: {error}"
        if verdict is None:
            print(f"{args.region} healthy (attempt {attempt})")
            return FOUND
        reason = verdict
        print(f"{args.region} attempt {attempt}/{args.attempts}: {reason}", file=sys.stderr)
        if attempt < args.attempts:
            time.sleep(args.interval)
    print(f"{args.region} is not healthy: {reason}", file=sys.stderr)
    return UNREADABLE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    read = commands.add_parser("gate", help="print the live active region")
    read.add_argument("--endpoint", required=True, help="Cosmos DB account endpoint")
    read.add_argument("--database", required=True)
    read.add_argument("--container", default="control")
    read.add_argument("--item", default="gate")
    read.add_argument("--redis-host", default="", help="<host>:<port> of a Redis member (the fallback)")
    read.add_argument("--redis-key", default="bridge:active_dc")
    read.add_argument("--timeout", type=float, default=10.0)
    read.set_defaults(run=gate)
    check = commands.add_parser("health", help="wait until a region reports itself healthy")
    check.add_argument("--url", required=True, help="https://<app host>/api/status")
    check.add_argument("--region", required=True, choices=REGIONS)
    check.add_argument("--attempts", type=int, default=20)
    check.add_argument("--interval", type=float, default=15.0)
    check.add_argument("--timeout", type=float, default=10.0)
    check.add_argument("--max-heartbeat-age", type=float, default=DEFAULT_MAX_HEARTBEAT_AGE_S)
    check.set_defaults(run=health)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

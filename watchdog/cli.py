"""The operations desk from a terminal: ``python -m watchdog.cli COMMAND ...`` calls the region's routes.

In Azure the routes sit behind App Service authentication (Easy Auth): the CLI sends an Entra ID access
token for the app (``--token`` or ``BRIDGE_TOKEN``; ``az account get-access-token --scope
<app client id>/.default --query accessToken -o tsv``), which Easy Auth validates and turns into the
principal the routes audit, plus the function key (``--key`` or ``BRIDGE_FUNCTION_KEY``) for the
routes that change something. ``--url`` (``BRIDGE_URL``) is the app, e.g.
``https://func-bridge-dc04.azurewebsites.net`` reached over its private endpoint. Locally the same
commands go through ``python -m dev.host ops COMMAND ...`` (docs/runbook.md).

Exit status: 0 when the route answered 2xx, 1 otherwise (its JSON answer, with the reason, is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping

Send = Callable[[str, str, Mapping[str, object] | None], tuple[int, object]]


def parser(prog: str = "python -m watchdog.cli") -> argparse.ArgumentParser:
    """The desk's commands (shared by this CLI and ``python -m dev.host ops``)."""
    root = argparse.ArgumentParser(prog=prog, description="The bridge's operations desk.")
    commands = root.add_subparsers(dest="command", required=True)
    trace = commands.add_parser("trace", help="every step of one statement, or an account's statements")
    trace.add_argument("message_id", nargs="?")
    trace.add_argument("--account")
    trace.add_argument("--from", dest="since", help="ISO 8601 (default: 24 h before --to)")
    trace.add_argument("--to", dest="until", help="ISO 8601 (default: now)")
    reconcile = commands.add_parser("reconcile", help="reconcile a window now and store the report")
    reconcile.add_argument("--from", dest="since")
    reconcile.add_argument("--to", dest="until")
    commands.add_parser("report", help="the latest stored reconciliation report")
    resubmit = commands.add_parser("resubmit", help="resubmit a FAILED (quarantined) statement")
    resubmit.add_argument("message_id")
    resubmit.add_argument("--reason", required=True)
    resubmit.add_argument("--policy", choices=("strict", "as-sent"))
    resend = commands.add_parser("resend", help="request a resend of a DELIVERED statement")
    resend.add_argument("message_id")
    resend.add_argument("--reason", required=True)
    approve = commands.add_parser("approve", help="approve another person's pending request")
    approve.add_argument("request_id")
    requests = commands.add_parser("requests", help="list requests (--state PENDING: waiting)")
    requests.add_argument("--state")
    return root


def call_of(args: argparse.Namespace) -> tuple[str, str, dict[str, object] | None]:
    """``(method, route with query, JSON body)`` of a parsed command."""
    window = {
        k: v for k, v in (("from", getattr(args, "since", None)), ("to", getattr(args, "until", None))) if v
    }
    if args.command == "trace":
        query = (
            {"message_id": args.message_id} if args.message_id else {"account": args.account or "", **window}
        )
        return "GET", f"trace?{urllib.parse.urlencode(query)}", None
    if args.command == "requests":
        return "GET", f"requests?{urllib.parse.urlencode({'state': args.state} if args.state else {})}", None
    bodies: dict[str, tuple[str, str, dict[str, object] | None]] = {
        "reconcile": ("POST", "reconcile", dict(window)),
        "report": ("GET", "reconciliation", None),
        "approve": ("POST", "approve", {"request_id": getattr(args, "request_id", "")}),
    }
    if args.command in bodies:
        return bodies[args.command]
    body: dict[str, object] = {"message_id": args.message_id, "reason": args.reason}
    if getattr(args, "policy", None):
        body["policy"] = args.policy
    return "POST", args.command, body  # resubmit, resend


def run(args: argparse.Namespace, send: Send) -> int:
    """Send the command, print the JSON answer; 0 on 2xx."""
    method, route, body = call_of(args)
    status, answer = send(method, route, body)
    print(json.dumps(answer, indent=2, default=str))
    return 0 if 200 <= status < 300 else 1


def http_sender(url: str, key: str, token: str) -> Send:
    """Calls ``{url}/api/{route}`` with the bearer token and the function key."""

    def send(method: str, route: str, body: Mapping[str, object] | None) -> tuple[int, object]:
        headers = {"content-type": "application/json", "x-functions-key": key}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"--url must be an http(s) address, got {url[:40]!r}")
        request = urllib.request.Request(  # noqa: S310 - http(s) checked above
            f"{url.rstrip('/')}/api/{route}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http(s) checked above
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    return send


def main(argv: list[str] | None = None) -> int:
    root = parser()
    root.add_argument("--url", default=os.environ.get("BRIDGE_URL", ""))
    root.add_argument("--key", default=os.environ.get("BRIDGE_FUNCTION_KEY", ""))
    root.add_argument("--token", default=os.environ.get("BRIDGE_TOKEN", ""))
    args = root.parse_args(argv)
    if not args.url:
        print("error: --url or BRIDGE_URL: the function app's address", file=sys.stderr)
        return 2
    return run(args, http_sender(args.url, args.key, args.token))


if __name__ == "__main__":
    raise SystemExit(main())

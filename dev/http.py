"""The Watchdog's HTTP routes on the local host: what the Functions host does for HTTP triggers.

Requests are turned into ``azure.functions.HttpRequest`` objects and passed to the app's HTTP
functions (the Watchdog's and the operations desk's routes of ``bootstrap.build_app``), so the local
routes run exactly the code Azure runs. Function-level authorisation is kept: the key goes in
``x-functions-key`` (or ``?code=``), as in Azure.

Easy Auth's part is played here too: any client-sent ``X-MS-CLIENT-PRINCIPAL*`` header is dropped
(the platform strips them) and the host injects the principal of the local operator: ``x-dev-user``
and ``x-dev-roles`` (comma-separated app roles) of the request, else ``BRIDGE_DEV_USER`` /
``BRIDGE_DEV_ROLES`` of the environment, else ``dev-operator`` with every role. Those two headers
mean something only to this dev host; App Service authentication knows nothing of them.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from watchdog.auth import HEADER, ROLES, encode_principal

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/status"): "watchdog_status",
    ("POST", "/api/failover"): "watchdog_failover",
    ("POST", "/api/replay"): "watchdog_replay",
    ("GET", "/api/trace"): "ops_trace",
    ("GET", "/api/reconciliation"): "ops_reconciliation",
    ("POST", "/api/reconcile"): "ops_reconcile",
    ("POST", "/api/resubmit"): "ops_resubmit",
    ("POST", "/api/resend"): "ops_resend",
    ("POST", "/api/approve"): "ops_approve",
    ("GET", "/api/requests"): "ops_requests",
    ("GET", "/api/statuspage"): "ops_status_page",
}
#: Routes with ``auth_level=ANONYMOUS`` (no function key; the principal is still required).
NO_KEY = frozenset({"/api/statuspage", "/api/trace"})
#: The host's own readiness answer, as the Functions host's admin API has it (``GET /admin/host/status``
#: with a key: ``{"state": "Running"}``, https://github.com/Azure/azure-functions-host/wiki/Admin-API):
#: it says the host serves requests and calls no function, so waiting for a region to come up costs no
#: Azure operation (``GET /api/status`` reads the lease, heartbeats and record counts: ~16 Cosmos calls).
HOST_STATUS = "/admin/host/status"
MAX_BODY = 64 * 1024


def dev_principal(headers: dict[str, str]) -> str:
    """The ``X-MS-CLIENT-PRINCIPAL`` this host injects (see the module docstring)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    user = lowered.get("x-dev-user") or os.environ.get("BRIDGE_DEV_USER") or "dev-operator"
    roles = lowered.get("x-dev-roles") or os.environ.get("BRIDGE_DEV_ROLES") or ",".join(ROLES)
    return encode_principal(user, [r.strip() for r in roles.split(",") if r.strip()])


def serve_routes(
    port: int, function_key: str, functions: Mapping[str, Callable[..., Any]]
) -> ThreadingHTTPServer:
    """Serve the :data:`ROUTES` of ``functions`` (by function name) on ``127.0.0.1:port`` in a
    background thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: object) -> None:
            return  # the audit log records every operator call

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            name = ROUTES.get((method, url.path))
            host_status = (method, url.path) == ("GET", HOST_STATUS)
            if name is None and not host_status:
                self._send(404, b'{"error": "no such route"}')
                return
            key = self.headers.get("x-functions-key") or parse_qs(url.query).get("code", [""])[0]
            if url.path not in NO_KEY and not hmac.compare_digest(key.encode(), function_key.encode()):
                self._send(401, b'{"error": "missing or wrong function key (x-functions-key)"}')
                return
            if name is None:
                self._send(200, b'{"state": "Running"}')
                return
            length = min(int(self.headers.get("content-length") or 0), MAX_BODY)
            headers = {
                k: v for k, v in self.headers.items() if not k.lower().startswith("x-ms-client-principal")
            }
            headers[HEADER] = dev_principal(headers)
            request = func.HttpRequest(
                method,
                self.path,
                headers=headers,
                params={k: v[0] for k, v in parse_qs(url.query).items()},
                body=self.rfile.read(length) if length else b"",
            )
            response: func.HttpResponse = functions[name](request)
            extra = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
            self._send(response.status_code, response.get_body(), response.mimetype, extra)

        def _send(
            self,
            status: int,
            body: bytes,
            mimetype: str = "application/json",
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", f"{mimetype}; charset=utf-8")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server

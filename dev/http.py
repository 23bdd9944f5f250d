"""The Watchdog's HTTP routes on the local host: what the Functions host does for HTTP triggers.

Requests are turned into ``azure.functions.HttpRequest`` objects and passed to the decorated
functions of ``watchdog.blueprint``, so the local routes run exactly the code Azure runs. Function-level
authorisation is kept: the key goes in ``x-functions-key`` (or ``?code=``), as in Azure.

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
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from watchdog import desk_blueprint as desk
from watchdog.auth import HEADER, ROLES, encode_principal
from watchdog.blueprint import watchdog_failover, watchdog_replay, watchdog_status

ROUTES: dict[tuple[str, str], Callable[[func.HttpRequest], func.HttpResponse]] = {
    ("GET", "/api/status"): watchdog_status,
    ("POST", "/api/failover"): watchdog_failover,
    ("POST", "/api/replay"): watchdog_replay,
    ("GET", "/api/trace"): desk.ops_trace,
    ("GET", "/api/reconciliation"): desk.ops_reconciliation,
    ("POST", "/api/reconcile"): desk.ops_reconcile,
    ("POST", "/api/resubmit"): desk.ops_resubmit,
    ("POST", "/api/resend"): desk.ops_resend,
    ("POST", "/api/approve"): desk.ops_approve,
    ("GET", "/api/requests"): desk.ops_requests,
    ("GET", "/api/statuspage"): desk.ops_status_page,
}
#: Routes with ``auth_level=ANONYMOUS`` (no function key; the principal is still required).
NO_KEY = frozenset({"/api/statuspage", "/api/trace"})


def dev_principal(headers: dict[str, str]) -> str:
    """The ``X-MS-CLIENT-PRINCIPAL`` this host injects (see the module docstring)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    user = lowered.get("x-dev-user") or os.environ.get("BRIDGE_DEV_USER") or "dev-operator"
    roles = lowered.get("x-dev-roles") or os.environ.get("BRIDGE_DEV_ROLES") or ",".join(ROLES)
    return encode_principal(user, [r.strip() for r in roles.split(",") if r.strip()])


MAX_BODY = 64 * 1024


def serve_routes(port: int, function_key: str) -> ThreadingHTTPServer:
    """Serve the routes on ``127.0.0.1:port`` in a background thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: object) -> None:
            return  # the audit log records every operator call

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            route = ROUTES.get((method, url.path))
            if route is None:
                self._send(404, b'{"error": "no such route"}')
                return
            key = self.headers.get("x-functions-key") or parse_qs(url.query).get("code", [""])[0]
            if url.path not in NO_KEY and not hmac.compare_digest(key.encode(), function_key.encode()):
                self._send(401, b'{"error": "missing or wrong function key (x-functions-key)"}')
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
            response = route(request)
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

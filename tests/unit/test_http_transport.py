"""The Blob and Cosmos transport reads the environment once, keeps azure-core's settings, sizes its pool."""

from __future__ import annotations

import io

import requests
import urllib3
from azure.core.pipeline.transport import HttpRequest

from shared.adapters.http_transport import requests_transport


def session_of(transport: object) -> requests.Session:
    transport.open()  # type: ignore[attr-defined]
    session = transport.session  # type: ignore[attr-defined]
    assert isinstance(session, requests.Session)
    return session


def test_without_proxy_variables_the_environment_is_not_read_per_request() -> None:
    transport = requests_transport(40, {"PATH": "/bin", "HOME": "/root"}, read_timeout=7)
    session = session_of(transport)
    assert session.trust_env is False
    pool = session.get_adapter("http://127.0.0.1:1/").poolmanager.connection_pool_kw  # type: ignore[attr-defined]
    assert pool["maxsize"] == 40
    assert (transport.connection_config.read_timeout, transport.connection_config.verify) == (7, True)


def test_a_proxy_variable_keeps_requests_reading_the_environment() -> None:
    for name in ("HTTPS_PROXY", "http_proxy", "NO_PROXY", "all_proxy"):
        session = session_of(requests_transport(10, {name: "http://proxy.example:3128"}))
        assert session.trust_env is True, name
    assert session_of(requests_transport(10, {"HTTPS_PROXY": ""})).trust_env is False  # empty = unset


def test_the_ca_bundle_named_by_the_environment_still_verifies() -> None:
    """requests puts ``REQUESTS_CA_BUNDLE`` where the caller says ``verify=True``; so does the
    transport, and a caller's own choice (a path, or ``False``) still wins."""
    sent: list[object] = []
    transport = requests_transport(10, {"REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem"})
    session = session_of(transport)
    assert session.trust_env is False

    def capture(method: str, url: str, **kwargs: object) -> requests.Response:
        sent.append(kwargs["verify"])
        response = requests.Response()
        response.status_code = 200
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(b""), status=200, preload_content=False)
        return response

    session.request = capture  # type: ignore[method-assign,assignment]
    request = HttpRequest("GET", "https://account.blob.core.windows.net/")
    transport.send(request)
    transport.send(request, connection_verify=True)
    transport.send(request, connection_verify="/own.pem")
    transport.send(request, connection_verify=False)
    assert sent == ["/etc/corp-ca.pem", "/etc/corp-ca.pem", "/own.pem", False]

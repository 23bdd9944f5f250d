"""The HTTP transport of the Blob and Cosmos clients: azure-core's ``RequestsTransport`` with a sized
connection pool, and the environment read once instead of on every request.

With ``Session.trust_env`` on (azure-core's default) ``requests`` looks up proxies (``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, any case), the CA bundle (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) and ``~/.netrc`` for every request, walking all of ``os.environ`` twice: about a
tenth of the CPU of one WAL Blob put here, more in Azure where a function app has many settings.
:func:`requests_transport` turns ``trust_env`` off when no proxy variable is set (then ``requests``
would use no proxy anyway) and verifies with the CA bundle the environment names, where ``requests``
would have put it; with a proxy variable set it keeps azure-core's behaviour. ``~/.netrc`` is not read:
the SDKs sign their own ``Authorization`` header, which a ``.netrc`` entry would replace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' order of preference


class _EnvironmentReadOnce(RequestsTransport):  # type: ignore[misc]  # azure-core: untyped base
    """``RequestsTransport`` whose verification default is the CA bundle the environment named at
    start (``requests`` substitutes it for ``verify=True`` only while ``trust_env`` is on)."""

    def __init__(self, ca_bundle: str, **options: Any) -> None:
        super().__init__(**options)
        self.ca_bundle = ca_bundle

    def send(self, request: Any, **kwargs: Any) -> Any:
        if kwargs.get("connection_verify", self.connection_config.verify) is True:
            kwargs["connection_verify"] = self.ca_bundle
        return super().send(request, **kwargs)


def requests_transport(
    pool_size: int, environ: Mapping[str, str] = os.environ, **options: Any
) -> RequestsTransport:
    """A transport keeping ``pool_size`` connections per host (requests' default is 10: calls beyond
    it open a connection and discard it afterwards), without urllib3 retries (azure-core's pipeline
    retries), reading the environment once (see the module docstring). ``options`` are azure-core's
    connection settings (``connection_timeout``, ``read_timeout`` …): a client given a transport no
    longer applies its own to it."""
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_maxsize=pool_size, max_retries=Retry(total=False, redirect=False, raise_on_status=False)
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    if any(name.lower() in PROXY_VARIABLES and value for name, value in environ.items()):
        return RequestsTransport(session=session, session_owner=True, **options)
    session.trust_env = False
    bundle = next((environ[name] for name in CA_BUNDLE_VARIABLES if environ.get(name)), None)
    if bundle is None:
        return RequestsTransport(session=session, session_owner=True, **options)
    return _EnvironmentReadOnce(bundle, session=session, session_owner=True, **options)

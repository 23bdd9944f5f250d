"""The bridge app's consumption switch: a request to its region's control app, never a control-plane call.

The bridge app's identity (the one that reads IBM MQ and parses untrusted XML) holds no control-plane
role. When the Watchdog turns the runner's consumption on or off it asks the region's control function
app (``bootstrap.control``, route ``POST /api/consumption {"enabled": bool}``), which alone holds
Website Contributor on this app and changes ``AzureWebJobs.transformation_runner.Disabled``
(:class:`shared.adapters.azure_control.AppSettingConsumptionSwitch`). The request carries an Entra
access token of this app's managed identity for ``CONTROL_APP_SCOPE`` (``<operators' registration
client id>/.default``); the control app's Easy Auth validates it and the route accepts only the app role
``Bridge.Switch`` held by THIS region's data identity (docs/security.md, "Control-plane rights").

:meth:`enabled` is the value this process was started with (its environment; an app-setting change
restarts the app), updated after each successful request, so the Watchdog's every-tick check costs no
call. Any failure (network, timeout, non-2xx) is ``ServiceUnavailable``: the Watchdog logs it and
tries again on its next tick; the runner's fence stays the safety behind the switch.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from shared.adapters.azure_control import disabled_setting
from shared.errors import ServiceUnavailable
from shared.ports import ConsumptionSwitch

#: The control app answers within its own ARM call; more than this is an outage (retried next tick).
TIMEOUT_S = 20.0


def managed_identity_token(scope: str) -> Callable[[], str]:
    """Access tokens of the app's managed identity (``AZURE_CLIENT_ID``) for ``scope``."""
    credential = None

    def token() -> str:
        nonlocal credential
        if credential is None:
            from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - lazy: only in Azure

            credential = DefaultAzureCredential()
        return str(credential.get_token(scope).token)

    return token


class RemoteConsumptionSwitch(ConsumptionSwitch):
    """This app's runner switch, changed by the region's control app at ``url`` (``…/api/consumption``)."""

    def __init__(
        self,
        url: str,
        token: Callable[[], str],
        environ: Mapping[str, str] = os.environ,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.url = url
        self._token = token
        self._known = environ.get(disabled_setting(), "false").strip().lower() != "true"
        self.timeout_s = timeout_s

    def enabled(self) -> bool:
        return self._known

    def set_enabled(self, enabled: bool) -> None:
        if self._known == enabled:
            return
        try:
            request = urllib.request.Request(  # noqa: S310 - the configured https URL of the control app
                self.url,
                data=json.dumps({"enabled": enabled}).encode(),
                headers={"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode("utf-8", "replace")
            raise ServiceUnavailable("control-app", f"HTTP {error.code}: {detail}") from error
        except Exception as error:  # network, timeout, token, JSON: the Watchdog retries next tick
            raise ServiceUnavailable("control-app", f"{type(error).__name__}: {error}") from error
        if answer.get("enabled") is not enabled:
            raise ServiceUnavailable("control-app", f"answered {answer!r} to enabled={enabled}")
        self._known = enabled

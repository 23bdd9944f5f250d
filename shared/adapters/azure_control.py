"""The Azure control-plane adapter the Watchdog uses on promotion and demotion.

:class:`AppSettingConsumptionSwitch` turns the runner's Service Bus trigger on or off through the
documented app setting ``AzureWebJobs.<function>.Disabled`` (azure-mgmt-web). Changing an app setting
restarts the app, so the switch writes only when the value changes, and reads the value the running
process was started with from its own environment. It authenticates with ``DefaultAzureCredential``
(the app's managed identity), imported lazily so local runs and tests never need the management SDK.

There is no Service Bus control-plane step: each region publishes to and consumes from its own
namespace (no Geo-DR pairing, no alias), and the dual-region WAL replay is the only replication
(docs/protocols.md, "Service Bus: one namespace per region").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from shared.errors import ServiceUnavailable
from shared.ports import ConsumptionSwitch

RUNNER_FUNCTION = "transformation_runner"


def disabled_setting(function_name: str = RUNNER_FUNCTION) -> str:
    """The app setting that disables one function (Azure Functions convention)."""
    return f"AzureWebJobs.{function_name}.Disabled"


def _credential() -> Any:
    """The control-plane identity (``AZURE_CONTROL_CLIENT_ID``, infra/modules/control-roles.bicep) when
    set, so the data identity needs no control-plane role; else the app's default identity."""
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - lazy: only in Azure

    control = os.environ.get("AZURE_CONTROL_CLIENT_ID")
    if control:
        return DefaultAzureCredential(managed_identity_client_id=control)
    return DefaultAzureCredential()


class AppSettingConsumptionSwitch(ConsumptionSwitch):
    """The runner trigger's Disabled app setting on one function app."""

    def __init__(
        self,
        subscription_id: str,
        resource_group: str,
        app_name: str,
        function_name: str = RUNNER_FUNCTION,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.app_name = app_name
        self.setting = disabled_setting(function_name)
        self._known: bool | None = None
        self._environ = environ
        self._client: Any = None

    def enabled(self) -> bool:
        if self._known is None:
            self._known = self._environ.get(self.setting, "false").strip().lower() != "true"
        return self._known

    def set_enabled(self, enabled: bool) -> None:
        if self.enabled() == enabled:
            return
        try:
            client = self._web()
            settings = client.web_apps.list_application_settings(self.resource_group, self.app_name)
            settings.properties[self.setting] = "false" if enabled else "true"
            client.web_apps.update_application_settings(self.resource_group, self.app_name, settings)
        except Exception as error:  # azure-core errors of every kind: the Watchdog retries next tick
            raise ServiceUnavailable("azure-management", f"cannot set {self.setting}: {error}") from error
        self._known = enabled

    def _web(self) -> Any:
        if self._client is None:
            from azure.mgmt.web import WebSiteManagementClient  # noqa: PLC0415 - lazy: only in Azure

            self._client = WebSiteManagementClient(_credential(), self.subscription_id)
        return self._client

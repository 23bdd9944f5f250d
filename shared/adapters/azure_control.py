"""The Azure control-plane adapter: the runner's consumption switch, as the CONTROL app runs it.

:class:`AppSettingConsumptionSwitch` turns a bridge app's Service Bus trigger on or off through the
documented app setting ``AzureWebJobs.<function>.Disabled`` (azure-mgmt-web;
https://learn.microsoft.com/azure/azure-functions/disable-function). It runs in the region's separate
control function app (``bootstrap.control``), never in the bridge app: the control app's identity
holds Website Contributor on the bridge app, the bridge app's identity holds no control-plane role and
asks through :class:`shared.adapters.control_switch.RemoteConsumptionSwitch` (docs/security.md,
"Control-plane rights"). Changing an app setting restarts the app, so the switch reads the live
value first and writes only when it differs. It authenticates with ``DefaultAzureCredential`` (the
control app's managed identity, ``AZURE_CLIENT_ID``), imported lazily so local runs and tests never
need the management SDK.

There is no Service Bus control-plane step: each region publishes to and consumes from its own
namespace (no Geo-DR pairing, no alias), and the dual-region WAL replay is the only replication
(docs/protocols.md, "Service Bus: one namespace per region").
"""

from __future__ import annotations

from typing import Any

from shared.errors import ServiceUnavailable
from shared.ports import ConsumptionSwitch

RUNNER_FUNCTION = "transformation_runner"


def disabled_setting(function_name: str = RUNNER_FUNCTION) -> str:
    """The app setting that disables one function (Azure Functions convention)."""
    return f"AzureWebJobs.{function_name}.Disabled"


class AppSettingConsumptionSwitch(ConsumptionSwitch):
    """The runner trigger's Disabled app setting on one (other) function app, read and written live."""

    def __init__(
        self,
        subscription_id: str,
        resource_group: str,
        app_name: str,
        function_name: str = RUNNER_FUNCTION,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.app_name = app_name
        self.setting = disabled_setting(function_name)
        self._client: Any = None

    def enabled(self) -> bool:
        return self._enabled(self._settings())

    def set_enabled(self, enabled: bool) -> None:
        settings = self._settings()
        if self._enabled(settings) == enabled:
            return
        settings.properties[self.setting] = "false" if enabled else "true"
        try:
            self._web().web_apps.update_application_settings(self.resource_group, self.app_name, settings)
        except Exception as error:  # azure-core errors of every kind: the caller retries
            raise ServiceUnavailable("azure-management", f"cannot set {self.setting}: {error}") from error

    def _settings(self) -> Any:
        try:
            return self._web().web_apps.list_application_settings(self.resource_group, self.app_name)
        except Exception as error:  # azure-core errors of every kind: the caller retries
            raise ServiceUnavailable("azure-management", f"cannot read {self.setting}: {error}") from error

    def _enabled(self, settings: Any) -> bool:
        return str(settings.properties.get(self.setting, "false")).strip().lower() != "true"

    def _web(self) -> Any:
        if self._client is None:
            from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - lazy: only in Azure
            from azure.mgmt.web import WebSiteManagementClient  # noqa: PLC0415 - lazy: only in Azure

            self._client = WebSiteManagementClient(DefaultAzureCredential(), self.subscription_id)
        return self._client

"""The Azure control-plane adapters' own logic (the management APIs themselves have no local server):
the control app's switch reads the bridge app's live setting, writes the documented app setting only
when the value changes, and wraps failures as ServiceUnavailable."""

from types import SimpleNamespace

import pytest

from shared.adapters.azure_control import AppSettingConsumptionSwitch, disabled_setting
from shared.errors import ServiceUnavailable


class FakeWebApps:
    def __init__(self, settings: dict[str, str], fail: bool = False) -> None:
        self.settings = settings
        self.updates: list[dict[str, str]] = []
        self.fail = fail

    def list_application_settings(self, resource_group: str, name: str) -> SimpleNamespace:
        assert (resource_group, name) == ("rg-bridge-dc06", "func-bridge-dc06")
        if self.fail:
            raise RuntimeError("403 AuthorizationFailed")
        return SimpleNamespace(properties=dict(self.settings))

    def update_application_settings(self, resource_group: str, name: str, settings: SimpleNamespace) -> None:
        self.updates.append(dict(settings.properties))
        self.settings = dict(settings.properties)


def switch_with(web_apps: FakeWebApps) -> AppSettingConsumptionSwitch:
    switch = AppSettingConsumptionSwitch("sub", "rg-bridge-dc06", "func-bridge-dc06")
    switch._client = SimpleNamespace(web_apps=web_apps)
    return switch


def test_the_setting_is_the_documented_one() -> None:
    assert disabled_setting() == "AzureWebJobs.transformation_runner.Disabled"


def test_enabling_a_passive_region_writes_the_setting_once_and_keeps_the_others() -> None:
    web = FakeWebApps({disabled_setting(): "true", "BRIDGE_REGION": "DC06"})
    switch = switch_with(web)
    assert not switch.enabled()
    switch.set_enabled(True)
    switch.set_enabled(True)  # no second write: every write restarts the app
    assert web.updates == [{disabled_setting(): "false", "BRIDGE_REGION": "DC06"}]
    assert switch.enabled()


def test_a_running_active_region_writes_nothing_to_stay_enabled() -> None:
    web = FakeWebApps({})
    switch_with(web).set_enabled(True)
    assert web.updates == []


def test_management_failures_are_transient() -> None:
    web = FakeWebApps({}, fail=True)
    switch = switch_with(web)
    with pytest.raises(ServiceUnavailable, match=r"AzureWebJobs\.transformation_runner\.Disabled"):
        switch.set_enabled(False)
    with pytest.raises(ServiceUnavailable):
        switch.enabled()  # the live value cannot be read either: never guessed
    web.fail = False
    assert switch.enabled() and web.updates == []  # unchanged: the watchdog asks again next tick

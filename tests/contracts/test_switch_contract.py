"""ConsumptionSwitch contract: one suite, run against its three implementations: the Azure
app-setting switch (``AzureWebJobs.transformation_runner.Disabled`` through azure-mgmt-web, over a
fake ``web_apps`` client, since the management API has no local server), the dev stack's flag file,
and the in-memory twin.

What every switch keeps: it starts as the region was deployed (here: disabled, the passive region);
set/enable round-trips; a repeated value writes nothing (an app-setting write restarts the app:
https://learn.microsoft.com/azure/azure-functions/disable-function); the value outlives the handle
(a new handle over the same store, e.g. the app restarted with the new setting, reads it); a store
that cannot be written raises ``ServiceUnavailable`` and leaves the value as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from dev.adapters.file_switch import FileConsumptionSwitch
from shared.adapters.azure_control import AppSettingConsumptionSwitch, disabled_setting
from shared.errors import ServiceUnavailable
from shared.ports import ConsumptionSwitch
from tests.twins import InMemoryConsumptionSwitch

Outage = tuple[Callable[[], None], Callable[[], None]]


class SwitchContract:
    """Subclasses provide ``switch`` (disabled at start), ``reopen``, ``version`` and ``outage``."""

    @pytest.fixture
    def switch(self) -> ConsumptionSwitch:
        raise NotImplementedError

    def reopen(self, switch: ConsumptionSwitch) -> ConsumptionSwitch:
        """A new handle over the same store (another process, or the app after its restart)."""
        raise NotImplementedError

    def version(self, switch: ConsumptionSwitch) -> object:
        """What changes whenever the store is written (a write counter, a file's modification time)."""
        raise NotImplementedError

    def outage(self, switch: ConsumptionSwitch) -> Outage:
        raise NotImplementedError

    def test_starts_as_deployed_and_round_trips(self, switch: ConsumptionSwitch) -> None:
        assert switch.enabled() is False
        switch.set_enabled(True)
        assert switch.enabled() is True
        switch.set_enabled(False)
        assert switch.enabled() is False

    def test_a_repeated_value_writes_nothing(self, switch: ConsumptionSwitch) -> None:
        before = self.version(switch)
        switch.set_enabled(False)
        assert self.version(switch) == before
        switch.set_enabled(True)
        written = self.version(switch)
        assert written != before
        switch.set_enabled(True)
        assert self.version(switch) == written

    def test_the_value_outlives_the_handle(self, switch: ConsumptionSwitch) -> None:
        switch.set_enabled(True)
        assert self.reopen(switch).enabled() is True

    def test_a_store_that_cannot_be_written_is_service_unavailable(self, switch: ConsumptionSwitch) -> None:
        cut, restore = self.outage(switch)
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                switch.set_enabled(True)
        finally:
            restore()
        assert switch.enabled() is False and self.reopen(switch).enabled() is False


class TestInMemorySwitch(SwitchContract):
    @pytest.fixture
    def switch(self) -> ConsumptionSwitch:
        return InMemoryConsumptionSwitch()

    def reopen(self, switch: ConsumptionSwitch) -> ConsumptionSwitch:
        return switch  # one process: the twin is its own store

    def version(self, switch: ConsumptionSwitch) -> object:
        assert isinstance(switch, InMemoryConsumptionSwitch)
        return len(switch.changes)

    def outage(self, switch: ConsumptionSwitch) -> Outage:
        assert isinstance(switch, InMemoryConsumptionSwitch)
        return (lambda: setattr(switch, "available", False), lambda: setattr(switch, "available", True))


class TestFileSwitch(SwitchContract):
    @pytest.fixture
    def switch(self, tmp_path: Path) -> ConsumptionSwitch:
        return FileConsumptionSwitch(tmp_path / "switches", "DC06")

    def reopen(self, switch: ConsumptionSwitch) -> ConsumptionSwitch:
        assert isinstance(switch, FileConsumptionSwitch)
        return FileConsumptionSwitch(switch.flag.parent, "DC06")

    def version(self, switch: ConsumptionSwitch) -> object:
        assert isinstance(switch, FileConsumptionSwitch)
        return switch.flag.stat().st_mtime_ns if switch.flag.exists() else None

    def outage(self, switch: ConsumptionSwitch) -> Outage:
        assert isinstance(switch, FileConsumptionSwitch)
        folder = switch.flag.parent
        aside = folder.with_name("switches.aside")

        def cut() -> None:  # the folder's path becomes a plain file: nothing can be created in it
            folder.mkdir(parents=True, exist_ok=True)
            folder.rename(aside)
            folder.write_text("not a folder")

        def restore() -> None:
            folder.unlink()
            aside.rename(folder)

        return cut, restore


class FakeWebApps:
    """``WebSiteManagementClient.web_apps``: the app's settings, every update recorded."""

    def __init__(self) -> None:
        self.settings = {disabled_setting(): "true", "BRIDGE_REGION": "DC06"}
        self.updates = 0
        self.failing = False

    def list_application_settings(self, resource_group: str, name: str) -> SimpleNamespace:
        if self.failing:
            raise RuntimeError("503 ServiceUnavailable")
        return SimpleNamespace(properties=dict(self.settings))

    def update_application_settings(self, resource_group: str, name: str, settings: SimpleNamespace) -> None:
        self.updates += 1
        self.settings = dict(settings.properties)


class TestAppSettingSwitch(SwitchContract):
    @pytest.fixture
    def switch(self) -> ConsumptionSwitch:
        return self._handle(FakeWebApps())

    @staticmethod
    def _handle(web_apps: FakeWebApps) -> AppSettingConsumptionSwitch:
        # The running app reads its own setting from its environment, as the Functions host set it.
        switch = AppSettingConsumptionSwitch("sub", "rg", "func-bridge-dc06", environ=dict(web_apps.settings))
        switch._client = SimpleNamespace(web_apps=web_apps)
        return switch

    def _web_apps(self, switch: ConsumptionSwitch) -> FakeWebApps:
        assert isinstance(switch, AppSettingConsumptionSwitch)
        web_apps: FakeWebApps = switch._client.web_apps
        return web_apps

    def reopen(self, switch: ConsumptionSwitch) -> ConsumptionSwitch:
        return self._handle(self._web_apps(switch))

    def version(self, switch: ConsumptionSwitch) -> object:
        return self._web_apps(switch).updates

    def outage(self, switch: ConsumptionSwitch) -> Outage:
        web_apps = self._web_apps(switch)
        return (lambda: setattr(web_apps, "failing", True), lambda: setattr(web_apps, "failing", False))

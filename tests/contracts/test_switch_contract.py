"""ConsumptionSwitch contract: one suite, run against its four implementations: the Azure
app-setting switch the control app runs (``AzureWebJobs.transformation_runner.Disabled`` through
azure-mgmt-web, over a fake ``web_apps`` client, since the management API has no local server), the
bridge app's remote switch (a request to the control app's route, served on a local socket behind a
stand-in for Easy Auth, with that app-setting switch behind it), the dev stack's flag file, and the
in-memory twin.

What every switch keeps: it starts as the region was deployed (here: disabled, the passive region);
set/enable round-trips; a repeated value writes nothing (an app-setting write restarts the app:
https://learn.microsoft.com/azure/azure-functions/disable-function); the value outlives the handle
(a new handle over the same store, e.g. the app restarted with the new setting, reads it); a store
that cannot be written raises ``ServiceUnavailable`` and leaves the value as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import azure.functions as func
import pytest

from bootstrap.control import build_control_app
from dev.adapters.file_switch import FileConsumptionSwitch
from shared.adapters.azure_control import AppSettingConsumptionSwitch, disabled_setting
from shared.adapters.control_switch import RemoteConsumptionSwitch
from shared.errors import ServiceUnavailable
from shared.ports import ConsumptionSwitch
from tests.twins import InMemoryConsumptionSwitch
from watchdog.auth import HEADER, SWITCHER, encode_principal
from watchdog.control_blueprint import Control

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
        # The control app reads and writes the bridge app's live settings.
        switch = AppSettingConsumptionSwitch("sub", "rg", "func-bridge-dc06")
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


class EasyAuthHost:
    """The control app as Azure runs it, on a local socket: the platform's part (Easy Auth) turns a
    valid bearer token into the principal header (here: a token issued by :meth:`token_for`), strips
    any client-sent principal, and the host calls the control blueprint's function."""

    def __init__(self, control: Control) -> None:
        self.tokens: dict[str, tuple[str, tuple[str, ...]]] = {}
        function = {
            str(f.get_function_name()): f.get_user_function()
            for f in build_control_app(lambda: control).get_functions()
        }["control_consumption"]
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("x-ms-client")}
                bearer = headers.pop("Authorization", "").removeprefix("Bearer ")
                if bearer not in host.tokens:  # Easy Auth refuses the request before the app sees it
                    self.send_response(401)
                    self.end_headers()
                    return
                headers[HEADER] = encode_principal("", list(host.tokens[bearer][1]), host.tokens[bearer][0])
                request = func.HttpRequest(self.command, "/api/consumption", headers=headers, body=body)
                response = function(request)
                self.send_response(response.status_code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(response.get_body())

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/consumption"

    def token_for(self, object_id: str, roles: tuple[str, ...] = (SWITCHER,)) -> str:
        token = f"token-{len(self.tokens)}"
        self.tokens[token] = (object_id, roles)
        return token

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


BRIDGE_IDENTITY = "11111111-2222-3333-4444-555555555555"


@pytest.mark.integration  # the control app's route on a local socket
class TestRemoteSwitch(SwitchContract):
    """The bridge app's switch: a request to its region's control app, which flips the app setting
    (here the app-setting switch over the fake management client, as in :class:`TestAppSettingSwitch`)."""

    @pytest.fixture
    def switch(self) -> Iterator[ConsumptionSwitch]:
        web_apps = FakeWebApps()
        backend = AppSettingConsumptionSwitch("sub", "rg", "func-bridge-dc06")
        backend._client = SimpleNamespace(web_apps=web_apps)
        self.web_apps = web_apps
        self.host = EasyAuthHost(Control("DC06", backend, BRIDGE_IDENTITY))
        try:
            yield self.reopen(None)
        finally:
            self.host.close()

    def reopen(self, switch: ConsumptionSwitch | None) -> ConsumptionSwitch:
        # The bridge app (re)started with the setting the control app wrote.
        token = self.host.token_for(BRIDGE_IDENTITY)
        return RemoteConsumptionSwitch(self.host.url, lambda: token, environ=dict(self.web_apps.settings))

    def version(self, switch: ConsumptionSwitch) -> object:
        return self.web_apps.updates

    def outage(self, switch: ConsumptionSwitch) -> Outage:
        web_apps = self.web_apps
        return (lambda: setattr(web_apps, "failing", True), lambda: setattr(web_apps, "failing", False))

    def test_only_this_regions_bridge_identity_may_switch(self, switch: ConsumptionSwitch) -> None:
        for stranger in (
            self.host.token_for("99999999-0000-0000-0000-000000000000"),  # the other region's identity
            self.host.token_for(BRIDGE_IDENTITY, roles=("Bridge.Operator",)),  # no Bridge.Switch
            "not-a-token",  # Easy Auth refuses it
        ):
            other = RemoteConsumptionSwitch(self.host.url, lambda t=stranger: t, environ={})  # type: ignore[misc]
            with pytest.raises(ServiceUnavailable, match=r"HTTP (401|403)"):
                other.set_enabled(False)
        assert self.web_apps.updates == 0 and switch.enabled() is False

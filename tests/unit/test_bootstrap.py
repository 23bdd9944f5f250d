"""The composition root: production adapters from settings, adapters handed in by the dev stack,
one ConfigurationError naming what a production adapter lacks, and every handler dependency passed
through ``around``. Building adapters connects to nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import bootstrap
from bootstrap.control import control_of
from dev.adapters.file_switch import FileConsumptionSwitch
from dev.adapters.folder_mq import FolderMqSource
from dev.adapters.messageway_folder import FolderDeliveryTarget
from dev.settings import DevSettings, dev_ports
from shared.adapters.azure_control import AppSettingConsumptionSwitch
from shared.adapters.control_switch import RemoteConsumptionSwitch
from shared.adapters.ibmmq_source import IbmMqConfig, IbmMqSource
from shared.adapters.messageway_mq import MqDeliveryTarget
from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.unit.test_settings import LOCAL
from tests.unit.twins import twin_ports

PRODUCTION = {
    **LOCAL,
    "MQ_QUEUE_MANAGER": "QM1",
    "MQ_CONN_NAME": "mq(1414)",
    "MQ_CHANNEL": "CH",
    "MESSAGEWAY_QUEUE": "MESSAGEWAY.IN",
    "CONTROL_APP_URL": "https://func-bridge-dc04-ctl-x7q2.azurewebsites.net/api/consumption",
    "CONTROL_APP_SCOPE": "5e1f0c2a-7b3d-4c8e-9f10-a2b3c4d5e6f7/.default",
}
CREDENTIALS = {"MQ_USER": "u", "MQ_PASSWORD": "p", "MQ_CIPHER_SPEC": "ANY_TLS13", "MQ_KEY_REPOSITORY": "/k"}


def test_production_ports_read_ibm_mq_deliver_by_mq_put_and_ask_the_control_app() -> None:
    ports = bootstrap.region_ports(Settings.from_mapping(PRODUCTION), env=CREDENTIALS)
    config = IbmMqConfig("QM1", "mq(1414)", "CH", "u", "p", "ANY_TLS13", "/k", 15)
    assert isinstance(ports.mq, IbmMqSource) and ports.mq.connection.config == config
    assert (ports.mq.queue_name, ports.mq.backout_queue_name) == ("STATEMENTS.IN", "STATEMENTS.BACKOUT")
    assert isinstance(ports.target, MqDeliveryTarget) and ports.target.connection.config == config
    assert ports.target.queue_name == "MESSAGEWAY.IN"
    # The bridge app holds no control-plane role: its switch asks the region's control app.
    assert isinstance(ports.switch, RemoteConsumptionSwitch)
    assert ports.switch.url == PRODUCTION["CONTROL_APP_URL"]


def test_what_a_production_adapter_lacks_is_named_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        bootstrap.region_ports(Settings.from_mapping(LOCAL), env={})
    assert "MQ_QUEUE_MANAGER/MQ_CONN_NAME" in str(caught.value)
    assert "CONTROL_APP_URL/CONTROL_APP_SCOPE" in str(caught.value)


def test_the_dev_stack_hands_its_folder_stand_ins_to_the_root(tmp_path: Path) -> None:
    dev = DevSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", switches=tmp_path / "sw")
    ports = dev_ports(Settings.from_mapping(LOCAL), dev)  # no MQ or subscription settings needed
    assert isinstance(ports.mq, FolderMqSource) and ports.mq.owner == "DC04-queue-builder"
    assert isinstance(ports.target, FolderDeliveryTarget) and ports.target.outbox == tmp_path / "out"
    assert isinstance(ports.switch, FileConsumptionSwitch)
    assert ports.switch.flag == tmp_path / "sw" / "DC04.consume"


def test_dev_settings_name_every_missing_folder_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        DevSettings.from_mapping({"LOCAL_SESSIONS": "many"})
    for name in ("MQ_INBOX_DIR", "MESSAGEWAY_OUTBOX_DIR", "CONSUMPTION_SWITCH_DIR", "LOCAL_SESSIONS"):
        assert name in str(caught.value)


@pytest.mark.parametrize("raw", ["0", "1.5", "-2"])
def test_runner_processes_must_be_a_whole_number_of_one_or_more(raw: str) -> None:
    folders = {"MQ_INBOX_DIR": "i", "MESSAGEWAY_OUTBOX_DIR": "o", "CONSUMPTION_SWITCH_DIR": "s"}
    with pytest.raises(ConfigurationError, match="BRIDGE_RUNNER_PROCESSES: a whole number of 1 or more"):
        DevSettings.from_mapping({**folders, "BRIDGE_RUNNER_PROCESSES": raw})
    assert DevSettings.from_mapping(folders).runner_processes == 1
    assert DevSettings.from_mapping({**folders, "BRIDGE_RUNNER_PROCESSES": "3"}).runner_processes == 3


@pytest.mark.parametrize("raw", ["yes", "true", "2", ""])
def test_per_function_is_0_or_1_and_off_by_default(raw: str) -> None:
    folders = {"MQ_INBOX_DIR": "i", "MESSAGEWAY_OUTBOX_DIR": "o", "CONSUMPTION_SWITCH_DIR": "s"}
    with pytest.raises(ConfigurationError, match="BRIDGE_PER_FUNCTION: 0 or 1"):
        DevSettings.from_mapping({**folders, "BRIDGE_PER_FUNCTION": raw})
    assert DevSettings.from_mapping(folders).per_function is False
    assert DevSettings.from_mapping({**folders, "BRIDGE_PER_FUNCTION": "0"}).per_function is False
    assert DevSettings.from_mapping({**folders, "BRIDGE_PER_FUNCTION": "1"}).per_function is True


def test_a_runner_only_process_names_its_own_folder_consumer(tmp_path: Path) -> None:
    dev = DevSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", switches=tmp_path / "sw")
    ports = dev_ports(Settings.from_mapping(LOCAL), dev, owner="DC04-runner-2")
    assert isinstance(ports.mq, FolderMqSource) and ports.mq.owner == "DC04-runner-2"


def test_every_dependency_a_handler_gets_passes_through_around() -> None:
    seen: list[tuple[str, str]] = []

    def around(role: str, name: str, dependency: object, /) -> object:
        seen.append((role, name))
        return dependency

    ports = twin_ports()
    region = bootstrap.wire(Settings.from_mapping(LOCAL), ports, around)  # type: ignore[arg-type]
    assert seen == [
        ("queue_builder", "mq"),
        ("queue_builder", "wal"),
        ("queue_builder", "publisher"),
        ("queue_builder", "quarantine"),
        ("queue_builder", "records"),
        ("runner", "store"),
        ("runner", "target"),
        ("runner", "quarantine"),
        ("runner", "wal"),
        ("runner", "translate"),
        ("replay", "wal"),
    ]
    assert region.queue_builder.mq is ports.mq and region.runner.store is ports.store


CONTROL = {
    "BRIDGE_APP": "control",
    "BRIDGE_REGION": "DC04",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "CONTROL_TARGET_GROUP": "rg-bridge-dc04",
    "CONTROL_TARGET_APP": "func-bridge-dc04-x7q2",
    "CONTROL_CALLER_OBJECT_ID": "11111111-2222-3333-4444-555555555555",
}


def test_the_control_app_switches_its_regions_bridge_app_for_its_bridge_identity_only() -> None:
    assert bootstrap.is_control_app(CONTROL) and not bootstrap.is_control_app(PRODUCTION)
    control = control_of(CONTROL)
    assert isinstance(control.switch, AppSettingConsumptionSwitch)
    assert (control.switch.resource_group, control.switch.app_name) == (
        "rg-bridge-dc04",
        "func-bridge-dc04-x7q2",
    )
    assert (control.region, control.caller_object_id) == ("DC04", CONTROL["CONTROL_CALLER_OBJECT_ID"])
    names = {str(f.get_function_name()) for f in bootstrap.build_control_app(lambda: control).get_functions()}
    assert names == {"control_consumption"}  # nothing of the bridge: no MQ, no XML, no data store


def test_what_the_control_app_lacks_is_named_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        control_of({"BRIDGE_APP": "control", "BRIDGE_REGION": "DC04"})
    for name in (
        "AZURE_SUBSCRIPTION_ID",
        "CONTROL_TARGET_GROUP",
        "CONTROL_TARGET_APP",
        "CONTROL_CALLER_OBJECT_ID",
    ):
        assert name in str(caught.value)

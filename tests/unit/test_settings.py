"""Settings are validated at once and every problem is named."""

import json
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings, schedule_interval_s, setting_names

LOCAL = {
    "BRIDGE_REGION": "DC04",
    "BRIDGE_ROLE": "active",
    "ServiceBusConnection": "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
    "WalStorageDC04": "UseDevelopmentStorage=true",
    "WalStorageDC06": "UseDevelopmentStorage=true",
    "CosmosConnection": "AccountEndpoint=http://127.0.0.1:3000/;AccountKey=a2V5",
    "RedisConnection": "redis://127.0.0.1:6379/0",
}


def test_local_settings_build() -> None:
    settings = Settings.from_mapping(LOCAL)
    assert settings.region == "DC04"
    assert settings.peer_region == "DC06"
    assert settings.servicebus.connection_string is not None
    assert not settings.servicebus.uses_identity
    assert settings.gate_cache_ttl_s == 2.0
    assert settings.auto_promote is True
    assert (settings.lease_s, settings.clock_skew_s, settings.lease_guard_s) == (60.0, 5.0, 10.0)
    assert (settings.role, settings.cosmos_control_container) == ("active", "control")


def test_an_unset_role_is_passive() -> None:
    env = {k: v for k, v in LOCAL.items() if k != "BRIDGE_ROLE"}
    assert Settings.from_mapping(env).role == "passive"  # never creates the lease by accident


@pytest.mark.parametrize(("lease", "guard"), [("6", "6"), ("6", "7"), ("60", "60")])
def test_a_lease_guard_not_below_the_lease_is_refused(lease: str, guard: str) -> None:
    with pytest.raises(ConfigurationError, match=r"LEASE_GUARD_S \(\d+\) must be less than LEASE_S"):
        Settings.from_mapping({**LOCAL, "LEASE_S": lease, "LEASE_GUARD_S": guard})


def test_role_and_lease_settings_are_validated() -> None:
    bad = {**LOCAL, "BRIDGE_ROLE": "primary", "LEASE_S": "0", "CLOCK_SKEW_S": "-1"}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_mapping(bad)
    problems = " ".join(caught.value.problems)
    assert "BRIDGE_ROLE" in problems and "LEASE_S" in problems and "CLOCK_SKEW_S" in problems


def test_identity_based_connection_is_recognised() -> None:
    env = dict(LOCAL)
    del env["ServiceBusConnection"]
    env["ServiceBusConnection__fullyQualifiedNamespace"] = "sb-bridge.servicebus.windows.net"
    settings = Settings.from_mapping(env)
    assert settings.servicebus.uses_identity
    assert settings.servicebus.endpoint == "sb-bridge.servicebus.windows.net"


def test_every_problem_is_named_in_one_error() -> None:
    env = {"BRIDGE_REGION": "DC05", "GATE_CACHE_TTL_S": "-1", "AUTO_PROMOTE": "maybe", "MQ_QUEUE": ""}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_mapping(env)
    text = str(caught.value)
    for name in (
        "BRIDGE_REGION",
        "ServiceBusConnection",
        "WalStorageDC04",
        "WalStorageDC06",
        "CosmosConnection",
        "RedisConnection",
        "GATE_CACHE_TTL_S",
        "AUTO_PROMOTE",
    ):
        assert name in text


def test_setting_names_are_unique() -> None:
    names = setting_names()
    assert len(names) == len(set(names))


def test_the_example_settings_file_lists_every_setting() -> None:
    example = json.loads((Path(__file__).parents[2] / "local.settings.json.example").read_text())["Values"]
    missing = [name for name in setting_names() if name not in example]
    assert missing == []
    assert Settings.from_mapping({**LOCAL, **{k: v for k, v in example.items() if k not in LOCAL and v}})


@pytest.mark.parametrize(("heartbeat", "cache"), [("2", "2"), ("1", "2"), ("0.5", "1")])
def test_a_heartbeat_ttl_not_above_the_gate_cache_ttl_is_refused(heartbeat: str, cache: str) -> None:
    env = {**LOCAL, "HEARTBEAT_TTL_S": heartbeat, "GATE_CACHE_TTL_S": cache}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_mapping(env)
    text = str(caught.value)
    assert "HEARTBEAT_TTL_S" in text
    assert "GATE_CACHE_TTL_S" in text
    assert "must be greater than" in text


def test_a_heartbeat_ttl_above_the_gate_cache_ttl_is_accepted() -> None:
    settings = Settings.from_mapping({**LOCAL, "HEARTBEAT_TTL_S": "3", "GATE_CACHE_TTL_S": "1"})
    assert (settings.heartbeat_ttl_s, settings.gate_cache_ttl_s) == (3.0, 1.0)


def test_the_default_heartbeat_ttl_is_two_default_watchdog_ticks() -> None:
    settings = Settings.from_mapping(LOCAL)
    assert settings.watchdog_schedule == "*/15 * * * * *"
    assert settings.heartbeat_ttl_s == 30.0


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        ("*/10 * * * * *", 10.0),
        ("*/30 * * * * *", 30.0),
        ("0 */5 * * * *", 300.0),
        ("*/7 * * * * *", None),  # 7 does not divide 60: the gaps are uneven (56 -> 0 is 4 s)
        ("0 30 5 * * *", None),  # daily
        ("*/10 * * * *", None),  # five fields: not an NCRONTAB schedule with seconds
        ("5 */2 * * * *", None),
    ],
)
def test_a_schedule_s_fixed_interval(schedule: str, interval: float | None) -> None:
    assert schedule_interval_s(schedule) == interval


def test_a_drain_that_would_outlast_the_timer_interval_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"QUEUE_BUILDER_DRAIN_S \(9.6\) must be at most"):
        Settings.from_mapping(
            {**LOCAL, "QUEUE_BUILDER_SCHEDULE": "*/10 * * * * *", "QUEUE_BUILDER_DRAIN_S": "9.6"}
        )
    settings = Settings.from_mapping({**LOCAL, "QUEUE_BUILDER_SCHEDULE": "*/10 * * * * *"})
    assert settings.queue_builder_drain_s == 9.5  # the default uses the interval less the margin
    minutely = {**LOCAL, "QUEUE_BUILDER_SCHEDULE": "0 */1 * * * *", "QUEUE_BUILDER_DRAIN_S": "59"}
    assert Settings.from_mapping(minutely).queue_builder_drain_s == 59


def test_queue_builder_batch_and_unit_bytes_are_bounded() -> None:
    settings = Settings.from_mapping(LOCAL)
    assert (settings.queue_builder_batch, settings.queue_builder_unit_bytes) == (128, 4 * 1024 * 1024)
    for bad in ("65535", "268435457", "4MB"):
        with pytest.raises(ConfigurationError, match="QUEUE_BUILDER_UNIT_BYTES"):
            Settings.from_mapping({**LOCAL, "QUEUE_BUILDER_UNIT_BYTES": bad})
    assert Settings.from_mapping({**LOCAL, "QUEUE_BUILDER_BATCH": "5000"}).queue_builder_batch == 5000
    for bad in ("0", "5001", "-3", "lots"):
        with pytest.raises(ConfigurationError, match="QUEUE_BUILDER_BATCH"):
            Settings.from_mapping({**LOCAL, "QUEUE_BUILDER_BATCH": bad})


def test_statement_formats_by_account_or_receiver() -> None:
    assert Settings.from_mapping(LOCAL).statement_formats == ()
    settings = Settings.from_mapping(
        {
            **LOCAL,
            "STATEMENT_FORMATS": '{"DE89370400440532013000": "mt940", "*": "MT950", "DEUTDEFF": "MT940"}',
        }
    )
    assert dict(settings.statement_formats) == {
        "DE89370400440532013000": "MT940",
        "*": "MT950",
        "DEUTDEFF": "MT940",
    }
    hash(settings)  # still hashable (kept as sorted pairs)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("MT940", "not JSON"),
        ('["MT940"]', "must be a JSON object"),
        ('{"DE89": "MT942"}', "'MT942' is not MT940 or MT950"),
        ('{"": "MT940"}', "is not MT940 or MT950"),
    ],
)
def test_bad_statement_formats_are_named(raw: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_mapping({**LOCAL, "STATEMENT_FORMATS": raw})
    assert "STATEMENT_FORMATS" in str(caught.value) and words in str(caught.value)

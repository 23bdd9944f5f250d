"""Settings: one typed, frozen object built from a mapping (the environment in production).

:func:`Settings.from_mapping` validates everything at once and raises one
:class:`~shared.errors.ConfigurationError` naming every missing or malformed setting.
:func:`load_settings` reads ``os.environ`` once, lazily, on first use (never at import time).

Connections follow the Azure Functions convention for identity-based connections: a connection
named ``X`` is either a connection string in setting ``X`` (local services only) or, in Azure, the
endpoint in ``X__fullyQualifiedNamespace`` / ``X__serviceUri`` / ``X__accountEndpoint`` used with
``DefaultAzureCredential`` (managed identity). See :class:`Connection`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from shared.errors import ConfigurationError
from shared.model import REGIONS
from shared.retention import RetentionPolicy, horizon_problem

#: IBM MQ's ``MaxUncommittedMsgs`` (``MAXUMSGS``) defaults to 10,000 per unit of work; a message
#: bound for the backout queue is a get and a put in the same unit, so at most 5,000 messages fit.
MAX_QUEUE_BUILDER_BATCH = 5000
#: Bounds of ``QUEUE_BUILDER_UNIT_BYTES``: body bytes of one unit of work, i.e. of one WAL segment.
#: 256 MiB is far below a Consumption/Flex instance's 2 GB; a single larger message still makes a
#: unit (and a segment) of its own.
MIN_UNIT_BYTES, MAX_UNIT_BYTES = 64 * 1024, 256 * 1024 * 1024


@dataclass(frozen=True)
class Connection:
    """A connection by name: a local connection string, or an Azure endpoint for managed identity."""

    name: str
    connection_string: str | None = None
    endpoint: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None


_ENDPOINT_SUFFIXES = ("fullyQualifiedNamespace", "serviceUri", "accountEndpoint", "host")


def _connection(env: Mapping[str, str], name: str) -> Connection | None:
    if env.get(name):
        return Connection(name, connection_string=env[name])
    for suffix in _ENDPOINT_SUFFIXES:
        value = env.get(f"{name}__{suffix}")
        if value:
            return Connection(name, endpoint=value)
    return None


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _region(raw: str) -> str:
    if raw not in REGIONS:
        raise ValueError(f"expected one of {', '.join(REGIONS)}, got {raw!r}")
    return raw


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return raw

    return parse


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if value <= 0:
            raise ValueError(f"must be positive, got {raw!r}")
        return value

    return parse


def _non_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"must be zero or more, got {raw!r}")
        return value

    return parse


BALANCE_MODES = ("strict", "as-sent")
STATEMENT_FORMATS = ("MT940", "MT950")


def _json_object(raw: str, shape: str) -> dict[str, object]:
    """A setting holding a JSON object (``shape`` says what it maps, for the error)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from error
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object of {shape}")
    return value


def parse_policies(raw: str) -> tuple[tuple[str, str], ...]:
    """``BALANCE_POLICIES``: a JSON object, account id, sender BIC or ``*`` → ``strict`` | ``as-sent``
    (:mod:`transformation_runner.policy`); kept as sorted pairs so Settings stays hashable."""
    pairs = []
    for key, mode in _json_object(raw, "account, sender BIC or * -> strict | as-sent").items():
        if not key or mode not in BALANCE_MODES:
            raise ValueError(f"{key!r}: {mode!r} is not one of {', '.join(BALANCE_MODES)}")
        pairs.append((str(key), str(mode)))
    return tuple(sorted(pairs))


def _statement_formats(raw: str) -> tuple[tuple[str, str], ...]:
    """``STATEMENT_FORMATS``: a JSON object, account id or receiver BIC (11 or 8 characters) or ``*``
    → ``MT940`` or ``MT950``; the camt.053 statements it names are sent in that format (unnamed
    ones as MT950; a camt.052 always becomes MT942). Kept as sorted pairs: Settings stays hashable."""
    pairs = []
    for key, target in _json_object(raw, "account or BIC -> MT940 | MT950").items():
        name = str(target).upper()
        if not key or name not in STATEMENT_FORMATS:
            raise ValueError(f"{key!r}: {target!r} is not MT940 or MT950")
        pairs.append((key, name))
    return tuple(sorted(pairs))


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {raw!r}")
        return value

    return parse


def _setting(env: str, parse: Callable[[str], Any] = str, default: Any = None, doc: str = "") -> Any:
    """Declare a plain setting: its environment name, parser, default (``None`` = required)."""
    return field(metadata={"env": env, "parse": parse, "default": default, "doc": doc})


def _conn(env: str, required: bool = True, doc: str = "") -> Any:
    """Declare a connection setting (see :class:`Connection`)."""
    return field(metadata={"env": env, "connection": True, "required": required, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every setting the three functions read. Environment names are in each field's metadata.

    Production settings only: the dev stack's own settings (folder inbox and outbox, switch folder,
    crash points) live with it in ``dev/settings.py``. ``MQ_QUEUE_MANAGER``/``MQ_CONN_NAME`` and
    ``AZURE_SUBSCRIPTION_ID`` are checked where the adapters needing them are built
    (``bootstrap.region_ports``), since the dev stack replaces those adapters."""

    region: str = _setting("BRIDGE_REGION", _region, doc="this app's region: DC04 or DC06")
    # Connections (connection string locally, managed identity in Azure).
    servicebus: Connection = _conn("ServiceBusConnection", doc="Service Bus namespace")
    wal_dc04: Connection = _conn("WalStorageDC04", doc="WAL storage account in DC04")
    wal_dc06: Connection = _conn("WalStorageDC06", doc="WAL storage account in DC06")
    cosmos: Connection = _conn("CosmosConnection", doc="Cosmos DB account (idempotency records)")
    redis: Connection = _conn("RedisConnection", doc="this region's Redis: the gate mirror (fast path)")
    # Names.
    queue_name: str = _setting("ServiceBusQueueName", default="statements")
    wal_container: str = _setting("WAL_CONTAINER", default="wal")
    quarantine_container: str = _setting("QUARANTINE_CONTAINER", default="quarantine")
    backup_container: str = _setting("OUTPUT_BACKUP_CONTAINER", default="", doc="empty = no backup")
    cosmos_database: str = _setting("COSMOS_DATABASE", default="bridge")
    cosmos_container: str = _setting("COSMOS_CONTAINER", default="records")
    cosmos_control_container: str = _setting(
        "COSMOS_CONTROL_CONTAINER", default="control", doc="region lease, sequences, checkpoints, heartbeats"
    )
    # IBM MQ (input) and MessageWay (output).
    mq_queue_manager: str = _setting("MQ_QUEUE_MANAGER", default="")
    mq_channel: str = _setting("MQ_CHANNEL", default="")
    mq_conn_name: str = _setting("MQ_CONN_NAME", default="", doc="host(port)[,host(port)]")
    mq_queue: str = _setting("MQ_QUEUE", default="STATEMENTS.IN")
    mq_backout_queue: str = _setting("MQ_BACKOUT_QUEUE", default="STATEMENTS.BACKOUT")
    mq_backout_threshold: int = _setting("MQ_BACKOUT_THRESHOLD", _positive(int), default="3")
    messageway_queue: str = _setting("MESSAGEWAY_QUEUE", default="MESSAGEWAY.IN")
    # Protocol tunables (docs/failover.md explains each trade-off).
    gate_cache_ttl_s: float = _setting("GATE_CACHE_TTL_S", _positive(float), default="2")
    heartbeat_ttl_s: float = _setting(
        "HEARTBEAT_TTL_S",
        _positive(float),
        default="30",
        doc="> GATE_CACHE_TTL_S and >= 2 x the Watchdog interval (docs/failover.md)",
    )
    watchdog_misses: int = _setting(
        "WATCHDOG_MISSES",
        _positive(int),
        default="3",
        doc="consecutive Watchdog ticks that must see the active region's lease ended before promoting",
    )
    lease_s: float = _setting(
        "LEASE_S",
        _positive(float),
        default="60",
        doc="the active region's lease, renewed every Watchdog tick; > LEASE_GUARD_S (docs/failover.md)",
    )
    clock_skew_s: float = _setting(
        "CLOCK_SKEW_S",
        _non_negative(float),
        default="5",
        doc="largest clock difference between the regions' hosts; a new lease starts this long after the old",
    )
    lease_guard_s: float = _setting(
        "LEASE_GUARD_S",
        _non_negative(float),
        default="10",
        doc="new work stops this long before the lease ends (room for work in flight); < LEASE_S",
    )
    role: str = _setting(
        "BRIDGE_ROLE",
        _choice("active", "passive"),
        default="passive",
        doc="the region's role at deployment: only an active region initialises the region lease",
    )
    auto_promote: bool = _setting("AUTO_PROMOTE", _bool, default="true")
    replay_interval_s: float = _setting("REPLAY_INTERVAL_S", float, default="900", doc="0 = off")
    cosmos_write_hold_s: float = _setting(
        "COSMOS_WRITE_HOLD_S",
        _positive(float),
        default="480",
        doc="the runner holds a message this long while Cosmos accepts no writes; < the lock renewal limit",
    )
    replay_slice_s: float = _setting(
        "REPLAY_SLICE_S",
        _positive(float),
        default="5",
        doc="replay work per Watchdog tick (one slice); well below the tick interval (watchdog/replay.py)",
    )
    claim_lease_s: float = _setting("CLAIM_LEASE_S", _positive(float), default="60")
    claim_check_bytes: int = _setting("CLAIM_CHECK_BYTES", _positive(int), default="196608")
    wal_replication_window_s: float = _setting(
        "WAL_REPLICATION_WINDOW_S",
        _positive(float),
        default="60",
        doc="a claim-check body missing from both WAL copies is retried this long after its enqueue, "
        "then recorded FAILED wal-body-missing; below the backoff before MaxDeliveryCount (about 90 s)",
    )
    max_body_bytes: int = _setting("MAX_BODY_BYTES", _positive(int), default="104857600")
    wal_allow_degraded: bool = _setting("WAL_ALLOW_DEGRADED", _bool, default="false")
    queue_builder_schedule: str = _setting("QUEUE_BUILDER_SCHEDULE", default="*/10 * * * * *")
    queue_builder_drain_s: float = _setting("QUEUE_BUILDER_DRAIN_S", _positive(float), default="8")
    queue_builder_batch: int = _setting(
        "QUEUE_BUILDER_BATCH",
        _int_between(1, MAX_QUEUE_BUILDER_BATCH),
        default="128",
        doc="messages per MQ unit of work (one WAL segment), 1-5000 (docs/deployment.md)",
    )
    queue_builder_unit_bytes: int = _setting(
        "QUEUE_BUILDER_UNIT_BYTES",
        _int_between(MIN_UNIT_BYTES, MAX_UNIT_BYTES),
        default="4194304",
        doc="body bytes per MQ unit of work (one WAL segment), 64 KiB-256 MiB; a larger message goes alone",
    )
    watchdog_schedule: str = _setting("WATCHDOG_SCHEDULE", default="*/15 * * * * *")
    queue_builder_stale_s: float = _setting("QUEUE_BUILDER_STALE_S", _positive(float), default="60")
    balance_mode: str = _setting("TRANSLATION_BALANCE_MODE", _choice(*BALANCE_MODES), default="strict")
    statement_formats: tuple[tuple[str, str], ...] = _setting(
        "STATEMENT_FORMATS",
        _statement_formats,
        default="{}",
        doc='camt.053 target per account/receiver BIC/"*": JSON {"DE89...": "MT940"}; default MT950',
    )
    balance_policies: tuple[tuple[str, str], ...] = _setting(
        "BALANCE_POLICIES",
        parse_policies,
        default="{}",
        doc='balance policy per account, sender BIC or "*": JSON {"CH93...": "as-sent"} (see policy.py)',
    )
    # The operations desk (watchdog/desk.py): journal container, daily reconciliation.
    operations_container: str = _setting("OPERATIONS_CONTAINER", default="operations")
    reconcile_schedule: str = _setting("RECONCILE_SCHEDULE", default="0 30 5 * * *")
    reconcile_stuck_after_s: float = _setting(
        "RECONCILE_STUCK_AFTER_S",
        _positive(float),
        default="900",
        doc="a WAL entry without a final record this long after ingest is reported stuck",
    )
    # WAL retention (shared/retention.py, watchdog/retention.py, docs/storage.md#retention).
    service_bus_message_ttl_days: float = _setting(
        "SERVICE_BUS_MESSAGE_TTL_DAYS",
        _positive(float),
        default="14",
        doc="the queue's defaultMessageTimeToLive in days (infra sets both from one parameter)",
    )
    dead_letter_window_days: float = _setting(
        "DEAD_LETTER_WINDOW_DAYS",
        _positive(float),
        default="30",
        doc="the longest a dead letter may wait for its redrive (runbook); a WAL segment outlives it",
    )
    wal_audit_horizon_days: float = _setting(
        "WAL_AUDIT_HORIZON_DAYS",
        _positive(float),
        default="400",
        doc="no WAL segment is deleted younger than this; >= the message TTL + the dead-letter window",
    )
    wal_retention_page: int = _setting(
        "WAL_RETENTION_PAGE",
        _positive(int),
        default="50",
        doc="WAL segments the retention examines per Watchdog tick",
    )
    wal_retention_interval_s: float = _setting(
        "WAL_RETENTION_INTERVAL_S",
        _positive(float),
        default="86400",
        doc="from the end of one retention pass over the WAL to the start of the next",
    )
    default_sender_bic: str = _setting("DEFAULT_SENDER_BIC", default="")
    default_receiver_bic: str = _setting("DEFAULT_RECEIVER_BIC", default="")
    # Azure control plane, used by the Watchdog on promotion/demotion (empty = skip that step).
    azure_subscription_id: str = _setting("AZURE_SUBSCRIPTION_ID", default="")
    function_app_dc04: str = _setting("FUNCTION_APP_NAME_DC04", default="")
    function_app_dc06: str = _setting("FUNCTION_APP_NAME_DC06", default="")
    resource_group_dc04: str = _setting("RESOURCE_GROUP_DC04", default="")
    resource_group_dc06: str = _setting("RESOURCE_GROUP_DC06", default="")

    @property
    def peer_region(self) -> str:
        return REGIONS[1] if self.region == REGIONS[0] else REGIONS[0]

    def wal_connection(self, region: str) -> Connection:
        return self.wal_dc04 if region == "DC04" else self.wal_dc06

    def function_app(self, region: str) -> str:
        return self.function_app_dc04 if region == "DC04" else self.function_app_dc06

    def resource_group(self, region: str) -> str:
        return self.resource_group_dc04 if region == "DC04" else self.resource_group_dc06

    @property
    def retention_policy(self) -> RetentionPolicy:
        """The WAL retention bounds (validated with the rest of the settings)."""
        return RetentionPolicy(
            self.service_bus_message_ttl_days, self.dead_letter_window_days, self.wal_audit_horizon_days
        )

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Build and validate; every problem is named in one ``ConfigurationError``."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            meta = f.metadata
            name = meta["env"]
            if meta.get("connection"):
                conn = _connection(env, name)
                if conn is None and meta["required"]:
                    problems.append(
                        f"{name}: missing (set {name} to a local connection string, or "
                        f"{name}__<endpoint> for managed identity)"
                    )
                values[f.name] = conn
                continue
            raw = env.get(name, meta["default"])
            if raw is None:
                problems.append(f"{name}: missing ({meta['doc'] or f.name})")
                continue
            try:
                values[f.name] = meta["parse"](raw)
            except ValueError as error:
                problems.append(f"{name}: {error}")
        problems.extend(_cross_checks(values))
        if problems:
            raise ConfigurationError(problems)
        return cls(**values)


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    problems = []
    heartbeat, cache = values.get("heartbeat_ttl_s"), values.get("gate_cache_ttl_s")
    if heartbeat is not None and cache is not None and heartbeat <= cache:
        # docs/failover.md, "What must stay true whatever the values".
        problems.append(
            f"HEARTBEAT_TTL_S/GATE_CACHE_TTL_S: HEARTBEAT_TTL_S ({heartbeat:g}) must be greater "
            f"than GATE_CACHE_TTL_S ({cache:g})"
        )
    lease, guard = values.get("lease_s"), values.get("lease_guard_s")
    if lease is not None and guard is not None and guard >= lease:
        problems.append(
            f"LEASE_GUARD_S/LEASE_S: LEASE_GUARD_S ({guard:g}) must be less than LEASE_S ({lease:g})"
        )
    ttl, dead, horizon = (
        values.get("service_bus_message_ttl_days"),
        values.get("dead_letter_window_days"),
        values.get("wal_audit_horizon_days"),
    )
    if ttl is not None and dead is not None and horizon is not None:
        problem = horizon_problem(ttl, dead, horizon)
        if problem is not None:
            problems.append(problem)
    return problems


def setting_names() -> list[str]:
    """Every environment name the settings read (used by the infra and example-settings tests)."""
    return [f.metadata["env"] for f in fields(Settings)]


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_mapping(os.environ)

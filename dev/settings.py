"""The dev stack's own settings and its composition: production settings plus the stand-ins.

Production :class:`~shared.settings.Settings` holds no dev-only setting. A region process of the local
host (``dev.region``) reads both from its environment: :class:`DevSettings` names the folder inbox
(IBM MQ's stand-in), the folder outbox (MessageWay's), the folder of consumption flags (the runner's
``Disabled`` app setting) and the crash points armed around the ports (``dev/faults.py``), plus the
local host's own loop settings. :func:`dev_region` builds the dev adapters and hands them to the
composition root (``bootstrap.region_ports``), which builds every other adapter as in Azure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import bootstrap
from dev.adapters.file_switch import FileConsumptionSwitch
from dev.adapters.folder_mq import FolderMqSource
from dev.adapters.messageway_folder import FolderDeliveryTarget
from dev.faults import CrashPoints
from shared.errors import ConfigurationError
from shared.settings import Settings


@dataclass(frozen=True)
class DevSettings:
    """Settings only the dev stack reads (environment names in capitals)."""

    inbox: Path  # MQ_INBOX_DIR: the folder inbox standing in for IBM MQ
    outbox: Path  # MESSAGEWAY_OUTBOX_DIR: the folder outbox standing in for MessageWay
    switches: Path  # CONSUMPTION_SWITCH_DIR: <region>.consume flag files
    faults: str = ""  # BRIDGE_FAULTS: crash points, e.g. "runner.after_deliver=exit@3"
    function_key: str = ""  # LOCAL_FUNCTION_KEY: the key the local HTTP routes require
    session_idle_s: float = 0.25  # LOCAL_SESSION_IDLE_S
    max_lock_renewal_s: float = 300.0  # LOCAL_MAX_LOCK_RENEWAL_S: the host's maxAutoLockRenewalDuration
    sessions: int = 16  # LOCAL_SESSIONS: sessions received in parallel, per runner process
    runner_processes: int = 1  # BRIDGE_RUNNER_PROCESSES: processes running the region's runner
    per_function: bool = False  # BRIDGE_PER_FUNCTION=1: the runner only in runner-only children
    queue_builder_interval_s: float = 1.0  # QUEUE_BUILDER_INTERVAL_S: the local timer
    watchdog_interval_s: float = 1.0  # WATCHDOG_INTERVAL_S: the local timer

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> DevSettings:
        """Build from ``env``; one ``ConfigurationError`` names every missing or malformed setting."""
        problems = [f"{name}: missing" for name in DEV_FOLDERS if not env.get(name)]
        numbers: dict[str, float] = {}
        for name, default in _NUMBERS.items():
            try:
                numbers[name] = float(env.get(name, default))
            except ValueError:
                problems.append(f"{name}: not a number: {env[name]!r}")
        processes = numbers.get("BRIDGE_RUNNER_PROCESSES", 1.0)
        if processes < 1 or processes != int(processes):
            problems.append(f"BRIDGE_RUNNER_PROCESSES: a whole number of 1 or more, got {processes:g}")
        per_function = env.get("BRIDGE_PER_FUNCTION", "0")
        if per_function not in ("0", "1"):
            problems.append(f"BRIDGE_PER_FUNCTION: 0 or 1, got {per_function!r}")
        if problems:
            raise ConfigurationError(problems)
        return cls(
            inbox=Path(env["MQ_INBOX_DIR"]),
            outbox=Path(env["MESSAGEWAY_OUTBOX_DIR"]),
            switches=Path(env["CONSUMPTION_SWITCH_DIR"]),
            faults=env.get("BRIDGE_FAULTS", ""),
            function_key=env.get("LOCAL_FUNCTION_KEY", ""),
            session_idle_s=numbers["LOCAL_SESSION_IDLE_S"],
            max_lock_renewal_s=numbers["LOCAL_MAX_LOCK_RENEWAL_S"],
            sessions=int(numbers["LOCAL_SESSIONS"]),
            runner_processes=int(numbers["BRIDGE_RUNNER_PROCESSES"]),
            per_function=per_function == "1",
            queue_builder_interval_s=numbers["QUEUE_BUILDER_INTERVAL_S"],
            watchdog_interval_s=numbers["WATCHDOG_INTERVAL_S"],
        )


DEV_FOLDERS = ("MQ_INBOX_DIR", "MESSAGEWAY_OUTBOX_DIR", "CONSUMPTION_SWITCH_DIR")
_NUMBERS = {
    "LOCAL_SESSION_IDLE_S": "0.25",
    "LOCAL_MAX_LOCK_RENEWAL_S": "300",
    "LOCAL_SESSIONS": "16",
    "BRIDGE_RUNNER_PROCESSES": "1",
    "QUEUE_BUILDER_INTERVAL_S": "1",
    "WATCHDOG_INTERVAL_S": "1",
}
#: Every setting only the dev stack reads (no deployed module may name one: tests/boundary), and the
#: two the deployed app no longer has (the folder stand-ins are handed in, not chosen by a mode).
DEV_SETTING_NAMES = frozenset(
    {
        *DEV_FOLDERS,
        *_NUMBERS,
        "BRIDGE_PER_FUNCTION",
        "BRIDGE_FAULTS",
        "LOCAL_FUNCTION_KEY",
        "MQ_MODE",
        "MESSAGEWAY_MODE",
    }
)


def dev_ports(settings: Settings, dev: DevSettings, *, owner: str | None = None) -> bootstrap.Ports:
    """The production adapters of ``settings.region`` with the folder inbox, folder outbox and file
    switch in place of IBM MQ, MessageWay and the app setting. ``owner`` names the folder consumer's
    unit of work (default ``<region>-queue-builder``)."""
    return bootstrap.region_ports(
        settings,
        mq=FolderMqSource(dev.inbox, owner or f"{settings.region}-queue-builder"),
        target=FolderDeliveryTarget(dev.outbox, settings.region),
        switch=FileConsumptionSwitch(dev.switches, settings.region),
    )


def dev_region(
    env: Mapping[str, str] | None = None, *, owner: str | None = None
) -> tuple[bootstrap.Components, DevSettings]:
    """One region of the local host from ``env`` (default: the process environment): the composition
    root's handlers on :func:`dev_ports`, with the crash points of ``BRIDGE_FAULTS`` armed around them.
    ``owner`` as in :func:`dev_ports`: a runner-only process names its own, so that building its
    (unused) folder source never backs out the QueueBuilder's unit of work."""
    source = os.environ if env is None else env
    settings, dev = Settings.from_mapping(source), DevSettings.from_mapping(source)
    around: bootstrap.Around = CrashPoints(dev.faults) if dev.faults else bootstrap.as_is
    return bootstrap.wire(settings, dev_ports(settings, dev, owner=owner), around), dev

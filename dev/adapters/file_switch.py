"""The local host's consumption switch: a flag file per region (the stand-in for the app setting)."""

from __future__ import annotations

from pathlib import Path

from shared.errors import ServiceUnavailable
from shared.ports import ConsumptionSwitch


class FileConsumptionSwitch(ConsumptionSwitch):
    """Consumption is enabled while ``<root>/<region>.consume`` exists; the region process polls it.

    A folder that cannot be written raises ``ServiceUnavailable``, as the app-setting switch does
    when the management API fails (tests/contracts/test_switch_contract.py)."""

    def __init__(self, root: Path, region: str) -> None:
        self.flag = root / f"{region}.consume"

    def set_enabled(self, enabled: bool) -> None:
        if self.enabled() == enabled:
            return  # idempotent without a write, as the app-setting switch (each write restarts the app)
        try:
            self.flag.parent.mkdir(parents=True, exist_ok=True)
            if enabled:
                self.flag.touch()
            else:
                self.flag.unlink(missing_ok=True)
        except OSError as error:
            raise ServiceUnavailable("consumption-switch", f"cannot write {self.flag}: {error}") from error

    def enabled(self) -> bool:
        return self.flag.exists()

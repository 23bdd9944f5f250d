"""The local host's consumption switch: a flag file per region (the stand-in for the app setting)."""

from __future__ import annotations

from pathlib import Path

from shared.ports import ConsumptionSwitch


class FileConsumptionSwitch(ConsumptionSwitch):
    """Consumption is enabled while ``<root>/<region>.consume`` exists; the region process polls it."""

    def __init__(self, root: Path, region: str) -> None:
        self.flag = root / f"{region}.consume"

    def set_enabled(self, enabled: bool) -> None:
        self.flag.parent.mkdir(parents=True, exist_ok=True)
        if enabled:
            self.flag.touch()
        else:
            self.flag.unlink(missing_ok=True)

    def enabled(self) -> bool:
        return self.flag.exists()

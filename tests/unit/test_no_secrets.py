"""No secrets in the repository: every tracked file is scanned for key- and password-shaped values.

One value is allowed, by name: Azurite's development account key, which Microsoft publishes and which
only opens the local emulator. Test files that plant fake secrets to prove a scanner works are listed
in ``PLANTED`` with their reason.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
AZURITE_PUBLIC_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
PLANTED = {"tests/infra/test_security.py": "feeds fake secrets to the Bicep secret scanner"}
PATTERNS = {
    "storage or Cosmos key": re.compile(r"AccountKey=([A-Za-z0-9+/]{30,}={0,2})"),
    "Service Bus SAS key": re.compile(r"SharedAccessKey=([A-Za-z0-9+/]{30,}={0,2})"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Redis access key": re.compile(r"redis(?:s)?://:([^@\s]{16,})@"),
    "literal password": re.compile(r"(?i)password\s*[=:]\s*['\"]([^'\"{}$]{8,})['\"]"),
    "Application Insights key": re.compile(r"InstrumentationKey=([0-9a-f-]{36})"),
}


def tracked_files() -> list[Path]:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    names = listing.stdout.splitlines()
    return [ROOT / name for name in names if name not in PLANTED and not name.endswith("package-lock.json")]


def test_no_secret_shaped_values_are_tracked() -> None:
    findings = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                value = match.group(1) if match.groups() else match.group(0)
                if value.rstrip("=") == AZURITE_PUBLIC_KEY.rstrip("=") or value.startswith(
                    AZURITE_PUBLIC_KEY[:20]
                ):
                    continue
                findings.append(f"{path.relative_to(ROOT)}: {what}")
    assert findings == []


def test_local_settings_is_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "local.settings.json"], cwd=ROOT, capture_output=True, check=False
    )
    assert ignored.returncode == 0

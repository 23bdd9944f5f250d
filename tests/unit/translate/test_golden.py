"""Golden files: every translating public camt.053 sample against its reviewed MT950 expectation.

``REGENERATE_GOLDEN=1`` rewrites the expectations (after a review, see tests/golden/SOURCES.md); the
flag is refused when ``CI`` is set, so a pipeline can never bless its own output (as wolph/mt940 does).
"""

from __future__ import annotations

import os

import pytest

from tests.unit.translate.fin import GOLDEN, messages
from transformation_runner.translate import TranslationOptions, translate

CASES = sorted(path.stem for path in GOLDEN.glob("*.xml"))
DEFAULT_SENDER = "BANKDEFFXXX"
DEFAULT_RECEIVER = "CUSTDEFFXXX"


def options_for(case: str) -> TranslationOptions:
    return TranslationOptions(
        sender_bic=DEFAULT_SENDER,
        receiver_bic=DEFAULT_RECEIVER,
        balance_mode="as-sent" if case.startswith("as_sent_") else "strict",
    )


def _regenerate() -> bool:
    if not os.environ.get("REGENERATE_GOLDEN"):
        return False
    if os.environ.get("CI"):
        raise RuntimeError("REGENERATE_GOLDEN is refused in CI: review and regenerate locally")
    return True


def test_every_case_has_an_expectation() -> None:
    assert len(CASES) == 22
    missing = [case for case in CASES if not (GOLDEN / f"{case}.mt950").exists()]
    assert not missing or _regenerate(), f"no expectation for {missing}"


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    result = translate((GOLDEN / f"{case}.xml").read_bytes(), options_for(case))
    produced = "".join(result.messages)
    expected_path = GOLDEN / f"{case}.mt950"
    if _regenerate():
        expected_path.write_bytes(produced.encode("ascii"))
    expected = expected_path.read_bytes().decode("ascii")
    assert produced == expected
    assert len(messages(expected)) == len(result.messages)

"""Golden files: every translating public sample against its reviewed expectation, in every format
it can become: a camt.053 as MT950 (``<case>.mt950``) and MT940 (``<case>.mt940``), a camt.052
(``camt052_*``) as MT942 (``<case>.mt942``).

``REGENERATE_GOLDEN=1`` rewrites the expectations (after a review, see tests/golden/SOURCES.md); the
flag is refused when ``CI`` is set, so a pipeline can never bless its own output (as wolph/mt940 does).
"""

from __future__ import annotations

import os

import pytest

from tests.unit.translate.fin import GOLDEN, messages
from transformation_runner.translate import TranslationOptions, translate

CASES = sorted(path.stem for path in GOLDEN.glob("*.xml"))
REPORT_CASES = [case for case in CASES if case.startswith("camt052_")]
STATEMENT_CASES = [case for case in CASES if case not in REPORT_CASES]
TARGETS = [
    *((case, "MT950") for case in STATEMENT_CASES),
    *((case, "MT940") for case in STATEMENT_CASES),
    *((case, "MT942") for case in REPORT_CASES),
]
DEFAULT_SENDER = "BANKDEFFXXX"
DEFAULT_RECEIVER = "CUSTDEFFXXX"


def options_for(case: str, target: str = "") -> TranslationOptions:
    return TranslationOptions(
        sender_bic=DEFAULT_SENDER,
        receiver_bic=DEFAULT_RECEIVER,
        balance_mode="as-sent" if case.startswith("as_sent_") else "strict",
        format=target,
    )


def _regenerate() -> bool:
    if not os.environ.get("REGENERATE_GOLDEN"):
        return False
    if os.environ.get("CI"):
        raise RuntimeError("REGENERATE_GOLDEN is refused in CI: review and regenerate locally")
    return True


def test_every_case_has_an_expectation() -> None:
    assert (len(STATEMENT_CASES), len(REPORT_CASES)) == (22, 5)
    missing = [f"{case}.{target.lower()}" for case, target in TARGETS]
    missing = [name for name in missing if not (GOLDEN / name).exists()]
    assert not missing or _regenerate(), f"no expectation for {missing}"


@pytest.mark.parametrize(("case", "target"), TARGETS)
def test_golden(case: str, target: str) -> None:
    result = translate((GOLDEN / f"{case}.xml").read_bytes(), options_for(case, target))
    produced = "".join(result.messages)
    expected_path = GOLDEN / f"{case}.{target.lower()}"
    if _regenerate():
        expected_path.write_bytes(produced.encode("ascii"))
    expected = expected_path.read_bytes().decode("ascii")
    assert produced == expected
    assert len(messages(expected)) == len(result.messages)
    assert result.formats == (target,)


@pytest.mark.parametrize("case", CASES)
def test_the_default_format_follows_the_document(case: str) -> None:
    """No format asked: a camt.053 becomes MT950, a camt.052 MT942 (the same text as asked for)."""
    result = translate((GOLDEN / f"{case}.xml").read_bytes(), options_for(case))
    target = "mt942" if case in REPORT_CASES else "mt950"
    assert "".join(result.messages) == (GOLDEN / f"{case}.{target}").read_bytes().decode("ascii")

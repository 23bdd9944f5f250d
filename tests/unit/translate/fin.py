"""A deliberately small FIN reader for the tests, independent of the translator's own validator.

It splits FIN messages apart, takes block 4 and cuts it into ``(tag, value)`` fields, and cuts field
61 into its subfields with one regular expression written from the SWIFT User Handbook MT950 format
(``6!n[4!n]2a[1!a]15d1!a3!c16x[//16x][34x]``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
GOLDEN = TESTS / "golden"
SAMPLES = TESTS / "samples"

_MESSAGE = re.compile(r"\{1:[^}]*\}\{2:[^}]*\}(?:\{3:(?:\{[^}]*\})*\})?\{4:\r\n(.*?)\r\n-\}", re.S)
_FIELD = re.compile(r"^:([0-9]{2}[A-Z]?):", re.M)
_61 = re.compile(
    r"(?P<value_date>\d{6})(?P<entry_date>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?"
    r"(?P<amount>\d+,\d*)(?P<type>[SNF][A-Z0-9]{3})(?P<reference>.+?)(?://(?P<servicer>.+?))?"
    r"(?:\r\n(?P<details>.+))?$",
    re.S,
)
_BALANCE = re.compile(r"(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d+,\d*)$")


def messages(text: str) -> list[str]:
    """Every message's block 4 body (between ``{4:CRLF`` and ``CRLF-}``)."""
    return _MESSAGE.findall(text)


def headers(text: str) -> list[str]:
    """Blocks 1 and 2 of every message."""
    return re.findall(r"(\{1:[^}]*\}\{2:[^}]*\})\{4:", text)


def fields(block4: str) -> list[tuple[str, str]]:
    starts = list(_FIELD.finditer(block4))
    out = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() - 2 if index + 1 < len(starts) else len(block4)
        out.append((match.group(1), block4[match.end() : end]))
    return out


def statement_line(value: str) -> dict[str, str | None]:
    match = _61.match(value)
    assert match, value
    return match.groupdict()


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ".") or "0")


def balance(value: str) -> tuple[Decimal, str, str]:
    """(signed amount, YYMMDD, currency) of a 60a/62a/64 value."""
    match = _BALANCE.match(value)
    assert match, value
    sign = -1 if match["mark"] == "D" else 1
    return sign * amount(match["amount"]), match["date"], match["currency"]


def signed(line: dict[str, str | None]) -> Decimal:
    """Field 61 amount with its sign: C and RD add, D and RC subtract."""
    value = amount(line["amount"] or "")
    return value if line["mark"] in {"C", "RD"} else -value

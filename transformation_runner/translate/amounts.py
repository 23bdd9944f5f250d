"""Amounts, currencies and dates as SWIFT MT writes them.

* Amount (``15d``): digits, one decimal comma, at most 15 characters, never more decimals than the
  currency's ISO 4217 minor unit; trailing zeros dropped (``3723495,`` and ``1,2`` as in the SWIFT
  User Handbook MT950 example).
* Date: ``YYMMDD`` from an ISO 8601 date or date-time; the date part is taken as written (no time
  zone conversion, the statement's own calendar date).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

# ISO 4217 minor units where they are not 2 (list published by the ISO 4217 maintenance agency).
_MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_DIGITS = 18  # digits before and after the decimal point: [0-9]{1,18}(.[0-9]{1,18})?
MAX_AMOUNT_LENGTH = 15


def is_currency(code: str) -> bool:
    """Three upper-case letters: the shape of an ISO 4217 alphabetic code."""
    return _CURRENCY.fullmatch(code) is not None


def minor_units(currency: str) -> int:
    """ISO 4217 decimals of ``currency`` (2 unless listed)."""
    return _MINOR_UNITS.get(currency, 2)


def format_amount(amount: Decimal) -> str:
    """``amount`` (non-negative) in SWIFT ``d`` form: ``1234,5``; may exceed 15 characters (caller checks)."""
    text = format(abs(amount).normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole},{fraction.rstrip('0')}"


@lru_cache(maxsize=1024)
def parse_date(text: str) -> date | None:
    """The calendar date of an ISO 8601 date (``2009-05-28``) or date-time (``2009-05-28T07:25:00+02:00``)."""
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def yymmdd(value: date) -> str:
    """SWIFT ``6!n`` date."""
    return f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"


@lru_cache(maxsize=1024)
def swift_date(text: str) -> str | None:
    """``YYMMDD`` of an ISO 8601 date or date-time, or None if it is not one (cached: dates repeat)."""
    value = parse_date(text)
    return None if value is None else yymmdd(value)


def amount_text(raw: str, currency: str) -> tuple[Decimal, str] | None:
    """(value, SWIFT ``d`` text) of a non-negative ISO 20022 amount, or None if malformed.

    The text keeps the source's significant decimals; callers check them against
    :func:`minor_units` and the 15-character limit. The shape ``[0-9]{1,18}(.[0-9]{1,18})?`` (ASCII
    digits only) is checked with string methods: this runs once per entry.
    """
    stripped = raw.strip()
    whole, dot, fraction = stripped.partition(".")
    if not (
        0 < len(whole) <= _MAX_DIGITS
        and whole.isascii()
        and whole.isdigit()
        and (not dot or (0 < len(fraction) <= _MAX_DIGITS and fraction.isascii() and fraction.isdigit()))
    ):
        return None
    return Decimal(stripped), f"{whole.lstrip('0') or '0'},{fraction.rstrip('0')}"

"""Property-based tests (hypothesis): random statements of any shape translate into valid MT950 and
MT940 series, random camt.052 reports into valid MT942 series.

For every generated statement: each page balances and chains to the next, every field matches its
SWIFT format (checked by the independent reader in tests/unit/translate/fin.py), only X characters
appear in block 4, no line starts with ``-`` or ``:`` unless it is a field tag, every block 4 is at
most 2,000 characters, and the entries come back in order, also when the messages are parsed again by
PyPI ``mt-940``. For every report: each page's 90D and 90C count and sum its debit and credit lines.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.statements import EntrySpec, StatementSpec, build
from tests.unit.translate.fin import fields, messages, signed, statement_line
from tests.unit.translate.test_mt940_reparse import reparsed as mt940_reparsed
from tests.unit.translate.test_mt940_reparse import reparsed_report as mt940_reparsed_report
from tests.unit.translate.test_pagination import check_series
from transformation_runner.translate import TranslationOptions, translate

X_BLOCK = re.compile(r"[A-Za-z0-9/\-?:().,'+ \r\n]*")
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("/-:äöüß€ "),
    max_size=60,
)
REFERENCE = st.none() | TEXT | st.sampled_from(["NOTPROVIDED", "/x", "a//b", "ok/ref"])


@st.composite
def entries(draw: st.DrawFn) -> EntrySpec:
    value_date = draw(st.dates(min_value=date(1900, 1, 4), max_value=date(2199, 12, 28)))
    # Field 61 carries the booking date as MMDD without a year: readers (mt-940 here) take the value
    # date's year, so a booking date far from the value date (e.g. 29 Feb of another year) cannot be
    # read back. Banks book within days of the value date; so does the generator.
    offset = draw(st.none() | st.integers(-3, 3))
    booking_date = None if offset is None else str(value_date + timedelta(days=offset))
    return EntrySpec(
        amount=Decimal(draw(st.integers(0, 10**11))) / 100,
        credit=draw(st.booleans()),
        reversal=draw(st.booleans()),
        status=draw(st.sampled_from(["BOOK"] * 9 + ["PDNG"])),
        value_date=str(value_date),
        booking_date=booking_date,
        servicer_reference=draw(REFERENCE),
        entry_reference=draw(REFERENCE),
        instruction_id=draw(REFERENCE),
        end_to_end_id=draw(REFERENCE),
        proprietary_code=draw(st.none() | st.sampled_from(["S103", "NTRF", "FCHG", "XYZ1", "NOTPROVIDED"])),
        domain=draw(
            st.none()
            | st.sampled_from([("PMNT", "ICDT", "CHRG"), ("PMNT", "RDDT", "ESDD"), ("ACMT", "X", "Y")])
        ),
        info=draw(st.none() | TEXT),
        counterparty=draw(st.none() | TEXT),
        counterparty_account=draw(st.none() | st.sampled_from(["DE89370400440532013000", "CH93-0076/2011"])),
        remittance=draw(st.none() | TEXT),
        transaction_info=draw(st.none() | TEXT),
    )


@st.composite
def statements(draw: st.DrawFn) -> StatementSpec:
    return StatementSpec(
        statement_id=draw(
            st.text(alphabet="ABC/-1 ", min_size=1, max_size=30).filter(lambda s: s.strip(" /"))
        ),
        currency=draw(st.sampled_from(["EUR", "JPY", "CHF"])),
        opening=Decimal(draw(st.integers(-(10**11), 10**11))),
        entries=draw(st.lists(entries(), max_size=80)),
        legal_sequence=draw(st.none() | st.text(alphabet="0123456789", min_size=1, max_size=7)),
        available=draw(st.none() | st.integers(0, 10**9).map(Decimal)),
        forward=draw(st.lists(st.integers(0, 10**9).map(Decimal), max_size=3)),
        info=draw(st.none() | TEXT),
    )


def _check_text(series: list[str]) -> None:
    for block4 in series:
        assert X_BLOCK.fullmatch(block4)
        assert len(block4) + 5 <= 2000
        assert not re.search(r"\r\n[-:](?![0-9]{2}[A-Z]?:)", block4)
        for tag, value in fields(block4):
            if tag == "86":
                lines = value.split("\r\n")
                assert len(lines) <= 6 and all(0 < len(line) <= 65 for line in lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(statements(), min_size=1, max_size=3),
    st.sampled_from([2, 4, 8, 12]),
    st.sampled_from(["MT950", "MT940"]),
)
def test_random_statements_become_valid_balanced_series(
    specs: list[StatementSpec], version: int, target: str
) -> None:
    specs = [_whole_units(spec) for spec in specs]
    result = translate(build(specs, version=version), TranslationOptions(format=target))
    assert result.statements == len(specs)
    text = "".join(result.messages)
    series = messages(text)
    assert len(series) == len(result.messages)
    _check_text(series)
    if target == "MT950":
        assert all(tag != "86" for block4 in series for tag, _ in fields(block4))
    groups: list[list[str]] = []
    for block4 in series:
        if dict(fields(block4))["28C"].endswith("/1"):
            groups.append([])
        groups[-1].append(block4)
    assert len(groups) == len(specs)
    reparsed, _ = mt940_reparsed(result.messages)
    assert [amount for amount, _ in reparsed] == [
        e.amount if e.credit else -e.amount for spec in specs for e in spec.entries if e.status == "BOOK"
    ]
    for spec, pages in zip(specs, groups, strict=True):
        booked = [e for e in spec.entries if e.status == "BOOK"]
        assert check_series(pages, spec.opening, spec.opening + spec.signed_total()) == len(booked)
        lines = [statement_line(v) for page in pages for t, v in fields(page) if t == "61"]
        assert [signed(line) for line in lines] == [e.amount if e.credit else -e.amount for e in booked]
        assert [line["mark"] for line in lines] == [
            ("RD" if e.credit else "RC") if e.reversal else ("C" if e.credit else "D") for e in booked
        ]


def _whole_units(spec: StatementSpec) -> StatementSpec:
    """JPY has no minor unit: keep generated amounts representable."""
    if spec.currency != "JPY":
        return spec
    entries = [dataclasses.replace(entry, amount=entry.amount.to_integral_value()) for entry in spec.entries]
    return dataclasses.replace(spec, entries=entries)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements(), min_size=1, max_size=2), st.sampled_from([2, 5, 8, 13]))
def test_random_reports_become_valid_mt942_series(specs: list[StatementSpec], version: int) -> None:
    specs = [_whole_units(spec) for spec in specs]
    result = translate(build(specs, version=version, report=True), TranslationOptions())
    assert result.formats == ("MT942",)
    series = messages("".join(result.messages))
    _check_text(series)
    booked = [
        e.amount if e.credit else -e.amount for spec in specs for e in spec.entries if e.status == "BOOK"
    ]
    written = []
    for block4 in series:
        parts = fields(block4)
        tags = [tag for tag, _ in parts]
        assert tags[:2] == ["20", "25"] and tags[3:6] == ["34F", "34F", "13D"]
        marked = [statement_line(value) for tag, value in parts if tag == "61"]
        lines = [signed(line) for line in marked]
        debits = [signed(line) for line in marked if line["mark"] in {"D", "RC"}]
        credits = [signed(line) for line in marked if line["mark"] in {"C", "RD"}]
        values = dict(parts)
        assert values["90D"] == _sum_field(debits, values["34F"][:3])
        assert values["90C"] == _sum_field(credits, values["34F"][:3])
        written += lines
    assert written == booked
    assert [amount for amount, _ in mt940_reparsed_report(result.messages)] == booked


def _sum_field(amounts: list[Decimal], currency: str) -> str:
    total = abs(sum(amounts, Decimal(0)))
    whole, _, fraction = f"{total:f}".partition(".")
    return f"{len(amounts)}{currency}{whole},{fraction.rstrip('0')}"

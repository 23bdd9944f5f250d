"""SWIFT notation compiler, the MT950 table, the X character set, amounts and transaction codes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from transformation_runner.translate.amounts import amount_text, format_amount, minor_units, swift_date
from transformation_runner.translate.charset import PLAIN_X, is_x, to_x, truncate
from transformation_runner.translate.codes import transaction_type
from transformation_runner.translate.errors import InvalidOutput
from transformation_runner.translate.mt_format import MT950, validate_block4, validate_field, validate_page
from transformation_runner.translate.notation import compile_field, notation_to_regex


@pytest.mark.parametrize(
    ("notation", "good", "bad"),
    [
        ("16x", ["A", "NONREF", "a/b-c?:().,'+ 1", "X" * 16], ["", "X" * 17, "ä", "A\r\nB"]),
        ("5n[/5n]", ["1", "12345", "102/1", "1/99999"], ["", "123456", "1/", "a/1", "1/123456"]),
        ("1!a6!n3!a15d", ["C090528EUR3723495,", "D221020GBP10,5"], ["C09052EUR1,", "CC090528EUR1,"]),
        (
            "15d",
            ["0,", "1,2", "123456789012,34", "12345678901234,"],
            [",5", "1", "1.5", "123456789012345,", "1,2,3"],
        ),
        ("3!c", ["NTRF"[1:], "S10"], ["ntr", "NT", "NTRF"]),
    ],
)
def test_notation_compiles_to_the_documented_shape(notation: str, good: list[str], bad: list[str]) -> None:
    pattern = compile_field((("value", notation),))
    for value in good:
        assert pattern.match(value), value
    for value in bad:
        assert not pattern.match(value), value


def test_notation_rejects_unknown_tokens() -> None:
    with pytest.raises(ValueError, match="bad SWIFT notation"):
        notation_to_regex("16y")


def test_field_61_subfields_split_as_the_handbook_shows() -> None:
    parts = validate_field("61", "0905280528RD1058,47S103494931//3841188\r\nFAVOUR H.F. JANSSEN")
    assert parts == {
        "value_date": "090528",
        "entry_date": "0528",
        "mark": "RD",
        "funds_code": None,
        "amount": "1058,47",
        "type": "S103",
        "reference": "494931",
        "servicer_reference": "3841188",
        "details": "FAVOUR H.F. JANSSEN",
    }


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("20", "/ABC"),
        ("20", "A//B"),
        ("61", "090528X1,NTRFNONREF"),
        ("61", "090532D1,NTRFNONREF"),
        ("61", "090528D1,NTRF/REF"),
        ("61", "090528D1,NTRFNONREF\r\n-DETAILS"),
        ("60F", "X090528EUR1,"),
        ("62F", "C091328EUR1,"),
        ("25", "A" * 36),
        ("99", "anything"),
    ],
)
def test_invalid_fields_are_caught(tag: str, value: str) -> None:
    with pytest.raises(InvalidOutput):
        validate_field(tag, value)


_HEAD = [("20", "A"), ("25", "B"), ("28C", "1/1"), ("60F", "C240101EUR1,")]
_TAIL = [("62F", "C240101EUR1,")]
_GOOD_61 = [
    "0905280528RD1058,47S103494931//3841188\r\nFAVOUR H.F. JANSSEN",
    "090528D1,NTRFNONREF",
    "090528C1,NTRFNONREF//123",  # the reference ends where "//" starts
    "090528C1,NTRFA/B//C/D\r\nX:-",
    "240229RC12,5NMSCREF",
]
_BAD_61 = [
    "090528X1,NTRFNONREF",  # mark
    "090532D1,NTRFNONREF",  # calendar date
    "090528D1,NTRF/REF",  # reference starts with "/"
    "090528D1,NTRFREF/",  # reference ends with "/"
    "090528D1,NTRFREF/\r\nDETAILS",
    "090528D1,NTRFNONREF\r\n-DETAILS",  # continuation line starts with "-"
    "090528D1,NTRFNONREF\r\n:DETAILS",
    "090528D1,5,NTRFNONREF",  # two commas
    "090528D123456789012345,NTRFNONREF",  # amount over 15 characters
    "090528D1,NTRF" + "R" * 17,
    "230229C1,NTRFNONREF",  # not a leap year
]


def _page(lines: list[str]) -> str:
    fields = [*_HEAD, *(("61", line) for line in lines), *_TAIL]
    return "\r\n" + "\r\n".join(f":{tag}:{value}" for tag, value in fields) + "\r\n-"


def test_a_page_of_field_61_lines_is_checked_as_each_line_alone() -> None:
    # validate_page checks all 61 lines of a page in one match; it must accept exactly what
    # validate_field accepts line by line, and refuse with validate_field's own message.
    for line in _GOOD_61:
        validate_field("61", line)
    validate_page(MT950, _page(_GOOD_61), _HEAD, _GOOD_61, _TAIL)
    for bad in _BAD_61:
        with pytest.raises(InvalidOutput) as alone:
            validate_field("61", bad)
        for lines in ([bad], [*_GOOD_61, bad], [bad, *_GOOD_61], [*_GOOD_61[:2], bad, *_GOOD_61[2:]]):
            with pytest.raises(InvalidOutput) as paged:
                validate_page(MT950, _page(lines), _HEAD, lines, _TAIL)
            assert str(paged.value) == str(alone.value)


def test_block4_order_length_and_framing() -> None:
    good = "\r\n:20:A\r\n:25:B\r\n:28C:1/1\r\n:60F:C240101EUR1,\r\n:62F:C240101EUR1,\r\n-"
    assert [tag for tag, _ in validate_block4(good)] == ["20", "25", "28C", "60F", "62F"]
    with pytest.raises(InvalidOutput, match="order"):
        validate_block4(good.replace(":25:B\r\n:28C:1/1", ":28C:1/1\r\n:25:B"))
    with pytest.raises(InvalidOutput, match="CRLF"):
        validate_block4(good.replace("\r\n", "\n"))
    long = good.replace(":60F:", ":61:240101C1,NTRFNONREF\r\n" * 100 + ":60F:")
    with pytest.raises(InvalidOutput):
        validate_block4(long)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Müller & Söhne", "Muller + Sohne"),
        ("Café crème", "Cafe creme"),
        ("Straße", "Strasse"),
        ("Preis: 5 €", "Preis: 5 EUR"),
        ("Łódź Øresund Æble", "Lodz Oresund AEble"),
        ("  many\t\tspaces \n and lines  ", "many spaces and lines"),
        ("semi;colon_under*star", "semi.colon.under.star"),
        ("日本", ".."),
        ("plain ASCII-text/ok?", "plain ASCII-text/ok?"),
    ],
)
def test_transliteration_into_the_x_set(text: str, expected: str) -> None:
    assert to_x(text) == expected
    assert is_x(to_x(text))


def test_truncate_marks_the_cut() -> None:
    assert truncate("pacs008EndToEndId-001", 16) == "pacs008EndToEnd+"
    assert truncate("short", 16) == "short"
    assert truncate("X" * 16, 16) == "X" * 16


@pytest.mark.parametrize(
    ("raw", "currency", "value", "text"),
    [
        ("3723495", "EUR", Decimal("3723495"), "3723495,"),
        ("1.2", "EUR", Decimal("1.2"), "1,2"),
        ("1.20", "EUR", Decimal("1.20"), "1,2"),
        ("0.00", "EUR", Decimal("0"), "0,"),
        ("27.000", "EUR", Decimal("27"), "27,"),
        ("1000", "JPY", Decimal("1000"), "1000,"),
        ("1.234", "KWD", Decimal("1.234"), "1,234"),
    ],
)
def test_amounts_in_swift_form(raw: str, currency: str, value: Decimal, text: str) -> None:
    assert amount_text(raw, currency) == (value, text)


def test_amount_helpers() -> None:
    assert amount_text("1,5", "EUR") is None
    assert amount_text("-1", "EUR") is None
    assert amount_text("1e5", "EUR") is None
    assert (minor_units("JPY"), minor_units("EUR"), minor_units("BHD"), minor_units("CLF")) == (0, 2, 3, 4)
    assert format_amount(Decimal("-2470.00")) == "2470,"
    assert swift_date("2009-05-28") == "090528"
    assert swift_date("2022-10-20T07:25:00+00:00") == "221020"
    assert swift_date("2022-13-20") is None


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (("S103", None, None, None), "S103"),
        (("NTRF", "PMNT", "ICDT", "CHRG"), "NTRF"),
        (("FCHG", None, None, None), "FCHG"),
        (("NOTPROVIDED", None, None, None), "NMSC"),
        (("ABC", "PMNT", "ICDT", "XBCT"), "NTRF"),
        ((None, "PMNT", "ICDT", "CHRG"), "NCHG"),
        ((None, "CAMT", "MDOP", "FEES"), "NCHG"),
        ((None, "PMNT", "ICHQ", "CCHQ"), "NCHK"),
        ((None, "PMNT", "IDDT", "XBDD"), "NDDT"),
        ((None, "PMNT", "RCDT", "OTHR"), "NTRF"),
        ((None, "SECU", "OTHR", "OTHR"), "NSEC"),
        ((None, "XTND", "NTAV", "NTAV"), "NMSC"),
        ((None, None, None, None), "NMSC"),
    ],
)
def test_transaction_type_table(codes: tuple[str | None, ...], expected: str) -> None:
    assert transaction_type(*codes) == expected


def test_plain_x_is_exactly_what_to_x_leaves_unchanged() -> None:
    for text in ["E2E-1", "a b", "a  b", " a", "a ", "ä", "a/b:c", "", "x\ty", "€", "A+B (C)"]:
        assert (PLAIN_X.fullmatch(text) is not None) == (text != "" and to_x(text) == text), text

"""Hostile or broken input: a specific PermanentError with an actionable message, never a crash.

Nothing here may read a file or touch the network: DOCTYPEs are refused before parsing.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from bench.statements import EntrySpec, StatementSpec, build
from shared.errors import PermanentError
from tests.unit.translate.fin import GOLDEN, SAMPLES, TESTS
from transformation_runner.translate import TranslationOptions, account_of, translate
from transformation_runner.translate.errors import (
    InvalidOutput,
    InvalidValue,
    InvalidXml,
    MissingElement,
    MixedCurrency,
    NoBic,
    NotCamt053,
    TooLarge,
    TranslationError,
    Unbalanced,
    UnsafeXml,
)

DEFAULTS = TranslationOptions(sender_bic="BANKDEFFXXX", receiver_bic="CUSTDEFFXXX")
GOOD = build([StatementSpec(entries=[EntrySpec(amount=Decimal("10.00"), end_to_end_id="E1")])])

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
<BkToCstmrStmt>&xxe;</BkToCstmrStmt></Document>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol3;</Document>"""
EXTERNAL_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE Document SYSTEM "http://127.0.0.1:9/camt.dtd">'
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>'
)
UNDECLARED_ENTITY = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&xxe;</Document>'
PAIN_001 = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn/></Document>'
CAMT_054 = GOOD.replace(b"camt.053.001.08", b"camt.054.001.08")


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (XXE, UnsafeXml, "DOCTYPE"),
        (LAUGHS, UnsafeXml, "DOCTYPE"),
        (EXTERNAL_DTD, UnsafeXml, "DOCTYPE"),
        (UNDECLARED_ENTITY, InvalidXml, "not well-formed"),
        (b"", InvalidXml, "not XML"),
        (b"hello, world", InvalidXml, "not XML"),
        (b"%PDF-1.7 binary", InvalidXml, "not XML"),
        (GOOD.decode().encode("utf-16"), InvalidXml, "not XML"),
        (GOOD.decode().encode("utf-16-le"), InvalidXml, "ASCII-compatible"),
        (GOOD[: len(GOOD) // 2], InvalidXml, "not well-formed"),
        (b"<a><b></a>", InvalidXml, "not well-formed"),
        (PAIN_001, NotCamt053, "pain.001.001.09"),
        (CAMT_054, NotCamt053, "camt.054.001.08"),
        (GOOD.replace(b"camt.053.001.08", b"camt.053.001.14"), NotCamt053, "not supported"),
        (GOOD.replace(b"camt.053.001.08", b"camt.053.001.01"), NotCamt053, "not supported"),
        (b"<Statement><Id>1</Id></Statement>", NotCamt053, "no ISO 20022 Document"),
        (b'<Document xmlns="urn:example"/>', NotCamt053, "urn:example"),
    ],
)
def test_unsafe_or_foreign_input_is_refused(body: bytes, error: type[TranslationError], words: str) -> None:
    with pytest.raises(error, match=words) as raised:
        translate(body, DEFAULTS)
    assert isinstance(raised.value, PermanentError)
    assert raised.value.reason == error.reason
    with pytest.raises(error):
        account_of(body)


def test_size_limit() -> None:
    with pytest.raises(TooLarge, match=f"{len(GOOD)} bytes, more than the limit of 100"):
        translate(GOOD, TranslationOptions(max_bytes=100))
    with pytest.raises(TooLarge):
        account_of(GOOD, max_bytes=100)


REJECTED_SAMPLES = {
    "camt/test/data/camt053.v2.five.decimals.xml": (Unbalanced, "253EURNL26VAYB8060476890"),
    "camt/test/data/camt053.v2.minimal.ultimate.xml": (MixedCurrency, r"Bal\[2\] \(CLBD\) is in SEK"),
    "camt/test/data/camt053.v2.minimal.xml": (MixedCurrency, "SEK"),
    "camt/test/data/camt053.v2.with-party-ids.xml": (MixedCurrency, "SEK"),
    "camt/test/data/camt053.v3.xml": (MixedCurrency, "SEK"),
    "camt/test/data/camt053.v4.xml": (MixedCurrency, "SEK"),
    "camt/test/data/camt053.v8.xml": (MixedCurrency, "SEK"),
    "camt/test/data/camt053.v2.wrong.xml": (MissingElement, "no Stmt"),
    "camt/test/data/camt53.only-Dt-with-DtTm.xml": (MissingElement, "no Bal CLBD"),
    "camt/test/data/camt053.v2.with-account-name.xml": (MissingElement, "OPBD or PRCD"),
    "camt/test/data/camt052.v1.xml": (NotCamt053, r"camt\.052\.001\.01 is not supported"),
    "camt/test/data/camt052.v2.with-account-name.xml": (MissingElement, r"Rpt\[1\]/Ntry\[1\]/ValDt"),
    "camt_parser/spec/fixtures/053/valid_example_v8.xml": (MixedCurrency, r"Ntry\[3\]/Amt is in EUR"),
    "camt_parser/spec/fixtures/053/valid_example_with_datetime.xml": (MissingElement, "OPBD or PRCD"),
    "camt_parser/spec/fixtures/053/valid_example_with_debit.xml": (Unbalanced, "difference 66.12 EUR"),
    "camt_parser/spec/fixtures/053/valid_example_with_instdamt.xml": (Unbalanced, "difference -100.00 CHF"),
    "camt_parser/spec/fixtures/053/valid_example_with_other_id.xml": (MissingElement, "OPBD or PRCD"),
    "camt_parser/spec/fixtures/053/valid_namespace.xml": (MissingElement, "no Stmt"),
    "prowide-iso20022/iso20022-core/src/test/resources/camt.053.001.07.xml": (
        MissingElement,
        "OPBD or PRCD|no Bal CLBD",  # only OPAV and ITBD: strict wants OPBD, as-sent then CLBD
    ),
}


@pytest.mark.parametrize("sample", sorted(REJECTED_SAMPLES))
@pytest.mark.parametrize("mode", ["strict", "as-sent"])
@pytest.mark.parametrize("target", ["", "MT940"])
def test_samples_that_cannot_translate_are_rejected_by_name(sample: str, mode: str, target: str) -> None:
    """The same error in MT950 (the default) and MT940: the formats share every input rule."""
    error, words = REJECTED_SAMPLES[sample]
    if target and "camt052" in sample:
        target = "MT942"
    options = TranslationOptions("BANKDEFFXXX", "CUSTDEFFXXX", mode, format=target)
    if mode == "as-sent" and error is Unbalanced:
        translate((SAMPLES / sample).read_bytes(), options)
        return
    with pytest.raises(error, match=words):
        translate((SAMPLES / sample).read_bytes(), options)


def test_unbalanced_names_statement_and_difference() -> None:
    body = (GOLDEN / "as_sent_postfinance.xml").read_bytes()
    with pytest.raises(Unbalanced) as raised:
        translate(body, DEFAULTS)
    message = str(raised.value)
    assert "20201124375204229003973" in message
    assert "216649.21" in message and "215112.21" in message and "-1537.00 CHF" in message


def test_no_bic_anywhere() -> None:
    body = (GOLDEN / "genkgo_v2_multi_statement.xml").read_bytes()
    with pytest.raises(NoBic, match="no sender BIC"):
        translate(body)
    with pytest.raises(NoBic, match="no receiver BIC"):
        translate(body, TranslationOptions(sender_bic="BANKDEFFXXX"))
    with pytest.raises(InvalidValue, match="not a BIC"):
        translate(body, TranslationOptions(sender_bic="bank", receiver_bic="CUSTDEFFXXX"))


def _broken(old: bytes, new: bytes) -> bytes:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (_broken(b"<Id>STMT-1</Id>", b""), MissingElement, r"Stmt\[1\]/Id"),
        (_broken(b'<Amt Ccy="EUR">10.00</Amt>', b""), MissingElement, r"Ntry\[1\]/Amt is missing"),
        (_broken(b">10.00<", b">10,00<"), InvalidValue, "'10,00' is not a non-negative decimal"),
        (_broken(b">10.00<", b">-10.00<"), InvalidValue, "non-negative"),
        (_broken(b">10.00<", b">10.005<"), InvalidValue, "more decimals than EUR allows"),
        (_broken(b">10.00<", b">1234567890123456<"), InvalidValue, "15-character"),
        (_broken(b"<ValDt><Dt>2024-03-01", b"<ValDt><Dt>2024-02-30"), InvalidValue, "not ISO 8601"),
        (
            _broken(b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>CR</CdtDbtInd><Sts>"),
            InvalidValue,
            "'CR'",
        ),
        (_broken(b"<Sts>", b"<RvslInd>maybe</RvslInd><Sts>"), InvalidValue, "RvslInd 'maybe'"),
        (_broken(b"<Ccy>EUR</Ccy>", b"<Ccy>euro</Ccy>"), InvalidValue, "ISO 4217"),
        (_broken(b"<Cd>CLBD</Cd>", b"<Cd>XXXX</Cd>"), MissingElement, "no Bal CLBD"),
        (_broken(b"<Cd>OPBD</Cd>", b"<Cd>OPAV</Cd>"), MissingElement, "OPBD or PRCD"),
        (
            _broken(
                b"<BICFI>COBADEFFXXX</BICFI></FinInstnId></FIId>", b"<BICFI>nope</BICFI></FinInstnId></FIId>"
            ),
            InvalidValue,
            "AppHdr/Fr",
        ),
    ],
)
def test_broken_statements_name_the_element(body: bytes, error: type[TranslationError], words: str) -> None:
    with pytest.raises(error, match=words):
        translate(body)


def test_invalid_balance_mode() -> None:
    with pytest.raises(InvalidValue, match="balance mode"):
        translate(GOOD, TranslationOptions(balance_mode="lenient"))


def test_mutated_bodies_raise_only_translation_errors() -> None:
    rng = random.Random(20)
    for _ in range(300):
        body = bytearray(GOOD)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(body))
            action = rng.random()
            if action < 0.4:
                body[position] = rng.randrange(256)
            elif action < 0.7:
                del body[position : position + rng.randint(1, 40)]
            else:
                body[position:position] = rng.choice(
                    [b"<", b">", b"&", b"<Ntry>", b"</Stmt>", b"\x00", b"\xff"]
                )
        try:
            translate(bytes(body), DEFAULTS)
        except InvalidOutput:  # a defect of ours, never acceptable
            raise
        except TranslationError:
            continue


def test_utf8_byte_order_mark_is_accepted() -> None:
    body = b"\xef\xbb\xbf" + (GOLDEN / "cbpr_c105_1_1.xml").read_bytes()
    assert translate(body).messages == translate(body[3:]).messages


HOSTILE = TESTS / "hostile" / "corpus"
HOSTILE_REASONS = {
    "billion_laughs.xml": "unsafe-xml",
    "camt052.xml": "missing-element",
    "camt054.xml": "not-camt053",
    "doctype_internal.xml": "unsafe-xml",
    "missing_mandatory.xml": "missing-element",
    "not_utf8.xml": "invalid-xml",
    "not_xml.txt": "invalid-xml",
    "pain001.xml": "not-camt053",
    "truncated.xml": "invalid-xml",
    "xxe_file.xml": "unsafe-xml",
    "xxe_parameter_entity.xml": "unsafe-xml",
    "xxe_url.xml": "unsafe-xml",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_REASONS))
def test_hostile_corpus_gets_the_same_error_for_mt940_receivers(name: str) -> None:
    """tests/hostile/corpus (as the runner sees it, end to end in tests/functions) with every
    statement routed to MT940 (STATEMENT_FORMATS {"*": "MT940"}): the same reason and sentence."""
    body = (HOSTILE / name).read_bytes()
    messages = []
    for formats in ({}, {"*": "MT940"}):
        with pytest.raises(TranslationError) as raised:
            translate(body, TranslationOptions("BANKDEFFXXX", "CUSTDEFFXXX", formats=formats))
        assert raised.value.reason == HOSTILE_REASONS[name]
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert sorted(HOSTILE_REASONS) == sorted(path.name for path in HOSTILE.iterdir())

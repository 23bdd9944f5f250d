"""MT940 and MT942 mapping, field by field, on hand-built statements and reports (expected values
written out by hand from docs/translation.md), and the choice of the format."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bench.statements import EntrySpec, StatementSpec, build
from tests.unit.translate.fin import fields, messages
from transformation_runner.translate import TranslationOptions, translate
from transformation_runner.translate.errors import FormatMismatch, InvalidValue, MissingElement

BICS: dict[str, Any] = {"sender_bic": "BANKDEFFXXX", "receiver_bic": "CUSTDEFFXXX"}
MT940 = TranslationOptions(**BICS, format="MT940")
ACCOUNT = "DE89370400440532013000"


def _fields(options: TranslationOptions, body: bytes) -> list[list[tuple[str, str]]]:
    return [fields(block) for block in messages("".join(translate(body, options).messages))]


def _tag(page: list[tuple[str, str]], tag: str) -> list[str]:
    return [value for name, value in page if name == tag]


def test_mt940_fields_of_a_statement() -> None:
    entries = [
        EntrySpec(
            amount=Decimal("100.00"),
            end_to_end_id="E2E-1",
            counterparty="Müller GmbH",
            counterparty_account="DE02100100109307118603",
            remittance="Rechnung 4711",
            info="Gutschrift",
        ),
        EntrySpec(
            amount=Decimal("40.00"), credit=False, instruction_id="PAY-7", counterparty="Power & Light"
        ),
        EntrySpec(amount=Decimal("1.00")),  # nothing to tell: no 86
    ]
    spec = StatementSpec(
        entries=entries,
        available=Decimal("1061.00"),
        forward=(Decimal("1100.00"), Decimal("1200.00")),
        info="Statement note",
    )
    body = build([spec])
    [page] = _fields(MT940, body)
    assert [tag for tag, _ in page] == [
        *("20", "25", "28C", "60F", "61", "86", "61", "86", "61", "62F", "64", "65", "65", "86"),
    ]
    first, second, closing = _tag(page, "86")
    assert first == (
        "/EREF/E2E-1/ORDP/Muller GmbH/ACCT/DE02100100109307118603/REMI/Rec\r\nhnung 4711/ADDI/Gutschrift"
    )
    assert second == "/BENM/Power + Light"
    assert closing == "Statement note"
    assert _tag(page, "62F") == ["C240301EUR1061,"]
    assert _tag(page, "64") == ["C240301EUR1061,"]
    assert _tag(page, "65") == ["C240301EUR1100,", "C240301EUR1200,"]


def test_mt940_field_21_is_the_request_the_statement_answers() -> None:
    body = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1))])]).replace(
        b"<MsgId>MSG-1</MsgId>", b"<MsgId>MSG-1</MsgId><OrgnlBizQry><MsgId>REQ//2024/1</MsgId></OrgnlBizQry>"
    )
    [page] = _fields(MT940, body)
    assert [tag for tag, _ in page][:3] == ["20", "21", "25"]
    assert _tag(page, "21") == ["REQ/2024/1"]
    # MT950 has no field 21
    [page] = _fields(TranslationOptions(**BICS), body)
    assert _tag(page, "21") == []


def test_a_long_86_is_cut_into_six_lines_of_65_and_reported() -> None:
    text = "-:" * 300  # every line break would fall before "-" or ":"
    body = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1), remittance=text)])])
    result = translate(body, MT940)
    [page] = [fields(block) for block in messages(result.messages[0])]
    [narrative] = _tag(page, "86")
    lines = narrative.split("\r\n")
    assert len(lines) == 6
    assert all(0 < len(line) <= 65 and line[0] not in "-:" for line in lines)
    assert lines[-1].endswith("+")
    truncated = [f for f in result.report if f.get("field") == "86" and f.get("action") == "truncated"]
    assert [f["path"] for f in truncated] == ["Stmt[1]/Ntry[1]"]


def test_mt942_fields_of_a_report() -> None:
    entries = [
        EntrySpec(amount=Decimal("10.00"), end_to_end_id="A"),
        EntrySpec(amount=Decimal("2.50"), credit=False, instruction_id="B"),
        EntrySpec(amount=Decimal("1.25"), credit=True, reversal=True),  # RD: a credit
        EntrySpec(amount=Decimal("4.00"), credit=False, reversal=True),  # RC: a debit
        EntrySpec(amount=Decimal("9.00"), status="PDNG"),  # not reported
    ]
    body = build([StatementSpec(statement_id="RPT-1", entries=entries, info="Closing note")], report=True)
    result = translate(body, TranslationOptions(**BICS))
    assert result.formats == ("MT942",)
    assert "{2:I942DEUTDEFFXXXXN}" in result.messages[0]  # AppHdr/To
    [page] = [fields(block) for block in messages(result.messages[0])]
    assert [tag for tag, _ in page] == [
        *("20", "25", "28C", "34F", "34F", "13D", "61", "86", "61", "61", "61", "90D", "90C", "86"),
    ]
    assert _tag(page, "34F") == ["EURD0,", "EURC0,"]
    assert _tag(page, "13D") == ["2403011800+0100"]  # Rpt/CreDtTm 2024-03-01T18:00:00+01:00
    assert [value[10:12] for value in _tag(page, "61")] == ["C1", "D2", "RD", "RC"]
    assert _tag(page, "90D") == ["2EUR6,5"]  # 2.50 + 4.00
    assert _tag(page, "90C") == ["2EUR11,25"]  # 10.00 + 1.25
    assert _tag(page, "86") == ["/EREF/A", "Closing note"]
    dropped = [f["path"] for f in result.report if f.get("action") == "dropped"]
    assert dropped == ["Rpt[1]/Ntry[5]/Sts", "Rpt[1]/Bal[1]", "Rpt[1]/Bal[2]"]


@pytest.mark.parametrize(
    ("stamp", "expected", "defaulted"),
    [
        ("2024-03-01T18:00:00Z", "2403011800+0000", False),
        ("2024-03-01T07:05:00-05:30", "2403010705-0530", False),
        ("2024-03-01T07:05:00", "2403010705+0000", True),
    ],
)
def test_mt942_13d_carries_the_utc_offset(stamp: str, expected: str, defaulted: bool) -> None:
    body = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1))])], report=True)
    body = body.replace(
        b"<Id>STMT-1</Id><LglSeqNb>42</LglSeqNb><CreDtTm>2024-03-01T18:00:00+01:00",
        b"<Id>STMT-1</Id><LglSeqNb>42</LglSeqNb><CreDtTm>" + stamp.encode(),
    )
    result = translate(body, TranslationOptions(**BICS))
    [page] = [fields(block) for block in messages(result.messages[0])]
    assert _tag(page, "13D") == [expected]
    flagged = [f for f in result.report if f.get("field") == "13D"]
    assert bool(flagged) is defaulted


def test_mt942_refuses_a_report_time_it_cannot_write() -> None:
    body = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1))])], report=True)
    stamp = b"<CreDtTm>2024-03-01T18:00:00+01:00</CreDtTm><Acct>"
    for bad, words in [
        (b"2024-03-01T18:00:00+15:00", "UTC offset beyond 14 hours"),
        (b"yesterday", "not an ISO"),
    ]:
        changed = body.replace(stamp, b"<CreDtTm>" + bad + b"</CreDtTm><Acct>")
        with pytest.raises(InvalidValue, match=words):
            translate(changed, TranslationOptions(**BICS))


def test_mt942_pages_each_carry_their_own_sums() -> None:
    entries = [
        EntrySpec(amount=Decimal(n % 7 + 1), credit=n % 3 != 0, end_to_end_id=f"R{n}") for n in range(150)
    ]
    body = build([StatementSpec(entries=entries)], report=True)
    pages = _fields(TranslationOptions(**BICS), body)
    assert len(pages) > 2
    total_debits = total_credits = 0
    for page in pages:
        lines = _tag(page, "61")
        debits = [line for line in lines if line[10] == "D"]
        credits = [line for line in lines if line[10] == "C"]
        [debit_sum], [credit_sum] = _tag(page, "90D"), _tag(page, "90C")
        assert debit_sum.startswith(f"{len(debits)}EUR") and credit_sum.startswith(f"{len(credits)}EUR")
        total_debits += len(debits)
        total_credits += len(credits)
        assert [tag for tag, _ in page][:6] == ["20", "25", "28C", "34F", "34F", "13D"]
    assert (total_debits, total_credits) == (50, 100)


def test_mt942_currency_from_the_entries_else_refused() -> None:
    spec = StatementSpec(
        entries=[EntrySpec(amount=Decimal(1), currency="CHF")], currency="CHF", balances=False
    )
    body = build([spec], report=True).replace(b"<Ccy>CHF</Ccy>", b"")
    [page] = _fields(TranslationOptions(**BICS), body)
    assert _tag(page, "34F") == ["CHFD0,", "CHFC0,"]
    empty = build([StatementSpec(balances=False)], report=True).replace(b"<Ccy>EUR</Ccy>", b"")
    with pytest.raises(MissingElement, match=r"Rpt\[1\] \(report 'STMT-1'\) states no currency"):
        translate(empty, TranslationOptions(**BICS))


def test_the_format_is_chosen_per_account_then_receiver() -> None:
    body = build([StatementSpec(account=ACCOUNT, entries=[EntrySpec(amount=Decimal(1))])])  # To: DEUTDEFFXXX
    for formats, expected in [
        ({}, "MT950"),
        ({ACCOUNT: "MT940"}, "MT940"),
        ({"DEUTDEFFXXX": "MT940"}, "MT940"),
        ({"DEUTDEFF": "MT940"}, "MT940"),
        ({"*": "MT940"}, "MT940"),
        ({"*": "MT940", ACCOUNT: "MT950"}, "MT950"),
        ({"OTHRDEFFXXX": "MT940"}, "MT950"),
    ]:
        result = translate(body, TranslationOptions(formats=formats))
        assert result.formats == (expected,), formats
        assert f"{{2:I{expected[2:]}DEUTDEFFXXXXN}}" in result.messages[0]
        assert {entry["format"] for entry in result.report if entry["kind"] == "message"} == {expected}
    report = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1))])], report=True)
    assert translate(report, TranslationOptions(formats={"*": "MT940"})).formats == ("MT942",)


def test_a_format_the_document_cannot_become_is_refused() -> None:
    statement = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1))])])
    report = build([StatementSpec(entries=[EntrySpec(amount=Decimal(1))])], report=True)
    with pytest.raises(
        FormatMismatch, match=r"Stmt\[1\]: MT942 is made from camt\.052, and this document is camt\.053"
    ):
        translate(statement, TranslationOptions(format="MT942"))
    with pytest.raises(FormatMismatch, match=r"MT940 is made from camt\.053"):
        translate(report, TranslationOptions(format="MT940"))
    with pytest.raises(InvalidValue, match=r"format 'MT103'"):
        translate(statement, TranslationOptions(format="MT103"))
    with pytest.raises(InvalidValue, match="are not MT940 or MT950"):
        translate(statement, TranslationOptions(formats={ACCOUNT: "MT942"}))


@pytest.mark.parametrize("version", range(2, 14))
def test_every_camt052_version_becomes_mt942(version: int) -> None:
    entries = [EntrySpec(amount=Decimal("3.00"), end_to_end_id="E", counterparty="Payer", remittance="Inv 1")]
    body = build([StatementSpec(entries=entries)], version=version, report=True)
    [page] = _fields(TranslationOptions(**BICS), body)
    assert _tag(page, "86") == ["/EREF/E/ORDP/Payer/REMI/Inv 1"]
    assert _tag(page, "90C") == ["1EUR3,"]


def test_intermediate_balances_are_not_the_statements_own() -> None:
    """A bank that sends a statement in pages lists an INTM closing (and opening) before the final
    ones; they used to be taken as the statement's and the statement refused as unbalanced."""
    body = build([StatementSpec(opening=Decimal("100.00"), entries=[EntrySpec(amount=Decimal("5.00"))])])
    intermediate = (
        "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry><SubTp><Cd>INTM</Cd></SubTp></Tp>"
        '<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>'
    )
    opening = intermediate.format(code="OPBD", amount="50.00")
    closing = intermediate.format(code="CLBD", amount="77.00")
    body = body.replace(b"<Bal>", (opening + closing + "<Bal>").encode(), 1)
    for target in ("MT950", "MT940"):
        result = translate(body, TranslationOptions(**BICS, format=target))
        [page] = [fields(block) for block in messages(result.messages[0])]
        assert _tag(page, "60F") == ["C240301EUR100,"]
        assert _tag(page, "62F") == ["C240301EUR105,"]
        dropped = [(f["path"], f["original"]) for f in result.report if f.get("action") == "dropped"]
        assert dropped == [
            ("Stmt[1]/Bal[1]", "OPBD/INTM CRDT 50.00 EUR"),
            ("Stmt[1]/Bal[2]", "CLBD/INTM CRDT 77.00 EUR"),
        ]


def test_references_made_identical_by_truncation_are_reported() -> None:
    entries = [
        EntrySpec(amount=Decimal(1), end_to_end_id="INVOICE-2024-000001"),
        EntrySpec(amount=Decimal(1), end_to_end_id="INVOICE-2024-000002"),
        EntrySpec(amount=Decimal(1), end_to_end_id="INVOICE-2024-000002"),  # the same reference again
        EntrySpec(amount=Decimal(1), end_to_end_id="INVOICE-2024-1"),  # 14 characters: not cut
        EntrySpec(amount=Decimal(1), servicer_reference="BANKREF-00000000001"),
        EntrySpec(amount=Decimal(1), servicer_reference="BANKREF-00000000002"),
    ]
    body = build([StatementSpec(entries=entries)])
    for target in ("MT950", "MT940"):
        result = translate(body, TranslationOptions(**BICS, format=target))
        ambiguous = [
            (f["path"], f["original"], f["value"]) for f in result.report if f.get("action") == "ambiguous"
        ]
        assert ambiguous == [
            ("Stmt[1]/Ntry[1]/NtryDtls/TxDtls/Refs/EndToEndId", "INVOICE-2024-000001", "INVOICE-2024-00+"),
            ("Stmt[1]/Ntry[2]/NtryDtls/TxDtls/Refs/EndToEndId", "INVOICE-2024-000002", "INVOICE-2024-00+"),
            ("Stmt[1]/Ntry[3]/NtryDtls/TxDtls/Refs/EndToEndId", "INVOICE-2024-000002", "INVOICE-2024-00+"),
            ("Stmt[1]/Ntry[5]/AcctSvcrRef", "BANKREF-00000000001", "BANKREF-0000000+"),
            ("Stmt[1]/Ntry[6]/AcctSvcrRef", "BANKREF-00000000002", "BANKREF-0000000+"),
        ]

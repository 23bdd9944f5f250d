"""The camt.053 → MT950 mapping rules, one behaviour per test, on small built statements."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.statements import EntrySpec, StatementSpec, build
from tests.unit.translate.fin import balance, fields, headers, messages, statement_line
from transformation_runner.translate import TranslationOptions, account_of, translate
from transformation_runner.translate.errors import Unbalanced

TEN = Decimal("10.00")
STRICT = TranslationOptions()


def only_lines(body: bytes, options: TranslationOptions = STRICT) -> list[dict[str, str | None]]:
    result = translate(body, options)
    assert len(result.messages) == 1
    return [statement_line(v) for t, v in fields(messages(result.messages[0])[0]) if t == "61"]


def one(entry: EntrySpec, **statement: object) -> bytes:
    return build([StatementSpec(entries=[entry], **statement)])  # type: ignore[arg-type]


def findings(body: bytes, options: TranslationOptions = STRICT) -> list[dict[str, object]]:
    return [e for e in translate(body, options).report if e["kind"] == "finding"]


@pytest.mark.parametrize(
    ("entry", "reference"),
    [
        (EntrySpec(TEN, credit=True, end_to_end_id="E2E-1", instruction_id="INS-1"), "E2E-1"),
        (EntrySpec(TEN, credit=False, end_to_end_id="E2E-1", instruction_id="INS-1"), "INS-1"),
        (EntrySpec(TEN, credit=False, end_to_end_id="E2E-1"), "NONREF"),
        (EntrySpec(TEN, credit=True, instruction_id="INS-1"), "NONREF"),
        (EntrySpec(TEN, credit=True, entry_reference="NTRY-7"), "NTRY-7"),
        (EntrySpec(TEN, credit=True, end_to_end_id="NOTPROVIDED", entry_reference="NTRY-7"), "NTRY-7"),
        (EntrySpec(TEN, credit=True, end_to_end_id="NOTPROVIDED"), "NONREF"),
        (EntrySpec(TEN, credit=True, end_to_end_id="/lead"), "NONREF"),
        (EntrySpec(TEN, credit=True, end_to_end_id="trail/"), "NONREF"),
        (EntrySpec(TEN, credit=True, end_to_end_id="a//b"), "NONREF"),
        (EntrySpec(TEN, credit=True, end_to_end_id="pacs008EndToEndId-001"), "pacs008EndToEnd+"),
        (EntrySpec(TEN, credit=True, end_to_end_id="Zahlung für Ö"), "Zahlung fur O"),
    ],
)
def test_subfield_7_reference_rule(entry: EntrySpec, reference: str) -> None:
    assert only_lines(one(entry))[0]["reference"] == reference


def test_replaced_reference_is_reported_with_path_and_original() -> None:
    [finding] = findings(one(EntrySpec(TEN, end_to_end_id="a//b")))
    assert finding == {
        "kind": "finding",
        "statement": "STMT-1",
        "page": 1,
        "message": 0,
        "field": "61",
        "action": "replaced",
        "path": "Stmt[1]/Ntry[1]/NtryDtls/TxDtls/Refs/EndToEndId",
        "original": "a//b",
        "value": "NONREF",
    }


@pytest.mark.parametrize(
    ("servicer", "expected", "action"),
    [
        ("ASR-1", "ASR-1", None),
        ("NOTPROVIDED", None, None),
        ("20160401001027080060699", "201604010010270+", "truncated"),
        ("A//B", None, "dropped"),
    ],
)
def test_subfield_8_servicer_reference(servicer: str, expected: str | None, action: str | None) -> None:
    body = one(EntrySpec(TEN, servicer_reference=servicer))
    assert only_lines(body)[0]["servicer"] == expected
    assert [f["action"] for f in findings(body)] == ([action] if action else [])


@pytest.mark.parametrize(
    ("info", "details"),
    [
        ("FAVOUR K. DESMID", "FAVOUR K. DESMID"),
        ("-starts with a hyphen", ".starts with a hyphen"),
        (":starts with a colon", ".starts with a colon"),
        ("Überweisung " + "x" * 40, "Uberweisung " + "x" * 21 + "+"),
    ],
)
def test_subfield_9_details_on_the_next_line(info: str, details: str) -> None:
    assert only_lines(one(EntrySpec(TEN, info=info)))[0]["details"] == details


@pytest.mark.parametrize(
    ("credit", "reversal", "mark", "effect"),
    [(True, False, "C", 1), (False, False, "D", -1), (True, True, "RD", 1), (False, True, "RC", -1)],
)
def test_debit_credit_mark_and_arithmetic(credit: bool, reversal: bool, mark: str, effect: int) -> None:
    body = one(EntrySpec(TEN, credit=credit, reversal=reversal))
    result = translate(body)
    parts = dict(fields(messages(result.messages[0])[0]))
    assert statement_line(parts["61"])["mark"] == mark
    assert balance(parts["62F"])[0] == Decimal("1000.00") + effect * TEN


def test_dates_and_entry_date() -> None:
    line = only_lines(one(EntrySpec(TEN, value_date="2024-03-04", booking_date="2024-03-01T10:00:00+01:00")))[
        0
    ]
    assert (line["value_date"], line["entry_date"]) == ("240304", "0301")
    assert only_lines(one(EntrySpec(TEN, booking_date=None)))[0]["entry_date"] is None


def test_pending_entries_are_dropped_and_reported() -> None:
    body = build([StatementSpec(entries=[EntrySpec(TEN), EntrySpec(Decimal("99"), status="PDNG")])])
    assert len(only_lines(body)) == 1
    [finding] = findings(body)
    assert (finding["action"], finding["path"], finding["original"]) == (
        "dropped",
        "Stmt[1]/Ntry[2]/Sts",
        "PDNG",
    )


@pytest.mark.parametrize("version", [2, 3, 4, 8, 13])
def test_every_version_translates_the_same_statement(version: int) -> None:
    spec = StatementSpec(entries=[EntrySpec(TEN, end_to_end_id="E1", servicer_reference="S1")])
    result = translate(
        build([spec], version=version, app_header=False), TranslationOptions(receiver_bic="CUSTDEFF")
    )
    assert headers(result.messages[0]) == ["{1:F01COBADEFFAXXX0000000000}{2:I950CUSTDEFFXXXXN}"]
    assert fields(messages(result.messages[0])[0]) == [
        ("20", "STMT-1"),
        ("25", "DE89370400440532013000"),
        ("28C", "42/1"),
        ("60F", "C240301EUR1000,"),
        ("61", "2403010301C10,NTRFE1//S1"),
        ("62F", "C240301EUR1010,"),
    ]


def test_app_header_bics_win_over_account_and_defaults() -> None:
    result = translate(one(EntrySpec(TEN)), TranslationOptions("OTHRDEFFXXX", "OTHRGB2LXXX"))
    assert headers(result.messages[0]) == ["{1:F01COBADEFFAXXX0000000000}{2:I950DEUTDEFFXXXXN}"]


def test_field_20_slashes_and_length() -> None:
    body = build([StatementSpec(statement_id="/2024//03/statement-of-the-month/", entries=[EntrySpec(TEN)])])
    parts = dict(fields(messages(translate(body).messages[0])[0]))
    assert parts["20"] == "2024/03/stateme+"


def test_field_28c_sequence_number_fallbacks() -> None:
    too_long = build([StatementSpec(legal_sequence="123456", entries=[EntrySpec(TEN)])])
    assert dict(fields(messages(translate(too_long).messages[0])[0]))["28C"] == "1/1"
    electronic = too_long.replace(b"<LglSeqNb>123456</LglSeqNb>", b"<ElctrncSeqNb>77</ElctrncSeqNb>")
    assert dict(fields(messages(translate(electronic).messages[0])[0]))["28C"] == "77/1"


def test_account_fallbacks() -> None:
    other = one(EntrySpec(TEN)).replace(
        b"<IBAN>DE89370400440532013000</IBAN>", b"<Othr><Id>123-456</Id></Othr>"
    )
    assert dict(fields(messages(translate(other).messages[0])[0]))["25"] == "123-456"
    assert account_of(other) == "123-456"
    none = one(EntrySpec(TEN)).replace(b"<Id><IBAN>DE89370400440532013000</IBAN></Id>", b"")
    assert dict(fields(messages(translate(none).messages[0])[0]))["25"] == "NOTPROVIDED"
    assert account_of(none) == "NOTPROVIDED"


def test_closing_available_on_last_page_and_forward_available_dropped() -> None:
    body = build([StatementSpec(entries=[EntrySpec(TEN)], available=Decimal("900"))])
    body = body.replace(b"</Bal><Ntry>", b"</Bal>" + _bal(b"FWAV", b"950.00") + b"<Ntry>", 1)
    result = translate(body)
    parts = dict(fields(messages(result.messages[0])[0]))
    assert parts["64"] == "C240301EUR900,"
    dropped = [f for f in result.report if f.get("action") == "dropped"]
    assert [(f["path"], f["original"]) for f in dropped] == [("Stmt[1]/Bal[4]", "FWAV CRDT 950.00 EUR")]


def _bal(code: bytes, amount: bytes) -> bytes:
    return (
        b"<Bal><Tp><CdOrPrtry><Cd>"
        + code
        + b'</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">'
        + amount
        + b"</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-02</Dt></Dt></Bal>"
    )


def test_previously_closed_balance_when_no_opening_booked() -> None:
    body = one(EntrySpec(TEN)).replace(b"<Cd>OPBD</Cd>", b"<Cd>PRCD</Cd>")
    assert dict(fields(messages(translate(body).messages[0])[0]))["60F"] == "C240301EUR1000,"


def test_as_sent_mode_keeps_the_source_closing_and_reports_the_difference() -> None:
    body = build([StatementSpec(entries=[EntrySpec(TEN)], closing=Decimal("1234.56"))])
    with pytest.raises(Unbalanced, match=r"STMT-1.*1010.00.*1234.56.*difference 224.56 EUR"):
        translate(body)
    result = translate(body, TranslationOptions(balance_mode="as-sent"))
    assert dict(fields(messages(result.messages[0])[0]))["62F"] == "C240301EUR1234,56"
    [adjusted] = [f for f in result.report if f.get("action") == "adjusted"]
    assert (adjusted["field"], adjusted["original"], adjusted["value"]) == ("62F", "1010.00", "1234.56")
    assert result.report[0]["status"] == "TRAK"


def test_as_sent_mode_falls_back_to_interim_booked_balance() -> None:
    body = one(EntrySpec(TEN)).replace(b"<Cd>OPBD</Cd>", b"<Cd>ITBD</Cd>")
    result = translate(body, TranslationOptions(balance_mode="as-sent"))
    assert dict(fields(messages(result.messages[0])[0]))["60F"] == "C240301EUR1000,"
    assert any(f.get("action") == "defaulted" and f["field"] == "60F" for f in result.report)


def test_every_statement_is_its_own_series() -> None:
    body = build(
        [
            StatementSpec(statement_id="A", account="DE02120300000000202051", entries=[EntrySpec(TEN)]),
            StatementSpec(statement_id="B", account="CH9300762011623852957", currency="CHF", entries=[]),
            StatementSpec(
                statement_id="C", currency="JPY", opening=Decimal(5), entries=[EntrySpec(Decimal(7))]
            ),
        ]
    )
    result = translate(body)
    assert result.statements == 3
    assert result.account == account_of(body) == "DE02120300000000202051"
    assert [dict(fields(m))["20"] for m in messages("".join(result.messages))] == ["A", "B", "C"]
    assert [dict(fields(m))["62F"] for m in messages("".join(result.messages))] == [
        "C240301EUR1010,",
        "C240301CHF1000,",
        "C240301JPY12,",
    ]
    assert [e["status"] for e in result.report if e["kind"] == "message"] == ["TROK", "TROK", "TROK"]


def test_report_has_one_message_entry_per_message_in_order() -> None:
    result = translate(build([StatementSpec(entries=[EntrySpec(TEN, info="Ü")] * 40)]))
    summary = [e for e in result.report if e["kind"] == "message"]
    assert [e["message"] for e in summary] == list(range(len(result.messages)))
    assert sum(int(str(e["entries"])) for e in summary) == 40

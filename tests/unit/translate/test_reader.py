"""The streaming reader: results independent of how the body is cut, memory flat, structure checked.

The reader feeds the body to lxml's pull parser :data:`camt053.CHUNK_BYTES` at a time and reads the
open statement's children after each chunk; a chunk may end anywhere (inside a tag, a text, a header
element), so the same body cut into 1-byte, odd and default chunks must give the same translation.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.statements import StatementSpec, build, random_entries
from transformation_runner.translate import TranslationOptions, camt053, iter_pages, translate
from transformation_runner.translate.errors import MissingElement, NotCamt053

GOLDEN = Path(__file__).parents[2] / "golden"
OPTIONS = TranslationOptions(sender_bic="COBADEFFXXX", receiver_bic="DEUTDEFFXXX")
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
BAL = (
    '<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">10.00</Amt>'
    "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>"
)


def _document(*statements: str) -> bytes:
    body = "".join(f"<Stmt>{statement}</Stmt>" for statement in statements)
    return f'<Document xmlns="{NS}"><BkToCstmrStmt><GrpHdr/>{body}</BkToCstmrStmt></Document>'.encode()


def _result(body: bytes, options: TranslationOptions) -> tuple[object, ...]:
    result = translate(body, options)
    pages = [page.message for page in iter_pages(body, options)]
    assert pages == result.messages
    return result.messages, result.report, result.statements, result.account


BODIES = {
    **{path.name: path.read_bytes() for path in sorted(GOLDEN.glob("*.xml"))},
    "generated-300": build([StatementSpec(entries=random_entries(300, seed=3))], app_header=True),
    "generated-two": build(
        [
            StatementSpec(entries=random_entries(40, seed=4)),
            StatementSpec(statement_id="STMT-2", entries=random_entries(25, seed=5)),
        ],
        app_header=False,
    ),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_translation_does_not_depend_on_where_chunks_end(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = BODIES[name]
    options = replace(OPTIONS, balance_mode="as-sent") if name.startswith("as_sent_") else OPTIONS
    expected = _result(body, options)
    sizes = (1, 7, 509) if len(body) < 40_000 else (97, 509)
    for size in sizes:
        monkeypatch.setattr(camt053, "CHUNK_BYTES", size)
        assert _result(body, options) == expected, f"{name} cut into {size}-byte chunks"


def test_read_entries_leave_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat: the open statement never holds more than about one chunk of entries."""
    seen: list[int] = []
    scan = camt053._Reader.scan

    def counting(reader: camt053._Reader, complete: bool) -> object:
        if reader.stmt is not None:
            seen.append(len(reader.stmt))
        return scan(reader, complete)

    monkeypatch.setattr(camt053._Reader, "scan", counting)
    body = build([StatementSpec(entries=random_entries(5_000, seed=1))], app_header=False)
    pages = list(iter_pages(body, OPTIONS))
    assert len(pages) > 100 and len(seen) > 50
    # A 32 KB chunk holds at most ~100 of these ~350-byte entries; 5,000 are in the body.
    assert max(seen) < 200


def test_the_header_comes_from_the_elements_before_the_first_balance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An Id after the balances is not the statement's Id, however the body is cut."""
    late_id = _document(BAL.format(code="OPBD") + BAL.format(code="CLBD") + "<Id>LATE</Id>")
    for size in (1, 64, camt053.CHUNK_BYTES):
        monkeypatch.setattr(camt053, "CHUNK_BYTES", size)
        with pytest.raises(MissingElement, match=r"Stmt\[1\]/Id \(statement identification\) is missing"):
            translate(late_id, OPTIONS)


def test_a_statement_inside_a_statement_is_refused() -> None:
    inner = "<Id>INNER</Id>" + BAL.format(code="OPBD") + BAL.format(code="CLBD")
    body = _document("<Id>OUTER</Id>" + BAL.format(code="OPBD") + f"<Stmt>{inner}</Stmt>")
    with pytest.raises(NotCamt053, match=r"Stmt\[1\] contains another Stmt"):
        translate(body, OPTIONS)


def test_statements_without_entries_and_a_statement_after_them() -> None:
    first = "<Id>FIRST</Id>" + BAL.format(code="OPBD") + BAL.format(code="CLBD")
    second = "<Id>SECOND</Id>" + BAL.format(code="OPBD") + BAL.format(code="CLBD")
    result = translate(_document(first, second), OPTIONS)
    assert result.statements == 2
    assert [":20:FIRST" in result.messages[0], ":20:SECOND" in result.messages[1]] == [True, True]

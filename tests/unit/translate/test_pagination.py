"""Pagination: 2,000-character text blocks, 28C page numbers, 60F/60M and 62M/62F chaining, streaming."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.statements import EntrySpec, StatementSpec, build, random_entries
from tests.unit.translate.fin import balance, fields, messages, signed, statement_line
from transformation_runner.translate import TranslationOptions, iter_pages, translate
from transformation_runner.translate.errors import InvalidXml


def check_series(series: list[str], opening: Decimal, closing: Decimal) -> int:
    """Assert the MT950 pagination rules on one series; return its number of 61 entries."""
    previous_close = None
    entries = 0
    for page, block4 in enumerate(series, start=1):
        assert len(block4) + 5 <= 2000  # "\r\n" + body + "\r\n-" between "{4:" and "}"
        parts = fields(block4)
        tags = [tag for tag, _ in parts]
        values = dict(parts)
        last = page == len(series)
        assert values["28C"].endswith(f"/{page}")
        assert ("60F" in tags) == (page == 1) and ("60M" in tags) == (page > 1)
        assert ("62F" in tags) == last and ("62M" in tags) == (not last)
        if not last:
            assert "64" not in tags
        open_value = values.get("60F") or values["60M"]
        close_value = values.get("62F") or values["62M"]
        if previous_close is not None:
            assert open_value == previous_close
        lines = [statement_line(v) for t, v in parts if t == "61"]
        assert balance(open_value)[0] + sum(signed(line) for line in lines) == balance(close_value)[0]
        previous_close = close_value
        entries += len(lines)
    assert balance(dict(fields(series[0])).get("60F", ""))[0] == opening
    assert balance(previous_close or "")[0] == closing
    return entries


def test_a_thousand_entries_paginate_and_chain() -> None:
    spec = StatementSpec(entries=random_entries(1000, seed=3), available=Decimal("1.00"))
    result = translate(build([spec]))
    series = messages("".join(result.messages))
    assert len(series) == len(result.messages) > 20
    assert check_series(series, spec.opening, spec.opening + spec.signed_total()) == 1000
    assert "64" in dict(fields(series[-1]))


def test_page_numbers_restart_for_each_statement() -> None:
    specs = [StatementSpec(statement_id=f"S{n}", entries=random_entries(200, seed=n)) for n in range(3)]
    result = translate(build(specs))
    pages = [dict(fields(m))["28C"] for m in messages("".join(result.messages))]
    assert pages.count("42/1") == 3
    by_statement: dict[str, list[str]] = {}
    for message in messages("".join(result.messages)):
        by_statement.setdefault(dict(fields(message))["20"], []).append(message)
    for spec in specs:
        check_series(by_statement[spec.statement_id], spec.opening, spec.opening + spec.signed_total())


def test_long_lines_fill_pages_without_exceeding_the_limit() -> None:
    entry = EntrySpec(
        Decimal("12345678901.12"),
        end_to_end_id="E" * 40,
        servicer_reference="S" * 40,
        info="I" * 80,
        booking_date="2024-03-01",
    )
    spec = StatementSpec(opening=Decimal(0), entries=[entry] * 60)
    result = translate(build([spec]))
    check_series(messages("".join(result.messages)), Decimal(0), spec.signed_total())


def test_twenty_thousand_entries_stream_page_by_page() -> None:
    """Pages come out before the document ends: a defect at the very end surfaces after them."""
    spec = StatementSpec(entries=random_entries(20_000, seed=11))
    body = build([spec])
    pages = iter_pages(body[:-40], TranslationOptions())
    first = next(pages)
    assert "{4:\r\n:20:STMT-1\r\n" in first.message
    produced = 1
    with pytest.raises(InvalidXml):
        for _ in pages:
            produced += 1
    assert produced > 100
    full = list(iter_pages(body))
    assert sum(int(str(p.report[0]["entries"])) for p in full) == 20_000
    assert [p.message for p in full[:produced]] == [first.message, *[p.message for p in full[1:produced]]]


def test_findings_belong_to_the_page_that_carries_the_entry() -> None:
    entries = [EntrySpec(Decimal(1), info="für " + "x" * 30, end_to_end_id=f"E{n}") for n in range(120)]
    result = translate(build([StatementSpec(entries=entries)]))
    assert len(result.messages) > 1
    for entry in result.report:
        if entry["kind"] == "finding":
            number = int(str(entry["path"]).split("Ntry[")[1].split("]")[0])
            message = result.messages[int(str(entry["message"]))]
            assert f"NTRFE{number - 1}\r\n" in message

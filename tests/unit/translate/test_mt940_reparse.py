"""Every produced message parsed again by an independent MT parser (PyPI ``mt-940``, wolph/mt940).

The transactions it reads back (signed amount, value date) must be the source's booked entries, read
here straight from the XML with a plain lxml tree, in order; its opening and closing balances must
chain from page to page.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise

import mt940
import pytest
from lxml import etree

from bench.statements import EntrySpec, StatementSpec, build, random_entries
from tests.unit.translate.fin import GOLDEN
from tests.unit.translate.test_golden import CASES, options_for
from transformation_runner.translate import TranslationOptions, translate

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def booked_entries(body: bytes) -> list[tuple[Decimal, date]]:
    """(signed amount, value date) of every booked entry, reversals signed like MT (RD +, RC -)."""
    out = []
    for entry in etree.fromstring(body, SAFE).iter("{*}Ntry"):
        status_element, value_date = entry.find("{*}Sts"), entry.find("{*}ValDt")
        assert status_element is not None and value_date is not None
        if "".join(map(str, status_element.itertext())).strip() != "BOOK":
            continue
        amount = Decimal(entry.findtext("{*}Amt", "").strip())
        debit = entry.findtext("{*}CdtDbtInd", "").strip() == "DBIT"
        when = "".join(map(str, value_date.itertext())).strip()[:10]
        out.append((-amount if debit else amount, date.fromisoformat(when)))
    return out


def reparsed(messages: list[str]) -> tuple[list[tuple[Decimal, date]], list[tuple[Decimal, Decimal]]]:
    """Transactions and (opening, closing) per message, as mt-940 reads them."""
    transactions = []
    balances = []
    for message in messages:
        parsed = mt940.models.Transactions(options=mt940.Options(reversal_sign=True))
        parsed.parse(message)
        opening = parsed.data.get("final_opening_balance") or parsed.data.get("intermediate_opening_balance")
        closing = parsed.data.get("final_closing_balance") or parsed.data.get("intermediate_closing_balance")
        assert opening is not None and closing is not None, message
        balances.append((opening.amount.amount, closing.amount.amount))
        transactions += [(t.data["amount"].amount, t.data["date"]) for t in parsed]
    return transactions, balances


@pytest.mark.parametrize("case", CASES)
def test_golden_outputs_reparse_to_the_source_entries(case: str) -> None:
    body = (GOLDEN / f"{case}.xml").read_bytes()
    result = translate(body, options_for(case))
    transactions, balances = reparsed(result.messages)
    assert transactions == booked_entries(body)
    for opening, closing in balances:
        assert opening is not None and closing is not None


def test_paginated_statement_with_reversals_reparses_and_chains() -> None:
    entries = [
        *random_entries(300, seed=7),
        EntrySpec(amount=Decimal("12.34"), credit=False, reversal=True, end_to_end_id="REV-1"),
        EntrySpec(amount=Decimal("5.00"), credit=True, reversal=True, instruction_id="REV-2"),
        EntrySpec(amount=Decimal("7.00"), status="PDNG"),
    ]
    body = build([StatementSpec(entries=entries)])
    result = translate(body, TranslationOptions())
    assert len(result.messages) > 5
    transactions, balances = reparsed(result.messages)
    assert transactions == booked_entries(body)
    for (_, closing), (opening, _) in pairwise(balances):
        assert opening == closing
    page_sums = [closing - opening for opening, closing in balances]
    assert sum(page_sums) == sum(amount for amount, _ in transactions)

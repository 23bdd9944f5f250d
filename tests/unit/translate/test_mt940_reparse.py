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
from tests.unit.translate.test_golden import TARGETS, options_for
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


def _parse(message: str) -> mt940.models.Transactions:
    parsed = mt940.models.Transactions(options=mt940.Options(reversal_sign=True))
    parsed.parse(message)
    return parsed


def reparsed(messages: list[str]) -> tuple[list[tuple[Decimal, date]], list[tuple[Decimal, Decimal]]]:
    """Transactions and (opening, closing) per message, as mt-940 reads them (MT940, MT950)."""
    transactions = []
    balances = []
    for message in messages:
        parsed = _parse(message)
        opening = parsed.data.get("final_opening_balance") or parsed.data.get("intermediate_opening_balance")
        closing = parsed.data.get("final_closing_balance") or parsed.data.get("intermediate_closing_balance")
        assert opening is not None and closing is not None, message
        balances.append((opening.amount.amount, closing.amount.amount))
        transactions += [(t.data["amount"].amount, t.data["date"]) for t in parsed]
    return transactions, balances


def reparsed_report(messages: list[str]) -> list[tuple[Decimal, date]]:
    """Transactions of MT942 messages as mt-940 reads them; each message's 90D and 90C (number and
    sum) must be its debit and credit transactions."""
    transactions = []
    for message in messages:
        parsed = _parse(message)
        debits = [t.data["amount"].amount for t in parsed if t.data["status"] in {"D", "RC"}]
        credits = [t.data["amount"].amount for t in parsed if t.data["status"] in {"C", "RD"}]
        debit, credit = parsed.data["sum_debit_entries"], parsed.data["sum_credit_entries"]
        assert (int(debit.number), debit.amount) == (len(debits), sum(debits, Decimal(0)))
        assert (int(credit.number), credit.amount) == (len(credits), sum(credits, Decimal(0)))
        assert parsed.data["d_floor_limit"].amount == parsed.data["c_floor_limit"].amount == 0
        transactions += [(t.data["amount"].amount, t.data["date"]) for t in parsed]
    return transactions


def check_statement(messages: list[str], body: bytes) -> None:
    """The source's booked entries come back in order; every page's entries sum to its balances and
    pages chain (62M = next 60M)."""
    transactions, balances = reparsed(messages)
    assert transactions == booked_entries(body)
    position = 0
    for (opening, closing), message in zip(balances, messages, strict=True):
        count = len(list(_parse(message)))
        page = transactions[position : position + count]
        position += count
        assert opening + sum((amount for amount, _ in page), Decimal(0)) == closing or "as-sent" in message
    for (_, closing), (opening, _) in pairwise(balances):
        assert opening == closing


@pytest.mark.parametrize(("case", "target"), TARGETS)
def test_golden_outputs_reparse_to_the_source_entries(case: str, target: str) -> None:
    body = (GOLDEN / f"{case}.xml").read_bytes()
    result = translate(body, options_for(case, target))
    if target == "MT942":
        assert reparsed_report(result.messages) == booked_entries(body)
        return
    transactions, balances = reparsed(result.messages)
    assert transactions == booked_entries(body)
    for opening, closing in balances:
        assert opening is not None and closing is not None
    if not case.startswith("as_sent_"):  # as-sent: 62F is the CLBD as sent, not the sum
        check_statement(result.messages, body)


@pytest.mark.parametrize("target", ["MT950", "MT940"])
def test_paginated_statement_with_reversals_reparses_and_chains(target: str) -> None:
    entries = [
        *random_entries(300, seed=7),
        EntrySpec(amount=Decimal("12.34"), credit=False, reversal=True, end_to_end_id="REV-1"),
        EntrySpec(amount=Decimal("5.00"), credit=True, reversal=True, instruction_id="REV-2"),
        EntrySpec(amount=Decimal("7.00"), status="PDNG"),
    ]
    body = build([StatementSpec(entries=entries, info="Statement note")])
    result = translate(body, TranslationOptions(format=target))
    assert len(result.messages) > 5
    check_statement(result.messages, body)
    if target == "MT940":  # the 300 random entries have AddtlNtryInf: each carries its 86
        details = [t.data.get("transaction_details") or "" for m in result.messages for t in _parse(m)]
        assert all("/ADDI/Zahlung Nr." in text for text in details[:300])
        assert details[300] == "/EREF/REV-1"
        # mt-940 files the statement's own closing 86 under the last transaction (that one has none)
        assert details[301].startswith("Statement note")


def test_paginated_report_reparses_with_its_sums() -> None:
    entries = [
        *random_entries(300, seed=8),
        EntrySpec(amount=Decimal("12.34"), credit=False, reversal=True, end_to_end_id="REV-1"),
        EntrySpec(amount=Decimal("5.00"), credit=True, reversal=True, instruction_id="REV-2"),
    ]
    body = build([StatementSpec(entries=entries, info="Report note")], report=True)
    result = translate(body, TranslationOptions())
    assert len(result.messages) > 5
    assert reparsed_report(result.messages) == booked_entries(body)

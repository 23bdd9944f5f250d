"""Synthetic camt.053 statements and camt.052 reports of any size and version, for the benchmark and
the tests.

The builder writes the XML text directly (no tree), so a 100k-entry statement costs little memory.
Every statement it builds reconciles unless ``closing`` is given: CLBD = opening + signed entries.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class EntrySpec:
    """One ``Ntry``; ``None`` fields are left out of the XML."""

    amount: Decimal
    credit: bool = True
    reversal: bool = False
    status: str = "BOOK"
    value_date: str = "2024-03-01"
    booking_date: str | None = "2024-03-01"
    currency: str | None = None  # None: the statement's currency
    servicer_reference: str | None = None
    entry_reference: str | None = None
    instruction_id: str | None = None
    end_to_end_id: str | None = None
    proprietary_code: str | None = None
    domain: tuple[str, str, str] | None = ("PMNT", "RCDT", "ESCT")
    info: str | None = None
    counterparty: str | None = None  # debtor's name for a credit, creditor's for a debit
    counterparty_account: str | None = None  # its IBAN
    remittance: str | None = None  # RmtInf/Ustrd
    transaction_info: str | None = None  # TxDtls/AddtlTxInf


@dataclass(frozen=True)
class StatementSpec:
    """One ``Stmt``: identification, account, opening balance and entries."""

    statement_id: str = "STMT-1"
    account: str = "DE89370400440532013000"
    currency: str = "EUR"
    opening: Decimal = Decimal("1000.00")
    entries: Sequence[EntrySpec] = ()
    legal_sequence: str | None = "42"
    closing: Decimal | None = None  # None: opening + signed entries
    available: Decimal | None = None  # CLAV, when given
    forward: Sequence[Decimal] = ()  # FWAV balances
    date: str = "2024-03-01"
    info: str | None = None  # AddtlStmtInf / AddtlRptInf
    balances: bool = True  # False: no Bal at all (a camt.052 report may have none)

    def signed_total(self) -> Decimal:
        total = Decimal(0)
        for entry in self.entries:
            if entry.status == "BOOK":
                total += entry.amount if entry.credit else -entry.amount
        return total


def _amount(value: Decimal, currency: str) -> str:
    return f'<Amt Ccy="{currency}">{abs(value)}</Amt>'


def _balance(code: str, value: Decimal, currency: str, when: str) -> str:
    indicator = "CRDT" if value >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amount(value, currency)}"
        f"<CdtDbtInd>{indicator}</CdtDbtInd><Dt><Dt>{when}</Dt></Dt></Bal>"
    )


def _optional(tag: str, value: str | None) -> str:
    return "" if value is None else f"<{tag}>{escape(value)}</{tag}>"


def _entry(entry: EntrySpec, currency: str, version: int) -> str:
    status = f"<Sts><Cd>{entry.status}</Cd></Sts>" if version >= 8 else f"<Sts>{entry.status}</Sts>"
    parts = [
        "<Ntry>",
        _optional("NtryRef", entry.entry_reference),
        _amount(entry.amount, entry.currency or currency),
        f"<CdtDbtInd>{'CRDT' if entry.credit else 'DBIT'}</CdtDbtInd>",
        "<RvslInd>true</RvslInd>" if entry.reversal else "",
        status,
        "" if entry.booking_date is None else f"<BookgDt><Dt>{entry.booking_date}</Dt></BookgDt>",
        f"<ValDt><Dt>{entry.value_date}</Dt></ValDt>",
        _optional("AcctSvcrRef", entry.servicer_reference),
        "<BkTxCd>",
    ]
    if entry.domain:
        domain, family, subfamily = entry.domain
        parts.append(
            f"<Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{subfamily}</SubFmlyCd></Fmly></Domn>"
        )
    if entry.proprietary_code:
        parts.append(f"<Prtry><Cd>{escape(entry.proprietary_code)}</Cd></Prtry>")
    parts.append("</BkTxCd>")
    details = _transaction(entry, version)
    if details:
        parts.append(f"<NtryDtls><TxDtls>{details}</TxDtls></NtryDtls>")
    parts.append(_optional("AddtlNtryInf", entry.info))
    parts.append("</Ntry>")
    return "".join(parts)


def _transaction(entry: EntrySpec, version: int) -> str:
    """The ``TxDtls`` content of an entry, or ``""`` when it has none."""
    parts = []
    if entry.instruction_id or entry.end_to_end_id:
        parts.append(
            "<Refs>"
            + _optional("InstrId", entry.instruction_id)
            + _optional("EndToEndId", entry.end_to_end_id)
            + "</Refs>"
        )
    if entry.counterparty or entry.counterparty_account:
        role = "Dbtr" if entry.credit else "Cdtr"
        name = _optional("Nm", entry.counterparty)
        party = f"<{role}><Pty>{name}</Pty></{role}>" if version >= 8 else f"<{role}>{name}</{role}>"
        account = (
            f"<{role}Acct><Id><IBAN>{escape(entry.counterparty_account)}</IBAN></Id></{role}Acct>"
            if entry.counterparty_account
            else ""
        )
        parts.append(f"<RltdPties>{party if entry.counterparty else ''}{account}</RltdPties>")
    if entry.remittance:
        parts.append(f"<RmtInf>{_optional('Ustrd', entry.remittance)}</RmtInf>")
    parts.append(_optional("AddtlTxInf", entry.transaction_info))
    return "".join(parts)


def _statement(spec: StatementSpec, version: int, report: bool = False) -> Iterable[str]:
    bic = "BICFI" if version >= 4 else "BIC"
    closing = spec.closing if spec.closing is not None else spec.opening + spec.signed_total()
    tag = "Rpt" if report else "Stmt"
    yield f"<{tag}><Id>{escape(spec.statement_id)}</Id>"
    yield _optional("LglSeqNb", spec.legal_sequence)
    yield f"<CreDtTm>{spec.date}T18:00:00+01:00</CreDtTm>"
    yield f"<Acct><Id><IBAN>{spec.account}</IBAN></Id><Ccy>{spec.currency}</Ccy>"
    yield f"<Svcr><FinInstnId><{bic}>COBADEFFXXX</{bic}></FinInstnId></Svcr></Acct>"
    if spec.balances:
        yield _balance("OPBD", spec.opening, spec.currency, spec.date)
        yield _balance("CLBD", closing, spec.currency, spec.date)
        if spec.available is not None:
            yield _balance("CLAV", spec.available, spec.currency, spec.date)
        for forward in spec.forward:
            yield _balance("FWAV", forward, spec.currency, spec.date)
    for entry in spec.entries:
        yield _entry(entry, spec.currency, version)
    yield _optional("AddtlRptInf" if report else "AddtlStmtInf", spec.info)
    yield f"</{tag}>"


def build(
    statements: Sequence[StatementSpec], version: int = 8, app_header: bool = True, report: bool = False
) -> bytes:
    """A camt.053.001.``version`` document with the given statements (``report``: a camt.052 with
    them as reports); wrapped with an AppHdr if asked."""
    message, root = ("camt.052", "BkToCstmrAcctRpt") if report else ("camt.053", "BkToCstmrStmt")
    namespace = f"urn:iso:std:iso:20022:tech:xsd:{message}.001.{version:02d}"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>']
    if app_header:
        parts.append(
            '<Envelope xmlns="urn:swift:xsd:envelope">'
            '<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">'
            "<Fr><FIId><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></FIId></Fr>"
            "<To><FIId><FinInstnId><BICFI>DEUTDEFFXXX</BICFI></FinInstnId></FIId></To>"
            f"<BizMsgIdr>B1</BizMsgIdr><MsgDefIdr>{message}.001.{version:02d}</MsgDefIdr>"
            "<CreDt>2024-03-01T18:00:00Z</CreDt></AppHdr>"
        )
    parts.append(f'<Document xmlns="{namespace}"><{root}>')
    parts.append("<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2024-03-01T18:00:00+01:00</CreDtTm></GrpHdr>")
    for spec in statements:
        parts.extend(_statement(spec, version, report))
    parts.append(f"</{root}></Document>")
    if app_header:
        parts.append("</Envelope>")
    return "".join(parts).encode("utf-8")


def random_entries(count: int, seed: int = 1) -> list[EntrySpec]:
    """``count`` realistic entries (mixed credits/debits, references, free text), reproducible by seed."""
    rng = random.Random(seed)
    entries = []
    for number in range(count):
        credit = rng.random() < 0.5
        entries.append(
            EntrySpec(
                amount=Decimal(rng.randint(1, 10_000_000)) / 100,
                credit=credit,
                servicer_reference=f"ASR{number:012d}",
                end_to_end_id=f"E2E-{number:08d}" if credit else None,
                instruction_id=None if credit else f"INSTR-{number:08d}",
                info=f"Zahlung Nr. {number} für Rechnung {rng.randint(1000, 9999)}",
            )
        )
    return entries

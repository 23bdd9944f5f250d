"""The small statement model read from camt.053 and camt.052: raw source strings, no MT decisions yet.

Values stay as the source wrote them (``None`` when absent) so the mapping can report the original
value of anything it truncates, replaces or drops, with the element path it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Balance:
    """``Stmt/Bal``: type code (OPBD, PRCD, CLBD, CLAV, FWAV, ITBD, ...), amount, sign, date.

    ``subtype`` is ``Tp/SubTp/Cd`` (or ``Prtry``), e.g. ``INTM`` for an intermediate balance of a
    statement the bank sent in pages: such a balance is not the statement's own opening or closing.
    """

    code: str
    amount: str | None
    currency: str | None
    indicator: str | None
    date: str | None
    path: str
    subtype: str | None = None


@dataclass(slots=True)
class Narrative:
    """What an ``:86:`` (MT940, MT942) tells the account owner about one entry, read only for them.

    ``debtor``/``creditor``: (name, account) of the first transaction's ``RltdPties``; ``remittance``:
    every ``RmtInf/Ustrd`` of every transaction; ``infos``: ``AddtlTxInf`` of every transaction.
    """

    debtor: tuple[str | None, str | None] = (None, None)
    creditor: tuple[str | None, str | None] = (None, None)
    remittance: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Entry:
    """``Stmt/Ntry``: what MT950 field 61 needs, plus the entry's position for the report."""

    number: int
    amount: str | None
    currency: str | None
    indicator: str | None
    reversal: str | None
    status: str | None
    value_date: str | None
    booking_date: str | None
    servicer_reference: str | None
    entry_reference: str | None
    instruction_id: str | None
    end_to_end_id: str | None
    batch_id: str | None
    transactions: int
    proprietary_code: str | None
    domain: str | None
    family: str | None
    subfamily: str | None
    entry_info: str | None
    transaction_info: str | None
    narrative: Narrative | None = None  # read for MT940/MT942 only


@dataclass(slots=True)
class StatementHeader:
    """``Stmt`` (camt.053) or ``Rpt`` (camt.052) up to its entries: identification, account, parties,
    balances (in source order); ``info`` (``AddtlStmtInf``/``AddtlRptInf``) once the statement ended."""

    number: int
    version: int
    statement_id: str | None
    legal_sequence: str | None
    electronic_sequence: str | None
    iban: str | None
    other_account_id: str | None
    account_currency: str | None
    servicer_bic: str | None
    owner_bic: str | None
    balances: list[Balance] = field(default_factory=list)
    kind: str = "camt.053"  # or camt.052
    created: str | None = None  # Stmt/CreDtTm or Rpt/CreDtTm, else GrpHdr/CreDtTm
    related: str | None = None  # GrpHdr/OrgnlBizQry/MsgId: the request this answers (field 21)
    info: str | None = None  # AddtlStmtInf / AddtlRptInf
    rich: bool = False  # set by the consumer on the header event: read the entries' :86: elements

    @property
    def path(self) -> str:
        return f"{'Rpt' if self.kind == 'camt.052' else 'Stmt'}[{self.number}]"

    @property
    def account(self) -> str | None:
        """IBAN, else ``Othr/Id``, as written."""
        return self.iban or self.other_account_id


@dataclass(frozen=True, slots=True)
class AppHeader:
    """Business application header (``head.001``) of the envelope: sender and receiver BICFI."""

    sender_bic: str | None
    receiver_bic: str | None


@dataclass(frozen=True, slots=True)
class StatementEnd:
    """The end of one ``Stmt``; ``header.balances`` now holds every balance of the statement."""

    header: StatementHeader

"""The drill's statements: valid camt.053 documents over many accounts, some large, a few bad on purpose.

Every statement is built by :func:`bench.statements.build` (it reconciles: CLBD = OPBD + entries). The
drill records what it produced (:class:`Produced`), independently of the code under test: message id,
account (= Service Bus session), the put order within the account, and whether the body is bad and how.

Bad bodies (``kind``) exercise the poison path and must end ``FAILED`` and quarantined, never lost:

* ``invalid_xml`` — not well-formed; the account cannot be read (session ``UNROUTABLE``);
* ``wrong_type`` — a well-formed ISO 20022 document that is neither camt.053 nor camt.052 (a camt.054
  namespace: the runner translates camt.052 reports into MT942);
* ``unbalanced`` — a camt.053 whose closing balance does not reconcile: its account is readable, so it
  sits in the *middle of a real session*, between good statements of the same account.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import asdict, dataclass
from decimal import Decimal

from bench.statements import StatementSpec, build, random_entries

BAD_KINDS = ("invalid_xml", "wrong_type", "unbalanced")
LARGE_ENTRIES = 120  # enough entries for several 2,000-character MT950 pages


@dataclass(frozen=True)
class Produced:
    """One statement the drill put on the inbox."""

    message_id: str
    account: str
    order: int  # put order within the account (0, 1, ...): the order deliveries must keep
    size: int
    entries: int
    bad: str = ""  # "" for a good statement, else one of BAD_KINDS
    put_at: float = 0.0  # wall-clock seconds (time.time()) when it was put

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def iban(number: int) -> str:
    """A syntactically plausible German IBAN per account number (check digits not computed)."""
    return f"DE{10 + number % 89:02d}37040044{number:010d}"


@dataclass(frozen=True)
class Planned:
    """A statement ready to be put: its id, account, body and what kind of body it is."""

    message_id: str
    account: str
    body: bytes
    entries: int
    bad: str = ""


def plan(count: int, accounts: int = 40, large_every: int = 25, bad: int = 0, seed: int = 7) -> list[Planned]:
    """``count`` statements over ``accounts`` accounts, every ``large_every``-th one large, with ``bad``
    of them (cycling through :data:`BAD_KINDS`) placed in the middle of the stream. Reproducible."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    bad_slots = {count * (i + 1) // (bad + 1) for i in range(bad)}
    planned: list[Planned] = []
    for number in range(count):
        account = iban(rng.randrange(accounts))
        message_id = secrets.token_hex(24)
        if number in bad_slots:
            kind = BAD_KINDS[len([p for p in planned if p.bad]) % len(BAD_KINDS)]
            planned.append(Planned(message_id, account, bad_body(kind, account, number), 0, kind))
            continue
        entries = (
            LARGE_ENTRIES if large_every and number % large_every == large_every - 1 else rng.randint(1, 6)
        )
        spec = StatementSpec(
            statement_id=f"DRILL-{number:06d}",
            account=account,
            opening=Decimal(rng.randint(0, 10_000_000)) / 100,
            entries=random_entries(entries, seed=seed * 100_003 + number),
            legal_sequence=str(number + 1),
        )
        planned.append(Planned(message_id, account, build([spec]), entries))
    return planned


def bad_body(kind: str, account: str, number: int) -> bytes:
    """A body that must be quarantined (see the module documentation for each ``kind``)."""
    if kind == "invalid_xml":
        return b"<?xml version='1.0'?><Document><BkToCstmrStmt><Stmt>truncated"
    if kind == "wrong_type":
        return (
            b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
            b"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>R1</MsgId><CreDtTm>2024-03-01T18:00:00</CreDtTm>"
            b"</GrpHdr></BkToCstmrDbtCdtNtfctn></Document>"
        )
    if kind == "unbalanced":
        spec = StatementSpec(
            statement_id=f"DRILL-BAD-{number:06d}",
            account=account,
            entries=random_entries(2, seed=number),
            closing=Decimal("1.23"),  # does not reconcile with OPBD + entries
        )
        return build([spec])
    raise ValueError(f"unknown bad kind {kind!r}; known: {', '.join(BAD_KINDS)}")

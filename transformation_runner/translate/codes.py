"""MT950 field 61 subfield 6: transaction type identification code (``1!a3!c``).

Rule (docs/translation.md, "Subfield 6"):

1. ``BkTxCd/Prtry/Cd`` when it already has a SWIFT shape: ``S`` + 3 digits (the MT message type of a
   SWIFT transfer, e.g. ``S103``) or ``N``/``F`` + 3 upper-case alphanumerics (``NTRF``, ``FCHG``).
2. Otherwise the ISO 20022 bank transaction code ``BkTxCd/Domn`` (Domain ``Cd``, Family ``Fmly/Cd``,
   Sub-family ``Fmly/SubFmlyCd``, see the ISO 20022 External Code Sets, BankTransactionCode) through
   :data:`SUBFAMILY_CODES`, then :data:`FAMILY_CODES`, then :data:`DOMAIN_CODES`: the first hit wins.
3. Otherwise ``NMSC`` (miscellaneous), as the SWIFT User Handbook prescribes for codes with no better
   fit.

The N-codes are those of the SWIFT User Handbook, MT940/MT950 field 61 "Transaction Type
Identification Code" list.
"""

from __future__ import annotations

import re
from functools import lru_cache

DEFAULT_CODE = "NMSC"
SWIFT_SHAPED = re.compile(r"S[0-9]{3}|[NF][A-Z0-9]{3}")

SUBFAMILY_CODES = {
    "CHRG": "NCHG",  # charges
    "FEES": "NCHG",
    "COMM": "NCOM",  # commission
    "COMT": "NCOM",
    "INTR": "NINT",  # interest
    "STDO": "NSTO",  # standing order
    "CCHQ": "NCHK",  # cheques
    "BCHQ": "NCHK",
    "CRCQ": "NCHK",
    "URCQ": "NCHK",
    "XBDD": "NDDT",  # direct debits
    "ESDD": "NDDT",
    "BBDD": "NDDT",
    "PMDD": "NDDT",
    "OODD": "NDDT",
    "UPDD": "NRTI",  # reversal / return of a direct debit
    "RRTN": "NRTI",
    "ARET": "NRTI",
    "DVCA": "NDIV",  # cash dividend
    "CWDL": "NCAS",  # cash withdrawal
    "CDPT": "NCAS",  # cash deposit
    "SWEP": "NTRF",  # sweeping is a transfer between own accounts
}

FAMILY_CODES = {
    "ICDT": "NTRF",  # issued credit transfers
    "RCDT": "NTRF",  # received credit transfers
    "ICCN": "NTRF",
    "RCCN": "NTRF",
    "IDDT": "NDDT",  # issued direct debits
    "RDDT": "NDDT",  # received direct debits
    "ICHQ": "NCHK",  # issued cheques
    "RCHQ": "NCHK",  # received cheques
    "CNTR": "NCAS",  # counter transactions
    "CCRD": "NMSC",
    "SPOT": "NFEX",  # foreign exchange spot
    "FWRD": "NFEX",
}

DOMAIN_CODES = {
    "FORX": "NFEX",  # foreign exchange
    "SECU": "NSEC",  # securities
    "LDAS": "NLDP",  # loans and deposits
    "TRAD": "NCOL",  # trade services (collections)
}


@lru_cache(maxsize=4096)
def transaction_type(
    proprietary: str | None, domain: str | None, family: str | None, subfamily: str | None
) -> str:
    """Field 61 subfield 6 for one entry's ``BkTxCd`` (see the module docstring for the rule).

    Cached: a statement uses a handful of bank transaction codes over and over.
    """
    if proprietary and SWIFT_SHAPED.fullmatch(proprietary):
        return proprietary
    if subfamily and subfamily in SUBFAMILY_CODES:
        return SUBFAMILY_CODES[subfamily]
    if family and family in FAMILY_CODES:
        return FAMILY_CODES[family]
    if domain and domain in DOMAIN_CODES:
        return DOMAIN_CODES[domain]
    return DEFAULT_CODE

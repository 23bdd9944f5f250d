"""Reading one camt.053 ``Ntry`` into an :class:`~.model.Entry`, touching only what field 61 needs.

Called by :mod:`.camt053` at each entry's end tag. Elements are matched by their qualified tag in one
dict lookup (no ElementPath), and only ``BkTxCd``, ``NtryDtls/Btch`` and the first
``NtryDtls/TxDtls/Refs`` are descended into: related parties, remittance information and the like
are never visited, which keeps the per-entry cost flat however rich the entry is.
"""

from __future__ import annotations

from lxml import etree

from transformation_runner.translate.model import Entry


def text(element: etree._Element | None) -> str | None:
    """Stripped text of an element; None when absent or blank."""
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


_ENTRY_TAGS = (
    *("Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "NtryRef", "BkTxCd"),
    *("NtryDtls", "AddtlNtryInf", "Cd", "Prtry", "Domn", "Fmly", "SubFmlyCd", "Btch", "PmtInfId"),
    *("TxDtls", "Refs", "InstrId", "EndToEndId", "AddtlTxInf"),
)
_LEAVES = frozenset(("Amt", "CdtDbtInd", "RvslInd", "AcctSvcrRef", "NtryRef", "AddtlNtryInf"))
_CHOICES = frozenset(("Sts", "BookgDt", "ValDt"))


def entry_tags(namespace: str) -> dict[str, str]:
    """Qualified tag → local name for the elements an entry is read from."""
    return {f"{{{namespace}}}{name}": name for name in _ENTRY_TAGS}


def _choicetext(element: etree._Element) -> str | None:
    """Text of a choice (``Dt``/``DtTm``, ``Cd``/``Prtry``): its first child's, else its own."""
    return element[0].text if len(element) else element.text


def read_entry(ntry: etree._Element, names: dict[str, str], number: int) -> Entry:
    """Read one ``Ntry``, touching only the elements field 61 needs (never RltdPties, RmtInf, ...)."""
    raw: dict[str, str | None] = {}
    transactions = 0
    for child in ntry:
        name = names.get(child.tag)
        if name in _LEAVES:
            raw[name] = child.text
            if name == "Amt":
                raw["Ccy"] = child.get("Ccy")
        elif name in _CHOICES:
            raw[name] = _choicetext(child)
        elif name == "BkTxCd":
            _bank_transaction_code(child, names, raw)
        elif name == "NtryDtls":
            transactions += _details(child, names, raw, transactions)
    values = {key: value.strip() or None for key, value in raw.items() if value is not None}
    get = values.get
    return Entry(
        number=number,
        amount=get("Amt"),
        currency=get("Ccy"),
        indicator=get("CdtDbtInd"),
        reversal=get("RvslInd"),
        status=get("Sts"),
        value_date=get("ValDt"),
        booking_date=get("BookgDt"),
        servicer_reference=get("AcctSvcrRef"),
        entry_reference=get("NtryRef"),
        instruction_id=get("InstrId"),
        end_to_end_id=get("EndToEndId"),
        batch_id=get("PmtInfId"),
        transactions=transactions,
        proprietary_code=get("Prtry"),
        domain=get("Domn"),
        family=get("Fmly"),
        subfamily=get("SubFmlyCd"),
        entry_info=get("AddtlNtryInf"),
        transaction_info=get("AddtlTxInf"),
    )


def _bank_transaction_code(code: etree._Element, names: dict[str, str], raw: dict[str, str | None]) -> None:
    """``BkTxCd``: ``Prtry/Cd`` → ``Prtry``; ``Domn/Cd``, ``Domn/Fmly/Cd``, ``Domn/Fmly/SubFmlyCd``."""
    for part in code:
        name = names.get(part.tag)
        if name == "Prtry":
            raw["Prtry"] = next((c.text for c in part if names.get(c.tag) == "Cd"), None)
        elif name == "Domn":
            for item in part:
                key = names.get(item.tag)
                if key == "Cd":
                    raw["Domn"] = item.text
                elif key == "Fmly":
                    for sub in item:
                        subkey = names.get(sub.tag)
                        if subkey in {"Cd", "SubFmlyCd"}:
                            raw["Fmly" if subkey == "Cd" else "SubFmlyCd"] = sub.text


def _details(details: etree._Element, names: dict[str, str], raw: dict[str, str | None], seen: int) -> int:
    """``NtryDtls``: batch id and the first ``TxDtls``'s references; return its ``TxDtls`` count."""
    count = 0
    for part in details:
        name = names.get(part.tag)
        if name == "Btch":
            raw["PmtInfId"] = next((c.text for c in part if names.get(c.tag) == "PmtInfId"), None)
        elif name == "TxDtls":
            count += 1
            if seen + count == 1:
                _transaction(part, names, raw)
    return count


def _transaction(tx: etree._Element, names: dict[str, str], raw: dict[str, str | None]) -> None:
    for child in tx:
        name = names.get(child.tag)
        if name == "Refs":
            for ref in child:
                key = names.get(ref.tag)
                if key in {"InstrId", "EndToEndId"}:
                    raw[key] = ref.text
        elif name == "AddtlTxInf":
            raw[name] = child.text

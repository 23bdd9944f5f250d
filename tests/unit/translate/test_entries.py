"""Reading one Ntry: the BkTxCd cache gives what reading the subtree gives, entry after entry."""

from __future__ import annotations

import pytest
from lxml import etree

from transformation_runner.translate import entries
from transformation_runner.translate.entries import entry_tags, read_entry

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
CODES = [
    "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>",
    "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>",
    "<BkTxCd><Prtry><Cd>NTRF</Cd><Issr>SWIFT</Issr></Prtry></BkTxCd>",
    "<BkTxCd><Prtry><Issr>SWIFT</Issr></Prtry></BkTxCd>",
    "<BkTxCd><Domn><Cd> </Cd><Fmly><Cd>ICDT</Cd></Fmly></Domn><Prtry><Cd>S103</Cd></Prtry></BkTxCd>",
    # a repeated BkTxCd (not schema-valid) reads on from the first, overwriting what it has
    "<BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd><BkTxCd><Prtry><Issr>X</Issr></Prtry></BkTxCd>",
    "<BkTxCd><Domn><Cd>PMNT</Cd></Domn></BkTxCd><BkTxCd><Domn><Fmly><Cd>IDDT</Cd></Fmly></Domn></BkTxCd>",
    '<c:BkTxCd xmlns:c="' + NS + '"><c:Prtry><c:Cd>FCHG</c:Cd></c:Prtry></c:BkTxCd>',
    "",
]


def _entry(code: str) -> etree._Element:
    xml = f'<Ntry xmlns="{NS}"><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{code}</Ntry>'
    return etree.fromstring(xml.encode())


def test_the_bktxcd_cache_reads_as_the_subtree_does() -> None:
    names = entry_tags(NS)
    cache: entries.CodeCache = {}
    for number, code in enumerate(CODES * 2, 1):
        assert read_entry(_entry(code), names, number, cache) == read_entry(_entry(code), names, number)
    expected = read_entry(_entry(CODES[0]), names, 1)
    assert (expected.proprietary_code, expected.domain, expected.family, expected.subfamily) == (
        None,
        "PMNT",
        "RCDT",
        "ESCT",
    )
    assert 0 < len(cache) < len(CODES)  # the repeats were served from the cache


def test_the_bktxcd_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entries, "_MAX_CODES", 3)
    names = entry_tags(NS)
    cache: entries.CodeCache = {}
    for number in range(10):
        code = f"<BkTxCd><Prtry><Cd>N{number:03d}</Cd></Prtry></BkTxCd>"
        assert read_entry(_entry(code), names, number, cache).proprietary_code == f"N{number:03d}"
        assert len(cache) <= 3
